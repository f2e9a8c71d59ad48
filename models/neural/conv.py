"""Convolutional networks: a 1-D CNN over frame sequences and a CNN-LSTM over spectrogram images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .recurrent import recurrent_layer
from .training import KerasClassifier, SequenceInput, dense_head, masked_mean, pool_mask


class CNN1DClassifier(SequenceInput, KerasClassifier):
    """1-D convolutions along time over frame sequences, a masked mean over time, dense layers, softmax.

    Each block is Conv1D (``filters[i]``, ``kernel``, same padding, ReLU), optional batch normalisation,
    max pooling by ``pool`` and dropout. Padding frames are zero after normalisation and left out of the
    mean over time (``head="mean"``), so a clip's prediction does not depend on how much padding follows it;
    ``head="flatten"`` flattens the whole (fixed-length) map instead, as many SER notebooks do.

    Parameters
    ----------
    filters, kernel, pool, batchnorm, conv_dropout : the convolution blocks.
    head : ``"mean"`` (masked) or ``"flatten"``.
    dense, dropout : dense ReLU layers after the pooling, each followed by dropout.
    length, length_percentile, normalise : see :class:`~models.neural.training.SequenceInput`.
    frame_pool : average each run of this many frames into one step before the network (2: 80 ms steps on
        ``logmel_frames``), which halves the cost.
    """

    input_kind = "sequence"

    def __init__(
        self,
        filters: Sequence[int] = (64, 128),
        kernel: int = 5,
        pool: int = 2,
        batchnorm: bool = False,
        conv_dropout: float = 0.1,
        head: str = "mean",
        dense: Sequence[int] = (64,),
        dropout: float = 0.3,
        length: int | None = None,
        length_percentile: float = 95.0,
        normalise: str | None = "dim",
        frame_pool: int = 2,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        max_epochs: int = 40,
        patience: int = 6,
        early_stopping: bool = True,
        restore_best: bool = True,
        validation_fraction: float = 0.15,
        validation_by_group: bool = True,
        class_weight: str | None = "balanced",
        lr_plateau: tuple | None = None,
        jit_compile: bool = False,
        random_state: int = 0,
        n_jobs: int = 1,
        verbose: int = 0,
    ):
        self.filters = filters
        self.kernel = kernel
        self.pool = pool
        self.batchnorm = batchnorm
        self.conv_dropout = conv_dropout
        self.head = head
        self.dense = dense
        self.dropout = dropout
        self.length = length
        self.length_percentile = length_percentile
        self.normalise = normalise
        self.frame_pool = frame_pool
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.early_stopping = early_stopping
        self.restore_best = restore_best
        self.validation_fraction = validation_fraction
        self.validation_by_group = validation_by_group
        self.class_weight = class_weight
        self.lr_plateau = lr_plateau
        self.jit_compile = jit_compile
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _build(self, keras, shapes, n_classes: int):
        frames = keras.Input(shapes[0], name="frames")
        mask = keras.Input(shapes[1], dtype="bool", name="mask")
        h, m = frames, mask
        for f in self.filters:
            h = keras.layers.Conv1D(int(f), int(self.kernel), padding="same", activation="relu")(h)
            if self.batchnorm:
                h = keras.layers.BatchNormalization()(h)
            if int(self.pool) > 1 and h.shape[1] >= int(self.pool):
                h = keras.layers.MaxPooling1D(int(self.pool))(h)
                m = pool_mask(keras, m, int(self.pool))
            if self.conv_dropout:
                h = keras.layers.Dropout(float(self.conv_dropout))(h)
        if self.head == "mean":
            h = masked_mean(keras, h, m)
        elif self.head == "flatten":
            h = keras.layers.Flatten()(h)
        else:
            raise ValueError(f"head must be 'mean' or 'flatten', got {self.head!r}")
        return keras.Model(
            [frames, mask], dense_head(keras, h, self.dense, self.dropout, n_classes), name="cnn1d"
        )


class CNNLSTMClassifier(SequenceInput, KerasClassifier):
    """2-D convolutions over a spectrogram image, then an LSTM over the pooled time steps, then softmax.

    ``X`` is (n, frames, channels * bands) NaN-padded log-mel frames (``spectrogram``), channel-major when
    there are several channels (``ravdess2ch``: 32 mel bands, then 32 stacked MFCC/chroma/contrast rows). In
    ``fit`` the model cuts or pads every clip to one length chosen from the training clips only (``length``,
    or their ``length_percentile``) and fits the normaliser on the training frames: ``"dim"`` per band and
    channel, ``"channel"`` one mean and std per channel. The image is (time, bands, channels); each block is
    Conv2D (``filters[i]``, ``kernel`` x ``kernel``, ReLU), optional batch normalisation, 2 x 2 max pooling
    and dropout; the LSTM reads the pooled time steps with the pooled mask, so padding never counts.
    ``frame_pool`` averages each run of that many frames first (2: 20 ms columns), which halves the cost.
    """

    input_kind = "sequence"

    def __init__(
        self,
        channels: int = 1,
        filters: Sequence[int] = (16, 32),
        kernel: int = 3,
        batchnorm: bool = False,
        conv_dropout: float = 0.1,
        cell: str = "lstm",
        units: int = 64,
        dense: Sequence[int] = (64,),
        dropout: float = 0.3,
        length: int | None = None,
        length_percentile: float = 95.0,
        normalise: str | None = "dim",
        frame_pool: int = 2,
        learning_rate: float = 1e-3,
        batch_size: int = 32,
        max_epochs: int = 40,
        patience: int = 6,
        early_stopping: bool = True,
        restore_best: bool = True,
        validation_fraction: float = 0.15,
        validation_by_group: bool = True,
        class_weight: str | None = "balanced",
        lr_plateau: tuple | None = None,
        jit_compile: bool = False,
        random_state: int = 0,
        n_jobs: int = 1,
        verbose: int = 0,
    ):
        self.channels = channels
        self.filters = filters
        self.kernel = kernel
        self.batchnorm = batchnorm
        self.conv_dropout = conv_dropout
        self.cell = cell
        self.units = units
        self.dense = dense
        self.dropout = dropout
        self.length = length
        self.length_percentile = length_percentile
        self.normalise = normalise
        self.frame_pool = frame_pool
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.early_stopping = early_stopping
        self.restore_best = restore_best
        self.validation_fraction = validation_fraction
        self.validation_by_group = validation_by_group
        self.class_weight = class_weight
        self.lr_plateau = lr_plateau
        self.jit_compile = jit_compile
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _fit_normaliser(self, X: np.ndarray) -> None:
        channels = int(self.channels)
        if X.shape[2] % channels:
            raise ValueError(
                f"{type(self).__name__}: {X.shape[2]} dims do not split into {channels} channels"
            )
        if self.normalise != "channel":
            return super()._fit_normaliser(X)
        real = X[~np.isnan(X).all(axis=2)].reshape(-1, channels, X.shape[2] // channels)
        mean = real.mean(axis=(0, 2))
        std = real.std(axis=(0, 2))
        std = np.where(std > 1e-8, std, 1.0)
        self.frame_mean_ = np.repeat(mean, X.shape[2] // channels).astype(np.float32)
        self.frame_scale_ = np.repeat(std, X.shape[2] // channels).astype(np.float32)

    def _inputs(self, X: np.ndarray) -> tuple[np.ndarray, ...]:
        frames, mask = self._frames(X)
        n, steps, dims = frames.shape
        image = frames.reshape(n, steps, int(self.channels), dims // int(self.channels)).transpose(0, 1, 3, 2)
        return np.ascontiguousarray(image), mask

    def _build(self, keras, shapes, n_classes: int):
        image = keras.Input(shapes[0], name="spectrogram")
        mask = keras.Input(shapes[1], dtype="bool", name="mask")
        h, m = image, mask
        for f in self.filters:
            h = keras.layers.Conv2D(int(f), int(self.kernel), padding="same", activation="relu")(h)
            if self.batchnorm:
                h = keras.layers.BatchNormalization()(h)
            if h.shape[1] >= 2 and h.shape[2] >= 2:
                h = keras.layers.MaxPooling2D((2, 2))(h)
                m = pool_mask(keras, m, 2)
            if self.conv_dropout:
                h = keras.layers.Dropout(float(self.conv_dropout))(h)
        h = keras.layers.Reshape((h.shape[1], h.shape[2] * h.shape[3]))(h)
        h = recurrent_layer(keras, self.cell, int(self.units), jit=bool(self.jit_compile))(h, mask=m)
        return keras.Model(
            [image, mask], dense_head(keras, h, self.dense, self.dropout, n_classes), name="cnn_lstm"
        )
