"""Reports: ranking, gap and flags, then the renderers (console, md, csv, latex, json)."""

# The public modules, imported by name (``from benchmark.run import engine``). The package re-exports nothing:
# importing one module must not load the others (startup time, and TensorFlow only when a network runs).
__all__ = [
    "compare", "crosscorpus", "dimensional", "html", "leakage", "plots", "ranking", "repeats", "robustness",
    "rundir", "statistics", "tables",
]
