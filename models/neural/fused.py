"""Candidate recurrent layers for CPU with Keras's weights, initialisers and results (to float rounding).

Measured against Keras's own layers by ``python -m benchmark.perf.neural --layers keras,hoisted,fused`` and,
on this project's CPU (AVX-512, oneDNN on), slower: the networks use Keras's layers; these stay so the
comparison can be re-run on other machines (``models.neural.recurrent.LAYERS`` selects them). See
``docs/speed.md``.

Keras's ``LSTM`` and ``GRU`` run, off the GPU, a ``tf.while_loop`` over the time steps whose every step is a
few small ops forward and more backward: the input projection ``x_t @ kernel`` and the recurrent product
``h @ recurrent_kernel``, the gates, the mask. Two layers here replace only that inner loop:

- :class:`FusedLSTM` runs the whole masked sequence in TensorFlow's fused ``BlockLSTMV2`` kernel (the gates
  in Keras's i, f, c, o order in one product per step, forward and backward in C++, no per-step graph ops),
  and stops at the batch's longest real sequence rather than at the padded length;
- :class:`HoistedGRU` computes the input projection of all time steps as one large matrix product before
  the loop, so that only the recurrent product stays inside it.

Both are subclasses of Keras's layers: the same constructor, weights (names, shapes, initialisers, order of
creation, hence the same seeded initial weights), configuration and saved format; they fall back on Keras's
own loop whenever they would not be exact (dropout inside the layer, non-default activations, a GPU, XLA,
``return_sequences`` or ``return_state``, stateful or unrolled layers).

Masking follows Keras: a masked step leaves the state unchanged, so the result is the state after the last
real step. The layers move each row's real steps to the front (a stable gather; a no-op for the usual
NaN-padded sequences, whose padding is at the end), which gives the same states for any mask.
"""

from __future__ import annotations

_CLASSES: dict[str, type] = {}


def fused_layers(keras) -> dict[str, type]:
    """``{"FusedLSTM": ..., "HoistedGRU": ...}``, defined (and registered for loading) at the first call.

    Defined lazily so that importing :mod:`models.neural` does not import TensorFlow.
    """
    if not _CLASSES:
        _CLASSES.update(_define(keras))
    return _CLASSES


def _define(keras) -> dict[str, type]:
    import keras as keras3  # ``tf.keras`` is Keras 3 without its ``saving`` module
    import tensorflow as tf

    def exact_fallback(layer) -> bool:
        """True when the fused path would not be exactly Keras's computation."""
        return bool(
            layer.return_sequences
            or layer.return_state
            or layer.stateful
            or layer.unroll
            or layer.cell.dropout
            or layer.cell.recurrent_dropout
            or not layer.use_bias
            or layer.cell.activation is not keras.activations.tanh
            or layer.cell.recurrent_activation is not keras.activations.sigmoid
            or tf.config.list_logical_devices("GPU")
            or _inside_xla()
        )

    @keras3.saving.register_keras_serializable(package="ser_benchmark")
    class FusedLSTM(keras.layers.LSTM):
        """``keras.layers.LSTM`` whose masked sequence runs in one fused ``BlockLSTMV2`` op (see module)."""

        def inner_loop(self, sequences, initial_state, mask, training=False):
            if exact_fallback(self):
                return super().inner_loop(sequences, initial_state, mask, training=training)
            x, lengths = _front_real_steps(tf, sequences, mask, self.go_backwards)
            h0, c0 = initial_state
            cell = self.cell
            # BlockLSTM's gates are i, c, f, o; Keras's i, f, c, o. (BlockLSTMV2 takes Keras's order, but
            # TensorFlow 2.21 registers BlockLSTM's gradient for it, which is wrong for that order.)
            u = self.units
            weights = _icfo(tf, tf.concat([cell.kernel, cell.recurrent_kernel], axis=0), u)
            zeros = tf.zeros([u], dtype=x.dtype)  # no peepholes
            steps = tf.maximum(tf.reduce_max(lengths), 1)
            time_major = tf.transpose(x, [1, 0, 2])[:steps]
            _, cs, _, _, _, _, h = tf.raw_ops.BlockLSTM(
                seq_len_max=tf.cast(steps, tf.int64), x=time_major, cs_prev=c0, h_prev=h0, w=weights,
                wci=zeros, wcf=zeros, wco=zeros, b=_icfo(tf, cell.bias, u), forget_bias=0.0, cell_clip=-1.0,
                use_peephole=False,
            )
            last_h = _state_after(tf, h, lengths, h0)
            last_c = _state_after(tf, cs, lengths, c0)
            return last_h, last_h[:, None, :], [last_h, last_c]

    @keras3.saving.register_keras_serializable(package="ser_benchmark")
    class HoistedGRU(keras.layers.GRU):
        """``keras.layers.GRU`` with the input projection of all steps computed before the loop (see module)."""

        def inner_loop(self, sequences, initial_state, mask, training=False):
            cell = self.cell
            if exact_fallback(self) or not cell.reset_after:
                return super().inner_loop(sequences, initial_state, mask, training=training)
            x, lengths = _front_real_steps(tf, sequences, mask, self.go_backwards)
            h0 = initial_state[0] if isinstance(initial_state, (list, tuple)) else initial_state
            units = self.units
            input_bias, recurrent_bias = cell.bias[0], cell.bias[1]
            steps = tf.maximum(tf.reduce_max(lengths), 1)
            projected = tf.einsum("ntd,dk->tnk", x[:, :steps], cell.kernel) + input_bias  # all steps at once
            u_zr, u_h = cell.recurrent_kernel[:, : 2 * units], cell.recurrent_kernel[:, 2 * units :]
            b_zr, b_h = recurrent_bias[: 2 * units], recurrent_bias[2 * units :]

            def step(h, x_t):  # rows past their length compute states that are never read
                zr = tf.sigmoid(x_t[:, : 2 * units] + tf.matmul(h, u_zr) + b_zr)
                z, r = zr[:, :units], zr[:, units:]
                candidate = tf.tanh(x_t[:, 2 * units :] + r * (tf.matmul(h, u_h) + b_h))
                return z * h + (1.0 - z) * candidate

            h = tf.scan(step, projected, initializer=h0)
            last = _state_after(tf, h, lengths, h0)
            return last, last[:, None, :], [last]

    @keras3.saving.register_keras_serializable(package="ser_benchmark")
    class HoistedLSTM(keras.layers.LSTM):
        """``keras.layers.LSTM`` with the input projection of all steps computed before the loop (see module)."""

        def inner_loop(self, sequences, initial_state, mask, training=False):
            if exact_fallback(self):
                return super().inner_loop(sequences, initial_state, mask, training=training)
            cell = self.cell
            x, lengths = _front_real_steps(tf, sequences, mask, self.go_backwards)
            h0, c0 = initial_state
            steps = tf.maximum(tf.reduce_max(lengths), 1)
            projected = tf.einsum("ntd,dk->tnk", x[:, :steps], cell.kernel) + cell.bias  # all steps at once
            units = self.units

            def step(state, x_t):  # rows past their length compute states that are never read
                h, c = state[0], state[1]
                z = x_t + tf.matmul(h, cell.recurrent_kernel)
                i = tf.sigmoid(z[:, :units])
                f = tf.sigmoid(z[:, units : 2 * units])
                c = f * c + i * tf.tanh(z[:, 2 * units : 3 * units])
                h = tf.sigmoid(z[:, 3 * units :]) * tf.tanh(c)
                return tf.stack([h, c])

            states = tf.scan(step, projected, initializer=tf.stack([h0, c0]))
            last_h = _state_after(tf, states[:, 0], lengths, h0)
            last_c = _state_after(tf, states[:, 1], lengths, c0)
            return last_h, last_h[:, None, :], [last_h, last_c]

    return {"FusedLSTM": FusedLSTM, "HoistedGRU": HoistedGRU, "HoistedLSTM": HoistedLSTM}


def _icfo(tf, a, units: int):
    """Gate blocks (last axis) from Keras's i, f, c, o to BlockLSTM's i, c, f, o; slices, so dense gradients."""
    u = units
    return tf.concat([a[..., :u], a[..., 2 * u : 3 * u], a[..., u : 2 * u], a[..., 3 * u :]], axis=-1)


def _inside_xla() -> bool:
    """True while tracing a function compiled with XLA (``jit_compile=True``), where BlockLSTM cannot run."""
    from tensorflow.python.framework import ops
    from tensorflow.python.ops import control_flow_util

    graph = ops.get_default_graph()
    return bool(getattr(graph, "_xla_compile", False)) or control_flow_util.GraphOrParentsInXlaContext(graph)


def _front_real_steps(tf, x, mask, backwards: bool):
    """``x`` (n, T, d) with each row's real steps first, in reading order, and the (n,) real lengths.

    ``backwards``: the real steps in reverse order (Keras's ``go_backwards`` with its mask).
    """
    steps = tf.shape(x)[1]
    real = tf.ones(tf.shape(x)[:2], dtype=tf.bool) if mask is None else tf.cast(mask, tf.bool)
    position = tf.range(steps)[None, :]
    if backwards:
        position = steps - 1 - position
    # real steps keyed by their reading position, padding after all of them; a stable sort keeps the order
    key = tf.where(real, position, steps + position)
    order = tf.argsort(key, axis=1, stable=True)
    lengths = tf.reduce_sum(tf.cast(real, tf.int32), axis=1)
    return tf.gather(x, order, axis=1, batch_dims=1), lengths


def _state_after(tf, states, lengths, initial):
    """Per row, ``states`` (T, n, u) at its last real step, or ``initial`` for a row without one."""
    n = tf.shape(lengths)[0]
    index = tf.stack([tf.maximum(lengths - 1, 0), tf.range(n)], axis=1)
    last = tf.gather_nd(states, index)
    return tf.where((lengths > 0)[:, None], last, initial)
