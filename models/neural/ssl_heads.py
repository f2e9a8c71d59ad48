"""Small heads for frozen self-supervised encoders' frame sequences (``--features``/``--ssl ...,pool=frames``).

``ssl_head`` is EmoBox's downstream model (its ``SuperbBaseModel``): a per-frame linear layer with ReLU, the
mean over the real frames, a linear layer to the classes. With ``layers=L`` the input is every hidden state
stacked (``layer=all``: L x dims values per frame, layer-major) and the head first learns a softmax-weighted sum
of the layers (SUPERB's weighted-layer protocol), the weights fitted on the training fold like every other one.
"""

from __future__ import annotations

from functools import lru_cache

from .conv import CNN1DClassifier
from .training import masked_mean


class SSLHeadClassifier(CNN1DClassifier):
    """EmoBox's frozen-encoder head: Dense(``units``, ReLU) per frame, masked mean over time, softmax.

    Parameters
    ----------
    units : width of the per-frame layer (EmoBox: 128 in its README's recipe, 256 in its yaml files).
    layers : hidden states stacked in each frame (1: a single layer; L: a learned softmax-weighted sum of L).
    dropout : dropout after the mean (EmoBox: none).
    Training parameters as for every network; the defaults follow EmoBox (Adam, learning rate 1e-4, batch 32,
    frames as given: ``normalise=None``, no class weights), with early stopping on held-out training speakers.
    """

    input_kind = "sequence"

    def __init__(self, units: int = 128, layers: int = 1, dropout: float = 0.0, length: int | None = None,
                 length_percentile: float = 100.0, normalise: str | None = None, frame_pool: int = 1,
                 learning_rate: float = 1e-4, batch_size: int = 32, max_epochs: int = 100, patience: int = 10,
                 early_stopping: bool = True, restore_best: bool = True, validation_fraction: float = 0.2,
                 validation_by_group: bool = True, class_weight: str | None = None, lr_plateau: tuple | None = None,
                 jit_compile: bool = False, random_state: int = 0, n_jobs: int = 1, verbose: int = 0):
        super().__init__(filters=(), kernel=1, pool=1, conv_dropout=0.0, head="mean", dense=(), dropout=dropout,
                         length=length, length_percentile=length_percentile, normalise=normalise,
                         frame_pool=frame_pool, learning_rate=learning_rate, batch_size=batch_size,
                         max_epochs=max_epochs, patience=patience, early_stopping=early_stopping,
                         restore_best=restore_best, validation_fraction=validation_fraction,
                         validation_by_group=validation_by_group, class_weight=class_weight,
                         lr_plateau=lr_plateau, jit_compile=jit_compile, random_state=random_state, n_jobs=n_jobs,
                         verbose=verbose)
        self.units = units
        self.layers = layers

    def _build(self, keras, shapes, n_classes: int):
        frames = keras.Input(shapes[0], name="frames")
        mask = keras.Input(shapes[1], dtype="bool", name="mask")
        h = frames
        layers = int(self.layers)
        if layers > 1:
            steps, width = shapes[0]
            if width % layers:
                raise ValueError(f"ssl_head: {width} values per frame do not split into layers={layers}")
            h = keras.layers.Reshape((steps, layers, width // layers))(h)
            h = _LayerWeights(layers, name="layer_weights")(h)
        h = keras.layers.Dense(int(self.units), activation="relu")(h)
        h = masked_mean(keras, h, mask)
        if self.dropout:
            h = keras.layers.Dropout(float(self.dropout))(h)
        out = keras.layers.Dense(n_classes, activation="softmax", name="emotion")(h)
        return keras.Model([frames, mask], out, name="ssl_head")


@lru_cache(maxsize=1)
def _layer_weights_class():
    from .training import import_tensorflow

    import_tensorflow()
    import keras

    @keras.saving.register_keras_serializable(package="ser")
    class LayerWeights(keras.layers.Layer):
        """A softmax-weighted sum over axis 2 of (n, T, L, d): one learned weight per layer."""

        def __init__(self, layers: int, **kwargs):
            super().__init__(**kwargs)
            self.layers = layers

        def build(self, input_shape):
            self.w = self.add_weight(shape=(self.layers,), initializer="zeros", name="w")

        def call(self, x):
            weights = keras.ops.softmax(self.w)
            return keras.ops.einsum("ntld,l->ntd", x, weights)

        def get_config(self):
            return {**super().get_config(), "layers": self.layers}

    return LayerWeights


def _LayerWeights(layers: int, **kwargs):  # noqa: N802 - builds the Keras layer lazily (TensorFlow is heavy)
    return _layer_weights_class()(layers, **kwargs)
