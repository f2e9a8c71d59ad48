"""Keras networks behind the scikit-learn estimator interface, on one shared training loop.

``dnn`` (dense, feature vectors), ``lstm``, ``bilstm``, ``gru`` and ``cnn1d`` (frame sequences), ``cnn_lstm``
(2-D convolutions over spectrogram images, then an LSTM over time), and faithful replications of the five
reference systems (``seed000_lstm`` ...; see :mod:`models.neural.recipes`).
"""

from dataclasses import replace

from .conv import CNN1DClassifier, CNNLSTMClassifier
from .dense import DenseNetworkClassifier
from .recurrent import BiLSTMClassifier, GRUClassifier, LSTMClassifier, RecurrentClassifier
from .registry import register_network
from .training import KerasClassifier, import_tensorflow

register_network(
    "dnn",
    DenseNetworkClassifier,
    default_input=None,
    input_kind="vector",
    description="dense network 256-128-64, dropout, early stopping",
)
register_network(
    "lstm",
    LSTMClassifier,
    default_input="mfcc_frames",
    input_kind="sequence",
    description="LSTM 256 on MFCC frame sequences, masked, early stopping",
)
register_network(
    "bilstm",
    BiLSTMClassifier,
    default_input="mfcc_frames",
    input_kind="sequence",
    description="bidirectional LSTM 2x128 on MFCC frame sequences, masked, early stopping",
)
register_network(
    "gru",
    GRUClassifier,
    default_input="mfcc_frames",
    input_kind="sequence",
    description="GRU 128 on MFCC frame sequences, masked, early stopping",
)
register_network(
    "cnn1d",
    CNN1DClassifier,
    default_input="logmel_frames",
    input_kind="sequence",
    description="1-D CNN 64-128 over log-mel frames, masked mean over time, early stopping",
)
register_network(
    "cnn_lstm",
    CNNLSTMClassifier,
    default_input="spectrogram",
    input_kind="sequence",
    description="2-D CNN 16-32 over log-mel images, then LSTM 64 over time, early stopping",
)

from .ssl_heads import SSLHeadClassifier  # noqa: E402

register_network(
    "ssl_head",
    SSLHeadClassifier,
    default_input="logmel_frames",
    input_kind="sequence",
    description="EmoBox's frozen-encoder head: per-frame dense 128 ReLU, masked mean, softmax (--input ssl_head=SET)",
    family="head",  # a head for self-supervised frames: chosen by name, never by --models all
)

from ..registry import MODELS  # noqa: E402
from . import recipes  # noqa: E402  (registers the replications of the reference systems)

# The replications are the `seeds` command's: their family keeps them out of --models all. Set here rather
# than in each recipe so that recipes.py stays a list of recipes.
for _name in recipes.RECIPES:
    MODELS.replace(_name, replace(MODELS[_name], family="seed"))

__all__ = [
    "BiLSTMClassifier",
    "CNN1DClassifier",
    "CNNLSTMClassifier",
    "DenseNetworkClassifier",
    "GRUClassifier",
    "KerasClassifier",
    "LSTMClassifier",
    "RecurrentClassifier",
    "import_tensorflow",
]
