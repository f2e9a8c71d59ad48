"""Evaluation: protocols (who trains, who tests), the leakage audit, metrics, speaker normalisation."""

# The public modules, imported by name (``from benchmark.run import engine``). The package re-exports nothing:
# importing one module must not load the others (startup time, and TensorFlow only when a network runs).
__all__ = [
    "audit", "degenerate", "duplicates", "fairness", "leaks", "metrics", "normalisation", "protocols", "regression",
    "splits", "statistics",
]
