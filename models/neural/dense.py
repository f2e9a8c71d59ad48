"""A dense network on the standardised feature vector."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..scaling import DEFAULT_CLIP, ClippedStandardScaler
from .training import KerasClassifier, dense_head


class DenseNetworkClassifier(KerasClassifier):
    """A dense network on the standardised feature vector: 256 -> 128 -> 64 ReLU with dropout, softmax.

    Parameters
    ----------
    hidden : units per hidden layer.
    dropout : dropout after each hidden layer.
    standardise : z-score with the training rows' statistics, clipped at ``DEFAULT_CLIP`` (False: vectors as
        given); see :mod:`models.scaling` for why the clip.
    max_epochs, patience, batch_size, learning_rate, early_stopping, restore_best : training schedule; see
        :class:`~models.neural.training.KerasClassifier` for these and the other training parameters.
    """

    def __init__(
        self,
        hidden: Sequence[int] = (256, 128, 64),
        dropout: float = 0.3,
        standardise: bool = True,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        max_epochs: int = 60,
        patience: int = 8,
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
        self.hidden = hidden
        self.dropout = dropout
        self.standardise = standardise
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

    def _fit_inputs(self, X: np.ndarray) -> None:
        self.scaler_ = ClippedStandardScaler(DEFAULT_CLIP if self.standardise else None, with_mean=self.standardise,
                                             with_std=self.standardise).fit(X)

    def _inputs(self, X: np.ndarray) -> tuple[np.ndarray, ...]:
        return (self.scaler_.transform(X).astype(np.float32),)

    def _build(self, keras, shapes, n_classes: int):
        inputs = keras.Input(shapes[0], name="features")
        return keras.Model(
            inputs, dense_head(keras, inputs, self.hidden, self.dropout, n_classes), name="dnn"
        )
