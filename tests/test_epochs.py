"""The compiled training loop: Keras's stopping rules, the best epoch restored, the losses it reports."""

import numpy as np
import pytest

from models.neural import DenseNetworkClassifier, import_tensorflow
from models.neural.epochs import _EarlyStop, _Plateau

pytestmark = pytest.mark.neural

LOSS_PATHS = [
    [1.0, 0.9, 0.95, 0.97, 0.8, 0.85, 0.86, 0.87, 0.88, 0.7],
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    [0.5, 0.49995, 0.4999, 0.6, 0.48, 0.47, 0.46, 0.46, 0.46, 0.46, 0.46, 0.46],
    list(np.linspace(1.0, 0.1, 8)),
]


class _Weights:
    """What Keras's callbacks touch on a model: weights, a stop flag, an optimizer with a rate."""

    def __init__(self, keras, rate):
        self.stop_training = False
        self.optimizer = keras.optimizers.Adam(learning_rate=rate)

    def get_weights(self):
        return []

    def set_weights(self, weights):
        pass


@pytest.mark.parametrize("losses", LOSS_PATHS)
@pytest.mark.parametrize("patience", [1, 2, 3])
def test_early_stopping_stops_where_keras_does(losses, patience):
    keras = import_tensorflow().keras
    reference = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience)
    reference.set_model(_Weights(keras, 1e-3))
    reference.on_train_begin()
    keras_stop = ours_stop = None
    ours = _EarlyStop(patience)
    for epoch, loss in enumerate(losses):
        reference.on_epoch_end(epoch, {"val_loss": loss})
        ours.improved(loss)
        if keras_stop is None and reference.model.stop_training:
            keras_stop = epoch
        if ours_stop is None and ours.should_stop(epoch):
            ours_stop = epoch
    assert ours_stop == keras_stop


@pytest.mark.parametrize("losses", LOSS_PATHS)
@pytest.mark.parametrize("patience", [1, 2])
def test_plateau_lowers_the_rate_where_keras_does(losses, patience):
    keras = import_tensorflow().keras
    model = _Weights(keras, 1e-3)
    reference = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=patience, min_lr=2e-4)
    reference.set_model(model)
    reference.on_train_begin()
    ours, rate = _Plateau(0.5, patience, 2e-4), 1e-3
    for epoch, loss in enumerate(losses):
        reference.on_epoch_end(epoch, {"val_loss": loss})
        lowered = ours.step(loss, rate)
        rate = rate if lowered is None else lowered
        assert rate == pytest.approx(float(model.optimizer.learning_rate.numpy()), rel=1e-6), epoch


def problem(n=160, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 10)).astype(np.float32)
    X[:, :2] += 1.2 * (y[:, None] - 1.0)
    return X, np.array(["a", "b", "c"])[y]


def cross_entropy(model, X, y):
    p = model.predict_proba(X)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), np.searchsorted(model.classes_, y)], 1e-7, 1))))


def test_the_model_ends_on_its_best_validation_epoch_and_reports_its_losses():
    X, y = problem()
    train, val = slice(0, 110), slice(110, None)
    m = DenseNetworkClassifier(hidden=(16,), max_epochs=12, early_stopping=False, learning_rate=0.05,
                               batch_size=16, random_state=2)
    m.fit(X[train], y[train], validation=(X[val], y[val]))
    curve = m.history_["val_loss"]
    assert m.n_epochs_ == 12 and m.best_epoch_ == int(np.argmin(curve)) + 1
    assert m.best_epoch_ < 12, "the test needs a run whose last epoch is not its best"
    assert cross_entropy(m, X[val], y[val]) == pytest.approx(min(curve), rel=1e-4)
    last = DenseNetworkClassifier(hidden=(16,), max_epochs=12, early_stopping=False, restore_best=False,
                                  learning_rate=0.05, batch_size=16, random_state=2)
    last.fit(X[train], y[train], validation=(X[val], y[val]))
    assert last.history_["val_loss"] == curve  # the same training, only the final weights differ
    assert cross_entropy(last, X[val], y[val]) == pytest.approx(curve[-1], rel=1e-4)


def test_early_stopping_ends_the_run_after_patience_epochs_without_a_lower_loss():
    X, y = problem()
    m = DenseNetworkClassifier(hidden=(16,), max_epochs=200, patience=2, learning_rate=0.05, batch_size=16,
                               class_weight=None, dropout=0.0, random_state=0)
    m.fit(X[:110], y[:110], validation=(X[110:], y[110:]))
    curve = m.history_["val_loss"]
    assert m.n_epochs_ < 200 and m.n_epochs_ == len(curve) == len(m.epoch_seconds_)
    assert min(curve[-2:]) >= min(curve[:-2]), "stopped after 2 epochs without a lower validation loss"
    assert all(0.0 <= a <= 1.0 for a in m.history_["accuracy"] + m.history_["val_accuracy"])
