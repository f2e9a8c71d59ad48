"""What every network here shares: its fit (preparation, seeding, the training loop of
:mod:`models.neural.epochs`), its prediction, and the frame-sequence input handling.

Every fit starts from a clean, seeded Keras state (``keras.backend.clear_session`` then
``keras.utils.set_random_seed``), so a fit's result does not depend on what ran before it in the process, and
the layers draw their seeds from a generator of the fit's own (``private_layer_seeds``), so it does not depend
on what other threads of the process do either.
Training uses balanced class weights, stops early on a validation part (whole held-out speakers when
``groups`` are given, or an explicit ``validation=(X_val, y_val)`` such as a published development split),
and records its curves in ``history_``. TensorFlow is imported only when a network is fitted.
"""

from __future__ import annotations

import contextlib
import os
import random
import time

import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from features.errors import UserInputError
from features.sequences import choose_length, sequence_lengths

from ..base import LabelledClassifier
from ..validation import validation_split
from .epochs import Curves, EpochLoop, Schedule

_CONFIGURED_THREADS: int | None = None
LOOP = {"keras_fit": False}  # True: train with Keras's model.fit, the reference perf --baseline times
CURVE_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
PREDICT_BATCH = 512  # rows per forward call when predicting


def import_tensorflow(threads: int = 1):
    """Import TensorFlow quietly, deterministically, with bounded threads (fixed at the first call).

    ``threads`` becomes TensorFlow's intra-op thread count; inter-op parallelism is 1. Both can only be set
    before TensorFlow runs its first op, so the first call in a process decides.
    """
    global _CONFIGURED_THREADS
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Every process decides alike (workers inherit SER_TF_ONEDNN), so fits agree whatever the backend.
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = onednn_setting()
    with _quiet_stderr():  # the C++ runtime prints start-up notes past TF_CPP_MIN_LOG_LEVEL
        import tensorflow as tf
    if _CONFIGURED_THREADS is None:
        tf.get_logger().setLevel("ERROR")
        tf.config.threading.set_intra_op_parallelism_threads(max(1, int(threads)))
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.experimental.enable_op_determinism()
        _CONFIGURED_THREADS = max(1, int(threads))
        from .fused import fused_layers

        fused_layers(tf.keras)  # registers the networks' recurrent layers, so a saved network loads anywhere
    return tf


def onednn_setting() -> str:
    """``"1"`` (TensorFlow's oneDNN kernels, the default) or ``"0"`` (Eigen's), from ``SER_TF_ONEDNN``.

    oneDNN's matrix products make the LSTM's epoch about 1.3x cheaper on an AVX-512 CPU; at a fixed thread
    count they are bit-for-bit repeatable within and across processes (``tests/test_neural_speed.py``), which
    is what the backends' identity needs. The two settings differ from each other by float rounding.
    """
    value = os.environ.get("SER_TF_ONEDNN", "1").strip()
    if value not in ("0", "1"):
        raise UserInputError(f"environment variable SER_TF_ONEDNN must be 0 or 1, got {value!r}")
    return value


@contextlib.contextmanager
def _quiet_stderr():
    try:
        fd = os.dup(2)
    except OSError:  # no real stderr (some embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


@contextlib.contextmanager
def private_layer_seeds(seed: int):
    """Layers built inside draw their unset seeds from ``random.Random(seed)``, not Python's shared generator.

    Keras seeds every initializer and dropout layer built without a seed from the global ``random`` module.
    Other threads of the process draw from it too, at times of their own (a Dask worker's event loop does),
    so a seeded fit on a Dask worker could start from other weights than the same fit anywhere else.
    """
    from keras.src.random import seed_generator

    if not hasattr(seed_generator, "python_random"):  # pragma: no cover - guards a Keras upgrade
        raise ImportError("keras.src.random.seed_generator.python_random is gone: layer seeds cannot be made "
                          "private with this Keras version")
    shared = seed_generator.python_random
    seed_generator.python_random = random.Random(seed)
    try:
        yield
    finally:
        seed_generator.python_random = shared


def take(inputs: tuple[np.ndarray, ...], rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """The same rows of every array of a model's inputs."""
    return tuple(a[rows] for a in inputs)


class KerasClassifier(LabelledClassifier):
    """Base of the Keras networks: one training loop; subclasses describe preparation and layers.

    Subclasses implement ``_fit_inputs(X)`` (fit anything data-dependent, from the training rows only),
    ``_inputs(X) -> tuple of arrays`` and ``_build(keras, shapes, n_classes) -> keras.Model``.

    Training parameters every network takes (plain ``__init__`` parameters of the subclasses):
    ``learning_rate``, ``batch_size``, ``max_epochs``, ``patience`` (epochs without a better validation loss
    before stopping), ``early_stopping`` (False: run all epochs; the best validation epoch is still restored
    when ``restore_best``), ``validation_fraction`` (share of the training rows held out when no explicit
    validation set is given), ``validation_by_group`` (hold out whole speakers when ``groups`` are given),
    ``class_weight`` (``"balanced"`` or None), ``jit_compile`` (XLA), ``random_state``, ``n_jobs``
    (TensorFlow intra-op threads), ``verbose``.
    """

    def fit(self, X, y, groups=None, validation=None):
        """Fit on ``X, y``; ``groups`` (speakers) shape the validation part; ``validation=(X_val, y_val)``
        replaces it by an explicit set (e.g. a published development split): it is used only to stop early
        and pick the best epoch, never to fit a normaliser."""
        self._validation = validation
        try:
            return super().fit(X, y, groups=groups)
        finally:
            self._validation = None

    def _fit_encoded(self, X, y, groups) -> None:
        validation = getattr(self, "_validation", None)
        self._fit_inputs(X)
        inputs = self._inputs(X)
        if validation is not None:
            X_val, y_val = validation
            X_val = self._check_X(X_val, fitting=False)
            y_val = self.encode_labels(y_val)
            train, val_inputs, val_y = np.arange(len(y)), self._inputs(X_val), y_val
            self.validation_size_, self.validation_groups_ = len(y_val), None
        else:
            use_groups = groups if self.validation_by_group else None
            train, val = validation_split(y, use_groups, self.validation_fraction, self.random_state)
            self.validation_size_ = 0 if val is None else len(val)
            self.validation_groups_ = (
                None if val is None or use_groups is None else sorted(set(use_groups[val].tolist()))
            )
            val_inputs, val_y = (None, None) if val is None else (take(inputs, val), y[val])
        self._train(take(inputs, train), y[train], val_inputs, val_y)

    def _train(self, inputs, y, val_inputs, val_y) -> None:
        tf = import_tensorflow(self.n_jobs)
        keras = tf.keras
        keras.backend.clear_session()
        keras.utils.set_random_seed(int(self.random_state))
        n_classes = len(self.classes_)
        with private_layer_seeds(int(self.random_state)):
            model = self._build(keras, [a.shape[1:] for a in inputs], n_classes)
        present = np.unique(y)
        weights = np.ones(n_classes)
        if self.class_weight == "balanced":
            weights[present] = compute_class_weight("balanced", classes=present, y=y)
        stops = val_inputs is not None and self.early_stopping
        schedule = Schedule(
            max_epochs=int(self.max_epochs),
            patience=int(self.patience) if stops else None,
            restore_best=bool(self.restore_best),
            plateau=tuple(self.lr_plateau) if self.lr_plateau else None,
        )
        if LOOP["keras_fit"]:
            curves = _keras_fit(keras, model, self, inputs, y, val_inputs, val_y, weights, schedule)
        else:
            loop = EpochLoop(tf, keras, model, self.learning_rate, self.batch_size, weights, self.jit_compile)
            curves = loop.run(inputs, y, val_inputs, val_y, schedule, int(self.random_state), int(self.verbose))
        self.model_ = model
        self.history_ = {k: [float(v) for v in values] for k, values in curves.as_history().items()}
        self.n_epochs_ = len(self.history_["loss"])
        val_loss = self.history_["val_loss"]
        self.best_epoch_ = int(np.argmin(val_loss)) + 1 if val_loss and self.restore_best else self.n_epochs_
        self.n_train_ = len(y)
        self.epoch_seconds_ = curves.seconds
        self.epoch_cpu_seconds_ = curves.cpu_seconds

    def _proba(self, X) -> np.ndarray:
        from .fused import holds_candidate_layer

        inputs = list(self._inputs(X))
        # A candidate recurrent layer (models.neural.fused) projects a whole batch's frames in one product whose
        # kernel oneDNN picks by the row count: its rows are padded to full batches, so that a row's
        # probabilities never depend on how many rows it is predicted with (tests/test_robust_speed.py).
        fixed = holds_candidate_layer(self.model_)
        forward = self._forward(inputs)
        out = []
        for start in range(0, len(inputs[0]), PREDICT_BATCH):  # direct calls: model.predict builds a tf.data pipeline
            batch = [a[start : start + PREDICT_BATCH] for a in inputs]
            rows = len(batch[0])
            if fixed and rows < PREDICT_BATCH:
                batch = [np.concatenate([a, np.zeros((PREDICT_BATCH - rows, *a.shape[1:]), a.dtype)]) for a in batch]
            out.append(np.asarray(forward(*batch))[:rows])
        return np.concatenate(out)

    def _forward(self, inputs: list[np.ndarray]):
        """The network's inference pass as one graph, traced once per fitted network (batch dimension left open).

        Called eagerly, a Keras recurrent layer runs its time loop op by op from Python: predicting the
        degraded copies of ``--robustness`` (20 per test clip) took the LSTM about twice as long as this
        traced pass. The probabilities agree with the eager call to float rounding (tests/test_robust_speed.py).
        The function is runtime state, not a fitted attribute: a bundle stores the weights, and rebuilds it.
        """
        tf = import_tensorflow(self.n_jobs)
        signature = [tf.TensorSpec((None, *a.shape[1:]), tf.as_dtype(a.dtype)) for a in inputs]
        cached = getattr(self, "_traced", None)
        if cached is None or cached[0] is not self.model_ or cached[1] != signature:
            model = self.model_
            function = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False),
                                   input_signature=signature)
            cached = self._traced = (model, signature, function)
        return cached[2]  # called with one array per input

    # subclass hooks
    def _fit_inputs(self, X: np.ndarray) -> None:
        raise NotImplementedError

    def _inputs(self, X: np.ndarray) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    def _build(self, keras, shapes, n_classes: int):
        raise NotImplementedError


def _keras_fit(keras, model, params, inputs, y, val_inputs, val_y, weights, schedule: Schedule) -> Curves:
    """The first working loop, Keras's ``model.fit`` with its callbacks: the reference ``perf --baseline``
    times the compiled loop against (``LOOP["keras_fit"] = True``)."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=float(params.learning_rate)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    curves = Curves()
    started = [0.0, 0.0]

    def begin(epoch, logs=None):
        started[:] = [time.perf_counter(), time.process_time()]

    def end(epoch, logs=None):
        curves.seconds.append(time.perf_counter() - started[0])
        curves.cpu_seconds.append(time.process_time() - started[1])

    callbacks = [keras.callbacks.LambdaCallback(on_epoch_begin=begin, on_epoch_end=end)]
    validation_data = None
    if val_inputs is not None:
        validation_data = (_keras_x(val_inputs), val_y)
        patience = schedule.patience if schedule.patience is not None else schedule.max_epochs + 1
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                                       restore_best_weights=schedule.restore_best))
        if schedule.plateau:
            factor, wait, floor = schedule.plateau
            callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=factor,
                                                               patience=int(wait), min_lr=floor))
    history = model.fit(_keras_x(inputs), y, validation_data=validation_data, epochs=schedule.max_epochs,
                        batch_size=int(params.batch_size), shuffle=True,
                        class_weight=dict(enumerate(weights.tolist())), callbacks=callbacks, verbose=0)
    for key in CURVE_KEYS:
        getattr(curves, key).extend(history.history.get(key, []))
    return curves


def _keras_x(inputs: tuple[np.ndarray, ...]):
    return list(inputs) if len(inputs) > 1 else inputs[0]


class SequenceInput:
    """Mixin for networks on NaN-padded frame sequences: a length and a frame normaliser fitted in ``fit``.

    Parameters used: ``length`` (fixed number of steps; None: ``length_percentile`` of the training clips'
    lengths) and ``normalise`` (``"dim"``: per-dimension mean and std over the real training frames,
    ``None``: frames as given).
    """

    def _fit_inputs(self, X: np.ndarray) -> None:
        lengths = sequence_lengths(X)
        if np.any(lengths == 0):
            raise ValueError(f"{type(self).__name__}: a training sequence has no frames")
        if getattr(self, "length", None):
            self.max_len_ = int(self.length)
        else:
            self.max_len_ = min(choose_length(lengths, self.length_percentile), X.shape[1])
        self._fit_normaliser(X[:, : self.max_len_])

    def _fit_normaliser(self, X: np.ndarray) -> None:
        real = X[~np.isnan(X).all(axis=2)]
        if self.normalise == "dim":
            std = real.std(axis=0)
            self.frame_mean_, self.frame_scale_ = real.mean(axis=0), np.where(std > 1e-8, std, 1.0)
        elif self.normalise is None:
            self.frame_mean_ = np.zeros(X.shape[2], dtype=np.float32)
            self.frame_scale_ = np.ones(X.shape[2], dtype=np.float32)
        else:
            raise ValueError(
                f"{type(self).__name__}: normalise must be 'dim' or None, got {self.normalise!r}"
            )

    def _frames(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, steps, dims) normalised frames with padding at 0, and the (n, steps) mask of real frames.

        With ``frame_pool`` k > 1, each run of k frames is averaged over its real frames into one step.
        """
        n, frames, dims = X.shape
        k = int(getattr(self, "frame_pool", 1) or 1)
        steps = -(-self.max_len_ // k)
        # In place, and the k frames of a step added one after the other (the order numpy's sum over that axis
        # takes, so the values are the same bit for bit): the degraded copies of --robustness put 20 times the
        # test rows through here, where the temporaries of the plain expressions cost more than the network.
        fitted = np.full((n, steps * k, dims), np.nan, dtype=np.float32)
        fitted[:, : min(frames, self.max_len_)] = X[:, : self.max_len_]
        normalised = np.subtract(fitted, self.frame_mean_, dtype=np.result_type(fitted, self.frame_mean_))
        np.divide(normalised, self.frame_scale_, out=normalised)
        missing = np.isnan(normalised)
        real = ~missing.all(axis=2)
        np.copyto(normalised, 0.0, where=missing)  # nan_to_num(nan=0) without its extra passes over the array
        if np.isinf(normalised).any():
            np.nan_to_num(normalised, copy=False)
        if k > 1:
            counts = real.reshape(n, steps, k).sum(axis=2)
            runs = normalised.reshape(n, steps, k, dims)
            sums = runs[:, :, 0].copy()
            for j in range(1, k):
                sums += runs[:, :, j]
            sums /= np.maximum(counts, 1)[..., None]
            return sums.astype(np.float32, copy=False), counts > 0
        return normalised.astype(np.float32, copy=False), real

    def _inputs(self, X: np.ndarray) -> tuple[np.ndarray, ...]:
        frames, mask = self._frames(X)
        return frames, mask


def dense_head(keras, h, dense, dropout: float, n_classes: int, batchnorm: bool = False):
    """Dense ReLU layers each followed by dropout, then the softmax output."""
    for units in dense:
        h = keras.layers.Dense(int(units), activation="relu")(h)
        if batchnorm:
            h = keras.layers.BatchNormalization()(h)
        if dropout:
            h = keras.layers.Dropout(float(dropout))(h)
    return keras.layers.Dense(n_classes, activation="softmax", name="emotion")(h)


def masked_mean(keras, h, mask):
    """Mean of ``h`` (n, T, d) over the steps where ``mask`` (n, T) is true: padding never counts."""
    ops = keras.ops
    weights = ops.expand_dims(ops.cast(mask, h.dtype), -1)
    return ops.sum(h * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)


def pool_mask(keras, mask, size: int):
    """The mask after time pooling by ``size`` (floor semantics): a step is real if any frame in it is."""
    ops = keras.ops
    steps = mask.shape[1] // size
    m = ops.reshape(ops.cast(mask[:, : steps * size], "float32"), (-1, steps, size))
    return ops.max(m, axis=2) > 0.5
