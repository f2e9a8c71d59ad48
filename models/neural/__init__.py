"""Keras networks behind the scikit-learn estimator interface, on one shared training loop.

``dnn`` (dense, feature vectors), ``lstm``, ``bilstm``, ``gru`` and ``cnn1d`` (frame sequences), ``cnn_lstm``
(2-D convolutions over spectrogram images, then an LSTM over time), and faithful replications of the five
reference systems (``seed000_lstm`` ...; see :mod:`models.neural.recipes`).
"""

from .conv import CNN1DClassifier, CNNLSTMClassifier
from .dense import DenseNetworkClassifier
from .recurrent import BiLSTMClassifier, GRUClassifier, LSTMClassifier, RecurrentClassifier
from .registry import DEFAULT_INPUTS, register_network
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

from ..registry import NOT_IN_ALL  # noqa: E402
from .ssl_heads import SSLHeadClassifier  # noqa: E402

register_network(
    "ssl_head",
    SSLHeadClassifier,
    default_input="logmel_frames",
    input_kind="sequence",
    description="EmoBox's frozen-encoder head: per-frame dense 128 ReLU, masked mean, softmax (--input ssl_head=SET)",
)
NOT_IN_ALL.add("ssl_head")  # a head for self-supervised frames: chosen by name, never by --models all

from . import recipes  # noqa: E402,F401  (registers the replications of the reference systems)

__all__ = [
    "BiLSTMClassifier",
    "CNN1DClassifier",
    "CNNLSTMClassifier",
    "DEFAULT_INPUTS",
    "DenseNetworkClassifier",
    "GRUClassifier",
    "KerasClassifier",
    "LSTMClassifier",
    "RecurrentClassifier",
    "import_tensorflow",
]
