"""Recurrent layers for CPU with Keras's weights, initialisers and results (to float rounding).

``ManualLSTM`` and ``ManualGRU`` are the networks' recurrent layers (``models.neural.recurrent.LAYERS``);
the others were slower than Keras's own on this project's CPU (AVX-512, oneDNN on) and stay so that
``python -m benchmark.perf.neural --layers manual,keras,hoisted,fused,manual-graph`` can re-run the
comparison on other machines. See ``docs/speed.md``.

Keras's ``LSTM`` and ``GRU`` run, off the GPU, a ``tf.while_loop`` over the time steps whose every step is a
few small ops forward and more backward: the input projection ``x_t @ kernel`` and the recurrent product
``h @ recurrent_kernel``, the gates, the mask. Two layers here replace only that inner loop:

- :class:`FusedLSTM` runs the whole masked sequence in TensorFlow's fused ``BlockLSTMV2`` kernel (the gates
  in Keras's i, f, c, o order in one product per step, forward and backward in C++, no per-step graph ops),
  and stops at the batch's longest real sequence rather than at the padded length;
- :class:`HoistedGRU` (and ``HoistedLSTM``) computes the input projection of all time steps as one large
  matrix product before the loop, so that only the recurrent product stays inside it;
- ``ManualLSTM`` and ``ManualGRU`` (the default) hoist the input projection too and write the loop's gradient
  by hand (``tf.custom_gradient``): the backward loop carries only the state's gradient, one product a step,
  and the kernel's, recurrent kernel's, bias's and input's gradients are then one product each over all
  steps. Both loops, forward and backward, are XLA-compiled (``MANUAL["xla_loops"]``), so a step is one
  product and XLA's fused elementwise code rather than some sixty graph ops, each with the executor's
  fixed cost: on the 64 x 128 products of a GRU step that cost was most of an epoch.

All are subclasses of Keras's layers: the same constructor, weights (names, shapes, initialisers, order of
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

    def gru_loop_inputs(layer, sequences, initial_state, mask):
        """(cell, frames moved to the front, lengths, initial state) for a GRU's own loop, or None where only
        Keras's loop is exact (see ``exact_fallback``; the own loops implement ``reset_after`` only)."""
        if exact_fallback(layer) or not layer.cell.reset_after:
            return None
        x, lengths = _front_real_steps(tf, sequences, mask, layer.go_backwards)
        h0 = initial_state[0] if isinstance(initial_state, (list, tuple)) else initial_state
        return layer.cell, x, lengths, h0

    @keras3.saving.register_keras_serializable(package="ser_benchmark")
    class HoistedGRU(keras.layers.GRU):
        """``keras.layers.GRU`` with the input projection of all steps computed before the loop (see module)."""

        def inner_loop(self, sequences, initial_state, mask, training=False):
            own = gru_loop_inputs(self, sequences, initial_state, mask)
            if own is None:
                return super().inner_loop(sequences, initial_state, mask, training=training)
            cell, x, lengths, h0 = own
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

    @keras3.saving.register_keras_serializable(package="ser_benchmark")
    class ManualLSTM(keras.layers.LSTM):
        """``keras.layers.LSTM`` whose loop has a hand-written gradient: every weight gradient is one product
        over all steps after the backward loop, which keeps only the state's gradient (see module)."""

        def inner_loop(self, sequences, initial_state, mask, training=False):
            if exact_fallback(self):
                return super().inner_loop(sequences, initial_state, mask, training=training)
            cell = self.cell
            x, lengths = _front_real_steps(tf, sequences, mask, self.go_backwards)
            h0, c0 = initial_state
            steps = _manual_steps(tf, x, lengths)
            h, c = _manual_lstm(tf)(x[:, :steps], lengths, h0, c0, *_values(tf, cell))
            return h, h[:, None, :], [h, c]

    @keras3.saving.register_keras_serializable(package="ser_benchmark")
    class ManualGRU(keras.layers.GRU):
        """``keras.layers.GRU`` (``reset_after``) whose loop has a hand-written gradient, as ``ManualLSTM``."""

        def inner_loop(self, sequences, initial_state, mask, training=False):
            own = gru_loop_inputs(self, sequences, initial_state, mask)
            if own is None:
                return super().inner_loop(sequences, initial_state, mask, training=training)
            cell, x, lengths, h0 = own
            steps = _manual_steps(tf, x, lengths)
            h = _manual_gru(tf)(x[:, :steps], lengths, h0, *_values(tf, cell))
            return h, h[:, None, :], [h]

    return {"FusedLSTM": FusedLSTM, "HoistedGRU": HoistedGRU, "HoistedLSTM": HoistedLSTM,
            "ManualLSTM": ManualLSTM, "ManualGRU": ManualGRU}


def holds_candidate_layer(model) -> bool:
    """Whether a Keras model holds a layer of this module (inside ``Bidirectional`` wrappers too)."""
    classes = tuple(_CLASSES.values())  # empty until a candidate was defined: then none can be in a model
    return bool(classes) and any(isinstance(layer, classes) for layer in model._flatten_layers(include_self=False))


def _values(tf, cell):
    """The cell's kernel, recurrent kernel and bias as tensors (reads the tape records), the custom gradient's inputs."""
    return [tf.convert_to_tensor(w) for w in (cell.kernel, cell.recurrent_kernel, cell.bias)]


# "manual" layers: their two loops each one XLA computation (True, the default: a step is then one matmul and
# one fused elementwise loop, not some 60 graph ops), or in TensorFlow's graph executor (False)
MANUAL = {"xla_loops": True}


def _loops(tf, kind: str):
    """The forward and backward loop functions of ``kind`` ("lstm", "gru"); XLA-compiled when
    ``MANUAL["xla_loops"]``, one function per process so that its compiled code serves later fits."""
    key = (id(tf), kind, bool(MANUAL["xla_loops"]))
    if key not in _LOOPS:
        forward, backward = {"lstm": (_lstm_forward, _lstm_backward), "gru": (_gru_forward, _gru_backward)}[kind]
        if MANUAL["xla_loops"]:
            forward = tf.function(forward, jit_compile=True, reduce_retracing=True)
            backward = tf.function(backward, jit_compile=True, reduce_retracing=True)
        _LOOPS[key] = (forward, backward)
    return _LOOPS[key]


_LOOPS: dict[tuple, tuple] = {}


def _manual_steps(tf, x, lengths):
    """Steps the manual loops run: up to the batch's longest real clip, or every step under XLA, which
    compiles once per shape (a length per batch would recompile for every new longest clip)."""
    if MANUAL["xla_loops"]:
        return tf.shape(x)[1]
    return tf.maximum(tf.reduce_max(lengths), 1)


def _untaped(tf, *tensors):
    return [tf.stop_gradient(t) for t in tensors]


def _project(tf, x, kernel, bias):
    """``x`` (n, T, d) time-major and flat (T * n, d), and its projection (T, n, k) plus ``bias``: one product
    (oneDNN's einsum, which transposes inside, was 3x slower than the transpose and a plain product)."""
    shape = tf.shape(x)
    x_flat = tf.reshape(tf.transpose(x, [1, 0, 2]), [-1, shape[2]])
    projected = tf.matmul(x_flat, kernel) + bias
    return x_flat, tf.reshape(projected, [shape[1], shape[0], -1])


def _project_grad(tf, x, x_flat, flat_dz, kernel):
    """The kernel's gradient and the input's (n, T, d) from the projection's flat gradient (T * n, k)."""
    shape = tf.shape(x)
    d_kernel = tf.matmul(x_flat, flat_dz, transpose_a=True)
    dx = tf.matmul(flat_dz, kernel, transpose_b=True)
    return d_kernel, tf.transpose(tf.reshape(dx, [shape[1], shape[0], shape[2]]), [1, 0, 2])


def _lstm_forward(projected, live, h0, c0, recurrent_kernel):
    """Keras's masked LSTM steps over ``projected`` (T, n, 4u: the inputs' projection plus bias); returns the
    last h and c, the h and c before every step and the gates i, f, g, o of every step."""
    import tensorflow as tf

    u = tf.shape(h0)[1]
    steps = tf.shape(projected)[0]

    def step(t, h, c, hs, cs, gates):
        z = projected[t] + tf.matmul(h, recurrent_kernel)
        i = tf.sigmoid(z[:, :u])
        f = tf.sigmoid(z[:, u : 2 * u])
        g = tf.tanh(z[:, 2 * u : 3 * u])
        o = tf.sigmoid(z[:, 3 * u :])
        c_new = f * c + i * g
        h_new = o * tf.tanh(c_new)
        hs, cs = hs.write(t, h), cs.write(t, c)  # the states before step t, for the backward loop
        gates = gates.write(t, tf.concat([i, f, g, o], axis=1))
        return t + 1, tf.where(live[t], h_new, h), tf.where(live[t], c_new, c), hs, cs, gates

    arrays = [tf.TensorArray(projected.dtype, size=steps) for _ in range(3)]
    _, h, c, hs, cs, gates = tf.while_loop(lambda t, *_: t < steps, step, (0, h0, c0, *arrays),
                                          maximum_iterations=steps)
    return h, c, hs.stack(), cs.stack(), gates.stack()


def _lstm_backward(dh, dc, cs, gates, live, recurrent_kernel):
    """The reverse loop of :func:`_lstm_forward`: the gradients of h0 and c0 and of every step's gates'
    pre-activations (T, n, 4u), zero where a step is masked."""
    import tensorflow as tf

    u = tf.shape(dh)[1]
    steps = tf.shape(gates)[0]

    def back(t, dh, dc, dzs):
        i, f, g, o = (gates[t][:, k * u : (k + 1) * u] for k in range(4))
        c_prev = cs[t]
        tanh_c = tf.tanh(f * c_prev + i * g)
        dc_all = dc + dh * o * (1.0 - tanh_c * tanh_c)
        dz = tf.concat([dc_all * g * i * (1.0 - i), dc_all * c_prev * f * (1.0 - f),
                        dc_all * i * (1.0 - g * g), dh * tanh_c * o * (1.0 - o)], axis=1)
        dz = tf.where(live[t], dz, 0.0)
        dh_prev = tf.where(live[t], tf.matmul(dz, recurrent_kernel, transpose_b=True), dh)
        dc_prev = tf.where(live[t], dc_all * f, dc)
        return t - 1, dh_prev, dc_prev, dzs.write(t, dz)

    dzs = tf.TensorArray(gates.dtype, size=steps)
    _, dh0, dc0, dzs = tf.while_loop(lambda t, *_: t >= 0, back, (steps - 1, dh, dc, dzs),
                                   maximum_iterations=steps)
    return dh0, dc0, dzs.stack()


def _manual_lstm(tf):
    """Keras's masked LSTM over ``x`` (n, T, d), real steps first, as a ``tf.custom_gradient`` function.

    Forward: the input projection of all steps is one product before the loop; each step is the recurrent
    product and the gates, and a row past its length keeps its state (Keras's masking). Backward: a reverse
    loop carries only the state's gradient (one product a step, ``dz @ U.T``) and keeps the gates' gradients;
    the kernel's, the recurrent kernel's, the bias's and the input's gradients are then one product each over
    all steps. Keras's autodiff instead runs three products and an accumulation into every weight gradient per
    step. The same arithmetic to float rounding (sums in another order).
    """
    forward, backward = _loops(tf, "lstm")

    @tf.custom_gradient
    def lstm(x, lengths, h0, c0, kernel, recurrent_kernel, bias):
        u = tf.shape(h0)[1]
        x_flat, projected = _project(tf, x, kernel, bias)
        live = tf.range(tf.shape(x)[1])[:, None, None] < lengths[None, :, None]  # (T, n, 1)
        # the loops' gradient is written here: the tape must not trace them (nor XLA their accumulators)
        h, c, hs, cs, gates = forward(*_untaped(tf, projected, live, h0, c0, recurrent_kernel))

        def grad(dh, dc):
            dh = tf.zeros_like(h) if dh is None else dh
            dc = tf.zeros_like(c) if dc is None else dc
            dh0, dc0, dz = backward(*_untaped(tf, dh, dc, cs, gates, live, recurrent_kernel))
            flat_dz = tf.reshape(dz, [-1, 4 * u])
            d_recurrent = tf.matmul(tf.reshape(hs, [-1, u]), flat_dz, transpose_a=True)
            d_kernel, dx = _project_grad(tf, x, x_flat, flat_dz, kernel)
            return dx, None, dh0, dc0, d_kernel, d_recurrent, tf.reduce_sum(flat_dz, axis=0)

        return (h, c), grad

    return lstm


def _gru_forward(projected, live, h0, recurrent_kernel, recurrent_bias):
    """Keras's masked GRU steps (``reset_after``) over ``projected`` (T, n, 3u: inputs' projection plus input
    bias); returns the last h, the h before every step and z, r, the candidate and the recurrent candidate's
    pre-reset product of every step."""
    import tensorflow as tf

    u = tf.shape(h0)[1]
    steps = tf.shape(projected)[0]

    def step(t, h, hs, saved):
        inner = tf.matmul(h, recurrent_kernel) + recurrent_bias
        p = projected[t]
        z = tf.sigmoid(p[:, :u] + inner[:, :u])
        r = tf.sigmoid(p[:, u : 2 * u] + inner[:, u : 2 * u])
        hh = tf.tanh(p[:, 2 * u :] + r * inner[:, 2 * u :])
        h_new = z * h + (1 - z) * hh
        hs = hs.write(t, h)
        saved = saved.write(t, tf.concat([z, r, hh, inner[:, 2 * u :]], axis=1))
        return t + 1, tf.where(live[t], h_new, h), hs, saved

    arrays = [tf.TensorArray(projected.dtype, size=steps) for _ in range(2)]
    _, h, hs, saved = tf.while_loop(lambda t, *_: t < steps, step, (0, h0, *arrays), maximum_iterations=steps)
    return h, hs.stack(), saved.stack()


def _gru_backward(dh, hs, saved, live, recurrent_kernel):
    """The reverse loop of :func:`_gru_forward`: the gradients of h0, of the projected inputs and of the
    recurrent products (each (T, n, 3u), zero where a step is masked)."""
    import tensorflow as tf

    u = tf.shape(dh)[1]
    steps = tf.shape(saved)[0]

    def back(t, dh, dps, dins):
        z, r, hh, inner_h = (saved[t][:, k * u : (k + 1) * u] for k in range(4))
        da_h = dh * (1 - z) * (1.0 - hh * hh)
        da_z = dh * (hs[t] - hh) * z * (1.0 - z)
        da_r = da_h * inner_h * r * (1.0 - r)
        dp = tf.where(live[t], tf.concat([da_z, da_r, da_h], axis=1), 0.0)
        dinner = tf.where(live[t], tf.concat([da_z, da_r, da_h * r], axis=1), 0.0)
        dh_prev = tf.where(live[t], dh * z + tf.matmul(dinner, recurrent_kernel, transpose_b=True), dh)
        return t - 1, dh_prev, dps.write(t, dp), dins.write(t, dinner)

    arrays = [tf.TensorArray(saved.dtype, size=steps) for _ in range(2)]
    _, dh0, dps, dins = tf.while_loop(lambda t, *_: t >= 0, back, (steps - 1, dh, *arrays),
                                     maximum_iterations=steps)
    return dh0, dps.stack(), dins.stack()


def _manual_gru(tf):
    """Keras's masked GRU (``reset_after``: biases (2, 3u), gates z, r, h) as :func:`_manual_lstm` does it."""
    forward, backward = _loops(tf, "gru")

    @tf.custom_gradient
    def gru(x, lengths, h0, kernel, recurrent_kernel, bias):
        u = tf.shape(h0)[1]
        x_flat, projected = _project(tf, x, kernel, bias[0])
        live = tf.range(tf.shape(x)[1])[:, None, None] < lengths[None, :, None]
        h, hs, saved = forward(*_untaped(tf, projected, live, h0, recurrent_kernel, bias[1]))

        def grad(dh):
            dh0, dp, dinner = backward(*_untaped(tf, dh, hs, saved, live, recurrent_kernel))
            flat_dinner = tf.reshape(dinner, [-1, 3 * u])
            d_recurrent = tf.matmul(tf.reshape(hs, [-1, u]), flat_dinner, transpose_a=True)
            d_kernel, dx = _project_grad(tf, x, x_flat, tf.reshape(dp, [-1, 3 * u]), kernel)
            d_bias = tf.stack([tf.reduce_sum(dp, axis=[0, 1]), tf.reduce_sum(flat_dinner, axis=0)])
            return dx, None, dh0, d_kernel, d_recurrent, d_bias

        return h, grad

    return gru


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
