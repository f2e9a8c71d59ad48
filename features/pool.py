"""One pool of worker processes for a run: feature extraction and model fits share its workers.

Starting a worker costs an interpreter plus numpy, scipy and the feature bank (seconds each on a loaded
machine), so a run that extracts in parallel and then fits in parallel starts its workers once: both ask
:func:`shared_pool` for loky's process-wide reusable executor with the same environment and initializer, and
loky hands back the running one (it restarts only when those differ, or the pool broke).

Every worker gets the thread environment of :func:`worker_environment`: one BLAS, OpenMP and TensorFlow thread
(a fit runs on one thread whatever the backend, which keeps results identical across backends; extraction
limits itself to one thread anyway). The pool lives in :mod:`features`, the lowest layer, so that the run engine
and the bank can both reach it.
"""

from __future__ import annotations

from concurrent.futures import Future

# A loky worker that is idle this long exits; the next task starts a new one.
IDLE_TIMEOUT_S = 300

_size = 0  # workers asked of the pool that is running (0: none started by this module)
_warm_up: Future | None = None  # the numba warm-up running in a worker, joined before any librosa use here


def worker_environment(threads: int = 1) -> dict[str, str]:
    """What every worker process is started with: BLAS, OpenMP and TensorFlow threads from the budget."""
    value = str(max(1, threads))
    return {"OMP_NUM_THREADS": value, "OPENBLAS_NUM_THREADS": value, "MKL_NUM_THREADS": value,
            "TF_NUM_INTRAOP_THREADS": value, "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    # oneDNN is decided in every process alike by models.neural.training.import_tensorflow (SER_TF_ONEDNN)


def init_worker() -> None:
    """Raise loky's leak guard in a worker: TensorFlow's per-process caches grow past its 300 MB, and a restarted
    worker pays TensorFlow's import again for its next fit (seconds per fit, on every neural fold)."""
    from joblib.externals.loky import process_executor

    process_executor._MAX_MEMORY_LEAK_SIZE = 8 * 10**9


def shared_pool(workers: int, threads: int = 1):
    """The run's worker pool with at least ``workers`` processes (started on first use, then reused).

    A pool already running with more workers is kept as it is: asking for fewer never stops workers that a
    later phase would start again. Workers start in the background; submitting does not wait for them.
    """
    global _size
    from joblib.externals.loky import get_reusable_executor

    size = max(1, workers, _size if pool_alive() else 0)
    executor = get_reusable_executor(max_workers=size, timeout=IDLE_TIMEOUT_S, env=worker_environment(threads),
                                     initializer=init_worker)
    _size = size
    return executor


def pool_alive() -> bool:
    """True when this module's pool is running (its workers need no start-up for the next task)."""
    if _size == 0:
        return False
    from joblib.externals.loky import reusable_executor

    executor = reusable_executor._executor
    return executor is not None and not executor._flags.broken and not executor._flags.shutdown


def worker_pids() -> set[int]:
    """Process ids of the pool's workers (empty when none runs)."""
    if not pool_alive():
        return set()
    from joblib.externals.loky import reusable_executor

    return set(reusable_executor._executor._processes)


def shutdown_pool(kill_workers: bool = False) -> None:
    """Stop the pool; the next :func:`shared_pool` starts a new one.

    Without ``kill_workers`` a warm-up still running is waited for; with it, it is stopped: numba writes each
    cache file to a temporary name and renames it, so a killed compilation leaves no half-written entry.
    """
    global _size, _warm_up
    if kill_workers:
        _warm_up = None
    wait_for_warm_up()
    if pool_alive():
        from joblib.externals.loky import reusable_executor

        reusable_executor._executor.shutdown(wait=True, kill_workers=kill_workers)
    _size = 0


def start_warm_up(function, *args, workers: int = 2) -> None:
    """Run ``function(*args)`` in one worker of the pool, in the background; :func:`wait_for_warm_up` joins it.

    The bank's numba warm-up goes here, so that it compiles while this process does other work (the built-in
    corpus's generation) and the workers start meanwhile. Until it is joined, this process must not use
    librosa: two processes compiling at once can corrupt numba's cache (numba issue 10128).
    """
    global _warm_up
    if _warm_up is not None:
        return
    _warm_up = shared_pool(workers).submit(function, *args)


def warm_up_pending() -> bool:
    return _warm_up is not None


def wait_for_warm_up() -> bool:
    """Join the background warm-up, if one runs; False when its worker died (the pool is then broken, and the
    next :func:`shared_pool` starts a new one). A set that fails on the warm-up's noise does not fail it: every
    set runs, and reports its own failure, on the real files."""
    global _warm_up
    future, _warm_up = _warm_up, None
    if future is None:
        return True
    from joblib.externals.loky.process_executor import BrokenProcessPool

    try:
        future.result()
    except BrokenProcessPool:
        return False
    return True
