import numpy as np
import pytest
from sklearn.base import clone

from benchmark.evaluation.protocols import Fold
from benchmark.run.fitting import fit_on_fold
from models import MODELS, make_model, register_model
from models.registry import ModelError
from models.validation import validation_split

FAST = {"dnn": {"max_epochs": 25, "patience": 5}, "lstm": {"max_epochs": 12, "patience": 4, "units": 32}}
ALL = ["svm", "xgboost", "dnn", "lstm"]


def problem(n=240, seed=0, classes=("calm", "angry", "sad")):
    """Vectors and NaN-padded sequences whose class shows in a few dimensions; six speakers."""
    rng = np.random.default_rng(seed)
    y = np.array(classes)[rng.integers(0, len(classes), n)]
    shift = {c: 2.0 * (i - (len(classes) - 1) / 2) for i, c in enumerate(classes)}
    X = rng.normal(size=(n, 12)).astype(np.float32)
    X[:, :3] += np.array([shift[c] for c in y])[:, None]
    S = rng.normal(size=(n, 20, 4)).astype(np.float32)
    S[:, :, 0] += np.array([shift[c] for c in y])[:, None]
    for i, length in enumerate(rng.integers(8, 21, n)):
        S[i, length:] = np.nan
    speakers = np.array([f"s{i % 6}" for i in range(n)])
    return X, S, y, speakers


def model(name, seed=0):
    return make_model(name, random_state=seed, n_jobs=1, **FAST.get(name, {}))


def inputs(name, X, S):
    return S if MODELS[name].input_kind == "sequence" else X


@pytest.fixture(scope="module")
def fitted():
    X, S, y, speakers = problem()
    out = {}
    for name in ALL:
        m = model(name).fit(inputs(name, X, S)[:180], y[:180], groups=speakers[:180])
        out[name] = (m, inputs(name, X, S)[180:], y[180:])
    return out


@pytest.mark.parametrize("name", ALL)
def test_learns_far_above_chance(fitted, name):
    m, X_test, y_test = fitted[name]
    accuracy = np.mean(m.predict(X_test) == y_test)
    assert accuracy > 0.75, f"{name}: {accuracy:.2f} (chance 0.33)"


@pytest.mark.parametrize("name", ALL)
def test_probabilities_follow_classes_and_sum_to_one(fitted, name):
    m, X_test, _ = fitted[name]
    proba = m.predict_proba(X_test)
    assert proba.shape == (len(X_test), 3) and list(m.classes_) == ["angry", "calm", "sad"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(m.classes_[proba.argmax(axis=1)], m.predict(X_test))


@pytest.mark.parametrize("name", ALL)
def test_clone_and_params(fitted, name):
    m, _, _ = fitted[name]
    fresh = clone(m)
    assert fresh.get_params() == m.get_params() and not hasattr(fresh, "classes_")
    fresh.set_params(random_state=7)
    assert fresh.get_params()["random_state"] == 7


@pytest.mark.parametrize("name", ALL)
def test_unseen_labels_and_bad_shapes_error_clearly(fitted, name):
    m, X_test, y_test = fitted[name]
    with pytest.raises(ValueError, match=r"label\(s\) \['joy'\] were not seen in fit"):
        m.score(X_test, np.where(y_test == "sad", "joy", y_test))
    with pytest.raises(ValueError, match="fitted on"):
        m.predict(X_test[..., :2])


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_predictions(name):
    X, S, y, speakers = problem(n=150, seed=3)
    A = inputs(name, X, S)
    first = model(name, seed=5).fit(A[:100], y[:100], groups=speakers[:100]).predict_proba(A[100:])
    second = model(name, seed=5).fit(A[:100], y[:100], groups=speakers[:100]).predict_proba(A[100:])
    np.testing.assert_array_equal(first, second)


def fitted_state(name, m):
    if name == "svm":
        return [m.scaler_.mean_, m.scaler_.scale_]
    if name == "dnn":
        return [m.scaler_.mean_, m.scaler_.scale_, *m.model_.get_weights()]
    if name == "lstm":
        return [np.array([m.max_len_]), m.frame_mean_, m.frame_scale_, *m.model_.get_weights()]
    return [np.frombuffer(m.booster_.get_booster().save_raw("json"), dtype=np.uint8)]


@pytest.mark.parametrize("name", ALL)
def test_fit_uses_only_training_rows_poisoned_test_changes_nothing(name):
    """The runner's fit on a fold: poisoning the test rows' features and labels leaves the model unchanged."""
    X, S, y, speakers = problem(n=160, seed=4)
    fold = Fold("speaker", 0, np.flatnonzero(speakers != "s0"), np.flatnonzero(speakers == "s0"))
    A = inputs(name, X, S)
    poisoned = A.copy()
    poisoned[fold.test] = np.where(np.isnan(poisoned[fold.test]), np.nan, 1e6)
    y_poisoned = y.copy()
    y_poisoned[fold.test] = np.random.default_rng(0).permutation(y[fold.test])
    clean_model, dirty_model = model(name), model(name)
    fit_on_fold(clean_model, A, y, speakers, fold.train, fold.test)
    fit_on_fold(dirty_model, poisoned, y_poisoned, speakers, fold.train, fold.test)
    for a, b in zip(fitted_state(name, clean_model), fitted_state(name, dirty_model), strict=True):
        np.testing.assert_array_equal(a, b)
    if name in ("svm", "dnn"):  # the scaler saw exactly the training rows
        np.testing.assert_allclose(clean_model.scaler_.mean_, A[fold.train].mean(axis=0), rtol=1e-5, atol=1e-6)


def test_validation_holds_out_whole_speakers():
    y = np.tile(np.arange(3), 40)
    groups = np.repeat([f"s{i}" for i in range(8)], 15)
    train, val = validation_split(y, groups, 0.2, seed=0)
    assert set(groups[train]).isdisjoint(groups[val]) and len(val) >= 0.2 * len(y)
    assert len(set(groups[train])) >= 2 and len(train) + len(val) == len(y)
    train2, val2 = validation_split(y, None, 0.2, seed=0)
    assert len(val2) == 24 and sorted(np.bincount(y[val2])) == [8, 8, 8]  # stratified without speakers


def test_neural_model_early_stops_on_held_out_speakers():
    X, _, y, speakers = problem(n=200, seed=2)
    m = make_model("dnn", random_state=0, max_epochs=40, patience=3).fit(X, y, groups=speakers)
    assert m.validation_groups_ and set(m.validation_groups_) < set(speakers)
    assert m.n_epochs_ <= 40 and 1 <= m.best_epoch_ <= m.n_epochs_


def test_register_a_user_model():
    from sklearn.linear_model import LogisticRegression

    @register_model("logreg_test", description="logistic regression", replace=True)
    def logreg(random_state=0):
        return LogisticRegression(max_iter=500, random_state=random_state)

    X, _, y, _ = problem()
    m = make_model("logreg_test", random_state=1, n_jobs=4)
    assert m.random_state == 1 and np.mean(m.fit(X[:180], y[:180]).predict(X[180:]) == y[180:]) > 0.75
    with pytest.raises(ModelError, match="no parameter"):
        make_model("logreg_test", C=3)
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        make_model("nope")
