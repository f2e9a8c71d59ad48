"""Speed of the neural models on a RAVDESS-sized synthetic fold, against this machine's matmul throughput.

For every neural model (or the ones named), on random inputs of the shape its default feature set gives
for 1150 training clips of 3-4 s (plus the validation part the model holds out), it reports: seconds for the
first epoch (tracing and compiling included), seconds per later epoch, an estimated fold (first epoch +
the later ones up to the model's epoch cap), the model's arithmetic per epoch (FLOPs counted from its layers:
forward, and twice that backward, for the training clips; forward for the validation clips) and the ratio
of the achieved FLOP rate to the attainable one, a float32 matmul timed in the same process with the same
threads. ``--baseline`` also times the first working configuration (Keras's ``model.fit`` loop, every
input frame a step), so before and after come from one run.

    python -m benchmark.perf.neural [--models lstm,cnn1d] [--epochs 3] [--jobs 2] [--baseline] [--full]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

UNTUNED = {"frame_pool": 1}
TRAIN_CLIPS = 1150
VALIDATION_FRACTION = 0.15
SECONDS = (3.0, 4.0)


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
        dims = 67 if default_input else 342  # the vector bank's "all": 342 columns
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


def matmul_gflops(jobs: int, size: int = 1024, repeats: int = 20) -> float:
    """Attainable float32 throughput: the best of several timed ``size``^3 matmuls in TensorFlow."""
    from models.neural.training import import_tensorflow

    tf = import_tensorflow(jobs)
    a = tf.random.normal((size, size), seed=1)
    b = tf.random.normal((size, size), seed=2)
    matmul = tf.function(lambda x, y: tf.linalg.matmul(x, y), jit_compile=False)
    matmul(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def forward_flops(model, steps: float | None = None) -> float:
    """Multiply-adds x 2 per example in the model's weight layers (dense, convolutions, LSTM/GRU cells).

    A recurrent layer on variable-length input counts ``steps`` steps (the mean real length).
    """
    total = 0.0
    for layer in _weight_layers(model):
        kind = type(layer).__name__
        out_shape = layer.output.shape
        in_shape = layer.input.shape if not isinstance(layer.input, list) else layer.input[0].shape
        if kind == "Dense":
            total += 2 * np.prod(in_shape[1:]) * layer.units
        elif kind in ("Conv1D", "Conv2D"):
            kernel = np.prod(layer.kernel_size)
            total += 2 * kernel * in_shape[-1] * layer.filters * np.prod(out_shape[1:-1])
        elif kind in ("LSTM", "GRU", "Bidirectional"):
            cell_layer = layer.forward_layer if kind == "Bidirectional" else layer
            gates = 4 if type(cell_layer).__name__ == "LSTM" else 3
            units = cell_layer.units
            features = in_shape[-1]
            n_steps = in_shape[1] if in_shape[1] is not None else steps
            total += (2 if kind == "Bidirectional" else 1) * 2 * gates * units * (features + units) * n_steps
    return float(total)


def _weight_layers(model):
    for layer in model.layers:
        if type(layer).__name__ in ("Dense", "Conv1D", "Conv2D", "LSTM", "GRU", "Bidirectional"):
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
) -> dict:
    """Train ``name`` on a RAVDESS-sized synthetic fold; epochs and FLOPs as described in the module."""
    from models import make_model
    from models.neural import DEFAULT_INPUTS, training

    rng = np.random.default_rng(seed)
    n = int(TRAIN_CLIPS / (1 - VALIDATION_FRACTION)) + 1
    y = rng.integers(0, 8, n)
    X = synthetic_input(DEFAULT_INPUTS.get(name), n, rng, y)
    speakers = np.array([f"actor{i % 20:02d}" for i in range(n)])
    params = {**({} if full else {"max_epochs": epochs, "early_stopping": False}), **(overrides or {})}
    model = make_model(name, random_state=seed, n_jobs=jobs, **params)
    if not tuned:  # the first working loop: Keras's model.fit, every frame a step
        model.set_params(**{k: v for k, v in UNTUNED.items() if k in model.get_params()})
    cap = int(make_model(name).max_epochs)
    saved = dict(training.LOOP)
    training.LOOP["keras_fit"] = not tuned
    try:
        start = time.perf_counter()
        model.fit(X, np.array([f"e{c}" for c in y]), groups=speakers)
        elapsed = time.perf_counter() - start
    finally:
        training.LOOP.update(saved)
    seconds = model.epoch_seconds_
    later = float(np.median(seconds[1:])) if len(seconds) > 1 else seconds[0]
    inputs = model._inputs(X[:200])
    steps = float(inputs[1].sum(axis=1).mean()) if len(inputs) > 1 else None
    fwd = forward_flops(model.model_, steps)
    n_val = model.validation_size_
    per_epoch_flops = 3 * fwd * model.n_train_ + fwd * n_val
    achieved = per_epoch_flops / later / 1e9
    fold = elapsed if full else (elapsed - sum(seconds)) + seconds[0] + later * (cap - 1)
    result = {
        "model": name,
        "tuned": tuned,
        "train": model.n_train_,
        "validation": n_val,
        "first_epoch_s": seconds[0],
        "epoch_s": later,
        "epochs_run": len(seconds),
        "epoch_cap": cap,
        "fold_s": fold,
        "fold_measured": full,
        "gflop_per_epoch": per_epoch_flops / 1e9,
        "achieved_gflops": achieved,
    }
    if attainable:
        result["ratio"] = achieved / attainable
    return result


def run(
    models: list[str] | None = None,
    jobs: int = 2,
    epochs: int = 3,
    baseline: bool = False,
    full: bool = False,
) -> list[dict]:
    """Time every neural model (or ``models``); print one line per model and configuration."""
    from models import MODELS

    names = models or [m for m, spec in MODELS.items() if spec.neural]
    attainable = matmul_gflops(jobs)
    print(f"attainable: float32 1024^3 matmul, {jobs} thread(s): {attainable:.1f} GFLOP/s")
    print(
        f"{'model':<16} {'loop':<8} {'1st ep s':>8} {'ep s':>7} {'fold s':>8} {'GFLOP/ep':>9} "
        f"{'GFLOP/s':>8} {'ratio':>6}"
    )
    rows = []
    for name in names:
        for tuned in [False, True] if baseline else [True]:
            r = time_model(name, jobs, epochs, full=full, tuned=tuned, attainable=attainable)
            rows.append(r)
            fold = f"{r['fold_s']:.0f}{'' if full else '*'}"
            print(
                f"{name:<16} {'tuned' if tuned else 'untuned':<8} {r['first_epoch_s']:8.1f} "
                f"{r['epoch_s']:7.2f} {fold:>8} {r['gflop_per_epoch']:9.1f} {r['achieved_gflops']:8.1f} "
                f"{r['ratio']:6.3f}",
                flush=True,
            )
    if not full:
        print(
            "* fold = first epoch + later epochs x (epoch cap - 1) + set-up: the cap, before early stopping"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated; default: every neural model")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--baseline", action="store_true", help="also time the untuned loop")
    parser.add_argument("--full", action="store_true", help="train whole folds (early stopping) instead")
    args = parser.parse_args()
    run(args.models.split(",") if args.models else None, args.jobs, args.epochs, args.baseline, args.full)


if __name__ == "__main__":
    main()
