"""The machine a run ran on, as far as it can change a number: CPU, instruction sets, BLAS, library versions.

Floating-point sums are not associative: NumPy picks its SIMD kernels (SSE, AVX2, AVX-512) and OpenBLAS its
matrix kernels (by CPU family) at run time, and a kernel's order of accumulation decides the last bits. Two
machines with the same library versions can therefore give slightly different features; ``reproduce`` names
these entries when two runs differ.
"""

from __future__ import annotations

import platform
from pathlib import Path

# The instruction sets that change which SIMD kernels NumPy and the BLAS use (x86 and ARM).
SIMD_FEATURES = ("SSE42", "AVX", "FMA3", "AVX2", "AVX512F", "AVX512_SKX", "AVX512_ICL", "AVX512_SPR",
                 "NEON", "ASIMD", "SVE")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux; ``platform.processor()`` elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "CPU part") and value.strip():
                return value.strip()
    return platform.processor() or platform.machine()


def numpy_simd() -> dict[str, list[str]]:
    """NumPy's SIMD baseline (compiled in), and the dispatched extensions this CPU has and NumPy uses."""
    try:
        from numpy._core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__, __cpu_features__
    except ImportError:  # NumPy < 2
        from numpy.core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__, __cpu_features__
    return {"baseline": list(__cpu_baseline__),
            "dispatched": [f for f in __cpu_dispatch__ if __cpu_features__.get(f)],
            "cpu_has": [f for f in SIMD_FEATURES if __cpu_features__.get(f)]}


def blas_info() -> list[dict]:
    """The BLAS and OpenMP libraries loaded in this process (threadpoolctl): library, version, kernel family
    (``architecture``) and threads."""
    from threadpoolctl import threadpool_info

    keep = ("user_api", "internal_api", "version", "architecture", "threading_layer", "num_threads")
    return [{k: info.get(k) for k in keep} | {"library": Path(info.get("filepath", "")).name}
            for info in threadpool_info()]


def machine_info() -> dict:
    """What run.json records under ``machine``."""
    import numpy  # noqa: F401  (loads the BLAS, so that threadpoolctl sees it)

    return {"cpu": cpu_model(), "machine": platform.machine(), "simd": numpy_simd(), "blas": blas_info()}
