"""Regressors for the dimensional task (arousal, valence, dominance), behind one scikit-learn interface.

Every regressor fits, on the training rows only: a median imputer and a clipped standard scaler of the features, and a
standard scaler of each target (so that SVR's epsilon, ridge's alpha and a network's loss mean the same on a 1-5
and a 1-7 scale). Predictions are mapped back to the targets' own scale. ``fit(X, y)`` takes ``y`` of shape
(n, d); ``predict`` returns (n, d).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

from .registry import ModelError
from .scaling import ClippedStandardScaler


class ScaledRegressor(RegressorMixin, BaseEstimator):
    """Base: features imputed and standardised, targets standardised, all fitted in :meth:`fit`."""

    def fit(self, X, y, groups=None, validation=None):
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        y = y.reshape(-1, 1) if y.ndim == 1 else y
        if not np.isfinite(y).all():
            raise ValueError("targets must be finite numbers on every training row")
        self.n_targets_ = y.shape[1]
        self._fit_features(X)
        self.target_scaler_ = StandardScaler().fit(y)
        Xs, ys = self._features(X), self.target_scaler_.transform(y)
        val = None
        if validation is not None:
            Xv, yv = validation
            yv = np.asarray(yv, dtype=np.float64)
            val = (self._features(np.asarray(Xv, dtype=np.float64)),
                   self.target_scaler_.transform(yv.reshape(-1, 1) if yv.ndim == 1 else yv))
        self._fit_scaled(Xs, ys, None if groups is None else np.asarray(groups), val)
        return self

    def _fit_features(self, X: np.ndarray) -> None:
        self.imputer_ = SimpleImputer(strategy="median", keep_empty_features=True).fit(X)
        # clipped z-scores, as for the classifiers: one column far outside training cannot decide alone
        self.scaler_ = ClippedStandardScaler().fit(self.imputer_.transform(X))

    def _features(self, X: np.ndarray) -> np.ndarray:
        return np.nan_to_num(self.scaler_.transform(self.imputer_.transform(X)), nan=0.0, posinf=0.0, neginf=0.0)

    def predict(self, X) -> np.ndarray:
        scaled = np.asarray(self._predict_scaled(self._features(np.asarray(X, dtype=np.float64))), dtype=np.float64)
        return self.target_scaler_.inverse_transform(scaled.reshape(len(scaled), self.n_targets_))

    def _fit_scaled(self, X, y, groups, validation) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict_scaled(self, X) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class RidgeRegressor(ScaledRegressor):
    """Ridge regression (one model, every target)."""

    def __init__(self, alpha: float = 10.0, random_state: int = 0, n_jobs: int = 1):
        self.alpha = alpha
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _fit_scaled(self, X, y, groups, validation) -> None:
        from sklearn.linear_model import Ridge

        self.model_ = Ridge(alpha=self.alpha).fit(X, y)

    def _predict_scaled(self, X) -> np.ndarray:
        return self.model_.predict(X)


class SVRRegressor(ScaledRegressor):
    """An RBF support-vector regressor per target."""

    def __init__(self, C: float = 1.0, epsilon: float = 0.1, gamma: str | float = "scale", random_state: int = 0,
                 n_jobs: int = 1):
        self.C = C
        self.epsilon = epsilon
        self.gamma = gamma
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _fit_scaled(self, X, y, groups, validation) -> None:
        from sklearn.svm import SVR

        self.models_ = [SVR(C=self.C, epsilon=self.epsilon, gamma=self.gamma).fit(X, y[:, j])
                        for j in range(y.shape[1])]

    def _predict_scaled(self, X) -> np.ndarray:
        return np.column_stack([m.predict(X) for m in self.models_])


class XGBoostRegressor(ScaledRegressor):
    """Gradient-boosted trees (hist) per target; threads bounded by ``n_jobs``."""

    def __init__(self, n_estimators: int = 200, max_depth: int = 4, learning_rate: float = 0.1,
                 subsample: float = 0.8, colsample_bytree: float = 0.5, random_state: int = 0, n_jobs: int = 1):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _fit_scaled(self, X, y, groups, validation) -> None:
        from xgboost import XGBRegressor

        self.models_ = []
        for j in range(y.shape[1]):
            model = XGBRegressor(n_estimators=self.n_estimators, max_depth=self.max_depth,
                                 learning_rate=self.learning_rate, subsample=self.subsample,
                                 colsample_bytree=self.colsample_bytree, tree_method="hist",
                                 n_jobs=max(1, int(self.n_jobs)), random_state=self.random_state, verbosity=0)
            self.models_.append(model.fit(X, y[:, j]))

    def _predict_scaled(self, X) -> np.ndarray:
        return np.column_stack([m.predict(X) for m in self.models_])


class DenseNetworkRegressor(ScaledRegressor):
    """The benchmark's dense network (256 -> 128 -> 64 ReLU with dropout) with a linear regression head.

    The loss is ``1 - CCC`` averaged over targets (``loss="ccc"``, what dimensional SER papers train on) or the
    mean squared error (``loss="mse"``). Early stopping watches the development rows when the fold has them
    (a published split's), else a part of the training speakers held out (``validation_fraction``); the
    best epoch's weights are kept. Test rows are never seen.
    """

    def __init__(self, hidden: Sequence[int] = (256, 128, 64), dropout: float = 0.3, loss: str = "ccc",
                 learning_rate: float = 1e-3, batch_size: int = 64, max_epochs: int = 60, patience: int = 8,
                 validation_fraction: float = 0.15, random_state: int = 0, n_jobs: int = 1):
        self.hidden = hidden
        self.dropout = dropout
        self.loss = loss
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _fit_scaled(self, X, y, groups, validation) -> None:
        if self.loss not in ("ccc", "mse"):
            raise ModelError(f"--set dnn.loss={self.loss!r}: choose ccc or mse")
        from .neural.training import private_layer_seeds

        keras = _keras()
        # A clean, seeded Keras state and layer seeds of the fit's own (not Python's shared generator, which a
        # Dask worker's other threads draw from too): the same fit gives the same weights in any process.
        keras.backend.clear_session()
        keras.utils.set_random_seed(int(self.random_state))
        if validation is None and self.validation_fraction > 0 and len(X) >= 10:
            train, held = _held_out(len(X), groups, self.validation_fraction, self.random_state)
            validation = (X[held], y[held])
            X, y = X[train], y[train]
        with private_layer_seeds(int(self.random_state)):
            model = self._network(keras, X.shape[1:], y.shape[1])
        model.compile(optimizer=keras.optimizers.Adam(float(self.learning_rate)),
                      loss=ccc_loss if self.loss == "ccc" else "mse")
        callbacks = []
        if validation is not None:
            callbacks.append(keras.callbacks.EarlyStopping(patience=self.patience, restore_best_weights=True))
        history = model.fit(X.astype(np.float32), y.astype(np.float32), batch_size=self.batch_size,
                            epochs=self.max_epochs, verbose=0, shuffle=True, callbacks=callbacks,
                            validation_data=None if validation is None else
                            (validation[0].astype(np.float32), validation[1].astype(np.float32)))
        self.history_ = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        self.n_epochs_ = len(self.history_.get("loss", []))
        self.model_ = model

    def _network(self, keras, shape, n_targets: int):
        inputs = keras.Input(shape)
        h = inputs
        for units in self.hidden:
            h = keras.layers.Dense(int(units), activation="relu")(h)
            h = keras.layers.Dropout(self.dropout)(h)
        return keras.Model(inputs, keras.layers.Dense(n_targets)(h))

    def _predict_scaled(self, X) -> np.ndarray:
        return np.asarray(self.model_.predict(X.astype(np.float32), verbose=0, batch_size=256))


class LSTMRegressor(DenseNetworkRegressor):
    """A recurrent network on frame sequences (NaN-padded (n, T, d), e.g. ``mfcc_frames``) with a linear
    regression head: masked LSTM layers, the last state, a dense layer, one output per target.

    Fitted on the training rows only: the per-dimension frame standardisation (over real frames), the length the
    clips are cut to (``length_percentile`` of the training clips' lengths), the target scaling and the early
    stopping split (development rows, else held-out training speakers).
    """

    def __init__(self, units: Sequence[int] = (64,), dense: int = 32, dropout: float = 0.2, loss: str = "ccc",
                 length_percentile: float = 95.0, learning_rate: float = 1e-3, batch_size: int = 32,
                 max_epochs: int = 40, patience: int = 6, validation_fraction: float = 0.15, random_state: int = 0,
                 n_jobs: int = 1):
        self.units = units
        self.dense = dense
        self.dropout = dropout
        self.loss = loss
        self.length_percentile = length_percentile
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _fit_features(self, X: np.ndarray) -> None:
        from features.sequences import choose_length, sequence_lengths

        if X.ndim != 3:
            raise ModelError("the sequence regressors (lstm, bilstm, gru, cnn1d, cnn_lstm, ssl_head) take frame "
                             "sequences; give them a sequence set, e.g. --input lstm=mfcc_frames")
        self.length_ = choose_length(sequence_lengths(X), self.length_percentile)
        frames = X[:, : self.length_].reshape(-1, X.shape[2])
        frames = frames[~np.isnan(frames).all(axis=1)]
        self.frame_mean_ = np.nanmean(frames, axis=0)
        std = np.nanstd(frames, axis=0)
        self.frame_std_ = np.where(std > 0, std, 1.0)

    def _features(self, X: np.ndarray) -> np.ndarray:
        X = X[:, : self.length_]
        if X.shape[1] < self.length_:
            X = np.concatenate([X, np.full((len(X), self.length_ - X.shape[1], X.shape[2]), np.nan)], axis=1)
        padding = np.isnan(X).all(axis=2)
        out = np.nan_to_num((X - self.frame_mean_) / self.frame_std_, nan=0.0)
        out[padding] = 0.0  # the mask value: a standardised real frame is never exactly all zeros
        return out

    cell = "lstm"
    bidirectional = False

    def _network(self, keras, shape, n_targets: int):
        inputs = keras.Input(shape)
        h = keras.layers.Masking(mask_value=0.0)(inputs)
        layer_type = keras.layers.LSTM if self.cell == "lstm" else keras.layers.GRU
        for i, units in enumerate(self.units):
            layer = layer_type(int(units), return_sequences=i < len(self.units) - 1)
            h = (keras.layers.Bidirectional(layer) if self.bidirectional else layer)(h)
        h = keras.layers.Dropout(self.dropout)(h)
        h = keras.layers.Dense(int(self.dense), activation="relu")(h)
        return keras.Model(inputs, keras.layers.Dense(n_targets)(h))


class GRURegressor(LSTMRegressor):
    """:class:`LSTMRegressor` with GRU layers (the categorical ``gru``'s cell), a linear regression head."""

    cell = "gru"


class BiLSTMRegressor(LSTMRegressor):
    """:class:`LSTMRegressor` with bidirectional LSTM layers (the categorical ``bilstm``), a linear head."""

    bidirectional = True


class CNN1DRegressor(LSTMRegressor):
    """1-D convolutions along time (same padding, ReLU, max pooling), a masked mean over the real steps, a dense
    layer and a linear regression head; the frame standardisation and clip length as :class:`LSTMRegressor`'s.

    The mean leaves padding out, so a clip's prediction does not depend on how much padding follows it.
    """

    def __init__(self, filters: Sequence[int] = (64, 128), kernel: int = 5, pool: int = 2, dense: int = 64,
                 dropout: float = 0.3, loss: str = "ccc", length_percentile: float = 95.0,
                 learning_rate: float = 1e-3, batch_size: int = 64, max_epochs: int = 40, patience: int = 6,
                 validation_fraction: float = 0.15, random_state: int = 0, n_jobs: int = 1):
        self.filters = filters
        self.kernel = kernel
        self.pool = pool
        self.dense = dense
        self.dropout = dropout
        self.loss = loss
        self.length_percentile = length_percentile
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _network(self, keras, shape, n_targets: int):
        from .neural.training import masked_mean, pool_mask

        inputs = keras.Input(shape)
        ops = keras.ops
        mask = ops.any(ops.not_equal(inputs, 0.0), axis=-1)  # padding frames are exactly zero (see _features)
        h = inputs
        for f in self.filters:
            h = keras.layers.Conv1D(int(f), int(self.kernel), padding="same", activation="relu")(h)
            if int(self.pool) > 1 and h.shape[1] >= int(self.pool):
                h = keras.layers.MaxPooling1D(int(self.pool))(h)
                mask = pool_mask(keras, mask, int(self.pool))
        h = masked_mean(keras, h, mask)
        h = keras.layers.Dropout(self.dropout)(h)
        h = keras.layers.Dense(int(self.dense), activation="relu")(h)
        return keras.Model(inputs, keras.layers.Dense(n_targets)(h))


class CNNLSTMRegressor(LSTMRegressor):
    """2-D convolutions over the spectrogram image (time x bands), then an LSTM over the pooled time steps with the
    pooled mask (padding never counts), a dense layer and a linear regression head (the categorical ``cnn_lstm``'s
    network with one output per target). Frame standardisation, clip length and early stopping as
    :class:`LSTMRegressor`'s."""

    def __init__(self, filters: Sequence[int] = (16, 32), kernel: int = 3, units: int = 64, dense: int = 32,
                 dropout: float = 0.3, loss: str = "ccc", length_percentile: float = 95.0,
                 learning_rate: float = 1e-3, batch_size: int = 32, max_epochs: int = 40, patience: int = 6,
                 validation_fraction: float = 0.15, random_state: int = 0, n_jobs: int = 1):
        self.filters = filters
        self.kernel = kernel
        self.units = units
        self.dense = dense
        self.dropout = dropout
        self.loss = loss
        self.length_percentile = length_percentile
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _network(self, keras, shape, n_targets: int):
        from .neural.training import pool_mask

        inputs = keras.Input(shape)
        ops = keras.ops
        mask = ops.any(ops.not_equal(inputs, 0.0), axis=-1)  # padding frames are exactly zero (see _features)
        h = keras.layers.Reshape((shape[0], shape[1], 1))(inputs)
        for f in self.filters:
            h = keras.layers.Conv2D(int(f), int(self.kernel), padding="same", activation="relu")(h)
            if h.shape[1] >= 2 and h.shape[2] >= 2:
                h = keras.layers.MaxPooling2D((2, 2))(h)
                mask = pool_mask(keras, mask, 2)
        h = keras.layers.Reshape((h.shape[1], h.shape[2] * h.shape[3]))(h)
        h = keras.layers.LSTM(int(self.units))(h, mask=mask)
        h = keras.layers.Dropout(self.dropout)(h)
        h = keras.layers.Dense(int(self.dense), activation="relu")(h)
        return keras.Model(inputs, keras.layers.Dense(n_targets)(h))


class SSLHeadRegressor(LSTMRegressor):
    """EmoBox's frozen-encoder head with a regression output: Dense(``units``, ReLU) per frame, the masked mean
    over the real frames, optional dropout, one linear output per target (``--input ssl_head=SET`` for the frames
    of a self-supervised encoder). Frame standardisation, clip length and early stopping as :class:`LSTMRegressor`.
    """

    def __init__(self, units: int = 128, dropout: float = 0.0, loss: str = "ccc", length_percentile: float = 100.0,
                 learning_rate: float = 1e-4, batch_size: int = 32, max_epochs: int = 100, patience: int = 10,
                 validation_fraction: float = 0.2, random_state: int = 0, n_jobs: int = 1):
        self.units = units
        self.dropout = dropout
        self.loss = loss
        self.length_percentile = length_percentile
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _network(self, keras, shape, n_targets: int):
        from .neural.training import masked_mean

        inputs = keras.Input(shape)
        ops = keras.ops
        mask = ops.any(ops.not_equal(inputs, 0.0), axis=-1)
        h = masked_mean(keras, keras.layers.Dense(int(self.units), activation="relu")(inputs), mask)
        if self.dropout:
            h = keras.layers.Dropout(float(self.dropout))(h)
        return keras.Model(inputs, keras.layers.Dense(n_targets)(h))


def _keras():
    """Keras, on TensorFlow imported the project's way (one thread, op determinism, the same oneDNN choice in
    every process), so that a fit gives the same numbers in this process, a worker process or a Dask worker."""
    from .neural.training import import_tensorflow

    import_tensorflow(1)
    import keras

    return keras


def ccc_loss(y_true, y_pred):
    """``1 - CCC`` per target, averaged: a Keras loss on a batch (population moments)."""
    import keras.ops as ops

    mt, mp = ops.mean(y_true, axis=0), ops.mean(y_pred, axis=0)
    vt, vp = ops.var(y_true, axis=0), ops.var(y_pred, axis=0)
    cov = ops.mean((y_true - mt) * (y_pred - mp), axis=0)
    return 1.0 - ops.mean(2.0 * cov / (vt + vp + ops.square(mt - mp) + 1e-8))


def _held_out(n: int, groups: np.ndarray | None, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training rows split for early stopping: whole speakers held out when there are several."""
    rng = np.random.default_rng(seed)
    if groups is not None and len(np.unique(groups)) >= 3:
        speakers = rng.permutation(np.unique(groups.astype(str)))
        k = max(1, int(round(fraction * len(speakers))))
        held = np.isin(groups.astype(str), speakers[:k])
    else:
        held = np.zeros(n, dtype=bool)
        held[rng.permutation(n)[:max(1, int(round(fraction * n)))]] = True
    return np.flatnonzero(~held), np.flatnonzero(held)


REGRESSION_GRIDS: dict[str, dict[str, list]] = {
    "svr": {"C": [0.1, 1.0, 10.0]},
    "ridge": {"alpha": [1.0, 10.0, 100.0, 1000.0]},
    "xgboost": {"max_depth": [2, 4, 6]},
    "dnn": {"dropout": [0.3, 0.5]},
}


class TunedRegressor(RegressorMixin, BaseEstimator):
    """A regressor whose hyper-parameters are chosen inside the training fold by mean CCC (``--tune``).

    ``fit(X, y, groups=speakers)`` deals the *training* speakers into ``n_splits`` inner folds (seeded), fits
    every candidate of the grid on the inner training speakers and scores the mean CCC over targets on the held-out
    inner speakers; the best (ties: the first in grid order) is refitted on the whole training fold. With
    ``validation=(X_dev, y_dev)`` (a published split's development part) the candidates are scored there instead
    and the refit stops early on it. The outer test rows are never passed in, so they cannot decide the choice.

    Attributes
    ----------
    best_params_ : dict
        The chosen combination.
    cv_scores_ : list of (dict, float)
        Each candidate and its mean inner CCC (NaN when no inner split was possible).
    inner_groups_ : list
        The speakers each inner validation fold held out, or ``["development part"]``.
    best_estimator_ : ScaledRegressor
        Refitted with ``best_params_`` on all the training rows.
    """

    def __init__(self, estimator=None, param_grid: dict | None = None, n_splits: int = 3, random_state: int = 0):
        self.estimator = estimator
        self.param_grid = param_grid
        self.n_splits = n_splits
        self.random_state = random_state

    def fit(self, X, y, groups=None, validation=None):
        from sklearn.base import clone

        if self.estimator is None:
            raise ValueError("TunedRegressor needs an estimator")
        y = np.asarray(y, dtype=np.float64)
        y = y.reshape(-1, 1) if y.ndim == 1 else y
        names = list(self.param_grid or {})
        candidates = [dict(zip(names, values, strict=True))
                      for values in itertools.product(*((self.param_grid or {})[n] for n in names))] or [{}]
        groups = None if groups is None else np.asarray(groups).astype(str)
        if validation is not None:
            X_dev, y_dev = np.asarray(validation[0]), np.asarray(validation[1], dtype=np.float64)
            y_dev = y_dev.reshape(-1, 1) if y_dev.ndim == 1 else y_dev
            self.inner_groups_ = ["development part"]
        else:
            splits = self._inner_splits(len(y), groups)
            self.inner_groups_ = [sorted(set(groups[val].tolist())) if groups is not None else []
                                  for _, val in splits]
        scores = []
        for params in candidates:
            if len(candidates) == 1:
                scores.append(float("nan"))
                continue
            if validation is not None:
                model = clone(self.estimator).set_params(**params).fit(X, y, groups=groups)
                scores.append(_mean_ccc(y_dev, model.predict(X_dev)))
                continue
            fold_scores = []
            for train, val in splits:
                model = clone(self.estimator).set_params(**params)
                model.fit(X[train], y[train], groups=None if groups is None else groups[train])
                fold_scores.append(_mean_ccc(y[val], model.predict(X[val])))
            scores.append(float(np.nanmean(fold_scores)) if np.isfinite(fold_scores).any() else float("nan"))
        self.cv_scores_ = list(zip(candidates, scores, strict=True))
        best = int(np.nanargmax(scores)) if np.isfinite(scores).any() else 0
        self.best_params_ = dict(candidates[best])
        self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_)
        self.best_estimator_.fit(X, y, groups=groups, validation=validation)
        return self

    def _inner_splits(self, n: int, groups: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Speaker-grouped inner folds (speakers dealt round-robin after a seeded shuffle), else row folds."""
        rng = np.random.default_rng(self.random_state)
        if groups is not None and len(np.unique(groups)) >= 2:
            speakers = rng.permutation(np.unique(groups))
            k = min(int(self.n_splits), len(speakers))
            folds = [speakers[i::k] for i in range(k)]
            splits = [(np.flatnonzero(~np.isin(groups, f)), np.flatnonzero(np.isin(groups, f))) for f in folds]
        elif n >= 2 * int(self.n_splits):
            order = rng.permutation(n)
            splits = [(np.setdiff1d(np.arange(n), part), np.sort(part))
                      for part in np.array_split(order, int(self.n_splits))]
        else:
            return []
        return [(tr, val) for tr, val in splits if len(tr) >= 2 and len(val) >= 2]

    def predict(self, X) -> np.ndarray:
        return self.best_estimator_.predict(X)

    @property
    def n_epochs_(self):
        return getattr(self.best_estimator_, "n_epochs_", None)

    @property
    def history_(self):
        return getattr(self.best_estimator_, "history_", None)


def tuned_regressor(name: str, estimator: ScaledRegressor, random_state: int = 0) -> TunedRegressor:
    """Wrap a regressor for ``--tune`` with its grid from :data:`REGRESSION_GRIDS`.

    Raises
    ------
    ModelError
        The regressor has no grid (one line naming those that do).
    """
    if name not in REGRESSION_GRIDS:
        raise ModelError(f"--tune: regressor {name!r} has no tuning grid; regressors with one: "
                         f"{', '.join(REGRESSION_GRIDS)}")
    return TunedRegressor(estimator, dict(REGRESSION_GRIDS[name]), random_state=random_state)


def _mean_ccc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean over targets of Lin's CCC (population moments; NaN for a target with no variation at all)."""
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    values = []
    for j in range(y_true.shape[1]):
        x, p = y_true[:, j], y_pred[:, j]
        denominator = x.var() + p.var() + (x.mean() - p.mean()) ** 2
        values.append(2 * ((x - x.mean()) * (p - p.mean())).mean() / denominator if denominator > 0 else np.nan)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


@dataclass(frozen=True)
class RegressorSpec:
    name: str
    factory: Callable
    description: str
    neural: bool = False
    default_input: str | None = None  # None: the vector bank chosen with --features
    input_kind: str = "vector"  # or "sequence": NaN-padded frames of the set ``default_input``


REGRESSORS: dict[str, RegressorSpec] = {spec.name: spec for spec in (
    RegressorSpec("svr", SVRRegressor, "standardisation + RBF SVR per target, targets standardised"),
    RegressorSpec("ridge", RidgeRegressor, "standardisation + ridge regression, targets standardised"),
    RegressorSpec("xgboost", XGBoostRegressor, "XGBoost regressor per target on the classic groups",
                  default_input="classic"),
    RegressorSpec("dnn", DenseNetworkRegressor, "dense network 256-128-64 with a linear head, 1-CCC loss",
                  neural=True),
    RegressorSpec("lstm", LSTMRegressor, "LSTM on MFCC frames with a linear head, 1-CCC loss", neural=True,
                  default_input="mfcc_frames", input_kind="sequence"),
    RegressorSpec("bilstm", BiLSTMRegressor, "bidirectional LSTM on MFCC frames with a linear head, 1-CCC loss",
                  neural=True, default_input="mfcc_frames", input_kind="sequence"),
    RegressorSpec("gru", GRURegressor, "GRU on MFCC frames with a linear head, 1-CCC loss", neural=True,
                  default_input="mfcc_frames", input_kind="sequence"),
    RegressorSpec("cnn1d", CNN1DRegressor, "1-D CNN over log-mel frames, masked mean, linear head, 1-CCC loss",
                  neural=True, default_input="logmel_frames", input_kind="sequence"),
    RegressorSpec("cnn_lstm", CNNLSTMRegressor, "2-D CNN over log-mel images, then an LSTM over time, linear head, "
                  "1-CCC loss", neural=True, default_input="spectrogram", input_kind="sequence"),
    RegressorSpec("ssl_head", SSLHeadRegressor, "EmoBox's frozen-encoder head (per-frame dense, masked mean) with a "
                  "linear head, 1-CCC loss (--input ssl_head=SET)", neural=True, default_input="logmel_frames",
                  input_kind="sequence"),
)}
NOT_IN_ALL = {"ssl_head"}  # a head for self-supervised frames: chosen by name, never by --models all, as for classes
DEFAULT_REGRESSORS = ("svr", "ridge", "xgboost")


def resolve_regressors(names: Sequence[str]) -> list[str]:
    """Names as given (``all`` expands to every regressor); an unknown one is a one-line error."""
    out: list[str] = []
    for name in names:
        key = name.strip().lower()
        if key == "all":
            out += [n for n in REGRESSORS if n not in NOT_IN_ALL]
        elif key in ("svm",):  # the classification default's name for the same family
            out.append("svr")
        elif key in REGRESSORS:
            out.append(key)
        else:
            raise ModelError(f"--models {name}: no regressor of that name for --task dimensional; choose from "
                             f"{', '.join(REGRESSORS)}")
    return list(dict.fromkeys(out))


def make_regressor(name: str, random_state: int = 0, n_jobs: int = 1, **params) -> ScaledRegressor:
    """A fresh regressor, seeded, threads bounded; unknown parameters are a one-line error naming them."""
    spec = REGRESSORS[name]
    model = spec.factory(random_state=random_state, n_jobs=n_jobs)
    unknown = [k for k in params if k not in model.get_params()]
    if unknown:
        raise ModelError(f"--set {name}.{unknown[0]}: regressor {name!r} has no parameter {unknown[0]!r}; it has "
                         f"{', '.join(sorted(model.get_params()))}")
    return model.set_params(**params)
