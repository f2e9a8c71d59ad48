"""Linear models and in-fold tuning: the estimator contract, and that nothing is fitted on test rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from models import make_model
from models.linear import LinearSVMClassifier, LogisticRegressionClassifier
from models.registry import ModelError
from models.tuning import DEFAULT_GRIDS, Tuned, tuned


def blobs(n_per_class: int = 24, n_features: int = 40, n_speakers: int = 6, seed: int = 0):
    """Three labelled classes with a speaker offset each, like a small SER corpus."""
    rng = np.random.default_rng(seed)
    classes = np.repeat(["angry", "neutral", "sad"], n_per_class)
    centres = {c: rng.normal(scale=1.5, size=n_features) for c in ("angry", "neutral", "sad")}
    speakers = np.tile(np.arange(n_speakers), len(classes) // n_speakers + 1)[: len(classes)]
    offsets = rng.normal(scale=0.5, size=(n_speakers, n_features))
    X = np.stack([centres[c] for c in classes]) + offsets[speakers] + rng.normal(size=(len(classes), n_features))
    return X.astype(np.float32), classes, np.array([f"spk{s}" for s in speakers])


def fitted_state(model) -> list[np.ndarray]:
    """Every fitted array of a linear model (scaler and coefficients), for bit-for-bit comparison."""
    inner = model.best_estimator_ if isinstance(model, Tuned) else model
    scaler, last = inner.pipeline_.steps[0][1], inner.pipeline_.steps[-1][1]
    estimator = getattr(last, "calibrated_classifiers_", [None])[0]
    coefficients = [last.coef_, last.intercept_] if estimator is None else [
        estimator.estimator.coef_, estimator.estimator.intercept_]
    return [scaler.mean_, scaler.scale_, *coefficients]


@pytest.mark.parametrize("name", ["logreg", "linsvm"])
def test_registered_linear_models_follow_the_estimator_contract(name):
    X, y, groups = blobs()
    model = make_model(name, random_state=0)
    assert clone(model).get_params() == model.get_params()
    model.fit(X, y, groups=groups)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert list(model.classes_) == ["angry", "neutral", "sad"]
    assert (model.predict(X) == y).mean() > 0.9
    assert model.scaler_.mean_.shape == (X.shape[1],)


def test_linear_svm_sigmoid_probabilities_and_bad_option():
    X, y, _ = blobs()
    model = LinearSVMClassifier(probability="sigmoid").fit(X, y)
    assert np.allclose(model.predict_proba(X).sum(axis=1), 1.0)
    assert model.decision_function(X).shape == (len(X), 3)
    with pytest.raises(ValueError, match="probability"):
        LinearSVMClassifier(probability="isotonic").fit(X, y)


@pytest.mark.parametrize("make", [
    lambda: LogisticRegressionClassifier(),
    lambda: LinearSVMClassifier(),
    lambda: LinearSVMClassifier(probability="sigmoid"),
    lambda: tuned("logreg", LogisticRegressionClassifier()),
])
def test_poisoned_test_rows_leave_the_fitted_state_bit_identical(make):
    X, y, groups = blobs()
    test = np.isin(groups, ["spk0", "spk1"])
    train = ~test
    clean = make().fit(X[train], y[train], groups=groups[train])
    poisoned_X, poisoned_y = X.copy(), y.copy()
    poisoned_X[test] = 1e6 * np.random.default_rng(1).normal(size=poisoned_X[test].shape)
    poisoned_y[test] = "angry"
    dirty = make().fit(poisoned_X[train], poisoned_y[train], groups=groups[train])
    for a, b in zip(fitted_state(clean), fitted_state(dirty), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(clean.predict_proba(X[test]), dirty.predict_proba(X[test]))
    if isinstance(clean, Tuned):
        assert clean.best_params_ == dirty.best_params_ and clean.cv_scores_ == dirty.cv_scores_


def test_tuning_holds_out_training_speakers_only_and_records_the_choice():
    X, y, groups = blobs()
    train = ~np.isin(groups, ["spk0"])
    model = tuned("logreg", LogisticRegressionClassifier(), n_splits=3).fit(X[train], y[train],
                                                                             groups=groups[train])
    held_out = [g for fold in model.inner_groups_ for g in fold]
    assert "spk0" not in held_out and sorted(held_out) == sorted(set(groups[train]))
    assert model.best_params_["C"] in DEFAULT_GRIDS["logreg"]["C"]
    assert [params for params, _ in model.cv_scores_] == [{"C": c} for c in DEFAULT_GRIDS["logreg"]["C"]]
    best_score = max(score for _, score in model.cv_scores_)
    assert dict(model.cv_scores_[[s for _, s in model.cv_scores_].index(best_score)][0]) == model.best_params_
    assert model.best_params_["C"] == model.best_estimator_.C
    again = clone(model).fit(X[train], y[train], groups=groups[train])
    assert again.best_params_ == model.best_params_  # same seed, same choice


def test_tuning_picks_the_obviously_better_candidate():
    X, y, groups = blobs(n_features=10)
    model = Tuned(LogisticRegressionClassifier(), {"C": [1e-8, 1.0]}).fit(X, y, groups=groups)
    assert model.best_params_ == {"C": 1.0}  # C=1e-8 shrinks everything to chance


def test_tuning_without_groups_falls_back_to_stratified_folds():
    X, y, _ = blobs()
    model = tuned("linsvm", LinearSVMClassifier()).fit(X, y)
    assert model.best_params_["C"] in DEFAULT_GRIDS["linsvm"]["C"] and model.inner_groups_ == [[], [], []]


def test_tuning_errors_are_clear():
    with pytest.raises(ModelError, match="no tuning grid"):
        tuned("lstm", LogisticRegressionClassifier())
    with pytest.raises(ModelError, match="no parameter"):
        tuned("logreg", LogisticRegressionClassifier(), grid={"depth": [1, 2]})


def test_tuning_with_a_development_part_scores_each_candidate_on_it_and_fits_on_training_rows_only():
    from sklearn.metrics import balanced_accuracy_score

    from models.tuning import Tuned

    rng = np.random.default_rng(3)
    y = np.repeat(["a", "b", "c"], 40)
    X = rng.normal(size=(120, 6)) + (y[:, None] == "a") * 1.5
    X_dev, y_dev = rng.normal(size=(30, 6)) + (np.repeat(["a", "b", "c"], 10)[:, None] == "a") * 1.5, \
        np.repeat(["a", "b", "c"], 10)
    grid = {"C": [1e-4, 1e-2, 1.0]}
    tuned = Tuned(LogisticRegressionClassifier(), grid).fit(X, y, validation=(X_dev, y_dev))
    assert tuned.inner_groups_ == ["development part"]
    for params, score in tuned.cv_scores_:
        by_hand = LogisticRegressionClassifier(**params).fit(X, y)
        assert score == pytest.approx(balanced_accuracy_score(y_dev, by_hand.predict(X_dev)))
    refit = LogisticRegressionClassifier(**tuned.best_params_).fit(X, y)  # the development rows are not trained on
    np.testing.assert_allclose(tuned.predict_proba(X_dev), refit.predict_proba(X_dev), rtol=1e-9, atol=1e-12)
