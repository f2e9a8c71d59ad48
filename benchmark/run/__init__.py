"""Runs: typed configuration, the planned grid of fits, backends, the fit cache and the run folder."""

# The public modules, imported by name (``from benchmark.run import engine``). The package re-exports nothing:
# importing one module must not load the others (startup time, and TensorFlow only when a network runs).
__all__ = [
    "augmenting", "backends", "config", "dimensional", "engine", "experiment", "fitcache", "fitting", "folder",
    "leakrun", "machine", "plan", "precheck", "repeats", "reproduce", "robustness",
]
