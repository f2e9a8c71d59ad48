"""Backends: where fits run. ``serial`` in this process, ``processes`` side by side on this machine (loky), ``dask``
on a dask.distributed cluster. Results never depend on the backend: a fit depends on its arguments alone.

Every backend streams finished fits to ``on_done`` as they come, so the caller caches each one at once. A worker
that dies (killed, out of memory) costs its fit, which is retried once on its own and then recorded as failed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from features.pool import init_worker, shared_pool, shutdown_pool, worker_environment

from .fitting import FitRecord, FitSpec, run_fit

WORKER_DIED = "worker died twice (killed, or out of memory)"


@dataclass(frozen=True)
class Job:
    """A planned fit: which model on which input, and the fold's rows."""

    key: str
    spec: FitSpec
    input_name: str
    train: np.ndarray
    test: np.ndarray
    dev: np.ndarray | None
    cost: float = 1.0  # rough relative cost, for scheduling the longest first
    extras: tuple[str, ...] = ()  # further inputs whose test rows the fitted model predicts (robustness)


OnDone = Callable[[Job, FitRecord], None]


def thread_budget(jobs: int, backend: str, n_jobs_to_run: int) -> tuple[int, int]:
    """(fits side by side, threads per fit): never more than the cores given.

    Every fit runs on one thread, whatever the backend: XGBoost's and TensorFlow's float sums depend on their
    thread count, and one thread per fit is what makes a serial, a local and a Dask run give identical results.
    The cores go to fits side by side instead, which on small models scales better than threads within one fit.
    """
    if backend == "serial" or n_jobs_to_run <= 1:
        return 1, 1
    return max(1, min(jobs, n_jobs_to_run)), 1


def thread_environment(threads: int) -> dict[str, str]:
    """What every worker process is started with: BLAS, OpenMP and TensorFlow threads from the budget."""
    return worker_environment(threads)


def run_serial(jobs: Sequence[Job], inputs: dict[str, np.ndarray], y, groups, on_done: OnDone,
               fit: Callable = run_fit) -> None:
    """Fits one after another in this process. ``fit`` is the unit of work, :func:`run_fit` or one with its
    signature (the dimensional task's regression fit)."""
    for job in jobs:
        on_done(job, fit(job.spec, inputs[job.input_name], y, groups, job.train, job.test, job.dev,
                         tuple(inputs[e] for e in job.extras)))


def run_processes(jobs: Sequence[Job], inputs: dict[str, np.ndarray], y, groups, on_done: OnDone,
                  parallel: int, threads: int, fit: Callable = run_fit) -> None:
    """Fits side by side in ``parallel`` worker processes; inputs are shared as memory-mapped ``.npy`` files.
    ``fit`` (importable at module level, as workers unpickle it by name) is :func:`run_fit` or one like it."""
    from joblib.externals.loky import ProcessPoolExecutor
    from joblib.externals.loky.process_executor import BrokenProcessPool

    with tempfile.TemporaryDirectory(prefix="ser-inputs-") as tmp:
        paths = {}
        for name, array in inputs.items():
            paths[name] = str(Path(tmp) / f"input-{len(paths)}.npy")
            np.save(paths[name], array, allow_pickle=False)
        env = thread_environment(threads)
        queue = list(jobs)
        suspects: list[Job] = []

        def submit(executor, job):
            return executor.submit(fit, job.spec, paths[job.input_name], y, groups, job.train, job.test,
                                   job.dev, tuple(paths[e] for e in job.extras))

        # The run's one pool (features.pool), which extraction started already when it ran in parallel: the
        # same environment and initializer, so loky hands back its running workers instead of starting others.
        while queue:
            executor = shared_pool(parallel, threads)
            running = {}
            try:
                while queue or running:
                    while queue and len(running) < parallel:
                        job = queue.pop(0)
                        running[submit(executor, job)] = job
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in done:
                        record = future.result()  # raises if the pool broke; the job stays a suspect
                        on_done(running.pop(future), record)
            except BrokenProcessPool:
                suspects += list(running.values())  # one of these killed its worker
            except BaseException:  # interrupted: the fits still running are stopped with their workers
                shutdown_pool(kill_workers=True)
                raise
            for job in suspects:  # retried alone, in a pool of its own, so a second death names the culprit
                lone = ProcessPoolExecutor(max_workers=1, env=env, initializer=init_worker)
                try:
                    on_done(job, submit(lone, job).result())
                except BrokenProcessPool:
                    on_done(job, FitRecord("failed", WORKER_DIED))
                finally:
                    lone.shutdown(wait=True, kill_workers=True)
            suspects = []


keep_workers_alive = init_worker  # the initializer of every worker (features.pool.init_worker)


def run_dask(jobs: Sequence[Job], inputs: dict[str, np.ndarray], y, groups, on_done: OnDone, client,
             fit: Callable = run_fit) -> None:
    """Fits as dask.distributed tasks; inputs are scattered once to every worker; ``fit`` as for
    :func:`run_processes`."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    shared = {name: client.scatter(array, broadcast=True) for name, array in inputs.items()}
    y_f, groups_f = client.scatter(y, broadcast=True), client.scatter(groups, broadcast=True)
    futures = {}
    for job in jobs:
        future = client.submit(fit, job.spec, shared[job.input_name], y_f, groups_f, job.train, job.test,
                               job.dev, tuple(shared[e] for e in job.extras), key=f"fit-{job.key}", pure=False)
        futures[future] = job
    for future in as_completed(list(futures)):
        job = futures[future]
        try:
            record = future.result()
        except KilledWorker:
            record = FitRecord("failed", WORKER_DIED)
        on_done(job, record)
        future.release()


class DaskSession:
    """A client on an existing scheduler (``address``) or on a local cluster started here and closed after."""

    def __init__(self, address: str | None, workers: int, threads: int):
        import dask
        from distributed import Client, LocalCluster

        self.cluster = None
        if address:
            from .config import ConfigError

            try:
                self.client = Client(address, timeout="10s")
            except (OSError, ValueError, TypeError) as error:
                raise ConfigError(f"--scheduler {address}: cannot connect ({error})") from None
            if any(n > 1 for n in self.client.nthreads().values()):
                self.client.close()
                # fits set process-wide state (seeds, Keras session, thread limits): one at a time per process
                raise ConfigError(f"--scheduler {address}: every worker must run one thread (dask worker "
                                  "--nthreads 1), so that fits never share a process at the same time")
        else:
            env = thread_environment(threads)
            with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                                  "distributed.nanny.pre-spawn-environ": env,
                                  "distributed.worker.daemon": False}):
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=40)
                self.client = Client(self.cluster)
        self.address = self.client.scheduler.address

    def workers(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> DaskSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def default_backend(jobs: int) -> str:
    return "processes" if jobs > 1 and (os.cpu_count() or 1) > 1 else "serial"
