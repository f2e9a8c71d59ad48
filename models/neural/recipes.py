"""Faithful replications of the five reference systems (``../shared/seeds/``), as registered models.

Each recipe is built as its README says (input, layer sizes, dropout, optimiser, epochs, batch size),
including choices this benchmark would not make: no feature scaling, no class weights, no early stopping,
40 MFCC means fed to a recurrent layer as a 40-step sequence of one value. Where a README is silent, the
recipe follows the project's code where it is public and otherwise the most common form of that recipe;
``RECIPES[name].provenance`` says which. Their claims live in ``benchmark/seeds/claims.csv``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .conv import CNN1DClassifier, CNNLSTMClassifier
from .dense import DenseNetworkClassifier
from .recurrent import RecurrentClassifier
from .registry import register_network


@dataclass(frozen=True)
class Recipe:
    name: str
    seed: str  # "000" ... "004"
    default_input: str | None
    input_kind: str
    provenance: str  # one line, for ``list``
    factory: Callable


RECIPES: dict[str, Recipe] = {}

# What the seeds share: categorical cross-entropy, Adam, no speaker-held-out validation, no class weights.
_SEED_TRAINING = dict(early_stopping=False, restore_best=False, validation_by_group=False, class_weight=None)


# Seeds 000 and 001: the 40 MFCC means, unscaled, fed to the network as a 40-step sequence of one value.
_MFCC40_SEQUENCE = dict(normalise=None, frame_pool=1, length=40)


def _build(cls, params: dict, **recipe):
    """The recipe's settings, then any ``--set`` overrides."""
    return cls(**{**recipe, **params})


def recipe(name: str, seed: str, default_input: str | None, input_kind: str, provenance: str):
    def register(factory: Callable) -> Callable:
        RECIPES[name] = Recipe(name, seed, default_input, input_kind, provenance, factory)
        register_network(
            name,
            factory,
            default_input=default_input,
            input_kind=input_kind,
            description=f"seed {seed}: {provenance}",
        )
        return factory

    return register


@recipe(
    "seed000_lstm",
    "000",
    "mfcc40_mean",
    "sequence",
    "TESS LSTM: 40 MFCC means as a 40x1 sequence -> LSTM 256 -> dense 128, 64 (dropout 0.5); Adam, "
    "30 epochs, batch 64, unscaled; validation only watched (README; dropout placement from the common "
    "TESS notebook)",
)
def seed000_lstm(**params):
    return _build(RecurrentClassifier, params,
        cell="lstm",
        units=256,
        dense=(128, 64),
        dropout=0.5,
        **_MFCC40_SEQUENCE,
        max_epochs=30,
        batch_size=64,
        validation_fraction=0.0,
        **_SEED_TRAINING,
    )


_SEED001 = (
    "TESS {what}: 40 MFCC means (3 s from 0.5 s) as a 40x1 sequence, unscaled -> {stack}; Adam, "
    "{schedule}, no early stopping ({source})"
)


@recipe(
    "seed001_lstm",
    "001",
    "mfcc40_mean",
    "sequence",
    _SEED001.format(
        what="LSTM",
        stack="LSTM 128 -> dense 64, 32 (dropout 0.2)",
        schedule="100 epochs, batch 512",
        source="its notebook",
    ),
)
def seed001_lstm(**params):
    return _build(RecurrentClassifier, params,
        cell="lstm",
        units=128,
        dense=(64, 32),
        dropout=0.2,
        **_MFCC40_SEQUENCE,
        max_epochs=100,
        batch_size=512,
        validation_fraction=0.0,
        **_SEED_TRAINING,
    )


@recipe(
    "seed001_gru",
    "001",
    "mfcc40_mean",
    "sequence",
    _SEED001.format(
        what="GRU",
        stack="GRU 128 -> dense 64, 32 (dropout 0.3)",
        schedule="100 epochs, batch 64, 20 % held out and only watched",
        source="its notebook",
    ),
)
def seed001_gru(**params):
    return _build(RecurrentClassifier, params,
        cell="gru",
        units=128,
        dense=(64, 32),
        dropout=0.3,
        **_MFCC40_SEQUENCE,
        max_epochs=100,
        batch_size=64,
        validation_fraction=0.2,
        **_SEED_TRAINING,
    )


@recipe(
    "seed001_bilstm",
    "001",
    "mfcc40_mean",
    "sequence",
    _SEED001.format(
        what="BiLSTM",
        stack="BiLSTM 2x128 -> dense 64, 32 (dropout 0.2)",
        schedule="100 epochs, batch 512",
        source="not in its notebook: the notebook's LSTM with the cell made bidirectional",
    ),
)
def seed001_bilstm(**params):
    return _build(RecurrentClassifier, params,
        cell="lstm",
        bidirectional=True,
        units=128,
        dense=(64, 32),
        dropout=0.2,
        **_MFCC40_SEQUENCE,
        max_epochs=100,
        batch_size=512,
        validation_fraction=0.0,
        **_SEED_TRAINING,
    )


@recipe(
    "seed001_cnn1d",
    "001",
    "mfcc40_mean",
    "sequence",
    _SEED001.format(
        what="1D CNN",
        stack="Conv1D 64, 128 (kernel 3, max-pool 2) -> flatten -> dense 64, 32 (dropout 0.2)",
        schedule="100 epochs, batch 512",
        source="not in its notebook: the usual Keras 1D CNN with the notebook's dense head",
    ),
)
def seed001_cnn1d(**params):
    return _build(CNN1DClassifier, params,
        filters=(64, 128),
        kernel=3,
        pool=2,
        batchnorm=False,
        conv_dropout=0.0,
        head="flatten",
        dense=(64, 32),
        dropout=0.2,
        **_MFCC40_SEQUENCE,
        max_epochs=100,
        batch_size=512,
        validation_fraction=0.0,
        **_SEED_TRAINING,
    )


@recipe(
    "seed002_cnn_lstm",
    "002",
    "spectrogram",
    "sequence",
    "RAVDESS CNN+LSTM: log-mel image cut/padded to 3 s -> Conv2D 32, 64, 128 (3x3, BN, max-pool 2x2, "
    "dropout 0.25) -> LSTM 128 -> dense 64; Adam, batch 32, up to 50 epochs, early stopping on a random "
    "20 % (README silent on sizes: the common Keras CNN-LSTM; 64 mel bands of the shared analysis)",
)
def seed002_cnn_lstm(**params):
    return _build(CNNLSTMClassifier, params,
        channels=1,
        filters=(32, 64, 128),
        kernel=3,
        batchnorm=True,
        conv_dropout=0.25,
        cell="lstm",
        units=128,
        dense=(64,),
        dropout=0.3,
        length=300,
        normalise="dim",
        frame_pool=1,
        max_epochs=50,
        batch_size=32,
        patience=5,
        validation_fraction=0.2,
        **{**_SEED_TRAINING, "early_stopping": True, "restore_best": True},
    )


@recipe(
    "seed003_dnn",
    "003",
    "feature_means",
    "vector",
    "feature DNN: means of MFCC 40, chroma, contrast, tonnetz, ZCR, RMS (67), standardised -> dense 256, "
    "128, 64 ReLU (dropout 0.3) -> softmax; Adam, 50 epochs, batch 32 (README silent on sizes: the "
    "common recipe)",
)
def seed003_dnn(**params):
    return _build(DenseNetworkClassifier, params,
        hidden=(256, 128, 64),
        dropout=0.3,
        standardise=True,
        max_epochs=50,
        batch_size=32,
        validation_fraction=0.0,
        **_SEED_TRAINING,
    )


class TwoChannelCNNLSTM(CNNLSTMClassifier):
    """Seed 004: the (32, 94, 2) two-channel image, each channel z-normalised on the training fold, through
    the layer stack of that project's notebook (Conv1D 128, 256 over time, BiLSTM 128, dense 128)."""

    def _inputs(self, X: np.ndarray) -> tuple[np.ndarray, ...]:
        image, _ = super()._inputs(X)  # (n, frames, 32, 2); 3 s clips have no padding
        return (np.ascontiguousarray(image.transpose(0, 2, 1, 3)),)  # (n, 32, frames, 2) as the README

    def _build(self, keras, shapes, n_classes: int):
        bands, frames, channels = shapes[0]
        image = keras.Input(shapes[0], name="two_channel")
        h = keras.layers.Permute((2, 1, 3))(image)
        h = keras.layers.Reshape((frames, bands * channels))(h)
        for f in self.filters:
            h = keras.layers.Conv1D(int(f), int(self.kernel), padding="same", activation="relu")(h)
            h = keras.layers.BatchNormalization()(h)
            h = keras.layers.MaxPooling1D(2)(h)
            h = keras.layers.Dropout(float(self.conv_dropout))(h)
        h = keras.layers.Bidirectional(keras.layers.LSTM(int(self.units), use_cudnn="auto"))(h)
        h = keras.layers.BatchNormalization()(h)
        h = keras.layers.Dropout(float(self.dropout))(h)
        for units in self.dense:
            h = keras.layers.Dense(int(units), activation="relu")(h)
            h = keras.layers.Dropout(float(self.dropout))(h)
        out = keras.layers.Dense(n_classes, activation="softmax", name="emotion")(h)
        return keras.Model(image, out, name="seed004")


@recipe(
    "seed004_cnn_lstm",
    "004",
    "ravdess2ch",
    "sequence",
    "RAVDESS 2-channel CNN-LSTM: 3 s at 16 kHz, (32, 94, 2) = 32-band dB mel + MFCC 13/chroma 12/contrast "
    "7, per-channel z-norm -> Conv1D 128, 256 (kernel 5, BN, pool 2, dropout 0.3) -> BiLSTM 128 -> dense "
    "128 (dropout 0.4); Adam 1e-4, batch 32, 50 epochs, LR halved on plateau, best epoch on a random 20 %, "
    "balanced class weights (input from the README, layers from its notebook)",
)
def seed004_cnn_lstm(**params):
    return _build(TwoChannelCNNLSTM, params,
        channels=2,
        filters=(128, 256),
        kernel=5,
        batchnorm=True,
        conv_dropout=0.3,
        units=128,
        dense=(128,),
        dropout=0.4,
        length=94,
        frame_pool=1,
        normalise="channel",
        learning_rate=1e-4,
        max_epochs=50,
        batch_size=32,
        validation_fraction=0.2,
        lr_plateau=(0.5, 3, 1e-6),
        **{**_SEED_TRAINING, "restore_best": True, "class_weight": "balanced"},
    )
