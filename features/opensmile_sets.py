"""Optional reference sets from openSMILE: ``egemaps`` (eGeMAPSv02, 88) and ``compare`` (ComParE_2016, 6373).

They need the ``opensmile`` Python package, an optional extra (``pip install ".[opensmile]"``). openSMILE is
distributed by audEERING under a licence that allows research and education but forbids commercial use, so
these sets are never part of a default; the bank's own sets are licence-free. The package's version is part
of each set's cache key (folded into the set's version number), so upgrading openSMILE recomputes them.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from functools import lru_cache

import numpy as np

from .registry import FeatureError, feature_set

INSTALL_HINT = 'pip install ".[opensmile]"'
LICENCE = "openSMILE licence (audEERING): research and education only, no commercial use"
OPENSMILE_SETS = {"egemaps": "eGeMAPSv02", "compare": "ComParE_2016"}
SET_REVISION = 1


def _opensmile():
    """The ``opensmile`` module, or a one-line FeatureError saying how to install it."""
    try:
        return importlib.import_module("opensmile")
    except ImportError:
        raise FeatureError(f"feature sets {', '.join(OPENSMILE_SETS)} need openSMILE: {INSTALL_HINT}") from None


def opensmile_version() -> str | None:
    """The installed package's version, read from its metadata (no import), or None."""
    try:
        return importlib.metadata.version("opensmile")
    except importlib.metadata.PackageNotFoundError:
        return None


def require(names) -> None:
    """Raise a one-line FeatureError when any of ``names`` is an openSMILE set and the extra is missing."""
    wanted = [n for n in names if n in OPENSMILE_SETS]
    if wanted:
        _opensmile()


def _version_number() -> int:
    """SET_REVISION and the openSMILE package version folded into one int: 1 and 2.6.0 -> 1_002_006_000."""
    version = opensmile_version()
    parts = [int(p) for p in (version or "0").split(".")[:3] if p.isdigit()] + [0, 0, 0]
    return SET_REVISION * 1_000_000_000 + parts[0] * 1_000_000 + parts[1] * 1_000 + parts[2]


@lru_cache(maxsize=4)
def _smile(set_name: str):
    opensmile = _opensmile()
    return opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, set_name),
                           feature_level=opensmile.FeatureLevel.Functionals, num_workers=1)


def opensmile_functionals(y: np.ndarray, sr: int, set_name: str) -> tuple[np.ndarray, list[str]]:
    """openSMILE functionals of one waveform: (values, openSMILE's column names).

    openSMILE's native library crashes (a segmentation fault) in a process that has loaded TensorFlow, so there
    it runs in a helper process of its own that never does.
    """
    if "tensorflow" in sys.modules:
        _opensmile()  # a missing extra is said here, in one line, not by the helper process
        return _isolated().submit(_functionals, np.asarray(y, dtype=np.float32), sr, set_name).result()
    return _functionals(y, sr, set_name)


@lru_cache(maxsize=1)
def _isolated():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))


def _functionals(y: np.ndarray, sr: int, set_name: str) -> tuple[np.ndarray, list[str]]:
    smile = _smile(set_name)
    frame = smile.process_signal(np.asarray(y, dtype=np.float32), sr)
    return frame.to_numpy(dtype=np.float64)[0], [str(c) for c in frame.columns]


_VERSION = _version_number()


@feature_set("egemaps", version=_VERSION, uses=("sr",), _builtin=True,
             description=f"openSMILE eGeMAPSv02, 88 functionals (optional extra; {LICENCE})")
def egemaps(clip):
    values, names = opensmile_functionals(clip.y, clip.sr, OPENSMILE_SETS["egemaps"])
    return values, [f"egemaps_{n}" for n in names]


@feature_set("compare", version=_VERSION, uses=("sr",), _builtin=True,
             description=f"openSMILE ComParE_2016, 6373 functionals (optional extra; {LICENCE})")
def compare(clip):
    values, names = opensmile_functionals(clip.y, clip.sr, OPENSMILE_SETS["compare"])
    return values, [f"compare_{n}" for n in names]
