"""Keras models: a dense network on feature vectors and an LSTM on frame sequences.

TensorFlow is imported only when one of these is fitted. Everything learned from data (scaling, frame
normalisation, label encoding, the padding length, the stopping epoch) comes from the data passed to ``fit``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

import numpy as np
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight

from features.sequences import choose_length, sequence_lengths

from .base import LabelledClassifier
from .validation import validation_split

_CONFIGURED_THREADS: int | None = None


def import_tensorflow(threads: int = 1):
    """Import TensorFlow quietly, deterministically, with bounded threads (fixed at the first call)."""
    global _CONFIGURED_THREADS
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # oneDNN reorders float sums between runs
    with _quiet_stderr():  # the C++ runtime prints start-up notes past TF_CPP_MIN_LOG_LEVEL
        import tensorflow as tf
    if _CONFIGURED_THREADS is None:
        tf.get_logger().setLevel("ERROR")
        tf.config.threading.set_intra_op_parallelism_threads(max(1, threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.experimental.enable_op_determinism()
        _CONFIGURED_THREADS = max(1, threads)
    return tf


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


class _KerasClassifier(LabelledClassifier):
    """Training loop shared by the Keras models: seeded, early-stopped on a held-out part of the training data."""

    def _train(self, inputs_fn, X, y, groups, build) -> None:
        tf = import_tensorflow(self.n_jobs)
        keras = tf.keras
        keras.utils.set_random_seed(int(self.random_state))
        train, val = validation_split(y, groups, self.validation_fraction, self.random_state)
        self.validation_size_ = 0 if val is None else len(val)
        self.validation_groups_ = None if val is None or groups is None else sorted(set(groups[val].tolist()))
        model = build(keras, len(self.classes_))
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        weights = compute_class_weight("balanced", classes=np.arange(len(self.classes_)), y=y[train]) \
            if self.class_weight == "balanced" else np.ones(len(self.classes_))
        callbacks = []
        validation_data = None
        if val is not None:
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=self.patience,
                                                           restore_best_weights=True))
            validation_data = (inputs_fn(X[val]), y[val])
        history = model.fit(inputs_fn(X[train]), y[train], validation_data=validation_data,
                            epochs=self.max_epochs, batch_size=self.batch_size, shuffle=True,
                            class_weight=dict(enumerate(weights.tolist())), callbacks=callbacks,
                            verbose=self.verbose)
        self.model_ = model
        self.history_ = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        self.n_epochs_ = len(history.history["loss"])
        self.best_epoch_ = int(np.argmin(history.history["val_loss"])) + 1 if val is not None else self.n_epochs_

    def _predict_keras(self, inputs) -> np.ndarray:
        return self.model_.predict(inputs, batch_size=256, verbose=0)


class DenseNetworkClassifier(_KerasClassifier):
    """A dense network on the standardised feature vector: 256 -> 128 -> 64 ReLU with dropout, softmax.

    Parameters
    ----------
    hidden : units per hidden layer.
    dropout : dropout after each hidden layer.
    max_epochs, patience, batch_size : training schedule; stops early on validation loss.
    validation_fraction : share of the training data held out for early stopping (whole speakers when
        ``groups`` is passed to ``fit``).
    """

    def __init__(self, hidden: Sequence[int] = (256, 128, 64), dropout: float = 0.3, learning_rate: float = 1e-3,
                 batch_size: int = 64, max_epochs: int = 60, patience: int = 8, validation_fraction: float = 0.15,
                 class_weight: str | None = "balanced", random_state: int = 0, n_jobs: int = 1, verbose: int = 0):
        self.hidden = hidden
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _fit_encoded(self, X, y, groups) -> None:
        self.scaler_ = StandardScaler().fit(X)
        Z = self.scaler_.transform(X).astype(np.float32)

        def build(keras, n_classes):
            inputs = keras.Input((Z.shape[1],))
            h = inputs
            for units in self.hidden:
                h = keras.layers.Dense(int(units), activation="relu")(h)
                h = keras.layers.Dropout(self.dropout)(h)
            return keras.Model(inputs, keras.layers.Dense(n_classes, activation="softmax")(h))

        self._train(lambda A: A, Z, y, groups, build)

    def _proba(self, X) -> np.ndarray:
        return self._predict_keras(self.scaler_.transform(X).astype(np.float32))


class LSTMClassifier(_KerasClassifier):
    """An LSTM on frame sequences (LSTM 256, dense 128 and 64 ReLU with dropout 0.5, softmax), with masking.

    ``X`` is (n, frames, dims), padded with NaN (see :func:`features.pad_sequences`). In ``fit`` the model picks
    its length (``length_percentile`` of the training clips' lengths) and a per-dimension frame normaliser from
    the training frames only; padding is masked, so it never counts.
    """

    input_kind = "sequence"

    def __init__(self, units: int = 256, dense: Sequence[int] = (128, 64), dropout: float = 0.5,
                 learning_rate: float = 1e-3, batch_size: int = 64, max_epochs: int = 30, patience: int = 4,
                 validation_fraction: float = 0.15, length_percentile: float = 95.0,
                 class_weight: str | None = "balanced", random_state: int = 0, n_jobs: int = 1, verbose: int = 0):
        self.units = units
        self.dense = dense
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.length_percentile = length_percentile
        self.class_weight = class_weight
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _fit_encoded(self, X, y, groups) -> None:
        lengths = sequence_lengths(X)
        if np.any(lengths == 0):
            raise ValueError("LSTMClassifier: a training sequence has no frames")
        self.max_len_ = min(choose_length(lengths, self.length_percentile), X.shape[1])
        real = X[:, : self.max_len_][~np.isnan(X[:, : self.max_len_]).all(axis=2)]
        self.frame_mean_ = real.mean(axis=0)
        self.frame_scale_ = np.where(real.std(axis=0) > 1e-8, real.std(axis=0), 1.0)
        dims = X.shape[2]

        def build(keras, n_classes):
            frames = keras.Input((self.max_len_, dims), name="frames")
            mask = keras.Input((self.max_len_,), dtype="bool", name="mask")
            h = keras.layers.LSTM(int(self.units))(frames, mask=mask)
            for units in self.dense:
                h = keras.layers.Dense(int(units), activation="relu")(h)
                h = keras.layers.Dropout(self.dropout)(h)
            return keras.Model([frames, mask], keras.layers.Dense(n_classes, activation="softmax")(h))

        self._train(lambda A: list(A), self._inputs(X), y, groups, build)

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        """(n, max_len, dims + 1): normalised frames with padding at 0, and the mask as a last channel."""
        n, frames, dims = X.shape
        fitted = np.full((n, self.max_len_, dims), np.nan, dtype=np.float32)
        fitted[:, : min(frames, self.max_len_)] = X[:, : self.max_len_]
        mask = ~np.isnan(fitted).all(axis=2)
        normalised = np.nan_to_num((fitted - self.frame_mean_) / self.frame_scale_, nan=0.0)
        return _Packed(normalised.astype(np.float32), mask)

    def _proba(self, X) -> np.ndarray:
        packed = self._inputs(X)
        return self._predict_keras([packed.frames, packed.mask])


class _Packed:
    """Frames and mask that index together, so the training loop can split them like one array."""

    def __init__(self, frames: np.ndarray, mask: np.ndarray):
        self.frames, self.mask = frames, mask

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index) -> _Packed:
        return _Packed(self.frames[index], self.mask[index])

    def __iter__(self):
        return iter((self.frames, self.mask))
