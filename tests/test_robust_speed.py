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


@pytest.mark.parametrize("name,kind,params", [
    ("dnn", "vector", (("max_epochs", 1), ("hidden", (8,)))),
    ("lstm", "sequence", (("max_epochs", 1), ("units", 8), ("dense", (8,)))),  # two inputs: frames and mask
])
def test_the_traced_inference_pass_equals_the_eager_call_and_is_traced_once(name, kind, params):
    from models.neural.training import PREDICT_BATCH

    X, y, groups = _data(kind, n=60)
    model = build_model(FitSpec(name, params, 0, 1))
    fit_model(model, X, y, groups, np.arange(42))
    many = np.concatenate([X] * (PREDICT_BATCH // len(X) + 2))  # two batch sizes: a full one and the rest
    for rows in (X[42:], X[:1], many):
        inputs = list(model._inputs(rows))
        eager = np.concatenate([np.asarray(model.model_([a[s: s + PREDICT_BATCH] for a in inputs] if len(inputs) > 1
                                                        else inputs[0][s: s + PREDICT_BATCH], training=False))
                                for s in range(0, len(rows), PREDICT_BATCH)])
        np.testing.assert_allclose(model._proba(rows), eager, rtol=0, atol=1e-6)
    assert model._traced[2].experimental_get_tracing_count() == 1


def _plain_frames(model, X):
    """The sequence networks' input preparation as plain expressions (what the in-place version replaced)."""
    n, frames, dims = X.shape
    k = int(model.frame_pool)
    steps = -(-model.max_len_ // k)
    fitted = np.full((n, steps * k, dims), np.nan, dtype=np.float32)
    fitted[:, : min(frames, model.max_len_)] = X[:, : model.max_len_]
    normalised = (fitted - model.frame_mean_) / model.frame_scale_
    if k > 1:
        counts = (~np.isnan(normalised).all(axis=2)).reshape(n, steps, k).sum(axis=2)
        sums = np.nan_to_num(normalised, nan=0.0).reshape(n, steps, k, dims).sum(axis=2)
        return (sums / np.maximum(counts, 1)[..., None]).astype(np.float32), counts > 0
    return np.nan_to_num(normalised, nan=0.0).astype(np.float32), ~np.isnan(fitted).all(axis=2)


@pytest.mark.parametrize("pool", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sequence_inputs_are_the_plain_expressions_bit_for_bit(pool, dtype):
    from models.neural.training import SequenceInput

    class Net(SequenceInput):
        frame_pool, normalise, length, length_percentile = pool, "dim", None, 95.0

    rng = np.random.default_rng(pool)
    X = (rng.standard_normal((80, 41, 6)) * 3 + 1).astype(dtype)
    for i in range(len(X)):
        X[i, rng.integers(3, 41):] = np.nan  # NaN-padded clips of every length
    X[3, 1], X[5, 2, 3], X[6, 0, 0] = np.nan, np.inf, -np.inf  # a gap inside a clip; infinities stay finite
    net = Net()
    net._fit_inputs(X[:40])
    net.frame_mean_ = net.frame_mean_.astype(dtype)
    with np.errstate(all="ignore"):
        got, want = net._frames(X), _plain_frames(net, X)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_the_scaler_transforms_in_place_of_a_copy_as_the_plain_expressions():
    from models.scaling import ClippedStandardScaler

    rng = np.random.default_rng(0)
    train, rows = rng.standard_normal((50, 7)) * 4, rng.standard_normal((20, 7)) * 9
    scaler = ClippedStandardScaler(clip=3.0).fit(train)
    given = rows.copy()
    got = scaler.transform(given)
    assert np.array_equal(given, rows)  # float64 input: transformed in a copy, never in the caller's array
    assert np.array_equal(got, np.clip((rows - scaler.mean_) / scaler.scale_, -3.0, 3.0))
