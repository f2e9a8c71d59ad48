"""One fit, the unit of work: build a model, fit it on a fold's training rows, predict its test rows.

This runs in whatever process a backend chooses, so it depends on its arguments alone: the model is built from
its registered name, parameters and seed; threads come from the budget it is handed; plugins travel as source
text so that a worker on another machine registers the same feature sets and models.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class FitSpec:
    """What decides a fit besides its data."""

    model: str
    params: tuple[tuple[str, object], ...]
    seed: int
    threads: int
    plugins: tuple[tuple[str, bytes], ...] = ()  # (file name, source)
    tune: bool = False  # choose hyper-parameters by inner speaker-grouped CV on the training speakers
    balance: str = ""  # class balancing inside the training fold (models.balancing), "" for none


@dataclass
class FitRecord:
    """A fit's result: what the fold's test rows were predicted to be, and how the fit went."""

    status: str  # "ok" or "failed"
    error: str = ""
    predictions: np.ndarray | None = None  # (n_test,) labels
    proba: np.ndarray | None = None  # (n_test, n_classes) in the order of ``classes``
    classes: np.ndarray | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs: int | None = None
    best_params: dict | None = None
    seconds: float = 0.0
    cached: bool = False
    traceback: str = ""
    extra: list = field(default_factory=list)  # (predictions, proba) of the test rows of each extra input


def run_fit(spec: FitSpec, X, y: np.ndarray, groups: np.ndarray, train: np.ndarray, test: np.ndarray,
            dev: np.ndarray | None = None, extras: tuple = ()) -> FitRecord:
    """Fit ``spec``'s model on ``X[train]`` and predict ``X[test]``; a failure is returned, never raised.

    ``extras`` are further inputs (arrays or ``.npy`` paths) whose test rows the same fitted model predicts too
    (degraded copies of the test clips: the model is fitted once, never on them).

    ``X`` is an array or the path of a ``.npy`` file (memory-mapped, read once per process). ``dev`` rows, when
    given, are the validation part for models that stop early (a published split's development set).
    """
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    try:
        load_plugin_sources(spec.plugins)
        X = open_input(X)
        with threadpool_limits(limits=max(1, spec.threads)):
            model = build_model(spec)
            predictions, proba = fit_on_fold(model, X, y, groups, train, test, dev)
            extra = predict_extras(model, [open_input(E) for E in extras], test)
        classes = np.asarray(getattr(model, "classes_", np.unique(y[train])))
    except (Exception, SystemExit) as error:  # a failed fold, in every table, traceback in failures.txt
        # SystemExit too: a plugin model calling sys.exit fails its fit, it does not end the run with its code
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        if isinstance(error, SystemExit):
            message = f"the model called sys.exit({error.code!r})"
        return FitRecord("failed", f"{type(error).__name__}: {message}"[:300],
                         seconds=round(time.perf_counter() - start, 3), traceback=traceback.format_exc())
    history = {k: [float(v) for v in vals] for k, vals in (getattr(model, "history_", None) or {}).items()}
    best = getattr(model, "best_params_", None)
    return FitRecord("ok", "", predictions.astype(str), proba, classes.astype(str), history,
                     getattr(model, "n_epochs_", None), dict(best) if best else None,
                     round(time.perf_counter() - start, 3), extra=extra)


def predict_rows(model, X, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """A fitted model's labels (as strings) and probabilities (or None) for ``X[rows]``."""
    predictions, proba = labels_and_proba(model, np.asarray(X[rows]))
    return np.asarray(predictions).astype(str), proba


def predict_extras(model, inputs: list, rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """:func:`predict_rows` of ``rows`` of every input, in one call of the model on their rows stacked.

    A robustness run predicts the test fold under each condition: stacked, a network runs a few full batches
    instead of one short batch per condition (each of which pays the per-call and per-time-step cost of its
    forward pass). Every model here predicts a row from that row alone, so the stacked call gives each input's
    rows what a call on them alone would (tests/test_robust_speed.py checks it for the default models).
    """
    if not inputs:
        return []
    n = len(rows)
    stacked = np.concatenate([np.asarray(X[rows]) for X in inputs])
    predictions, proba = labels_and_proba(model, stacked)
    predictions = np.asarray(predictions).astype(str)
    return [(predictions[i * n:(i + 1) * n], None if proba is None else proba[i * n:(i + 1) * n])
            for i in range(len(inputs))]


def labels_and_proba(model, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``model.predict(X)`` and ``model.predict_proba(X)`` (or None), running the model once where it can.

    The benchmark's own classifiers predict the class of largest probability (``LabelledClassifier.predict``),
    so their labels are taken from the one ``predict_proba`` call instead of a second forward pass: the same
    function of the same rows, hence the same labels. A network's pass is most of its prediction time, and a
    robustness run predicts every test fold under every condition. Any other model is asked both.
    """
    if not hasattr(model, "predict_proba"):
        return np.asarray(model.predict(X)), None
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    if _predicts_by_argmax(model):
        return np.asarray(model.classes_)[np.argmax(proba, axis=1)], proba
    return np.asarray(model.predict(X)), proba


def _predicts_by_argmax(model) -> bool:
    """True when ``model.predict`` is ``classes_[argmax(predict_proba)]`` by construction (no override)."""
    from models.balancing import Balanced
    from models.base import LabelledClassifier

    if isinstance(model, Balanced):  # predict and predict_proba both pass through to the fitted estimator
        model = getattr(model, "estimator_", None)
    return (isinstance(model, LabelledClassifier) and type(model).predict is LabelledClassifier.predict
            and type(model).predict_proba is LabelledClassifier.predict_proba)


def fit_on_fold(model, X, y: np.ndarray, groups: np.ndarray | None, train: np.ndarray, test: np.ndarray,
                dev: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Fit ``model`` on the training rows only and predict the test rows: (labels, probabilities or None).

    Test labels are never read. ``groups`` (speakers) and ``dev`` rows go to models whose ``fit`` takes them.
    """
    fit_model(model, X, y, groups, train, dev)
    return labels_and_proba(model, np.asarray(X[test]))


def fit_model(model, X, y: np.ndarray, groups: np.ndarray | None, train: np.ndarray,
              dev: np.ndarray | None = None):
    """Fit ``model`` on ``X[train]``, passing speakers and development rows to models whose ``fit`` takes them."""
    kwargs = {}
    if groups is not None and _accepts(model, "groups"):
        kwargs["groups"] = np.asarray(groups)[train]
    if dev is not None and len(dev) and _accepts(model, "validation"):
        kwargs["validation"] = (np.asarray(X[dev]), y[dev])
    return model.fit(np.asarray(X[train]), y[train], **kwargs)


def build_model(spec: FitSpec):
    from models import make_model

    model = make_model(spec.model, random_state=spec.seed, n_jobs=spec.threads, **dict(spec.params))
    if spec.tune:
        from models.tuning import tuned

        model = tuned(spec.model, model, random_state=spec.seed)
    if spec.balance:
        from models.balancing import Balanced

        model = Balanced(model, spec.balance, random_state=spec.seed)
    return model


def _accepts(model, name: str) -> bool:
    try:
        return name in inspect.signature(model.fit).parameters
    except (TypeError, ValueError):
        return False


def open_input(X):
    """An input array, or the path of one saved by the processes backend (memory-mapped, opened once)."""
    if isinstance(X, str | Path):
        return _mapped(str(X))
    return X


@lru_cache(maxsize=16)
def _mapped(path: str) -> np.ndarray:
    return np.load(path, mmap_mode="r", allow_pickle=False)


def plugin_sources(paths) -> tuple[tuple[str, bytes], ...]:
    """The plugin files' names and sources, to send to workers that may not see the same disk."""
    return tuple((Path(p).name, Path(p).read_bytes()) for p in paths)


def load_plugin_sources(plugins: tuple[tuple[str, bytes], ...]) -> None:
    """Register a run's plugins in this process once: written to a private folder and imported from there."""
    from features.plugins import load_plugins, loaded_sources

    missing = [(name, text) for name, text in plugins if _digest(text) not in loaded_sources()]
    if not missing:
        return
    folder = Path(tempfile.gettempdir()) / f"ser-benchmark-plugins-{os.getuid() if hasattr(os, 'getuid') else 0}"
    folder.mkdir(exist_ok=True)
    paths = []
    for name, text in missing:
        path = folder / f"{_digest(text)[:16]}-{name}"
        if not path.is_file():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(text)
            os.replace(tmp, path)
        paths.append(path)
    load_plugins(paths)


def _digest(source: bytes) -> str:
    return hashlib.sha256(source).hexdigest()


def check_fit(record: FitRecord, n_test: int, train_labels: set[str]) -> str | None:
    """Why a fit's output cannot be scored, or None: predictions and probabilities are checked, never trusted."""
    if record.status != "ok":
        return record.error
    predictions = record.predictions
    if predictions is None or predictions.ndim != 1 or len(predictions) != n_test:
        got = "none" if predictions is None else f"shape {predictions.shape}"
        return f"bad predictions: expected {n_test} labels, got {got}"
    unknown = sorted(set(predictions.tolist()) - train_labels)
    if unknown:
        return f"bad predictions: label(s) {', '.join(unknown[:5])} never seen in training"
    if record.proba is not None:
        proba, classes = record.proba, record.classes
        if classes is None or proba.shape != (n_test, len(classes)):
            return f"bad probabilities: shape {proba.shape}, expected ({n_test}, {0 if classes is None else len(classes)})"
        if not np.all(np.isfinite(proba)) or np.any(proba < -1e-9) or not np.allclose(proba.sum(axis=1), 1.0,
                                                                                      atol=1e-4):
            return "bad probabilities: not finite, negative, or rows not summing to 1"
    return None
