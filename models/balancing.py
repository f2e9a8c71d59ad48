"""Class balancing inside the training fold (``run --balance``), with imbalanced-learn's samplers.

:class:`Balanced` wraps any of the benchmark's estimators. Its ``fit`` receives the training fold only (the run
engine never hands it a test row), resamples those rows with SMOTE, ADASYN or random oversampling, and fits the
estimator on the result; ``class-weight`` instead sets the estimator's own ``class_weight="balanced"``. Oversampling
all rows before the split is the leak ``oversample-before-split`` (:mod:`benchmark.evaluation.leaks`).
"""

from __future__ import annotations

import inspect

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from .registry import ModelError

BALANCE_METHODS = ("smote", "adasyn", "random", "class-weight")


def make_sampler(method: str, seed: int, y: np.ndarray):
    """An imbalanced-learn over-sampler; SMOTE's and ADASYN's neighbours shrink to fit the smallest class.

    Parameters
    ----------
    method : ``smote``, ``adasyn`` or ``random``.
    seed : the sampler's random state.
    y : the labels it will resample (their smallest class bounds the neighbours).

    Returns
    -------
    an unfitted imbalanced-learn sampler.
    """
    from imblearn.over_sampling import ADASYN, SMOTE, RandomOverSampler

    smallest = int(min(np.unique(y, return_counts=True)[1]))
    neighbours = max(1, min(5, smallest - 1))
    if method == "smote":
        return SMOTE(random_state=seed, k_neighbors=neighbours)
    if method == "adasyn":
        return ADASYN(random_state=seed, n_neighbors=neighbours)
    if method == "random":
        return RandomOverSampler(random_state=seed)
    raise ModelError(f"--balance {method}: choose from {', '.join(BALANCE_METHODS)}")


class Balanced(ClassifierMixin, BaseEstimator):
    """An estimator fitted on its training rows after class balancing.

    Parameters
    ----------
    estimator : the unfitted estimator (cloned).
    method : one of :data:`BALANCE_METHODS`.
    random_state : the sampler's seed.

    Attributes
    ----------
    estimator_ : the fitted estimator.
    n_synthetic_ : rows the sampler added (0 for ``class-weight``).
    sampled_ : (X, y) the estimator was fitted on, for audits and tests.
    """

    def __init__(self, estimator=None, method: str = "smote", random_state: int = 0):
        self.estimator = estimator
        self.method = method
        self.random_state = random_state

    def fit(self, X, y, groups=None):
        X, y = np.asarray(X), np.asarray(y)
        model = clone(self.estimator)
        if self.method == "class-weight":
            if "class_weight" not in model.get_params():
                raise ModelError(f"--balance class-weight: {type(model).__name__} has no class_weight parameter")
            model.set_params(class_weight="balanced")
            X_fit, y_fit, g_fit = X, y, groups
        else:
            flat = X.reshape(len(X), -1)
            X_res, y_res = make_sampler(self.method, self.random_state, y).fit_resample(flat, y)
            X_fit, y_fit = X_res.reshape((len(X_res), *X.shape[1:])).astype(X.dtype), y_res
            # imbalanced-learn returns the original rows first; a synthetic row keeps no speaker of its own,
            # so grouped validation inside the fit treats each as its own group
            g_fit = None if groups is None else np.concatenate(
                [np.asarray(groups).astype(str), [f"__synthetic_{i}" for i in range(len(X_res) - len(X))]])
        if g_fit is not None and "groups" in inspect.signature(model.fit).parameters:
            model.fit(X_fit, y_fit, groups=g_fit)
        else:
            model.fit(X_fit, y_fit)
        self.estimator_ = model
        self.classes_ = getattr(model, "classes_", np.unique(y))
        self.n_synthetic_ = len(X_fit) - len(X)
        self.sampled_ = (X_fit, y_fit)
        return self

    @property
    def history_(self):
        return getattr(self.estimator_, "history_", None)

    @property
    def n_epochs_(self):
        return getattr(self.estimator_, "n_epochs_", None)

    @property
    def best_params_(self):
        return getattr(self.estimator_, "best_params_", None)

    def predict(self, X):
        return self.estimator_.predict(X)

    def predict_proba(self, X):
        return self.estimator_.predict_proba(X)
