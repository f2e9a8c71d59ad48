"""A run's fixed cost: what a small run pays before and besides its real work, each part in a fresh process.

Each figure comes from a fresh Python process started by this one, so nothing imported here counts:

- the interpreter alone (the reference the other lines are measured against);
- ``import benchmark.cli.run`` (what ``python run_benchmark.py`` imports before it reads its arguments), then
  that and the run engine (what ``run`` imports before it reads the corpus), with the heaviest imports under
  the latter (from ``python -X importtime``), so lazy-import candidates are visible;
- TensorFlow through :func:`models.neural.import_tensorflow` (paid once by every process that fits a network);
- a loky worker pool of ``--jobs`` processes running one task that imports the feature bank (what extraction
  workers pay before their first file), against the same task run in the parent;
- the fits' phase after extraction's: the same pool handed back (:mod:`features.pool`, one pool per run)
  against a pool of its own started for the fits (how runs worked before), each worker importing the models;
- librosa's numba compilation: the bank's warm-up (the default run's feature sets on 1 s of noise) with an empty
  ``NUMBA_CACHE_DIR``, with the kernels no set calls deferred (:mod:`features.lazy_kernels`) and with librosa's
  eager compilation (``SER_NUMBA_EAGER=1``), then again in a new process on the cache the first one left.

    python run_benchmark.py perf --startup [--jobs 2]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_TIMED = """
import time
start = time.perf_counter(); cpu = time.process_time()
{body}
print("SECONDS", time.perf_counter() - start, time.process_time() - cpu)
"""

_WARM_UP = """
import features  # noqa: F401  (registers the built-in sets)
from features.bank import warm_up
from features.config import AnalysisConfig
from features.registry import resolve
warm_up([*resolve("all"), "mfcc_frames"], AnalysisConfig())  # the default run's sets
"""

_POOL = """
from joblib import Parallel, delayed
def task():
    import features.bank  # noqa: F401  (what an extraction worker imports before its first file)
    return 1
Parallel(n_jobs={jobs}, backend="loky")(delayed(task)() for _ in range({jobs}))
"""

# The fits' phase after extraction's: "shared" asks features.pool again (what a run does), "own" starts a pool of
# its own as the fits did before; the first phase is the same in both.
_SECOND_POOL = """
import time
from features.pool import init_worker, shared_pool, worker_environment
from joblib.externals.loky import ProcessPoolExecutor
def bank(_):
    import features.bank  # noqa: F401
    return 1
def fits(_):
    import benchmark.run.fitting, models  # noqa: F401  (what a fit's worker imports before its first fit)
    return 1
list(shared_pool({jobs}).map(bank, range({jobs})))
second = time.perf_counter()
executor = shared_pool({jobs}) if {shared} else ProcessPoolExecutor({jobs}, env=worker_environment(1),
                                                                    initializer=init_worker)
list(executor.map(fits, range({jobs})))
print("SECOND", time.perf_counter() - second)
"""


def timed_subprocess(body: str, env: dict | None = None, python_flags: tuple[str, ...] = ()) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the timed part, stderr) of ``body`` run in a fresh interpreter.

    The wall figure includes the interpreter's start-up; the CPU figure is the child's own process time of
    ``body`` (worker processes it starts are not in it).
    """
    code = _TIMED.format(body=body)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *python_flags, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"perf --startup: the timed child failed:\n{done.stderr[-2000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("SECONDS"))
    _, _, cpu = line.split()
    return wall, float(cpu), done.stdout + done.stderr


def second_phase(jobs: int, shared: bool) -> float:
    """Wall seconds of the fits' phase after an extraction phase, on the shared pool or a pool of its own."""
    _, _, out = timed_subprocess(_SECOND_POOL.format(jobs=jobs, shared=shared))
    return float(next(x for x in out.splitlines() if x.startswith("SECOND ")).split()[1])


def heaviest_imports(importtime_log: str, top: int = 8) -> list[tuple[str, float]]:
    """The ``top`` third-party modules that this project's modules import directly, by cumulative seconds.

    Parsed from a ``python -X importtime`` log (post-order: a module's line follows those of its imports; each
    nesting level indents by two spaces), so these are the imports a lazy import in our code could defer.
    """
    ours = ("benchmark", "features", "models")
    rows = []
    for line in importtime_log.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( +)(\S+)", line)
        if match:
            rows.append(((len(match.group(2)) - 1) // 2, match.group(3), int(match.group(1)) / 1e6))
    found: dict[str, float] = {}
    for i, (depth, name, seconds) in enumerate(rows):
        parent = next((n for d, n, _ in rows[i + 1:] if d == depth - 1), None)
        if parent and parent.split(".")[0] in ours and name.split(".")[0] not in ours:
            found[name] = max(found.get(name, 0.0), seconds)
    return sorted(found.items(), key=lambda item: -item[1])[:top]


def run_startup(jobs: int = 2) -> dict:
    """Print and return the fixed costs described in the module (seconds, and ratios to the interpreter)."""
    figures: dict = {}
    interpreter, _, _ = timed_subprocess("pass")
    figures["interpreter_s"] = interpreter
    cli, cli_cpu, _ = timed_subprocess("import benchmark.cli.run")
    figures["cli_import_s"], figures["cli_import_cpu_s"] = cli, cli_cpu
    engine, engine_cpu, log = timed_subprocess("import benchmark.cli.run, benchmark.run.engine",
                                               python_flags=("-X", "importtime"))
    figures["engine_import_s"], figures["engine_import_cpu_s"] = engine, engine_cpu
    figures["heaviest"] = heaviest_imports(log)
    tf_wall, tf_cpu, _ = timed_subprocess("from models.neural import import_tensorflow\nimport_tensorflow(1)")
    figures["tensorflow_s"], figures["tensorflow_cpu_s"] = tf_wall, tf_cpu
    pool_wall, _, _ = timed_subprocess(_POOL.format(jobs=jobs))
    local_wall, _, _ = timed_subprocess(_POOL.format(jobs=1))
    figures["pool_s"], figures["in_process_s"] = pool_wall, local_wall
    figures["fits_pool_shared_s"] = second_phase(jobs, True)
    figures["fits_pool_own_s"] = second_phase(jobs, False)
    with tempfile.TemporaryDirectory(prefix="ser-perf-numba-") as cache:
        eager_wall, eager_cpu, _ = timed_subprocess(_WARM_UP, env={"NUMBA_CACHE_DIR": cache,
                                                                   "SER_NUMBA_EAGER": "1"})
    with tempfile.TemporaryDirectory(prefix="ser-perf-numba-") as cache:
        env = {"NUMBA_CACHE_DIR": cache, "SER_NUMBA_EAGER": "0"}
        cold_wall, cold_cpu, _ = timed_subprocess(_WARM_UP, env=env)
        warm_wall, warm_cpu, _ = timed_subprocess(_WARM_UP, env=env)
    figures.update(numba_cold_s=cold_wall, numba_cold_cpu_s=cold_cpu, numba_warm_s=warm_wall,
                   numba_warm_cpu_s=warm_cpu, numba_eager_s=eager_wall, numba_eager_cpu_s=eager_cpu)

    print(f"fixed costs, each in a fresh process ({jobs} worker(s) where a pool is started)")
    print(f"  interpreter alone                               {interpreter:6.2f} s   (reference)")
    print(f"  import benchmark.cli.run                        {cli:6.2f} s   {cli / interpreter:5.1f}x the "
          f"interpreter; {cli_cpu:.2f} CPU-s of imports")
    print(f"  ... and the run engine (all that run imports)   {engine:6.2f} s   {engine / interpreter:5.1f}x the "
          f"interpreter; {engine_cpu:.2f} CPU-s of imports")
    for name, seconds in figures["heaviest"]:
        print(f"      {name:<40}  {seconds:6.2f} s cumulative, imported directly by this project")
    print(f"  TensorFlow (import_tensorflow)                  {tf_wall:6.2f} s   {tf_cpu:.2f} CPU-s; paid by each "
          "process that fits a network")
    print(f"  loky pool of {jobs}, one feature-bank import each   {pool_wall:6.2f} s   against {local_wall:.2f} s in "
          f"the parent ({pool_wall - local_wall:+.2f} s for the workers)")
    shared, own = figures["fits_pool_shared_s"], figures["fits_pool_own_s"]
    print(f"  fits after extraction, the same pool            {shared:6.2f} s   against {own:.2f} s on a pool of "
          f"their own ({own - shared:+.2f} s saved)")
    print(f"  numba warm-up, empty cache, librosa's eager     {eager_wall:6.2f} s   {eager_cpu:.2f} CPU-s "
          "(SER_NUMBA_EAGER=1)")
    print(f"  numba warm-up, empty cache, unused deferred     {cold_wall:6.2f} s   {cold_cpu:.2f} CPU-s: "
          f"{eager_cpu / max(cold_cpu, 1e-9):.1f}x less CPU")
    print(f"  numba warm-up, the cache it left                {warm_wall:6.2f} s   {warm_cpu:.2f} CPU-s: "
          f"compilation {cold_cpu - warm_cpu:.2f} CPU-s, {cold_cpu / max(warm_cpu, 1e-9):.1f}x the cached warm-up")
    return figures
