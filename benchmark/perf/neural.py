"""Speed of the neural models on a RAVDESS-sized synthetic fold, against this machine's matmul throughput.

For every neural model (or the ones named), on random inputs of the shape its default feature set gives
for 1150 training clips of 3-4 s (plus the validation part the model holds out), it reports: seconds for the
first epoch (tracing and compiling included), seconds per later epoch, an estimated fold (first epoch +
the later ones up to the model's epoch cap), the model's arithmetic per epoch (FLOPs the training step runs,
counted from its layers by :func:`layer_flops`: forward and backward for the training clips, forward for
the validation clips) and the ratio
of the achieved FLOP rate to the attainable one, a float32 matmul timed in the same process with the same
threads. ``--baseline`` also times the first working configuration (Keras's ``model.fit`` loop, every
input frame a step), so before and after come from one run.

    python -m benchmark.perf.neural [--models lstm,cnn1d] [--epochs 3] [--jobs 2] [--baseline] [--full]
                                    [--layers manual,keras,hoisted,fused,manual-graph] [--update auto,xla,keras]
                                    [--batch-sizes 32,64,128] [--onednn] [--json]

Every epoch is timed twice: wall seconds, and the process's CPU seconds. On a machine shared with other work
the CPU figures are the reliable ones (they do not count the time spent waiting for a core), so the CPU ratio
(GFLOP per CPU-second of an epoch over the matmul's) is the efficiency figure. ``--layers`` times candidate
recurrent layers (:mod:`models.neural.fused`) beside Keras's; ``--onednn`` times every model with TensorFlow's
oneDNN kernels off and on, in alternating child processes (the setting is process-wide).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

UNTUNED = {"frame_pool": 1}
TRAIN_CLIPS = 1150
VALIDATION_FRACTION = 0.15
SECONDS = (3.0, 4.0)
SPEECH_BANK_COLUMNS = 7431  # the default vector input, the speech bank "all" (docs/features.md)
# --layers: "keras" (Keras's own layers: what the networks run, models.neural.recurrent.LAYERS) and the
# candidates of models.neural.fused; "manual-graph": the manual layers with their loops in the graph executor
# instead of XLA
LAYER_VARIANTS = ("keras", "manual", "hoisted", "fused", "manual-graph")
DEFAULT_LAYERS = "keras"  # time what a run fits, unless --layers asks for a candidate
RECURRENT = ("LSTM", "GRU", "FusedLSTM", "HoistedLSTM", "HoistedGRU", "ManualLSTM", "ManualGRU")


def synthetic_input(default_input: str | None, n: int, rng: np.random.Generator, y: np.ndarray) -> np.ndarray:
    """Random inputs of the shape the default feature set gives for 3-4 s clips, with a weak class signal."""
    shapes = {  # feature set -> (frame step in s or None for fixed frames, dims, fixed frames)
        "mfcc_frames": (0.04, 80, None),
        "logmel_frames": (0.04, 64, None),
        "spectrogram": (0.01, 64, None),
        "ravdess2ch": (None, 64, 94),
        "mfcc40_mean": (None, 1, 40),
    }
    if default_input in (None, "feature_means"):
        dims = 67 if default_input else SPEECH_BANK_COLUMNS
        X = rng.normal(size=(n, dims)).astype(np.float32)
        X[:, :8] += 0.5 * np.eye(8)[y]
        return X
    step, dims, fixed = shapes[default_input]
    if fixed:
        X = rng.normal(size=(n, fixed, dims)).astype(np.float32)
        X[:, :, : min(dims, 8)] += 0.4 * np.eye(8)[y][:, None, : min(dims, 8)]
        return X
    lo, hi = (int(round(s / step)) for s in SECONDS)
    X = rng.normal(size=(n, hi, dims)).astype(np.float32)
    X[:, :, :8] += 0.4 * np.eye(8)[y][:, None, :]
    for i, length in enumerate(rng.integers(lo, hi + 1, n)):
        X[i, length:] = np.nan
    return X


def matmul_gflops(jobs: int, size: int = 1024, repeats: int = 20, cpu: bool = False) -> float:
    """Attainable float32 throughput: the best of several timed ``size``^3 matmuls in TensorFlow.

    ``cpu``: per second of the process's CPU time (all its threads) instead of wall time; on a shared machine
    the CPU figure does not count the time spent waiting for a core.
    """
    from models.neural.training import import_tensorflow

    tf = import_tensorflow(jobs)
    a = tf.random.normal((size, size), seed=1)
    b = tf.random.normal((size, size), seed=2)
    matmul = tf.function(lambda x, y: tf.linalg.matmul(x, y), jit_compile=False)
    matmul(a, b).numpy()
    clock = time.process_time if cpu else time.perf_counter
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        matmul(a, b).numpy()
        best = min(best, clock() - start)
    return 2 * size**3 / best / 1e9


def layer_flops(model) -> list[dict]:
    """Per weight layer (dense, convolution, LSTM/GRU), the FLOPs per example a training step runs.

    Counted as 2 x multiply-adds of the matrix products and convolutions (elementwise work, dropout and Adam
    are left out), each layer split into ``forward`` and ``backward``:

    - forward: a dense layer's ``inputs x units``, a convolution's ``kernel x in x out`` per output position,
      a recurrent layer's ``gates x units x (inputs + units)`` per step. Keras's masked loop runs every padded
      step (a masked step is computed, then discarded by a select), and its TensorFlow backend runs the step
      function once more before the loop to learn the output's shape: ``steps + 1`` steps are counted
      (``steps`` for the manual layers of :mod:`models.neural.fused`, whose loop does not).
    - backward: the weight gradient (as many FLOPs as the forward product) and the gradient of the layer's
      input, except for the first weight layer, whose input is the data: the tape computes no gradient for it
      (a profiler trace of an epoch shows, per step of the LSTM, the products for the kernel's and the
      recurrent kernel's gradients and the previous state's, and none for the input frames). A recurrent
      layer always computes the gradient of its previous state, over the ``steps`` of the loop.

    A bidirectional layer counts both directions. Returns ``[{"layer", "forward", "backward"}, ...]``.
    """
    rows = []
    upstream = False  # a weight layer came before: this layer's input needs a gradient
    for layer in _weight_layers(model):
        kind = type(layer).__name__
        out_shape = layer.output.shape
        in_shape = layer.input.shape if not isinstance(layer.input, list) else layer.input[0].shape
        if kind == "Dense":
            forward = 2 * np.prod(in_shape[1:]) * layer.units
            backward = forward * (2 if upstream else 1)
        elif kind in ("Conv1D", "Conv2D"):
            kernel = np.prod(layer.kernel_size)
            forward = 2 * kernel * in_shape[-1] * layer.filters * np.prod(out_shape[1:-1])
            backward = forward * (2 if upstream else 1)
        else:  # recurrent, possibly bidirectional
            cell_layer = layer.forward_layer if kind == "Bidirectional" else layer
            directions = 2 if kind == "Bidirectional" else 1
            gates = 4 if "LSTM" in type(cell_layer).__name__ else 3
            units, features, steps = cell_layer.units, in_shape[-1], in_shape[1]
            on_input, on_state = 2 * gates * units * features, 2 * gates * units * units  # per step
            # Keras's loop runs step 0 once more first; the manual layers' custom loop does not
            extra = 0 if type(cell_layer).__name__.startswith("Manual") else 1
            forward = directions * (on_input + on_state) * (steps + extra)
            backward = directions * steps * (on_input + 2 * on_state + (on_input if upstream else 0))
        rows.append({"layer": layer.name, "forward": float(forward), "backward": float(backward)})
        upstream = True
    return rows


def forward_flops(model) -> float:
    """Forward FLOPs per example of the model's weight layers, as :func:`layer_flops` counts them."""
    return sum(row["forward"] for row in layer_flops(model))


def traced_kernels(function, *args) -> dict[str, int]:
    """How many times each TensorFlow op ran in one call of ``function(*args)`` (a ``tf.function``, called
    once untraced first), from the profiler's host trace: what the graph optimiser left, loop steps counted.

    Keys are ``graph/name:Kernel`` (``.../MatMul_1_grad/MatMul:_MklMatMul``); the check of
    :func:`layer_flops` against the kernels TensorFlow really runs (``tests/test_neural_speed.py``).
    """
    import collections
    import tempfile
    from pathlib import Path

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    function(*args)  # trace and optimise outside the profile
    counts: collections.Counter = collections.Counter()
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        try:
            function(*args)
        finally:
            tf.profiler.experimental.stop()
        for path in Path(logdir).rglob("*.xplane.pb"):
            space = xplane_pb2.XSpace()
            space.ParseFromString(path.read_bytes())
            for plane in space.planes:
                for line in plane.lines:
                    for event in line.events:
                        name = plane.event_metadata[event.metadata_id].name
                        if ":" in name and " " not in name:  # an op's run is traced as "graph/name:OpType"
                            counts[name] += 1
    return dict(counts)


def _weight_layers(model):
    for layer in model.layers:
        if type(layer).__name__ in ("Dense", "Conv1D", "Conv2D", "Bidirectional", *RECURRENT):
            yield layer


def time_model(
    name: str,
    jobs: int = 2,
    epochs: int = 3,
    seed: int = 0,
    full: bool = False,
    tuned: bool = True,
    attainable: float | None = None,
    overrides: dict | None = None,
    layers: str = DEFAULT_LAYERS,
    attainable_cpu: float | None = None,
    update: str = "auto",
) -> dict:
    """Train ``name`` on a RAVDESS-sized synthetic fold; epochs and FLOPs as described in the module."""
    from models import MODELS, make_model
    from models.neural import epochs as epoch_loop
    from models.neural import fused, recurrent, training

    rng = np.random.default_rng(seed)
    n = int(TRAIN_CLIPS / (1 - VALIDATION_FRACTION)) + 1
    y = rng.integers(0, 8, n)
    X = synthetic_input(MODELS[name].default_input if name in MODELS else None, n, rng, y)
    speakers = np.array([f"actor{i % 20:02d}" for i in range(n)])
    params = {**({} if full else {"max_epochs": epochs, "early_stopping": False}), **(overrides or {})}
    model = make_model(name, random_state=seed, n_jobs=jobs, **params)
    if not tuned:  # the first working loop: Keras's model.fit, every frame a step
        model.set_params(**{k: v for k, v in UNTUNED.items() if k in model.get_params()})
    cap = int(make_model(name).max_epochs)
    saved, saved_layers, saved_update = dict(training.LOOP), dict(recurrent.LAYERS), dict(epoch_loop.LOOP)
    saved_manual = dict(fused.MANUAL)
    training.LOOP["keras_fit"] = not tuned
    recurrent.LAYERS["recurrent"] = "manual" if layers == "manual-graph" else layers
    fused.MANUAL["xla_loops"] = layers == "manual"
    epoch_loop.LOOP["xla_update"] = {"auto": "auto", "xla": True, "keras": False}[update]
    try:
        start = time.perf_counter()
        model.fit(X, np.array([f"e{c}" for c in y]), groups=speakers)
        elapsed = time.perf_counter() - start
    finally:
        training.LOOP.update(saved)
        recurrent.LAYERS.update(saved_layers)
        epoch_loop.LOOP.update(saved_update)
        fused.MANUAL.update(saved_manual)
    seconds = model.epoch_seconds_
    later = float(np.median(seconds[1:])) if len(seconds) > 1 else seconds[0]
    cpu = model.epoch_cpu_seconds_
    later_cpu = float(np.median(cpu[1:])) if len(cpu) > 1 else cpu[0]
    inputs = model._inputs(X[:200])
    layers_counted = layer_flops(model.model_)
    fwd = sum(row["forward"] for row in layers_counted)
    bwd = sum(row["backward"] for row in layers_counted)
    n_val = model.validation_size_
    per_epoch_flops = (fwd + bwd) * model.n_train_ + fwd * n_val
    # share of the input's steps that are real (the rest is padding the masked loops still compute)
    real_share = float(np.mean(inputs[1])) if len(inputs) > 1 else 1.0
    first = layers_counted[0]
    achieved = per_epoch_flops / later / 1e9
    fold = elapsed if full else (elapsed - sum(seconds)) + seconds[0] + later * (cap - 1)
    result = {
        "model": name,
        "tuned": tuned,
        "layers": layers,
        "update": update,
        "batch_size": int(model.batch_size),
        "train": model.n_train_,
        "validation": n_val,
        "first_epoch_s": seconds[0],
        "epoch_s": later,
        "epochs_run": len(seconds),
        "epoch_cap": cap,
        "fold_s": fold,
        "fold_measured": full,
        "gflop_per_epoch": per_epoch_flops / 1e9,
        "backward_over_forward": bwd / fwd,
        "first_layer_share": (first["forward"] + first["backward"]) / (fwd + bwd),
        "real_step_share": real_share,
        "achieved_gflops": achieved,
        "epoch_cpu_s": later_cpu,
        "achieved_cpu_gflops": per_epoch_flops / later_cpu / 1e9,
    }
    if attainable:
        result["ratio"] = achieved / attainable
    if attainable_cpu:
        result["cpu_ratio"] = result["achieved_cpu_gflops"] / attainable_cpu
    return result


def run(
    models: list[str] | None = None,
    jobs: int = 2,
    epochs: int = 3,
    baseline: bool = False,
    full: bool = False,
    layers: tuple[str, ...] = (DEFAULT_LAYERS,),
    updates: tuple[str, ...] = ("auto",),
    batch_sizes: tuple[int | None, ...] = (None,),
) -> list[dict]:
    """Time every neural model (or ``models``); print one line per model and configuration.

    ``layers``: recurrent layer variants to time for the recurrent models (``keras``, the default and what a
    run fits, ``manual``, ``hoisted``, ``fused``, ``manual-graph``; see :mod:`models.neural.fused`); ``updates``: Adam's update compiled by XLA (``xla``), Keras's op by op
    (``keras``) or the default choice between them (``auto``; :mod:`models.neural.epochs`); ``batch_sizes``:
    batch sizes to time (None: the model's own), a different model each, for the batch size against the cache. The first configuration is the reference of the ``vs`` column.
    Each model's ratios are against a matmul timed just before it, so that a change of load between models
    does not move them.
    """
    from models import MODELS
    from models.neural.training import onednn_setting

    names = models or [m for m, spec in MODELS.items() if spec.neural]
    attainable = matmul_gflops(jobs)
    attainable_cpu = matmul_gflops(jobs, cpu=True)
    print(f"attainable: float32 1024^3 matmul, {jobs} thread(s), oneDNN {'on' if onednn_setting() == '1' else 'off'}"
          f": {attainable:.1f} GFLOP/s wall, {attainable_cpu:.1f} GFLOP per CPU-second")
    print(
        f"{'model':<16} {'loop':<8} {'layers':<8} {'update':<6} {'batch':>5} {'1st ep s':>8} {'ep s':>7} {'fold s':>8} {'GFLOP/ep':>9} "
        f"{'GFLOP/s':>8} {'ratio':>6} {'ep CPU-s':>8} {'CPU ratio':>9} {'vs':>6} {'bwd/fwd':>7} {'1st lay':>7} "
        f"{'real':>5} {'mm/CPU-s':>8}"
    )
    rows = []
    for name in names:
        recurrent_model = "lstm" in name or "gru" in name
        reference = None
        attainable, attainable_cpu = matmul_gflops(jobs, repeats=10), matmul_gflops(jobs, repeats=10, cpu=True)
        configurations = [(False, layers[0], updates[0], batch_sizes[0])] if baseline else []
        configurations += [(True, variant, update, batch) for variant in (layers if recurrent_model else layers[:1])
                           for update in updates for batch in batch_sizes]
        for tuned, variant, update, batch in configurations:
            r = time_model(name, jobs, epochs, full=full, tuned=tuned, attainable=attainable,
                           layers=variant, attainable_cpu=attainable_cpu, update=update,
                           overrides=None if batch is None else {"batch_size": batch})
            rows.append(r)
            if reference is None and tuned:
                reference = r["epoch_cpu_s"]
            versus = f"{reference / r['epoch_cpu_s']:5.2f}x" if tuned and reference else ""
            fold = f"{r['fold_s']:.0f}{'' if full else '*'}"
            print(
                f"{name:<16} {'tuned' if tuned else 'untuned':<8} {variant:<8} {update:<6} {r['batch_size']:5d} "
                f"{r['first_epoch_s']:8.1f} "
                f"{r['epoch_s']:7.2f} {fold:>8} {r['gflop_per_epoch']:9.1f} {r['achieved_gflops']:8.1f} "
                f"{r['ratio']:6.3f} {r['epoch_cpu_s']:8.2f} {r['cpu_ratio']:9.3f} {versus:>6} "
                f"{r['backward_over_forward']:7.2f} {r['first_layer_share']:7.2f} {r['real_step_share']:5.2f} "
                f"{attainable_cpu:8.1f}",
                flush=True,
            )
    if not full:
        print(
            "* fold = first epoch + later epochs x (epoch cap - 1) + set-up: the cap, before early stopping"
        )
    print("CPU ratio: GFLOP per CPU-second of an epoch over the matmul's, robust to a shared machine; vs: later "
          "epochs' CPU time of the model's first configuration over this one's")
    print("GFLOP: products and convolutions as the step runs them (padded steps included, no input gradient for "
          "the first layer); bwd/fwd: backward over forward FLOPs; 1st lay: the first weight layer's share; "
          "real: share of input steps that are not padding; mm/CPU-s: the matmul's GFLOP per CPU-second, timed "
          "before the model")
    return rows


def compare_onednn(models: list[str], jobs: int = 1, epochs: int = 3, rounds: int = 2) -> dict[str, float]:
    """Each model's later-epoch CPU seconds with oneDNN off over on, in alternating child processes.

    The setting is process-wide (fixed at TensorFlow's import), hence a child per setting and round; the
    median over ``rounds`` is printed per model.
    """
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    seconds: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for setting in ("0", "1"):
            done = subprocess.run(
                [sys.executable, "-m", "benchmark.perf.neural", "--models", ",".join(models), "--jobs", str(jobs),
                 "--epochs", str(epochs), "--json"],
                cwd=root, capture_output=True, text=True, check=False,
                env={**os.environ, "SER_TF_ONEDNN": setting, "PYTHONPATH": str(root)},
            )
            if done.returncode != 0:
                raise RuntimeError(f"perf --neural child failed:\n{done.stderr[-2000:]}")
            for row in json.loads(done.stdout.splitlines()[-1]):
                seconds.setdefault((row["model"], setting), []).append(row["epoch_cpu_s"])
    ratios = {}
    print(f"oneDNN off / on, later-epoch CPU seconds, median of {rounds} alternating rounds, {jobs} thread(s)")
    for name in models:
        off, on = (float(np.median(seconds[name, s])) for s in ("0", "1"))
        ratios[name] = off / on
        print(f"  {name:<16} off {off:6.2f} CPU-s   on {on:6.2f} CPU-s   {off / on:5.2f}x")
    return ratios


def main() -> None:
    import contextlib
    import io
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated; default: every neural model")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--baseline", action="store_true", help="also time the untuned loop")
    parser.add_argument("--full", action="store_true", help="train whole folds (early stopping) instead")
    parser.add_argument("--layers", default=DEFAULT_LAYERS,
                        help="recurrent layer variants to time, comma-separated: " + ", ".join(LAYER_VARIANTS))
    parser.add_argument("--update", default="auto",
                        help="Adam's update, comma-separated: auto (the default: compiled for weights past the "
                             "cache), xla (always compiled), keras (op by op)")
    parser.add_argument("--batch-sizes", default="",
                        help="batch sizes to time, comma-separated (default: each model's own); each a different "
                             "model, for the batch size against the cache")
    parser.add_argument("--onednn", action="store_true",
                        help="instead: oneDNN off against on, in alternating child processes")
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON line at the end")
    args = parser.parse_args()
    models = args.models.split(",") if args.models else None
    if args.onednn:
        from models import MODELS

        compare_onednn(models or [m for m, spec in MODELS.items() if spec.neural], args.jobs, args.epochs)
        return
    layers = tuple(v.strip() for v in args.layers.split(",") if v.strip())
    unknown = sorted(set(layers) - set(LAYER_VARIANTS))
    if unknown:
        parser.error(f"--layers: unknown variant(s) {', '.join(unknown)} ({', '.join(LAYER_VARIANTS)})")
    updates = tuple(v.strip() for v in args.update.split(",") if v.strip())
    if not updates or set(updates) - {"auto", "xla", "keras"}:
        parser.error(f"--update: {args.update!r}: a comma-separated list of auto, xla, keras")
    try:
        batch_sizes = tuple(int(b) for b in args.batch_sizes.split(",") if b.strip()) or (None,)
    except ValueError:
        parser.error(f"--batch-sizes: {args.batch_sizes!r}: comma-separated whole numbers")
    if any(b is not None and b < 1 for b in batch_sizes):
        parser.error(f"--batch-sizes: {args.batch_sizes!r}: every batch size at least 1")
    out = io.StringIO()
    with contextlib.redirect_stdout(out) if args.json else contextlib.nullcontext():
        rows = run(models, args.jobs, args.epochs, args.baseline, args.full, layers, updates, batch_sizes)
    if args.json:
        print(json.dumps(rows, default=float))


if __name__ == "__main__":
    main()
