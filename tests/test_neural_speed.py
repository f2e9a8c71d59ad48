"""Speed work on the networks and a run's fixed costs: results unchanged, nothing timed.

- the candidate recurrent layers (models.neural.fused) compute Keras's LSTM/GRU to float rounding, forward and
  backward, from the same seeded initial weights, for any mask (gaps included) and both directions;
- TensorFlow's oneDNN kernels, now on, and the XLA-compiled Adam update give bit-identical fits in another
  process (the backends' identity); the compiled update is Keras's to float rounding;
- perf's FLOP count is what an epoch runs (checked against the profiler's trace);
- the run's entry point does not import scipy.signal or TensorFlow;
- the perf helpers parse and write what they claim (import log, nkululeko's experiment).
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from features.errors import UserInputError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tf():
    from models.neural.training import import_tensorflow

    return import_tensorflow(1)


def _sequences(n=6, steps=9, dims=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, steps, dims)).astype(np.float32)
    lengths = np.array([9, 7, 4, 9, 1, 6])[:n]
    mask = np.arange(steps)[None, :] < lengths[:, None]
    mask[3, 2:4] = False  # a gap inside a clip: Keras keeps the state over masked steps
    x[~mask] = 0.0
    return x, mask


def _model(tf, layer_class, units, bidirectional, x_shape):
    from models.neural.training import private_layer_seeds

    keras = tf.keras
    keras.utils.set_random_seed(3)
    with private_layer_seeds(3):
        frames = keras.Input(x_shape[1:])
        mask = keras.Input(x_shape[1:2], dtype="bool")
        layer = layer_class(units)
        if bidirectional:
            layer = keras.layers.Bidirectional(layer)
        return keras.Model([frames, mask], keras.layers.Dense(3)(layer(frames, mask=mask)))


def _gradients(tf, model, x, mask):
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model([x, mask], training=True) ** 2)
    return [np.asarray(g) for g in tape.gradient(loss, model.trainable_variables)]


@pytest.mark.parametrize("candidate,reference,xla_loops", [
    ("FusedLSTM", "LSTM", True), ("HoistedLSTM", "LSTM", True), ("HoistedGRU", "GRU", True),
    ("ManualLSTM", "LSTM", True), ("ManualGRU", "GRU", True),  # the networks' default: loops under XLA
    ("ManualLSTM", "LSTM", False), ("ManualGRU", "GRU", False),  # the same loops in the graph executor
])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_candidate_layers_compute_keras_layers_to_float_rounding(tf, monkeypatch, candidate, reference, xla_loops,
                                                                 bidirectional):
    from models.neural import fused
    from models.neural.fused import fused_layers

    monkeypatch.setitem(fused.MANUAL, "xla_loops", xla_loops)
    keras = tf.keras
    x, mask = _sequences()
    ours = _model(tf, fused_layers(keras)[candidate], 4, bidirectional, x.shape)
    theirs = _model(tf, getattr(keras.layers, reference), 4, bidirectional, x.shape)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):  # same seeded initial weights
        np.testing.assert_array_equal(a, b)
    out, expected = np.asarray(ours([x, mask])), np.asarray(theirs([x, mask]))
    assert np.abs(expected).max() > 1e-3  # an output that could differ
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    for g, h in zip(_gradients(tf, ours, x, mask), _gradients(tf, theirs, x, mask), strict=True):
        np.testing.assert_allclose(g, h, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("candidate,reference", [("ManualLSTM", "LSTM"), ("ManualGRU", "GRU")])
def test_hand_written_gradients_reach_the_input_as_keras_does(tf, candidate, reference):
    """The CNN-LSTM's convolutions learn from the recurrent layer's input gradient: it must be Keras's too."""
    from models.neural.fused import fused_layers

    keras = tf.keras
    x, mask = _sequences()
    grads = []
    for cls in (fused_layers(keras)[candidate], getattr(keras.layers, reference)):
        model = _model(tf, cls, 4, True, x.shape)
        frames = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(frames)
            loss = tf.reduce_sum(model([frames, tf.constant(mask)], training=True) ** 2)
        grads.append(np.asarray(tape.gradient(loss, frames)))
    assert np.abs(grads[1]).max() > 1e-3
    assert np.all(grads[1][~mask] == 0)  # masked frames get no gradient, in either
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["lstm", "gru", "bilstm"])
def test_networks_fit_with_the_manual_layers_as_with_keras_layers(tf, monkeypatch, name):
    """Before and after: the same seeded fit (same input, seed, epochs) on Keras's layer and on the default
    manual one ends on the same probabilities to float rounding, and the default is the manual layer."""
    from models import make_model
    from models.neural import recurrent

    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 10, 6)).astype(np.float32)
    y = np.array(["a", "b"] * 20)
    X[:, :, 0] += (y == "a")[:, None]
    X[::4, 7:] = np.nan
    groups = np.array([f"s{i % 4}" for i in range(40)])
    probabilities, kinds = [], []
    for variant in ("keras", "manual"):
        monkeypatch.setitem(recurrent.LAYERS, "recurrent", variant)
        m = make_model(name, units=8, dense=(8,), max_epochs=3, early_stopping=False, batch_size=16,
                       random_state=0, n_jobs=1)
        m.fit(X, y, groups=groups)
        probabilities.append(m.predict_proba(X))
        layer = next(la for la in m.model_.layers if hasattr(la, "cell") or hasattr(la, "forward_layer"))
        kinds.append(type(getattr(layer, "forward_layer", layer)).__name__)
    assert kinds == [name.replace("bi", "").upper(), "Manual" + name.replace("bi", "").upper()]
    assert np.abs(probabilities[0] - 0.5).max() > 0.01  # trained away from the prior: a result that could differ
    np.testing.assert_allclose(probabilities[1], probabilities[0], rtol=1e-4, atol=1e-5)


def test_the_gap_matters_so_the_equality_test_can_fail(tf):
    """Treating the masked gap as real zero frames changes the output: the test above checks masking."""
    keras = tf.keras
    x, mask = _sequences()
    model = _model(tf, keras.layers.LSTM, 4, False, x.shape)
    filled = mask.copy()
    filled[3, 2:4] = True
    assert np.abs(np.asarray(model([x, mask]))[3] - np.asarray(model([x, filled]))[3]).max() > 1e-4


def test_candidate_falls_back_to_keras_where_it_would_not_be_exact(tf):
    """Recurrent dropout is not in the fused kernel: the layer runs Keras's own loop, so the results are equal."""
    from models.neural.fused import fused_layers

    keras = tf.keras
    x, mask = _sequences()
    outputs = []
    for cls in (fused_layers(keras)["FusedLSTM"], keras.layers.LSTM):
        keras.utils.set_random_seed(5)
        layer = cls(4, recurrent_dropout=0.3, seed=1)
        outputs.append(np.asarray(layer(x, mask=mask, training=True)))
    np.testing.assert_array_equal(outputs[0], outputs[1])


def _fit_hash() -> str:
    """SHA-1 of tiny seeded LSTM and dense fits' probabilities (run here and, by the test below, in a fresh
    process); the dense one with the compiled Adam update (the default for weights past the cache)."""
    from models import make_model
    from models.neural import epochs
    from models.neural.training import import_tensorflow

    import_tensorflow(1)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 12, 6)).astype(np.float32)
    y = np.array(["a", "b", "c"] * 16)
    X[:, :, 0] += (y == "a")[:, None]
    X[::3, 9:] = np.nan
    groups = np.array([f"s{i % 4}" for i in range(48)])
    m = make_model("lstm", units=8, dense=(8,), max_epochs=2, random_state=0, n_jobs=1)
    m.fit(X, y, groups=groups)
    d = make_model("dnn", hidden=(16, 8), max_epochs=3, random_state=0, n_jobs=1)
    saved = epochs.LOOP["xla_update"]
    epochs.LOOP["xla_update"] = True
    try:
        d.fit(X[:, 0], y, groups=groups)
    finally:
        epochs.LOOP["xla_update"] = saved
    return hashlib.sha1(m.predict_proba(X).tobytes() + d.predict_proba(X[:, 0]).tobytes()).hexdigest()


def test_onednn_fits_are_identical_in_another_process(tf):
    """oneDNN's kernels (on by default) and the XLA-compiled update at a fixed thread count: the same fits
    here, again here, and in a fresh process."""
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"
    here = _fit_hash()
    assert _fit_hash() == here  # the second fit reuses the compiled update
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SER_TF_ONEDNN": "1"}
    code = "from tests.test_neural_speed import _fit_hash; print(_fit_hash())"
    there = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                           check=True).stdout.strip().splitlines()[-1]
    assert len(here) == 40 and here == there


def _adam_twins(tf, shapes=((7, 5), (5,), (5, 3))):
    """Two copies of the same weights, each with a built Adam; and a seeded gradient per step and weight."""
    keras = tf.keras
    rng = np.random.default_rng(4)
    start = [rng.normal(size=s).astype(np.float32) for s in shapes]
    twins = []
    for _ in range(2):
        weights = [keras.Variable(w.copy()) for w in start]
        optimizer = keras.optimizers.Adam(learning_rate=0.01)
        optimizer.build(weights)
        twins.append((weights, optimizer))
    gradients = [[tf.constant(rng.normal(size=s).astype(np.float32)) for s in shapes] for _ in range(30)]
    return start, twins, gradients


def test_compiled_adam_update_is_keras_update_to_float_rounding(tf):
    """30 steps, the learning rate lowered half-way as the plateau rule does: Keras's Adam.apply against the
    compiled update on the same weights and gradients."""
    from models.neural.epochs import _adam_slots, _compiled_adam

    start, ((keras_w, keras_opt), (ours_w, ours_opt)), gradients = _adam_twins(tf)
    slots = _adam_slots(ours_opt, ours_w)
    for step, g in enumerate(gradients):
        if step == 15:
            keras_opt.learning_rate.assign(0.002)
            ours_opt.learning_rate.assign(0.002)
        keras_opt.apply(g, keras_w)
        _compiled_adam(tf)(*slots, g)
    assert int(ours_opt.iterations.numpy()) == int(keras_opt.iterations.numpy()) == 30
    for a, b, w0 in zip(keras_w, ours_w, start, strict=True):
        assert np.abs(np.asarray(a) - w0).max() > 0.05  # the weights moved far more than the tolerance
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)
    for kind in ("_momentums", "_velocities"):
        for a, b in zip(getattr(keras_opt, kind), getattr(ours_opt, kind), strict=True):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-7)


def test_compiled_update_is_chosen_for_weights_past_the_cache(monkeypatch):
    from types import SimpleNamespace

    from models.neural import epochs

    small = [SimpleNamespace(shape=(256, 1024)), SimpleNamespace(shape=(1024,))]  # the LSTM's largest
    large = [*small, SimpleNamespace(shape=(7431, 256))]  # the dense network's input layer
    monkeypatch.setitem(epochs.LOOP, "xla_update", "auto")
    assert not epochs._use_compiled_update(small) and epochs._use_compiled_update(large)
    monkeypatch.setitem(epochs.LOOP, "xla_update", True)
    assert epochs._use_compiled_update(small)
    monkeypatch.setitem(epochs.LOOP, "xla_update", False)
    assert not epochs._use_compiled_update(large)


def test_compiled_update_refuses_what_it_does_not_compute(tf):
    from models.neural.epochs import _adam_slots

    keras = tf.keras
    weights = [keras.Variable(np.ones(3, np.float32))]
    for optimizer in (keras.optimizers.Adam(amsgrad=True), keras.optimizers.Adam(clipnorm=1.0),
                      keras.optimizers.SGD()):
        optimizer.build(weights)
        with pytest.raises(ValueError, match="xla_update"):
            _adam_slots(optimizer, weights)


@pytest.mark.parametrize("name", ["dnn", "lstm"])
def test_fits_with_the_compiled_update_agree_with_keras_update(tf, monkeypatch, name):
    """The same seeded fit with Keras's update and with the compiled one: probabilities to float tolerance."""
    from models import make_model
    from models.neural import epochs

    rng = np.random.default_rng(1)
    y = np.array(["a", "b", "c"] * 20)
    X = rng.normal(size=(60, 10, 6)).astype(np.float32)
    X[:, :, :2] += (y == "a")[:, None, None]
    X[::2, 7:] = np.nan
    if name == "dnn":
        X = X[:, 0]
    params = {"dnn": dict(hidden=(16, 8)), "lstm": dict(units=8, dense=(8,))}[name]
    probabilities = []
    for fused in (False, True):
        monkeypatch.setitem(epochs.LOOP, "xla_update", fused)
        m = make_model(name, max_epochs=4, early_stopping=False, random_state=0, n_jobs=1, **params)
        m.fit(X, y, groups=np.array([f"s{i % 5}" for i in range(60)]))
        probabilities.append(m.predict_proba(X))
    assert np.abs(probabilities[0] - 1 / 3).max() > 0.02  # trained: far from the uniform start
    np.testing.assert_allclose(probabilities[1], probabilities[0], rtol=1e-4, atol=1e-5)


def test_onednn_setting_is_checked(monkeypatch):
    from models.neural.training import onednn_setting

    monkeypatch.delenv("SER_TF_ONEDNN", raising=False)
    assert onednn_setting() == "1"
    monkeypatch.setenv("SER_TF_ONEDNN", "0")
    assert onednn_setting() == "0"
    monkeypatch.setenv("SER_TF_ONEDNN", "yes")
    with pytest.raises(UserInputError, match="SER_TF_ONEDNN"):
        onednn_setting()


HEAVY = ("scipy.signal", "tensorflow", "matplotlib", "dask", "pandas")


def heavy_modules_after(statements: str) -> list[str]:
    """Which of :data:`HEAVY` a fresh interpreter has imported after running ``statements``."""
    code = f"import json, sys; {statements}; print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_the_run_entry_point_imports_neither_scipy_signal_nor_tensorflow():
    found = heavy_modules_after("import benchmark.cli.run, benchmark.cli; benchmark.cli.build_parser()")
    assert not {"scipy.signal", "tensorflow", "matplotlib", "dask"} & set(found), found


def test_the_run_engine_imports_no_plotting_no_signal_processing_and_no_tensorflow():
    """What every run imports before reading its corpus: matplotlib waits for the report (about 0.3 s), scipy.signal
    and TensorFlow for the work that needs them."""
    found = heavy_modules_after("import benchmark.cli.run, benchmark.run.engine")
    assert not {"scipy.signal", "tensorflow", "matplotlib", "dask"} & set(found), found


def test_extraction_workers_import_no_pandas():
    """A worker of the extraction pool imports the feature bank to run its chunks; pandas (about 0.25 s a worker)
    is the parent's business."""
    assert heavy_modules_after("import features.bank, features.robust") == []


def test_heaviest_imports_names_third_party_modules_our_code_imports():
    from benchmark.perf.startup import heaviest_imports

    log = "\n".join([
        "import time:       100 |        100 |         scipy.signal._x",
        "import time:       300 |    2000400 |       scipy.signal",
        "import time:        50 |       5000 |       numpy",
        "import time:        10 |    2005410 |     features.rhythm",
        "import time:        20 |     900000 |     pandas",
        "import time:         5 |    2905435 |   features",
        "import time:         1 |    2905436 | benchmark.cli.run",
    ])
    assert heaviest_imports(log) == [("scipy.signal", 2.0004), ("pandas", 0.9), ("numpy", 0.005)]


def test_nkululeko_experiment_uses_our_files_and_test_speakers(tmp_path):
    from benchmark.perf.nkululeko import nkululeko_config, write_table

    table = tmp_path / "corpus.csv"
    write_table(["a.wav", "b.wav"], ["03", "08"], ["anger", "sadness"], table)
    rows = table.read_text().splitlines()
    assert rows[0] == "file,speaker,emotion" and rows[1].endswith(",spk03,anger")
    assert Path(rows[1].split(",")[0]).is_absolute()
    ini = configparser.ConfigParser()
    ini.read_string(nkululeko_config(table, tmp_path / "exp", ["spk03"]))
    assert ini["DATA"]["corpus"] == str(table)
    assert ini["DATA"]["corpus.split_strategy"] == "['spk03']"
    assert ini["FEATS"]["set"] == "eGeMAPSv02" and ini["MODEL"]["type"] == "svm"


def test_our_side_of_the_same_job_fits_once_on_nkululekos_split(tmp_path):
    """The fold file of the like-for-like job is one fold: nkululeko's test speakers tested, all others trained
    on, so this project's run makes the same single fit on the same rows."""
    import pandas as pd

    from benchmark.evaluation.protocols import make_folds, read_fold_file
    from benchmark.perf.nkululeko import our_command, write_split

    speakers = ["03", "08", "08", "09", "10", "10", "11"]
    split = tmp_path / "split.csv"
    write_split(speakers, ["08", "11"], split)
    fold_file = read_fold_file(split)
    assert fold_file.folds == [0] and fold_file.has_parts
    table = pd.DataFrame({"speaker": speakers, "emotion": ["a", "b"] * 3 + ["a"], "path": [f"{i}.wav" for i in
                                                                                          range(7)]})
    (fold,) = make_folds("speaker", table, n_folds=5, seed=0, fold_file=fold_file)
    assert sorted(fold.test.tolist()) == [1, 2, 6] and sorted(fold.train.tolist()) == [0, 3, 4, 5]
    command = our_command("emodb", "DATA", 0, tmp_path / "x", ["--fold-file", str(split)])
    assert command[command.index("--fold-file") + 1] == str(split) and "--protocols" in command


def test_perf_nkululeko_without_nkululeko_says_how_to_get_it(capsys):
    from benchmark.perf.nkululeko import run_side_by_side

    if subprocess.run([sys.executable, "-c", "import nkululeko"], capture_output=True).returncode == 0:
        pytest.skip("nkululeko is installed here")
    assert run_side_by_side("emodb", "/nonexistent") is None
    assert "--nkululeko-python" in capsys.readouterr().out


def test_forward_flops_counts_candidate_layers_like_keras_layers(tf):
    from benchmark.perf.neural import forward_flops
    from models.neural.fused import fused_layers

    x, _ = _sequences()
    flops = [forward_flops(_model(tf, cls, 4, False, x.shape))
             for cls in (tf.keras.layers.LSTM, fused_layers(tf.keras)["HoistedLSTM"],
                         fused_layers(tf.keras)["ManualLSTM"])]
    assert flops[0] == flops[1] == 2 * 4 * 4 * (5 + 4) * (9 + 1) + 2 * 4 * 3  # 9 steps, and step 0 once more
    assert flops[2] == 2 * 4 * 4 * (5 + 4) * 9 + 2 * 4 * 3  # the manual loop runs no step twice


def _epoch_kernels(tf, model, inputs, n_classes):
    """The product kernels one epoch of the project's loop runs (one batch), from the profiler's trace."""
    from benchmark.perf.neural import traced_kernels
    from models.neural.epochs import EpochLoop

    n = len(inputs[0])
    loop = EpochLoop(tf, tf.keras, model, 1e-3, n, np.ones(n_classes))
    labels = tf.constant(np.arange(n) % n_classes, tf.int32)
    executed = traced_kernels(loop._epoch, tuple(tf.constant(a) for a in inputs), labels, tf.range(n))
    return {name: count for name, count in executed.items() if "MatMul" in name.rsplit(":", 1)[1]}


def test_layer_flops_count_the_products_an_epoch_runs(tf):
    """layer_flops against the profiler: per step of a first-layer LSTM, the forward products on the input and
    on the state (steps + 1: Keras runs step 0 once more before its loop), the kernel's, recurrent kernel's and
    previous state's gradients, and no gradient of the input frames."""
    import re

    from benchmark.perf.neural import layer_flops

    keras = tf.keras
    x, mask = _sequences()
    n, steps, d = x.shape
    units, gates = 4, 4
    frames, real = keras.Input(x.shape[1:]), keras.Input(mask.shape[1:], dtype="bool")
    model = keras.Model([frames, real], keras.layers.Dense(3, activation="softmax")(
        keras.layers.LSTM(units)(frames, mask=real)))
    executed = _epoch_kernels(tf, model, (x, mask), 3)

    def runs(pattern):
        return sum(c for name, c in executed.items() if re.search(pattern, name.rsplit(":", 1)[0]))

    cell = r"lstm_cell(_\d+)?/"
    products = {
        "x": runs(cell + r"MatMul$"), "h": runs(cell + r"MatMul_1$"),
        "dx": runs(cell + r"MatMul_grad/MatMul$"), "dW": runs(cell + r"MatMul_grad/MatMul_1$"),
        "dh": runs(cell + r"MatMul_1_grad/MatMul$"), "dU": runs(cell + r"MatMul_1_grad/MatMul_1$"),
    }
    assert products == {"x": steps + 1, "h": steps + 1, "dx": 0, "dW": steps, "dh": steps, "dU": steps}
    traced = 2 * n * gates * units * (d * (products["x"] + products["dx"] + products["dW"])
                                      + units * (products["h"] + products["dh"] + products["dU"]))
    lstm = layer_flops(model)[0]
    assert n * (lstm["forward"] + lstm["backward"]) == traced


def test_layer_flops_first_dense_layer_has_no_input_gradient(tf):
    """A dense net: the first layer's backward is its weight gradient only, the next layers' both products."""
    from benchmark.perf.neural import layer_flops

    keras = tf.keras
    x = np.random.default_rng(0).normal(size=(6, 7)).astype(np.float32)
    inputs = keras.Input((7,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="second")(
        keras.layers.Dense(5, activation="relu", name="first")(inputs)))
    gradients = {layer: sum(c for name, c in _epoch_kernels(tf, model, (x,), 3).items()
                            if "gradient_tape" in name and f"/{layer}" in name) for layer in ("first", "second")}
    assert gradients == {"first": 1, "second": 2}
    assert layer_flops(model) == [{"layer": "first", "forward": 2 * 7 * 5, "backward": 2 * 7 * 5},
                                  {"layer": "second", "forward": 2 * 5 * 3, "backward": 2 * 2 * 5 * 3}]


def test_saved_model_with_a_candidate_layer_loads_safely(tf, tmp_path):
    """A model built on a candidate layer saves and loads in the .keras format with safe_mode."""
    import keras

    from models.neural.fused import fused_layers

    x, mask = _sequences()
    model = _model(tf, fused_layers(tf.keras)["FusedLSTM"], 4, True, x.shape)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(np.asarray(loaded([x, mask])), np.asarray(model([x, mask])))


@pytest.mark.parametrize("argv,flag", [(["--batch-sizes", "64,x"], "--batch-sizes"),
                                       (["--batch-sizes", "0"], "--batch-sizes"),
                                       (["--update", "fast"], "--update")])
def test_perf_neural_refuses_bad_variants_naming_the_flag(monkeypatch, capsys, argv, flag):
    from benchmark.perf import neural

    monkeypatch.setattr(sys, "argv", ["neural", *argv])
    with pytest.raises(SystemExit):
        neural.main()
    assert flag in capsys.readouterr().err


def test_perf_neural_times_the_recurrent_layers_the_networks_run_by_default():
    """The ratios `perf --neural` prints are those of what a run fits, not of a candidate layer."""
    from benchmark.perf import neural
    from models.neural import recurrent

    assert recurrent.LAYERS["recurrent"] == neural.DEFAULT_LAYERS
    assert neural.run.__defaults__[5] == (recurrent.LAYERS["recurrent"],)
