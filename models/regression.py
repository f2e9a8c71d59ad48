"""Regressors for the dimensional task (arousal, valence, dominance), behind one scikit-learn interface.

Every regressor fits, on the training rows only: a median imputer and a clipped standard scaler of the features, and a
standard scaler of each target (so that SVR's epsilon, ridge's alpha and a network's loss mean the same on a 1-5
and a 1-7 scale). Predictions are mapped back to the targets' own scale. ``fit(X, y)`` takes ``y`` of shape
(n, d); ``predict`` returns (n, d).
"""

from __future__ import annotations

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
        import keras

        keras.utils.set_random_seed(int(self.random_state))
        if validation is None and self.validation_fraction > 0 and len(X) >= 10:
            train, held = _held_out(len(X), groups, self.validation_fraction, self.random_state)
            validation = (X[held], y[held])
            X, y = X[train], y[train]
        model = self._network(keras, X.shape[1:], y.shape[1])
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
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
            raise ModelError("lstm (dimensional) takes frame sequences; give it a sequence set, e.g. mfcc_frames")
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

    def _network(self, keras, shape, n_targets: int):
        inputs = keras.Input(shape)
        h = keras.layers.Masking(mask_value=0.0)(inputs)
        for i, units in enumerate(self.units):
            h = keras.layers.LSTM(int(units), return_sequences=i < len(self.units) - 1)(h)
        h = keras.layers.Dropout(self.dropout)(h)
        h = keras.layers.Dense(int(self.dense), activation="relu")(h)
        return keras.Model(inputs, keras.layers.Dense(n_targets)(h))


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
)}
DEFAULT_REGRESSORS = ("svr", "ridge", "xgboost")


def resolve_regressors(names: Sequence[str]) -> list[str]:
    """Names as given (``all`` expands to every regressor); an unknown one is a one-line error."""
    out: list[str] = []
    for name in names:
        key = name.strip().lower()
        if key == "all":
            out += list(REGRESSORS)
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
