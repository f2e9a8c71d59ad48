"""Linear models on feature vectors: regularised logistic regression and a linear SVM.

On thousands of functionals (the speech bank, openSMILE ComParE) with a few hundred training clips, a strongly
regularised linear model is the field's standard baseline and beats the RBF SVM. Both standardise with
statistics of the training data only and weigh classes equally by default (what UAR rewards).
"""

from __future__ import annotations

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from .base import LabelledClassifier
from .registry import register_model
from .scaling import DEFAULT_CLIP, ClippedStandardScaler


class LogisticRegressionClassifier(LabelledClassifier):
    """Standardisation then L2-regularised multinomial logistic regression.

    Parameters
    ----------
    C : inverse regularisation strength (0.01 suits thousands of standardised features).
    class_weight : ``"balanced"`` (default) or ``None``.
    max_iter : L-BFGS iterations.
    clip : bound on the standardised features (``None``: none); one column far outside its training range
        would otherwise decide the logits alone (see :mod:`models.scaling`).
    random_state, n_jobs : accepted for the registry's interface; the solver is deterministic and
        single-threaded.
    """

    def __init__(self, C: float = 0.01, class_weight: str | None = "balanced", max_iter: int = 2000,
                 clip: float | None = DEFAULT_CLIP, random_state: int = 0, n_jobs: int = 1):
        self.C = C
        self.class_weight = class_weight
        self.clip = clip
        self.max_iter = max_iter
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _fit_encoded(self, X, y, groups) -> None:
        model = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
                                   solver="lbfgs")
        self.pipeline_ = Pipeline([("scale", ClippedStandardScaler(self.clip)), ("logreg", model)]).fit(X, y)

    @property
    def scaler_(self) -> ClippedStandardScaler:
        return self.pipeline_.named_steps["scale"]

    def _proba(self, X) -> np.ndarray:
        return self.pipeline_.predict_proba(X)


class LinearSVMClassifier(LabelledClassifier):
    """Standardisation then a linear SVM (one-vs-rest, squared hinge), with class probabilities.

    Parameters
    ----------
    C : regularisation (small values suit thousands of features).
    class_weight : ``"balanced"`` (default) or ``None``.
    probability : ``"softmax"`` (default: softmax of the decision values, no extra fits) or ``"sigmoid"``
        (Platt scaling on internal stratified cross-validation of the training data).
    max_iter : liblinear iterations.
    clip : bound on the standardised features (``None``: none); see :mod:`models.scaling`.
    random_state : seeds liblinear and the calibration folds.
    """

    def __init__(self, C: float = 0.001, class_weight: str | None = "balanced", probability: str = "softmax",
                 max_iter: int = 5000, clip: float | None = DEFAULT_CLIP, random_state: int = 0, n_jobs: int = 1):
        self.C = C
        self.class_weight = class_weight
        self.clip = clip
        self.probability = probability
        self.max_iter = max_iter
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _fit_encoded(self, X, y, groups) -> None:
        if self.probability not in ("softmax", "sigmoid"):
            raise ValueError(f"probability must be 'softmax' or 'sigmoid', got {self.probability!r}")
        svc = LinearSVC(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
                        random_state=self.random_state, dual="auto")
        smallest = int(np.bincount(y).min())
        if self.probability == "sigmoid" and smallest >= 2:
            folds = StratifiedKFold(n_splits=min(5, smallest), shuffle=True, random_state=self.random_state)
            svc = CalibratedClassifierCV(svc, method="sigmoid", cv=folds, ensemble=False)
        self.pipeline_ = Pipeline([("scale", ClippedStandardScaler(self.clip)), ("svc", svc)]).fit(X, y)

    @property
    def scaler_(self) -> ClippedStandardScaler:
        return self.pipeline_.named_steps["scale"]

    def decision_function(self, X) -> np.ndarray:
        """The SVM's margins, (n, classes) (the uncalibrated ones under ``probability="sigmoid"``)."""
        X = self.scaler_.transform(self._check_X(X, fitting=False))
        step = self.pipeline_.named_steps["svc"]
        if isinstance(step, CalibratedClassifierCV):
            step = step.calibrated_classifiers_[0].estimator
        return step.decision_function(X)

    def _proba(self, X) -> np.ndarray:
        step = self.pipeline_.named_steps["svc"]
        if isinstance(step, CalibratedClassifierCV):
            return self.pipeline_.predict_proba(X)
        margins = self.pipeline_.decision_function(X)
        if margins.ndim == 1:
            margins = np.column_stack([-margins, margins])
        e = np.exp(margins - margins.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


# seed_free: L-BFGS is deterministic; liblinear's coordinate order is seeded but converges to the same margins.
register_model("logreg", LogisticRegressionClassifier, seed_free=True,
               description="standardisation + balanced L2 logistic regression (C=0.01)")
register_model("linsvm", LinearSVMClassifier, seed_free=True,
               description="standardisation + balanced linear SVM (C=0.001), softmaxed margins")
