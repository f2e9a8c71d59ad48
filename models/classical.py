"""Classical models on feature vectors: an RBF SVM and gradient-boosted trees."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer
from sklearn.svm import SVC
from sklearn.utils.class_weight import compute_sample_weight

from .base import LabelledClassifier
from .scaling import DEFAULT_CLIP, ClippedStandardScaler


class SVMClassifier(LabelledClassifier):
    """Standardisation, clipping and length normalisation, then an RBF SVC; all fitted on the training rows only.

    Why the two extra steps: an RBF kernel is ``exp(-gamma * distance^2)``, so a clip far from every training
    clip gets kernel values of (numerically) zero against all of them and the SVM answers its intercept: one
    class for a whole test corpus. Measured on EmoDB's features with the built-in corpus's statistics: z-scores
    up to 10^9, every kernel value 0, every clip "angry". Clipping the z-scores (:mod:`models.scaling`) bounds
    what one column can do; dividing each row by its length (as speaker recognition does with i-vectors before
    a kernel) bounds the distance between any two clips, so kernel values stay away from zero and a prediction
    depends on the clip. In-corpus scores are unchanged within the paired test (see the docs).

    Parameters
    ----------
    C, gamma : SVC regularisation and kernel width (``"scale"``: scikit-learn's rule on the transformed
        training rows).
    class_weight : ``"balanced"`` (default) weighs classes equally, which is what UAR rewards.
    clip : bound on the standardised features (``None``: none).
    length_norm : divide each standardised row by its Euclidean length before the kernel.
    random_state : seeds the probability calibration.
    """

    def __init__(self, C: float = 10.0, gamma: str | float = "scale", class_weight: str | None = "balanced",
                 clip: float | None = DEFAULT_CLIP, length_norm: bool = True, random_state: int = 0,
                 n_jobs: int = 1):
        self.C = C
        self.gamma = gamma
        self.class_weight = class_weight
        self.clip = clip
        self.length_norm = length_norm
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _fit_encoded(self, X, y, groups) -> None:
        steps = [("scale", ClippedStandardScaler(self.clip))]
        if self.length_norm:
            steps.append(("length", Normalizer()))  # stateless: nothing is learnt from any row
        scaled = Pipeline(steps).fit_transform(X)
        # gamma="scale" is scikit-learn's rule, computed here on the (transformed) training rows only
        if self.gamma == "scale":
            variance = float(scaled.var())
            self.gamma_ = 1.0 / (scaled.shape[1] * variance) if variance > 0 else 1.0
        elif self.gamma == "auto":
            self.gamma_ = 1.0 / scaled.shape[1]
        else:
            self.gamma_ = float(self.gamma)
        # The Gram matrix through BLAS: libsvm's own RBF costs 16x more on thousands of features, same numbers.
        svc = SVC(C=self.C, kernel=RBFKernel(self.gamma_), class_weight=self.class_weight)
        smallest = int(np.bincount(y).min())
        if smallest >= 2:
            # Platt scaling on internal cross-validation of the training data (what probability=True did)
            folds = StratifiedKFold(n_splits=min(5, smallest), shuffle=True, random_state=self.random_state)
            svc = CalibratedClassifierCV(svc, method="sigmoid", cv=folds, ensemble=False)
        else:  # a class with a single example cannot be calibrated: fall back to softmaxed margins
            svc = _SoftmaxSVC(svc)
        self.pipeline_ = Pipeline([*steps, ("svc", svc)]).fit(X, y)

    @property
    def scaler_(self) -> ClippedStandardScaler:
        return self.pipeline_.named_steps["scale"]

    def _proba(self, X) -> np.ndarray:
        return self.pipeline_.predict_proba(X)


class RBFKernel(BaseEstimator):
    """``exp(-gamma * |a - b|^2)`` as a callable SVC kernel (an estimator only so that bundles can save it)."""

    def __init__(self, gamma: float = 1.0):
        self.gamma = gamma

    def __call__(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        from sklearn.metrics.pairwise import rbf_kernel

        return rbf_kernel(A, B, gamma=self.gamma)


class _SoftmaxSVC(ClassifierMixin, BaseEstimator):
    def __init__(self, svc):
        self.svc = svc

    def fit(self, X, y):
        self.svc_ = clone(self.svc).set_params(decision_function_shape="ovr").fit(X, y)
        self.classes_ = self.svc_.classes_
        return self

    def predict_proba(self, X) -> np.ndarray:
        margins = self.svc_.decision_function(X)
        if margins.ndim == 1:
            margins = np.column_stack([-margins, margins])
        e = np.exp(margins - margins.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


class XGBoostClassifier(LabelledClassifier):
    """XGBoost with the hist tree method; threads bounded by ``n_jobs``; balanced sample weights."""

    def __init__(self, n_estimators: int = 120, max_depth: int = 4, learning_rate: float = 0.15,
                 subsample: float = 0.8, colsample_bytree: float = 0.5, balanced: bool = True,
                 random_state: int = 0, n_jobs: int = 1):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.balanced = balanced
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _fit_encoded(self, X, y, groups) -> None:
        from xgboost import XGBClassifier

        self.booster_ = XGBClassifier(
            n_estimators=self.n_estimators, max_depth=self.max_depth, learning_rate=self.learning_rate,
            subsample=self.subsample, colsample_bytree=self.colsample_bytree, tree_method="hist",
            n_jobs=max(1, int(self.n_jobs)), random_state=self.random_state, verbosity=0,
        )
        weights = compute_sample_weight("balanced", y) if self.balanced else None
        self.booster_.fit(X, y, sample_weight=weights)

    def _proba(self, X) -> np.ndarray:
        return self.booster_.predict_proba(X)
