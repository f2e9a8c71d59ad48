"""Leakage-aware speech emotion recognition benchmark."""

# The subpackages; their layering (cli on top, corpora at the bottom) is in tests/test_architecture.py.
__all__ = [
    "apps", "cli", "corpora", "evaluation", "perf", "reports", "run", "seeds",
]
