"""What every model here shares: label encoding fitted in ``fit``, clear errors, predictions from probabilities."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted


class LabelledClassifier(ClassifierMixin, BaseEstimator):
    """Base for the benchmark's estimators: subclasses implement ``_fit_encoded`` and ``_proba``.

    ``fit(X, y, groups=None)``: ``groups`` (speaker ids) lets a model hold out whole speakers for its internal
    validation; models that do not validate ignore it.
    """

    input_kind = "vector"  # or "sequence": (n, frames, dims) NaN-padded arrays

    def fit(self, X, y, groups=None):
        X = self._check_X(X, fitting=True)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be 1-D with one label per row of X ({len(X)}), got shape {y.shape}")
        if groups is not None and len(groups) != len(X):
            raise ValueError(f"groups must have one entry per row of X ({len(X)}), got {len(groups)}")
        self.encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.encoder_.classes_
        if len(self.classes_) < 2:
            raise ValueError(f"need at least two classes to fit, got {list(self.classes_)}")
        self._fit_encoded(X, self.encoder_.transform(y), None if groups is None else np.asarray(groups))
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``; rows sum to 1."""
        check_is_fitted(self, "classes_")
        proba = np.asarray(self._proba(self._check_X(X, fitting=False)), dtype=np.float64)
        proba = np.clip(proba, 0.0, None)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def encode_labels(self, y) -> np.ndarray:
        """Labels to class indices; a label not seen in ``fit`` is a clear error."""
        check_is_fitted(self, "classes_")
        y = np.asarray(y)
        unseen = sorted(set(y.tolist()) - set(self.classes_.tolist()))
        if unseen:
            raise ValueError(f"label(s) {unseen} were not seen in fit; the model knows {list(self.classes_)}")
        return self.encoder_.transform(y)

    def score(self, X, y, sample_weight=None) -> float:
        self.encode_labels(y)
        return super().score(X, y, sample_weight=sample_weight)

    def _check_X(self, X, fitting: bool) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        expected_ndim = 3 if self.input_kind == "sequence" else 2
        if X.ndim != expected_ndim:
            raise ValueError(f"{type(self).__name__} expects a {expected_ndim}-D array, got shape {X.shape}")
        if len(X) == 0:
            raise ValueError(f"{type(self).__name__}: X has no rows")
        if self.input_kind == "vector" and not np.all(np.isfinite(X)):
            raise ValueError(f"{type(self).__name__}: X holds NaN or infinite values")
        if fitting:
            self.n_features_in_ = X.shape[-1]
        elif X.shape[-1] != self.n_features_in_:
            raise ValueError(f"{type(self).__name__} was fitted on {self.n_features_in_} features, "
                             f"got {X.shape[-1]}")
        return X

    def _fit_encoded(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None) -> None:
        raise NotImplementedError

    def _proba(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError
