"""The networks' training loop: one compiled TensorFlow call per epoch, stopping rules in plain Python.

Keras's ``model.fit`` spends milliseconds of Python per batch (data adapter, callbacks, metric objects); on
the small networks of SER (a dense net on a feature vector, a 1-D CNN on 80 ms frames) that is most of an epoch.
Here a whole epoch — gather a shuffled batch, forward, weighted loss, gradients, Adam — is one
``tf.function`` with the batch loop inside the graph, and validation is one more call. What ``fit`` did
around it is kept: balanced class weights on the training loss, the shuffle drawn from a seeded
generator of the fit's own, early stopping on the validation loss, the best epoch's weights restored,
an optional learning-rate plateau schedule and per-epoch curves.

Adam's update of the weights is compiled by XLA on its own when a weight is larger than a core's cache
(``LOOP["xla_update"]``): Keras writes the update as a dozen elementwise ops per weight, each a pass over the
weight in memory; XLA fuses them into one loop, the same arithmetic to float rounding (about one unit in the
last place). On the dense network's 7431 x 256 input layer the update was most of a batch; on weights that
stay in cache (the LSTM's largest is 1 MB) the compiled call did not pay (``docs/speed.md``). Only the
update: XLA on the whole epoch was many times slower with TensorFlow's op determinism on, and Keras's
recurrent layers do not compile.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

# "auto": the compiled update when a weight has at least FUSED_FROM elements; True/False: always/never
# (perf --neural --update auto,xla,keras times the three)
LOOP = {"xla_update": "auto"}
FUSED_FROM = 2**20  # 4 MB of float32: past the 2 MB L2 cache of a core of this project's machine


@dataclass
class Schedule:
    """When to stop and when to lower the learning rate; the rules of Keras's callbacks of the same names.

    ``patience``: epochs without a lower validation loss before stopping (None: never stop early);
    ``restore_best``: end on the weights of the epoch with the lowest validation loss;
    ``plateau``: ``(factor, patience, floor)`` as ``ReduceLROnPlateau`` (improvement: lower by 1e-4).
    """

    max_epochs: int
    patience: int | None = None
    restore_best: bool = True
    plateau: tuple[float, int, float] | None = None


@dataclass
class Curves:
    """Per-epoch training and validation loss and accuracy, and seconds per epoch."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)  # the process's CPU time: robust to a busy machine

    def as_history(self) -> dict[str, list[float]]:
        return {"loss": self.loss, "accuracy": self.accuracy, "val_loss": self.val_loss,
                "val_accuracy": self.val_accuracy}


class EpochLoop:
    """Adam on the sparse categorical cross-entropy of ``model``, one compiled call per epoch.

    ``class_weights[k]`` weighs the loss of every training example of class ``k``; the batch loss is the
    weighted sum over the batch divided by the batch size (Keras's ``class_weight`` convention).
    """

    def __init__(self, tf, keras, model, learning_rate: float, batch_size: int, class_weights: np.ndarray,
                 jit_compile: bool = False):
        self.tf, self.keras, self.model = tf, keras, model
        self.batch_size = int(batch_size)
        self.optimizer = keras.optimizers.Adam(learning_rate=float(learning_rate))  # an int rate (1) would make an int variable
        self.optimizer.build(model.trainable_variables)
        self.class_weights = tf.constant(np.asarray(class_weights, dtype=np.float32))
        # Under jit_compile the whole epoch is one XLA cluster already; otherwise only the update is.
        self._fused = not jit_compile and _use_compiled_update(model.trainable_variables)
        if self._fused:
            self._slots = _adam_slots(self.optimizer, model.trainable_variables)
        self._epoch = tf.function(self._train_epoch, jit_compile=bool(jit_compile), reduce_retracing=True)
        self._evaluate = tf.function(self._evaluate_batch, reduce_retracing=True)

    def run(self, inputs: tuple[np.ndarray, ...], y: np.ndarray, val_inputs: tuple[np.ndarray, ...] | None,
            val_y: np.ndarray | None, schedule: Schedule, seed: int, verbose: int = 0) -> Curves:
        """Train for up to ``schedule.max_epochs`` epochs; the model ends on the weights the schedule chose.

        ``verbose`` > 0 prints one line per epoch.
        """
        tf = self.tf
        x = tuple(tf.constant(a) for a in inputs)
        labels = tf.constant(np.asarray(y, dtype=np.int32))
        order = np.random.default_rng(seed)
        curves = Curves()
        stop = _EarlyStop(schedule.patience)
        plateau = _Plateau(*schedule.plateau) if schedule.plateau else None
        best_weights = None
        for epoch in range(int(schedule.max_epochs)):
            start, cpu = time.perf_counter(), time.process_time()
            permutation = tf.constant(order.permutation(len(y)).astype(np.int32))
            loss, correct = self._epoch(x, labels, permutation)
            curves.loss.append(float(loss) / len(y))
            curves.accuracy.append(float(correct) / len(y))
            if val_inputs is not None:
                val_loss, val_accuracy = self.evaluate(val_inputs, val_y)
                curves.val_loss.append(val_loss)
                curves.val_accuracy.append(val_accuracy)
            curves.seconds.append(time.perf_counter() - start)
            curves.cpu_seconds.append(time.process_time() - cpu)
            if verbose:
                print(_epoch_line(epoch, schedule.max_epochs, curves), flush=True)
            if val_inputs is None:
                continue
            if stop.improved(curves.val_loss[-1]) and schedule.restore_best:
                best_weights = self.model.get_weights()
            if plateau is not None:
                lowered = plateau.step(curves.val_loss[-1], float(self.optimizer.learning_rate.numpy()))
                if lowered is not None:
                    self.optimizer.learning_rate.assign(lowered)
            if stop.should_stop(epoch):
                break
        if best_weights is not None:
            self.model.set_weights(best_weights)
        return curves

    def evaluate(self, inputs: tuple[np.ndarray, ...], y: np.ndarray, chunk: int = 512) -> tuple[float, float]:
        """Mean (unweighted) cross-entropy and accuracy of the model on ``inputs, y``."""
        total_loss, total_correct = 0.0, 0.0
        for start in range(0, len(y), chunk):
            batch = tuple(self.tf.constant(a[start : start + chunk]) for a in inputs)
            loss, correct = self._evaluate(batch, self.tf.constant(np.asarray(y[start : start + chunk], np.int32)))
            total_loss += float(loss)
            total_correct += float(correct)
        return total_loss / len(y), total_correct / len(y)

    def _train_epoch(self, x, labels, permutation):
        tf = self.tf
        n = tf.shape(permutation)[0]
        loss_sum, correct = tf.constant(0.0), tf.constant(0.0)
        for start in tf.range(0, n, self.batch_size):
            rows = permutation[start : start + self.batch_size]
            batch = [tf.gather(a, rows) for a in x]
            truth = tf.gather(labels, rows)
            size = tf.cast(tf.shape(rows)[0], tf.float32)
            with tf.GradientTape() as tape:
                probabilities = self.model(batch if len(batch) > 1 else batch[0], training=True)
                losses = self.keras.losses.sparse_categorical_crossentropy(truth, probabilities)
                loss = tf.reduce_sum(losses * tf.gather(self.class_weights, truth)) / size
            gradients = tape.gradient(loss, self.model.trainable_variables)
            if self._fused:
                _compiled_adam(tf)(*self._slots, gradients)
            else:
                self.optimizer.apply(gradients, self.model.trainable_variables)
            loss_sum += loss * size
            correct += _correct(tf, truth, probabilities)
        return loss_sum, correct

    def _evaluate_batch(self, x, truth):
        tf = self.tf
        probabilities = self.model(list(x) if len(x) > 1 else x[0], training=False)
        losses = self.keras.losses.sparse_categorical_crossentropy(truth, probabilities)
        return tf.reduce_sum(losses), _correct(tf, truth, probabilities)


def _use_compiled_update(variables) -> bool:
    setting = LOOP["xla_update"]
    if setting == "auto":
        return any(int(np.prod(v.shape)) >= FUSED_FROM for v in variables)
    return bool(setting)


def _adam_slots(optimizer, variables) -> tuple:
    """What the compiled update takes: the weights, Adam's moments for each, and its scalars, as TensorFlow
    variables, with the constants Keras's ``Adam.update_step`` uses."""
    if type(optimizer).__name__ != "Adam" or optimizer.amsgrad or optimizer.weight_decay or optimizer.use_ema \
            or optimizer.clipnorm or optimizer.clipvalue or optimizer.global_clipnorm:
        raise ValueError("the compiled update is plain Adam's: set LOOP['xla_update'] = False for this optimizer")
    index = [optimizer._get_variable_index(v) for v in variables]
    weights = [v.value for v in variables]
    moments = [optimizer._momentums[i].value for i in index]
    velocities = [optimizer._velocities[i].value for i in index]
    # Keras multiplies by the Python floats 1 - beta (rounded to float32 there), and raises beta cast to float32
    constants = [float(optimizer.beta_1), float(optimizer.beta_2), 1 - optimizer.beta_1, 1 - optimizer.beta_2,
                 float(optimizer.epsilon)]
    return (weights, moments, velocities, optimizer.learning_rate.value, optimizer.iterations.value, constants)


_COMPILED: dict[int, object] = {}


def _compiled_adam(tf):
    """Keras's ``Adam.update_step`` for every weight, then ``iterations + 1``, as one XLA-compiled function.

    Its arithmetic is Keras's op for op (XLA fuses the dozen elementwise passes over each weight into one
    loop, which rounds differently by about one unit in the last place). One function per process: the
    variables are arguments, so a fit with weights of the same shapes as an earlier one reuses its compiled
    code instead of paying XLA's compilation again.
    """
    if id(tf) not in _COMPILED:
        def update(weights, moments, velocities, learning_rate, iterations, constants, gradients):
            beta_1, beta_2, one_minus_beta_1, one_minus_beta_2, epsilon = constants
            lr = tf.cast(learning_rate, tf.float32)
            step = tf.cast(iterations + 1, tf.float32)
            beta_1_power = tf.pow(tf.cast(beta_1, tf.float32), step)
            beta_2_power = tf.pow(tf.cast(beta_2, tf.float32), step)
            alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
            for w, m, v, g in zip(weights, moments, velocities, gradients, strict=True):
                g = tf.cast(g, tf.float32)
                m.assign_add((g - m) * one_minus_beta_1)
                v.assign_add((tf.square(g) - v) * one_minus_beta_2)
                w.assign_sub((m * alpha) / (tf.sqrt(v) + epsilon))
            iterations.assign_add(1)

        _COMPILED[id(tf)] = tf.function(update, jit_compile=True, reduce_retracing=True)
    return _COMPILED[id(tf)]


def _epoch_line(epoch: int, epochs: int, curves: Curves) -> str:
    line = f"epoch {epoch + 1}/{epochs}: loss {curves.loss[-1]:.4f}, accuracy {curves.accuracy[-1]:.3f}"
    if curves.val_loss:
        line += f", val_loss {curves.val_loss[-1]:.4f}, val_accuracy {curves.val_accuracy[-1]:.3f}"
    return line + f" ({curves.seconds[-1]:.2f} s)"


def _correct(tf, truth, probabilities):
    predicted = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    return tf.reduce_sum(tf.cast(tf.equal(predicted, truth), tf.float32))


class _EarlyStop:
    """Keras's ``EarlyStopping(monitor="val_loss")``: stop after ``patience`` epochs without a lower loss."""

    def __init__(self, patience: int | None):
        self.patience, self.best, self.wait = patience, np.inf, 0

    def improved(self, loss: float) -> bool:
        self.wait += 1
        if loss < self.best:
            self.best, self.wait = loss, 0
            return True
        return False

    def should_stop(self, epoch: int) -> bool:
        return self.patience is not None and epoch > 0 and self.wait >= self.patience


class _Plateau:
    """Keras's ``ReduceLROnPlateau(monitor="val_loss")``: lower the rate by ``factor`` after ``patience``
    epochs without a loss lower by 1e-4, never below ``floor``."""

    def __init__(self, factor: float, patience: int, floor: float):
        self.factor, self.patience, self.floor = float(factor), int(patience), float(floor)
        self.best, self.wait = np.inf, 0

    def step(self, loss: float, rate: float) -> float | None:
        if loss < self.best - 1e-4:
            self.best, self.wait = loss, 0
            return None
        self.wait += 1
        if self.wait < self.patience:
            return None
        self.wait = 0
        return max(rate * self.factor, self.floor) if rate > np.float32(self.floor) else None
