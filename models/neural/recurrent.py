"""Recurrent networks on frame sequences: LSTM, bidirectional LSTM and GRU, with masking."""

from __future__ import annotations

from collections.abc import Sequence

from .training import KerasClassifier, SequenceInput, dense_head


class RecurrentClassifier(SequenceInput, KerasClassifier):
    """A recurrent layer over frame sequences, then dense ReLU layers with dropout, then softmax.

    ``X`` is (n, frames, dims), padded with NaN (see :func:`features.pad_sequences`). In ``fit`` the model
    picks its length (``length``, or the ``length_percentile`` of the training clips' lengths) and a
    per-dimension frame normaliser from the training frames only; padding is masked, so it never counts.

    The training parameters (``learning_rate``, ``max_epochs``, ...) are those of
    :class:`~models.neural.training.KerasClassifier`.

    Parameters
    ----------
    cell : {"lstm", "gru"}
        The recurrent cell.
    bidirectional : bool
        Run the cell both ways and concatenate the final states.
    units : int
        Units of the recurrent layer.
    dense, dropout : sequence of int, float
        Dense ReLU layers after it, each followed by dropout at this rate.
    length, length_percentile, normalise : int or None, float, str or None
        See :class:`~models.neural.training.SequenceInput`.
    frame_pool : int
        Average each run of this many frames into one step (fewer steps, faster).
    """

    input_kind = "sequence"

    def __init__(
        self,
        cell: str = "lstm",
        bidirectional: bool = False,
        units: int = 256,
        dense: Sequence[int] = (128, 64),
        dropout: float = 0.5,
        length: int | None = None,
        length_percentile: float = 95.0,
        normalise: str | None = "dim",
        frame_pool: int = 2,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        max_epochs: int = 30,
        patience: int = 4,
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
        self.cell = cell
        self.bidirectional = bidirectional
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

    def _build(self, keras, shapes, n_classes: int):
        frames = keras.Input(shapes[0], name="frames")
        mask = keras.Input(shapes[1], dtype="bool", name="mask")
        layer = recurrent_layer(keras, self.cell, int(self.units), jit=bool(self.jit_compile))
        if self.bidirectional:
            layer = keras.layers.Bidirectional(layer)
        h = layer(frames, mask=mask)
        return keras.Model(
            [frames, mask],
            dense_head(keras, h, self.dense, self.dropout, n_classes),
            name=("bi" if self.bidirectional else "") + self.cell,
        )


# "keras" (the default), or the candidates perf --neural --layers compares with it: "manual" (Keras's LSTM/GRU
# with the hand-written gradient of models.neural.fused, its loops XLA-compiled), "hoisted", "fused". "manual" is
# 1.05-1.7x cheaper per later epoch but not the default: in whole runs it did not pay (each fit process compiles
# its XLA loops; docs/speed.md). Networks holding a candidate predict in full, zero-padded batches, so that a
# row's probabilities never depend on how many rows it is predicted with (KerasClassifier._proba).
LAYERS = {"recurrent": "keras"}


def recurrent_layer(keras, cell: str, units: int, return_sequences: bool = False, jit: bool = False):
    """An LSTM or GRU layer; under XLA without the cuDNN path, which XLA cannot compile (unused on CPU).

    By default Keras's own layers. ``LAYERS["recurrent"]`` selects a candidate of :mod:`models.neural.fused`
    instead, e.g. ``"manual"`` (``ManualLSTM`` / ``ManualGRU``: Keras's layers whose time loop has a
    hand-written gradient and runs as two XLA-compiled loops, Keras's result to float rounding and 1.05-1.7x
    cheaper per later epoch on this project's CPU; ``perf --neural --layers``, ``docs/speed.md``), which is not
    the default because whole runs did not get faster with it.
    """
    cudnn = False if jit else "auto"
    if cell not in ("lstm", "gru"):
        raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
    variant = LAYERS["recurrent"]
    if variant == "keras":
        layer = keras.layers.LSTM if cell == "lstm" else keras.layers.GRU
    else:
        from .fused import fused_layers

        candidates = fused_layers(keras)
        names = {("lstm", "hoisted"): "HoistedLSTM", ("lstm", "fused"): "FusedLSTM", ("gru", "hoisted"): "HoistedGRU",
                 ("gru", "fused"): "HoistedGRU", ("lstm", "manual"): "ManualLSTM", ("gru", "manual"): "ManualGRU"}
        layer = candidates[names[cell, variant]]
    return layer(units, return_sequences=return_sequences, use_cudnn=cudnn)


class LSTMClassifier(RecurrentClassifier):
    """An LSTM on frame sequences (LSTM 256, dense 128 and 64 ReLU, dropout 0.5, softmax), with masking."""

    def __init__(
        self,
        units: int = 256,
        dense: Sequence[int] = (128, 64),
        dropout: float = 0.5,
        length: int | None = None,
        length_percentile: float = 95.0,
        normalise: str | None = "dim",
        frame_pool: int = 2,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        max_epochs: int = 30,
        patience: int = 4,
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
        super().__init__(
            cell="lstm",
            bidirectional=False,
            units=units,
            dense=dense,
            dropout=dropout,
            length=length,
            length_percentile=length_percentile,
            normalise=normalise,
            frame_pool=frame_pool,
            learning_rate=learning_rate,
            batch_size=batch_size,
            max_epochs=max_epochs,
            patience=patience,
            early_stopping=early_stopping,
            restore_best=restore_best,
            validation_fraction=validation_fraction,
            validation_by_group=validation_by_group,
            class_weight=class_weight,
            lr_plateau=lr_plateau,
            jit_compile=jit_compile,
            random_state=random_state,
            n_jobs=n_jobs,
            verbose=verbose,
        )


class BiLSTMClassifier(RecurrentClassifier):
    """A bidirectional LSTM on frame sequences (2 x 128, dense 64 ReLU with dropout 0.3, softmax), masked."""

    def __init__(
        self,
        units: int = 128,
        dense: Sequence[int] = (64,),
        dropout: float = 0.3,
        length: int | None = None,
        length_percentile: float = 95.0,
        normalise: str | None = "dim",
        frame_pool: int = 2,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        max_epochs: int = 30,
        patience: int = 4,
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
        super().__init__(
            cell="lstm",
            bidirectional=True,
            units=units,
            dense=dense,
            dropout=dropout,
            length=length,
            length_percentile=length_percentile,
            normalise=normalise,
            frame_pool=frame_pool,
            learning_rate=learning_rate,
            batch_size=batch_size,
            max_epochs=max_epochs,
            patience=patience,
            early_stopping=early_stopping,
            restore_best=restore_best,
            validation_fraction=validation_fraction,
            validation_by_group=validation_by_group,
            class_weight=class_weight,
            lr_plateau=lr_plateau,
            jit_compile=jit_compile,
            random_state=random_state,
            n_jobs=n_jobs,
            verbose=verbose,
        )


class GRUClassifier(RecurrentClassifier):
    """A GRU on frame sequences (GRU 128, dense 64 ReLU with dropout 0.3, softmax), with masking."""

    def __init__(
        self,
        units: int = 128,
        dense: Sequence[int] = (64,),
        dropout: float = 0.3,
        length: int | None = None,
        length_percentile: float = 95.0,
        normalise: str | None = "dim",
        frame_pool: int = 2,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        max_epochs: int = 30,
        patience: int = 4,
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
        super().__init__(
            cell="gru",
            bidirectional=False,
            units=units,
            dense=dense,
            dropout=dropout,
            length=length,
            length_percentile=length_percentile,
            normalise=normalise,
            frame_pool=frame_pool,
            learning_rate=learning_rate,
            batch_size=batch_size,
            max_epochs=max_epochs,
            patience=patience,
            early_stopping=early_stopping,
            restore_best=restore_best,
            validation_fraction=validation_fraction,
            validation_by_group=validation_by_group,
            class_weight=class_weight,
            lr_plateau=lr_plateau,
            jit_compile=jit_compile,
            random_state=random_state,
            n_jobs=n_jobs,
            verbose=verbose,
        )
