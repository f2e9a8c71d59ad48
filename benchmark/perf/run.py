"""Speed of the run engine: a cold run against the same run warm, and the fit stage on each backend.

Everything is measured in one process and one invocation, against references measured in the same run: the
warm re-run as a share of the cold one, and each backend's fit stage as a speed-up over the serial backend on
the same planned fits (the feature cache is shared, each backend starts with an empty fit cache).

    python run_benchmark.py perf --run [--backends serial,processes,dask] [--models ...] [--profile small]
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from benchmark.run.config import RunConfig
from benchmark.run.engine import run_benchmark

TARGET_WARM_SHARE = 0.05


def time_run(config: RunConfig) -> tuple[float, dict]:
    start = time.perf_counter()
    result = run_benchmark(config)
    wall = time.perf_counter() - start
    info = json.loads((result.run_dir / "run.json").read_text())
    return wall, info


def run_perf_engine(base: RunConfig, backends: Sequence[str] = ("serial", "processes"), jobs: int = 2) -> dict:
    """Print and return: cold and warm wall seconds, and the fit stage's seconds and speed-up per backend."""
    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="ser-perf-run-") as tmp:
        cache, out = Path(tmp) / "cache", Path(tmp) / "out"
        config = replace(base, cache_dir=str(cache), out=str(out), quiet=True, jobs=jobs)
        cold, info = time_run(config)
        warm, _ = time_run(config)
        figures.update(cold_s=cold, warm_s=warm, warm_share=warm / cold, cold_stages=info["timings_s"],
                       fits=info["fits"]["planned"])
        print(f"run engine: {info['fits']['planned']} fits, {info['corpus']['utterances_scored']} utterances, "
              f"{jobs} core(s)")
        print(f"  cold run (empty cache)                 {cold:8.1f} s   stages {info['timings_s']}")
        verdict = "meets" if warm / cold <= TARGET_WARM_SHARE else "MISSES"
        print(f"  same run, warm cache                   {warm:8.1f} s   {100 * warm / cold:.1f} % of cold "
              f"(target <= {100 * TARGET_WARM_SHARE:g} %: {verdict})")
        stages = {}
        for backend in backends:
            fits = Path(tmp) / f"fits-{backend}"
            # the features come from the shared cache; only the fits are measured
            (fits / "features").parent.mkdir(parents=True, exist_ok=True)
            (fits / "features").symlink_to(cache / "features", target_is_directory=True)
            if (cache / "synthetic").is_dir():
                (fits / "synthetic").symlink_to(cache / "synthetic", target_is_directory=True)
            _, info = time_run(replace(config, cache_dir=str(fits), backend=backend, report=False))
            stages[backend] = info["timings_s"]["models"]
        reference = stages.get("serial")
        for backend, seconds in stages.items():
            ratio = f"{reference / seconds:5.2f}x serial" if reference else ""
            print(f"  fit stage, --backend {backend:<10}        {seconds:8.1f} s   {ratio}")
        figures["fit_stage_s"] = stages
    return figures
