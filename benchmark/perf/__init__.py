"""Speed benchmarks: each prints ratios against a reference measured in the same run, never a timed assertion."""

# The public modules, imported by name (``from benchmark.run import engine``). The package re-exports nothing:
# importing one module must not load the others (startup time, and TensorFlow only when a network runs).
__all__ = [
    "bank_vs_opensmile", "degrade", "duplicates", "features", "neural", "nkululeko", "run", "startup",
]
