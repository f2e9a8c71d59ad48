"""The machine figure every timing is quoted with: the float32 matrix-product rate numpy reaches here.

Timings differ between machines by 2-3x; a reader scales a published figure by the ratio of their machine's rate
to the one printed beside it. The README's and the docs' cold figures give this number, and every ``perf``
command prints it first, measured the same way:

    python run_benchmark.py perf --machine

A 2048 x 2048 float32 product (about 17 GFLOP) with ``threads`` BLAS threads, the best of ``repeats``; the best
rather than the mean, because a busy machine only ever makes a product slower. On a machine shared with other
work it reads low, which is itself worth printing beside a timing.
"""

from __future__ import annotations

import os
import time


def cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def matmul_rate(threads: int | None = None, size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of a ``size`` x ``size`` float32 matrix product in numpy with ``threads`` BLAS threads.

    Parameters
    ----------
    threads : BLAS threads (default: every core this process may use).
    size : the matrices' side.
    repeats : timed products; the fastest counts (one untimed product first).

    Returns
    -------
    float
        ``2 * size**3`` floating-point operations over the fastest product's wall seconds, in units of 1e9.

    Examples
    --------
    >>> matmul_rate(threads=1, size=256, repeats=2) > 0
    True
    """
    import numpy as np
    from threadpoolctl import threadpool_limits

    if size < 1 or repeats < 1:
        raise ValueError(f"matmul_rate: size and repeats must be positive (got {size}, {repeats})")
    threads = threads or cores()
    rng = np.random.default_rng(1)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    best = float("inf")
    with threadpool_limits(limits=max(1, int(threads)), user_api="blas"):
        a @ b  # the first product pays for the threads' start and the pages' first touch
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / max(best, 1e-9) / 1e9


def machine_line(threads: int | None = None) -> str:
    """One line for the top of a timing report: the matmul rate and the threads it was measured with."""
    n = threads or cores()
    rate = matmul_rate(n)
    return (f"machine: float32 matmul 2048^3 {rate:.0f} GFLOP/s with {n} thread(s) (numpy, best of 5); "
            "scale the timings below by your machine's figure (perf --machine)")
