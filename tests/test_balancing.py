"""Class balancing inside the training fold: imbalanced-learn's samplers, never a test row."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.run.config import ConfigError, RunConfig
from benchmark.run.fitting import FitSpec, build_model, fit_model, run_fit


def imbalanced(seed=0):
    rng = np.random.default_rng(seed)
    counts = {"angry": 40, "sad": 12, "happy": 8}
    y = np.concatenate([[e] * n for e, n in counts.items()])
    centre = {"angry": 0.0, "sad": 2.0, "happy": -2.0}
    X = np.stack([rng.normal(centre[e], 1.0, size=6) for e in y]).astype(np.float32)
    groups = np.array([f"sp{i % 6}" for i in range(len(y))])
    return X, y, groups


@pytest.mark.parametrize("method", ["smote", "adasyn", "random"])
def test_balance_resamples_the_training_fold_only(method):
    X, y, groups = imbalanced()
    test = np.flatnonzero(np.isin(groups, ["sp0", "sp1"]))
    train = np.setdiff1d(np.arange(len(y)), test)
    spec = FitSpec("logreg", (), 0, 1, (), False, method)
    model = fit_model(build_model(spec), X, y, groups, train)
    X_fit, y_fit = model.sampled_
    assert model.n_synthetic_ > 0
    np.testing.assert_array_equal(X_fit[: len(train)], X[train])  # the originals, then the synthetic rows
    _, counts = np.unique(y_fit, return_counts=True)
    assert counts.max() - counts.min() <= max(2, counts.max() // 10)  # near balanced (ADASYN is approximate)
    # poisoning: whatever the test rows hold, the rows the model is fitted on are the same
    poisoned = X.copy()
    poisoned[test] = 1e6
    again = fit_model(build_model(spec), poisoned, y, groups, train)
    np.testing.assert_array_equal(again.sampled_[0], X_fit)
    a = run_fit(spec, X, y, groups, train, train[:10])
    b = run_fit(spec, poisoned, y, groups, train, train[:10])
    assert a.status == b.status == "ok" and np.array_equal(a.proba, b.proba)


def test_class_weight_sets_the_estimators_own_weights():
    X, y, groups = imbalanced()
    spec = FitSpec("svm", (("class_weight", None),), 0, 1, (), False, "class-weight")
    model = fit_model(build_model(spec), X, y, groups, np.arange(len(y)))
    assert model.estimator_.class_weight == "balanced" and model.n_synthetic_ == 0


def test_balance_flag_is_checked():
    with pytest.raises(ConfigError, match="--balance bogus"):
        RunConfig(balance="bogus", out="/tmp").validate()
    with pytest.raises(ConfigError, match="--balance smote with --tune"):
        RunConfig(balance="smote", tune=True, out="/tmp").validate()
