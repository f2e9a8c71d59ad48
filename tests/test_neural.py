"""The networks, their inputs, the seed replications and the claims table (tiny inputs, few epochs)."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import features.spectrograms  # noqa: F401  (registers the network inputs until features/__init__ does)
from benchmark.run.fitting import fit_on_fold
from benchmark.seeds import claims_table, load_claims, recipes_for, render_claims
from features import Clip, choose_length, get_feature_set
from models import MODELS, make_model
from models.neural import DenseNetworkClassifier, LSTMClassifier, import_tensorflow
from models.neural.recipes import RECIPES
from models.registry import get_model

pytestmark = pytest.mark.neural

FAST = {
    "dnn": dict(max_epochs=8, hidden=(32, 16)),
    "lstm": dict(max_epochs=10, units=16, dense=(16,)),
    "bilstm": dict(max_epochs=6, units=8, dense=(16,)),
    "gru": dict(max_epochs=10, units=16, dense=(16,)),
    "cnn1d": dict(max_epochs=6, filters=(8, 16), dense=(16,)),
    "cnn_lstm": dict(max_epochs=10, filters=(4, 8), units=8, dense=(16,)),
    "seed004_cnn_lstm": dict(max_epochs=8, filters=(8, 8), units=4, dense=(8,)),
}
FAST = {name: {"learning_rate": 1e-2, "batch_size": 32, "patience": 3, **p} for name, p in FAST.items()}
NETWORKS = ["dnn", "lstm", "bilstm", "gru", "cnn1d", "cnn_lstm", "seed004_cnn_lstm"]
CLASSES = np.array(["angry", "calm", "sad"])


def problem(n=150, seed=0):
    """Vectors, NaN-padded sequences (8 dims, 6-24 frames) and fixed 2-channel images; six speakers."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 3, n)
    shift = 2.0 * (k - 1.0)
    X = rng.normal(size=(n, 12)).astype(np.float32)
    X[:, :3] += shift[:, None]
    S = rng.normal(size=(n, 24, 8)).astype(np.float32)
    S[:, :, :2] += shift[:, None, None]
    for i, length in enumerate(rng.integers(6, 25, n)):
        S[i, length:] = np.nan
    image = rng.normal(size=(n, 8, 64)).astype(np.float32) * np.repeat([3.0, 0.5], 32) + np.repeat(
        [-20.0, 4.0], 32
    )
    image[:, :, :4] += 3 * shift[:, None, None]
    image[:, :, 32:36] += 0.5 * shift[:, None, None]
    return {"vector": X, "sequence": S, "image": image}, CLASSES[k], np.array([f"s{i % 6}" for i in range(n)])


def input_of(name, data):
    if name == "seed004_cnn_lstm":
        return data["image"]
    return data["sequence"] if MODELS[name].input_kind == "sequence" else data["vector"]


def model(name, seed=0, **extra):
    params = {**FAST.get(name, {}), **extra}
    if name == "seed004_cnn_lstm":
        params.update(length=8)
    return make_model(name, random_state=seed, n_jobs=1, **params)


def fitted_state(m):
    state = [np.asarray(w) for w in m.model_.get_weights()]
    for attr in ("max_len_", "frame_mean_", "frame_scale_"):
        if hasattr(m, attr):
            state.append(np.atleast_1d(getattr(m, attr)))
    if hasattr(m, "scaler_") and m.scaler_.mean_ is not None:
        state += [m.scaler_.mean_, m.scaler_.scale_]
    return state


@pytest.fixture(scope="module")
def fits():
    """Each network fitted on the same fold twice: clean, then (after all the others) with the test rows'
    features and labels poisoned. Both fits must be bit-identical, whatever ran in between."""
    data, y, speakers = problem()
    test = np.flatnonzero(speakers == "s0")
    train = np.flatnonzero(speakers != "s0")
    clean, dirty = {}, {}
    for name in NETWORKS:
        m = model(name)
        clean[name] = (m, fit_on_fold(m, input_of(name, data), y, speakers, train, test)[0])
    for name in NETWORKS:
        A = input_of(name, data).copy()
        poisoned = A.copy()
        poisoned[test] = np.where(np.isnan(A[test]), 1e6, 1e6)  # longer clips, absurd values
        y_poisoned = y.copy()
        y_poisoned[test] = "sad"
        m = model(name)
        dirty[name] = (m, fit_on_fold(m, poisoned, y_poisoned, speakers, train, test)[0])
    return clean, dirty, y[test]


@pytest.mark.parametrize("name", NETWORKS)
def test_learns_far_above_chance(fits, name):
    clean, _, y_test = fits
    accuracy = np.mean(clean[name][1] == y_test)
    assert accuracy > 0.7, f"{name}: {accuracy:.2f} (chance 0.33)"


@pytest.mark.parametrize("name", NETWORKS)
def test_poisoned_test_rows_change_nothing_fitted(fits, name):
    """Also: same seed -> same model, whatever was fitted in between in the process."""
    clean, dirty, _ = fits
    a, b = fitted_state(clean[name][0]), fitted_state(dirty[name][0])
    assert len(a) == len(b)
    for x, z in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, z)


@pytest.mark.parametrize("name", NETWORKS)
def test_curves_recorded_and_validation_on_held_out_speakers(fits, name):
    m = fits[0][name][0]
    assert set(m.history_) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(m.history_["loss"]) == len(m.history_["val_loss"]) == m.n_epochs_ == len(m.epoch_seconds_)
    if name != "seed004_cnn_lstm":  # the replication validates on a random part, as its notebook did
        assert m.validation_groups_ and "s0" not in m.validation_groups_
    assert all(np.isfinite(m.history_["loss"]))


@pytest.mark.parametrize("name", NETWORKS + sorted(RECIPES))
def test_clone_and_params(name):
    m = make_model(name, random_state=3)
    fresh = clone(m)
    assert fresh.get_params() == m.get_params() and fresh.random_state == 3
    assert "max_epochs" in fresh.set_params(max_epochs=2).get_params()



@pytest.mark.parametrize("name", ["dnn", "bilstm"])
def test_other_threads_drawing_from_python_random_change_nothing(monkeypatch, name):
    """A Dask worker's event loop draws from Python's shared ``random`` while a fit runs on its task thread;
    here those draws land between seeding and building, where Keras picks its layers' seeds."""
    import random

    data, y, speakers = problem(n=90)
    A, train = input_of(name, data), np.flatnonzero(speakers != "s0")
    params = dict(max_epochs=2, dropout=0.3)
    quiet = model(name, **params).fit(A[train], y[train], speakers[train])
    keras_utils = import_tensorflow().keras.utils
    seed_everything = keras_utils.set_random_seed

    def seed_then_another_thread_draws(seed):
        seed_everything(seed)
        for _ in range(7):
            random.random()

    monkeypatch.setattr(keras_utils, "set_random_seed", seed_then_another_thread_draws)
    noisy = model(name, **params).fit(A[train], y[train], speakers[train])
    for x, z in zip(fitted_state(quiet), fitted_state(noisy), strict=True):
        np.testing.assert_array_equal(x, z)

def test_padding_never_counts_in_recurrent_and_cnn1d_predictions(fits):
    clean = fits[0]
    data, _, _ = problem()
    S = data["sequence"][:10]
    longer = np.full((10, 40, 8), np.nan, dtype=np.float32)
    longer[:, :24] = S
    for name in ("lstm", "cnn1d"):
        m = clean[name][0]
        np.testing.assert_allclose(m.predict_proba(S), m.predict_proba(longer), rtol=1e-5, atol=1e-6)


def test_spectrogram_length_and_channel_statistics_come_from_training_rows(fits):
    clean = fits[0]
    data, _, speakers = problem()
    train = speakers != "s0"
    lengths = (~np.isnan(data["sequence"][train]).all(axis=2)).sum(axis=1)
    assert clean["cnn_lstm"][0].max_len_ == choose_length(lengths, 95.0)
    two, image = clean["seed004_cnn_lstm"][0], data["image"][train]
    np.testing.assert_allclose(
        two.frame_mean_[[0, 40]], [image[:, :, :32].mean(), image[:, :, 32:].mean()], rtol=1e-4
    )
    np.testing.assert_allclose(
        two.frame_scale_[[0, 40]], [image[:, :, :32].std(), image[:, :, 32:].std()], rtol=1e-4
    )


def test_explicit_validation_set_is_used_for_early_stopping():
    data, y, speakers = problem(n=120)
    X = data["vector"]
    m = DenseNetworkClassifier(hidden=(8,), max_epochs=4, patience=2).fit(
        X[:80], y[:80], validation=(X[80:], y[80:])
    )
    assert m.validation_size_ == 40 and m.n_train_ == 80 and len(m.history_["val_loss"]) == m.n_epochs_
    with pytest.raises(ValueError, match="not seen in fit"):
        DenseNetworkClassifier(max_epochs=1).fit(X[:80], y[:80], validation=(X[80:], np.full(40, "joy")))


def test_lstm_keeps_its_import_path_and_defaults():
    m = LSTMClassifier()
    assert m.units == 256 and tuple(m.dense) == (128, 64) and m.dropout == 0.5
    inputs = {name: get_model(name).default_input for name in ("lstm", "cnn_lstm", "dnn", "cnn1d")}
    assert inputs == {"lstm": "mfcc_frames", "cnn_lstm": "spectrogram", "dnn": None, "cnn1d": "logmel_frames"}


# --- the replications' layer stacks -------------------------------------------------------------------------


def built(name, shapes, n_classes=7):
    """The Keras model a recipe builds for input ``shapes`` (no training)."""
    keras = import_tensorflow(1).keras
    keras.backend.clear_session()
    return make_model(name)._build(keras, shapes, n_classes)


def input_shape(layer):
    return (layer.input[0] if isinstance(layer.input, list) else layer.input).shape[1:]


def layers(keras_model, *kinds):
    """The model's layers of these Keras kinds, subclasses included (the networks' LSTM is ``ManualLSTM``)."""
    return [layer for layer in keras_model.layers if {c.__name__ for c in type(layer).__mro__} & set(kinds)]


def test_seed000_lstm_stack():
    m = built("seed000_lstm", [(40, 1), (40,)])
    (lstm,) = layers(m, "LSTM")
    assert lstm.units == 256 and m.inputs[0].shape[1:] == (40, 1)
    assert [d.units for d in layers(m, "Dense")] == [128, 64, 7]
    assert [d.rate for d in layers(m, "Dropout")] == [0.5, 0.5]
    est = make_model("seed000_lstm")
    assert (est.max_epochs, est.batch_size, est.early_stopping, est.normalise) == (30, 64, False, None)


@pytest.mark.parametrize(
    "name, cell, units, dense, dropout, epochs, batch",
    [
        ("seed001_lstm", "LSTM", 128, [64, 32, 7], 0.2, 100, 512),
        ("seed001_gru", "GRU", 128, [64, 32, 7], 0.3, 100, 64),
    ],
)
def test_seed001_recurrent_stacks(name, cell, units, dense, dropout, epochs, batch):
    m = built(name, [(40, 1), (40,)])
    (rnn,) = layers(m, cell)
    assert rnn.units == units and [d.units for d in layers(m, "Dense")] == dense
    assert [d.rate for d in layers(m, "Dropout")] == [dropout, dropout]
    est = make_model(name)
    assert (est.max_epochs, est.batch_size, est.class_weight) == (epochs, batch, None)


def test_seed001_bilstm_and_cnn1d_stacks():
    m = built("seed001_bilstm", [(40, 1), (40,)])
    (bi,) = layers(m, "Bidirectional")
    assert bi.forward_layer.units == 128 and bi.output.shape[-1] == 256
    m = built("seed001_cnn1d", [(40, 1), (40,)])
    convs = layers(m, "Conv1D")
    assert [c.filters for c in convs] == [64, 128] and [c.kernel_size for c in convs] == [(3,), (3,)]
    assert len(layers(m, "MaxPooling1D")) == 2 and layers(m, "Flatten")[0].output.shape[-1] == 10 * 128
    assert [d.units for d in layers(m, "Dense")] == [64, 32, 7]


def test_seed002_cnn_lstm_stack():
    m = built("seed002_cnn_lstm", [(300, 64, 1), (300,)], n_classes=8)
    assert [c.filters for c in layers(m, "Conv2D")] == [32, 64, 128]
    assert len(layers(m, "BatchNormalization")) == 3 and len(layers(m, "MaxPooling2D")) == 3
    (lstm,) = layers(m, "LSTM")
    assert lstm.units == 128 and input_shape(lstm) == (37, 8 * 128)
    assert [d.units for d in layers(m, "Dense")] == [64, 8]
    est = make_model("seed002_cnn_lstm")
    assert est.length == 300 and est.early_stopping and est.patience == 5 and not est.validation_by_group


def test_seed003_dnn_stack():
    m = built("seed003_dnn", [(67,)])
    assert m.inputs[0].shape[1:] == (67,)
    assert [d.units for d in layers(m, "Dense")] == [256, 128, 64, 7]
    assert all(d.activation.__name__ == "relu" for d in layers(m, "Dense")[:-1])
    assert layers(m, "Dense")[-1].activation.__name__ == "softmax"


def test_seed004_two_channel_stack():
    m = built("seed004_cnn_lstm", [(32, 94, 2)], n_classes=8)
    assert m.inputs[0].shape[1:] == (32, 94, 2)
    convs = layers(m, "Conv1D")
    assert [c.filters for c in convs] == [128, 256] and convs[0].kernel_size == (5,)
    assert input_shape(convs[0]) == (94, 64)
    (bi,) = layers(m, "Bidirectional")
    assert bi.forward_layer.units == 128 and input_shape(bi) == (23, 256)
    assert [d.rate for d in layers(m, "Dropout")] == [0.3, 0.3, 0.4, 0.4]
    assert [d.units for d in layers(m, "Dense")] == [128, 8]
    est = make_model("seed004_cnn_lstm")
    assert (est.learning_rate, est.batch_size, est.max_epochs, est.normalise) == (1e-4, 32, 50, "channel")


# --- inputs ------------------------------------------------------------------------------------------


def test_feature_sets_shapes():
    rng = np.random.default_rng(0)
    clip = Clip((0.1 * rng.normal(size=int(16000 * 2.0))).astype(np.float32))
    assert get_feature_set("logmel_frames").kind == "sequence"
    assert get_feature_set("logmel_frames").func(clip).shape == (51, 64)  # 201 frames pooled by 4
    assert get_feature_set("spectrogram").func(clip).shape == (201, 64)
    two = get_feature_set("ravdess2ch").func(clip)
    assert two.shape == (94, 64) and np.isfinite(two).all() and two[:, :32].max() == pytest.approx(0.0)
    assert get_feature_set("mfcc40_mean").func(clip).shape == (40, 1)
    assert get_feature_set("feature_means").func(clip).shape == (67,)
    for name, recipe in RECIPES.items():
        assert recipe.default_input is None or get_feature_set(recipe.default_input), name
        assert get_model(name).default_input == recipe.default_input and get_model(name).family == "seed"


# --- the claims table -------------------------------------------------------------------------------------


def test_claims_table_one_row_per_replication_with_both_numbers(tmp_path):
    claims = load_claims()
    assert set(claims["recipe"]) == set(RECIPES) and claims["recipe"].is_unique
    rows = []
    for recipe in claims["recipe"]:
        for protocol, wa in (("holdout", 0.9), ("speaker", 0.6)):
            for fold in range(2):
                rows.append(
                    dict(
                        dataset="tess",
                        table="leaderboard",
                        features="x",
                        model=recipe,
                        protocol=protocol,
                        speaker_norm=False,
                        fold=fold,
                        status="ok",
                        uar=wa - 0.05,
                        wa=wa + 0.02 * fold,
                        f1=wa,
                    )
                )
    rows.append(
        dict(
            dataset="tess",
            table="leaderboard",
            features="all",
            model="svm",
            protocol="speaker",
            speaker_norm=False,
            fold=0,
            status="ok",
            uar=0.5,
            wa=0.5,
            f1=0.5,
        )
    )
    rows.append(
        dict(
            dataset="tess",
            table="leaderboard",
            features="x",
            model="seed000_lstm",
            protocol="speaker",
            speaker_norm=False,
            fold=2,
            status="failed",
            uar=None,
            wa=None,
            f1=None,
        )
    )
    pd.DataFrame(rows).to_csv(tmp_path / "folds.csv", index=False)
    table = claims_table(tmp_path)
    assert list(table["recipe"]) == list(claims["recipe"])
    row = table.set_index("recipe").loc["seed000_lstm"]
    assert row["holdout_acc"] == pytest.approx(91.0) and row["speaker_acc"] == pytest.approx(61.0)
    assert row["speaker_uar"] == pytest.approx(55.0) and row["holdout_minus_speaker"] == pytest.approx(30.0)
    assert (
        row["claim"] == 96 and row["claim_minus_holdout"] == pytest.approx(5.0) and row["speaker_folds"] == 2
    )
    assert np.isnan(table.set_index("recipe").loc["seed002_cnn_lstm", "claim_minus_holdout"])
    assert "seed004_cnn_lstm" in render_claims(table) and json.loads(render_claims(table, "json"))
    # A RAVDESS claim is not set against a TESS run; a TESS claim is not set against an EmoDB run.
    assert np.isnan(table.set_index("recipe").loc["seed004_cnn_lstm", "claim_minus_holdout"])
    folds = pd.read_csv(tmp_path / "folds.csv")
    folds.assign(dataset="emodb").to_csv(tmp_path / "folds.csv", index=False)
    elsewhere = claims_table(tmp_path)
    assert elsewhere["claim_minus_holdout"].isna().all()
    assert elsewhere["holdout_minus_speaker"].tolist() == table["holdout_minus_speaker"].tolist()
    assert "– (other corpus)" in render_claims(elsewhere)


def test_recipes_that_fit_a_corpus():
    assert recipes_for("tess") == [
        "seed000_lstm",
        "seed001_cnn1d",
        "seed001_lstm",
        "seed001_bilstm",
        "seed001_gru",
        "seed003_dnn",
    ]
    assert recipes_for("ravdess") == ["seed002_cnn_lstm", "seed003_dnn", "seed004_cnn_lstm"]
    assert len(recipes_for("emodb")) == len(RECIPES)
