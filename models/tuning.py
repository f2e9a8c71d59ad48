"""Hyper-parameter selection inside the training fold, by speaker-grouped inner cross-validation.

:class:`Tuned` wraps any of the benchmark's estimators. ``fit(X, y, groups=speakers)`` sees the training fold
only; it splits the *training* speakers into inner folds (stratified group k-fold), scores every candidate of
the grid by UAR on the held-out inner speakers, refits the best on the whole training fold and records the
choice in ``best_params_``. The outer test fold is never passed to it, so it cannot leak into the choice.

    from models.tuning import tuned
    model = tuned("logreg", make_model("logreg"))   # grid from DEFAULT_GRIDS
    model.fit(X_train, y_train, groups=speakers_train).best_params_   # e.g. {'C': 0.01}
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.base import clone
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from .base import LabelledClassifier
from .registry import ModelError

DEFAULT_GRIDS: dict[str, dict[str, list]] = {
    "logreg": {"C": [1e-4, 1e-3, 1e-2, 1e-1]},
    "linsvm": {"C": [1e-5, 1e-4, 1e-3, 1e-2]},
    "svm": {"C": [1.0, 10.0, 100.0]},
    "xgboost": {"max_depth": [2, 4, 6]},
    "dnn": {"dropout": [0.3, 0.5]},
}


class Tuned(LabelledClassifier):
    """An estimator whose hyper-parameters are chosen by inner speaker-grouped cross-validation.

    Parameters
    ----------
    estimator : the unfitted estimator to tune (cloned, never fitted itself).
    param_grid : parameter name -> candidate values; every combination is tried, in order.
    n_splits : inner folds (fewer when the training data has fewer speakers or class members).
    random_state : seeds the inner folds.

    Attributes
    ----------
    best_params_ : the chosen combination (ties go to the first in grid order; when no inner split is possible,
        e.g. a class held by one speaker only, the first candidate, with NaN scores).
    cv_scores_ : list of (params, mean inner UAR) in grid order.
    best_estimator_ : the estimator refitted with ``best_params_`` on all the training data.
    inner_groups_ : the groups each inner validation fold held out (for audits).
    """

    def __init__(self, estimator=None, param_grid: Mapping[str, Sequence] | None = None, n_splits: int = 3,
                 random_state: int = 0):
        self.estimator = estimator
        self.param_grid = param_grid
        self.n_splits = n_splits
        self.random_state = random_state

    @property
    def input_kind(self) -> str:  # type: ignore[override]
        return getattr(self.estimator, "input_kind", "vector")

    def fit(self, X, y, groups=None, validation=None):
        """``validation=(X_dev, y_dev)``, a published split's development part, replaces the inner
        cross-validation: each candidate is fitted on the training rows and scored on it."""
        self._validation = validation
        try:
            return super().fit(X, y, groups)
        finally:
            del self._validation

    def _fit_encoded(self, X, y, groups) -> None:
        if self.estimator is None:
            raise ValueError("Tuned needs an estimator")
        candidates = _combinations(self.param_grid or {})
        validation = getattr(self, "_validation", None)
        if validation is not None:
            X_dev, y_dev = self._check_X(validation[0], fitting=False), np.asarray(validation[1])
            known = np.isin(y_dev, self.classes_)
            X_all = np.concatenate([X, X_dev[known]])
            y_all = np.concatenate([y, self.encoder_.transform(y_dev[known])])
            groups = None if groups is None else np.concatenate([groups, np.full(known.sum(), "dev")])
            splits = [(np.arange(len(y)), np.arange(len(y), len(y_all)))] if known.any() else []
            self.inner_groups_ = ["development part"]
            X_search, y_search, groups_search = X_all, y_all, groups
        else:
            splits = self._inner_splits(y, groups)
            self.inner_groups_ = [sorted(set(np.asarray(groups)[val].tolist())) if groups is not None else []
                                  for _, val in splits]
            X_search, y_search, groups_search = X, y, groups
        scores = []
        for params in candidates:
            if len(candidates) == 1 or not splits:
                scores.append(float("nan"))
                continue
            fold_scores = []
            for train, val in splits:
                model = clone(self.estimator).set_params(**params)
                _fit(model, X_search[train], y_search[train], None if groups_search is None else groups_search[train])
                fold_scores.append(balanced_accuracy_score(y_search[val], model.predict(X_search[val])))
            scores.append(float(np.mean(fold_scores)))
        self.cv_scores_ = list(zip(candidates, scores, strict=True))
        best = int(np.nanargmax(scores)) if np.isfinite(scores).any() else 0
        self.best_params_ = dict(candidates[best])
        self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_)
        _fit(self.best_estimator_, X, y, groups)

    def _inner_splits(self, y: np.ndarray, groups: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
        smallest = int(np.bincount(y).min())
        dummy = np.zeros(len(y))
        if groups is not None and len(np.unique(groups)) >= 2:
            k = min(self.n_splits, len(np.unique(groups)))
            folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=self.random_state)
            splits = list(folds.split(dummy, y, groups))
        elif smallest >= 2:
            folds = StratifiedKFold(n_splits=min(self.n_splits, smallest), shuffle=True,
                                    random_state=self.random_state)
            splits = list(folds.split(dummy, y))
        else:
            return []
        # an inner training part must hold every class, or its predictions cannot be scored fairly
        return [(tr, val) for tr, val in splits if len(np.unique(y[tr])) == len(np.unique(y))]

    def _proba(self, X) -> np.ndarray:
        return self.best_estimator_.predict_proba(X)


def tuned(name: str, estimator, grid: Mapping[str, Sequence] | None = None, n_splits: int = 3,
          random_state: int = 0) -> Tuned:
    """Wrap a registered model for ``--tune``: its grid from :data:`DEFAULT_GRIDS` unless one is given."""
    if grid is None:
        if name not in DEFAULT_GRIDS:
            raise ModelError(f"model {name!r} has no tuning grid; models with one: {', '.join(DEFAULT_GRIDS)}")
        grid = DEFAULT_GRIDS[name]
    accepted = set(estimator.get_params())
    unknown = [k for k in grid if k not in accepted]
    if unknown:
        raise ModelError(f"model {name!r} has no parameter(s) {', '.join(unknown)} to tune")
    return Tuned(estimator, dict(grid), n_splits=n_splits, random_state=random_state)


def _combinations(grid: Mapping[str, Sequence]) -> list[dict]:
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(grid[n] for n in names))]


def _fit(model, X, y, groups) -> None:
    if groups is not None and "groups" in inspect.signature(model.fit).parameters:
        model.fit(X, y, groups=groups)
    else:
        model.fit(X, y)
