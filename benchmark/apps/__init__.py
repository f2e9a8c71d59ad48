"""Using a benchmarked model: bundles (train, save safely, predict) and the web app."""

from .bundle import Bundle, BundleError, FeatureSpec, HonestScore, segment_bounds

__all__ = ["Bundle", "BundleError", "FeatureSpec", "HonestScore", "segment_bounds"]
