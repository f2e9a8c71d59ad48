"""The prediction shortcuts of a fit: one forward pass for labels and probabilities, the degraded copies of a
test fold predicted in one stacked call; both must give exactly what the plain calls give."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.run.fitting import (
    FitSpec,
    build_model,
    fit_model,
    labels_and_proba,
    predict_extras,
    predict_rows,
)
from models.balancing import Balanced


def _data(kind: str, n: int = 60):
    rng = np.random.default_rng(0)
    codes = np.arange(n) % 3
    y = np.array(["ang", "hap", "sad"])[codes]
    X = rng.standard_normal((n, 12, 5) if kind == "sequence" else (n, 8)).astype(np.float32)
    X += codes.reshape(-1, *[1] * (X.ndim - 1))  # learnable: the class shifts every value
    return X, y, np.repeat(np.arange(6), n // 6).astype(str)


@pytest.mark.parametrize("name,kind,params", [
    ("svm", "vector", ()), ("xgboost", "vector", (("n_estimators", 5),)), ("dnn", "vector", (("max_epochs", 2), ("hidden", (8,)))),
    ("lstm", "sequence", (("max_epochs", 1), ("units", 8), ("dense", (8,)))),
])
def test_one_pass_and_stacked_predictions_equal_the_plain_calls(name, kind, params):
    X, y, groups = _data(kind)
    train, test = np.arange(0, 42), np.arange(42, 60)
    model = build_model(FitSpec(name, params, 0, 1))
    fit_model(model, X, y, groups, train)
    labels, proba = labels_and_proba(model, X[test])
    assert np.array_equal(labels, model.predict(X[test]))
    assert np.array_equal(proba, np.asarray(model.predict_proba(X[test]), dtype=np.float64))
    extras = [X * 0.5, X[::-1].copy(), X + 1.0]
    stacked = predict_extras(model, extras, test)
    for E, (p, q) in zip(extras, stacked, strict=True):
        alone = predict_rows(model, E, test)
        assert np.array_equal(p, alone[0]) and np.array_equal(q, alone[1])
    assert predict_extras(model, [], test) == []


class _Odd:
    """A model whose predict is not the argmax of its probabilities: both must be asked."""

    classes_ = np.array(["a", "b"])

    def predict(self, X):
        return np.array(["a"] * len(X))

    def predict_proba(self, X):
        return np.tile([0.1, 0.9], (len(X), 1))


def test_the_manual_recurrent_layers_predict_a_row_alike_alone_and_stacked(monkeypatch):
    """The candidate layers' one projection over a batch's frames: rows padded to full prediction batches give
    a row the same probabilities whatever it is predicted with (without the padding this fails)."""
    from models.neural import recurrent

    monkeypatch.setitem(recurrent.LAYERS, "recurrent", "manual")
    X, y, groups = _data("sequence")
    train, test = np.arange(0, 42), np.arange(42, 60)
    model = build_model(FitSpec("lstm", (("max_epochs", 1), ("units", 8), ("dense", (8,))), 0, 1))
    fit_model(model, X, y, groups, train)
    assert any(type(layer).__name__ == "ManualLSTM" for layer in model.model_._flatten_layers())
    extras = [X * 0.5, X[::-1].copy(), X + 1.0]
    for E, (p, q) in zip(extras, predict_extras(model, extras, test), strict=True):
        alone = predict_rows(model, E, test)
        assert np.array_equal(p, alone[0]) and np.array_equal(q, alone[1])
    one = model.predict_proba(X[test][:1])
    assert np.array_equal(one, model.predict_proba(X[test])[:1])


def test_a_model_with_its_own_predict_is_asked_both():
    labels, proba = labels_and_proba(_Odd(), np.zeros((3, 2)))
    assert labels.tolist() == ["a"] * 3 and proba[0, 1] == 0.9


def test_balanced_wrapper_takes_the_one_pass_path_only_over_a_labelled_classifier():
    from benchmark.run.fitting import _predicts_by_argmax

    wrapped = Balanced(build_model(FitSpec("svm", (), 0, 1)))
    wrapped.estimator_ = wrapped.estimator
    assert _predicts_by_argmax(wrapped)
    wrapped.estimator_ = _Odd()
    assert not _predicts_by_argmax(wrapped)
