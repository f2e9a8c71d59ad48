"""The feature bank: one analysis per clip, a registry of feature sets, and a cache.

Add a feature set in a file of your own::

    from features import feature_set

    @feature_set("pitch", version=1)
    def pitch(clip):
        ...  # return a dict name -> float, or a 1-D array
"""

from .analysis import Clip
from .bank import ExtractionInterrupted, ExtractionReport, Features, extract
from .config import AnalysisConfig, parse_stats
from .plugins import load_plugins
from .registry import GROUPS, REGISTRY, FeatureError, available, feature_set, get_feature_set, resolve
from .sequences import choose_length, pad_sequences

__all__ = [
    "AnalysisConfig", "Clip", "ExtractionInterrupted", "ExtractionReport", "FeatureError", "Features", "GROUPS",
    "REGISTRY", "available", "choose_length", "extract", "feature_set", "get_feature_set", "load_plugins",
    "pad_sequences", "parse_stats", "resolve",
]
