"""librosa's numba kernels that the bank never calls are compiled when first called, not when librosa imports them.

librosa compiles its ``guvectorize`` and ``vectorize`` kernels with explicit signatures when their module is
imported, whether or not they are ever called. In a fresh environment (empty numba cache) that is 14 CPU-s
before the first feature (``perf --startup`` prints the split), and 12 of them go to four kernels that no
built-in feature set calls: ``util._localmax`` (5.0 CPU-s), ``util.__peak_pick`` (3.1), ``util._localmin``
(2.9) and ``core.pitch._pi_wrapper`` (1.3), used by ``localmax``/``localmin``, ``peak_pick`` and ``piptrack``.
The bank asks for none of them (chroma is computed with the configured tuning, never estimated by
``piptrack``). Of the rest, ``core.audio._zc_wrapper`` (2.7 CPU-s, ``zero_crossings``) is no longer called
either: the ``zcr`` set counts crossings with numpy (:func:`features.analysis.zero_crossing_rate`, the same
values); nor are ``util._cabs2`` and ``util._phasor_angles`` (0.7 CPU-s together), which ``abs2`` and
``phasor`` use on complex input only (the bank squares real magnitudes, and builds no constant-Q filters).

:func:`install` makes ``numba.guvectorize`` and ``numba.vectorize`` hand back, for exactly those kernels, a
stand-in that compiles the kernel (with librosa's own signatures and cache) on its first call and then calls
it: the same machine code, so the same results, only later, and never for a run that does not use them. Every
other kernel is compiled as librosa asks. A stand-in compiles under a file lock, so that workers reaching one at once (a plugin that
calls ``piptrack``) do not compile it side by side (numba issue 10128), and the second loads the first's cache.

:func:`arm` (called when :mod:`features.bank` is imported) installs it just before the first of those librosa
modules is imported, so that a command that never reaches librosa's kernels (a warm run) never imports numba.
``SER_NUMBA_EAGER=1`` turns this off (librosa's own behaviour).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

# (module, function name) of the kernels compiled on first call; measured with perf --startup.
DEFERRED = frozenset({
    ("librosa.util.utils", "_localmax"),
    ("librosa.util.utils", "_localmin"),
    ("librosa.util.utils", "__peak_pick"),
    ("librosa.util.utils", "_cabs2"),
    ("librosa.util.utils", "_phasor_angles"),
    ("librosa.core.audio", "_zc_wrapper"),
    ("librosa.core.pitch", "_pi_wrapper"),
})

_installed = False


class DeferredKernel:
    """A ``guvectorize`` or ``vectorize`` kernel compiled on its first call (``decorate(function)`` builds it)."""

    def __init__(self, decorate, function):
        self._decorate, self._function = decorate, function
        self._kernel = None
        self._lock = threading.Lock()
        self.__name__, self.__doc__ = function.__name__, function.__doc__
        self.__module__, self.__wrapped__ = function.__module__, function

    @property
    def compiled(self) -> bool:
        return self._kernel is not None

    def kernel(self):
        """The compiled kernel (compiled now if it is not yet)."""
        if self._kernel is None:
            with self._lock, _file_lock():
                if self._kernel is None:
                    self._kernel = self._decorate(self._function)
        return self._kernel

    def __call__(self, *args, **kwargs):
        return self.kernel()(*args, **kwargs)

    def __getattr__(self, name):  # ufunc attributes (nin, types, ...) of the compiled kernel
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.kernel(), name)


class _file_lock:
    """An exclusive lock shared by every process of this user (a no-op where ``fcntl`` does not exist)."""

    def __enter__(self):
        try:
            import fcntl
        except ImportError:
            self._file = None
            return self
        uid = os.getuid() if hasattr(os, "getuid") else 0
        self._file = open(Path(tempfile.gettempdir()) / f"ser-benchmark-numba-{uid}.lock", "a")  # noqa: SIM115
        fcntl.flock(self._file, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self._file is not None:
            self._file.close()  # closing releases the lock


def install() -> bool:
    """Defer the :data:`DEFERRED` kernels of librosa modules imported from now on; True when installed here.

    A no-op when turned off (``SER_NUMBA_EAGER=1``), when already installed, and for a module already imported
    (its kernels are compiled already).
    """
    global _installed
    if _installed or os.environ.get("SER_NUMBA_EAGER", "") not in ("", "0"):
        return False
    import numba

    numba.guvectorize = _deferring(numba.guvectorize)
    numba.vectorize = _deferring(numba.vectorize)
    _installed = True
    return not any(module in sys.modules for module, _ in DEFERRED)


def _deferring(original):
    """``original`` (numba's ``guvectorize`` or ``vectorize``, called with signatures) that defers the
    :data:`DEFERRED` kernels."""

    def decorator(*args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:  # ``@numba.vectorize`` bare: lazy already
            return original(args[0])
        decorate = original(*args, **kwargs)

        def choose(function):
            if (getattr(function, "__module__", None), getattr(function, "__name__", None)) in DEFERRED:
                return DeferredKernel(decorate, function)
            return decorate(function)

        return choose

    decorator.__wrapped__ = original
    decorator.__doc__ = original.__doc__
    return decorator


class _Trigger:
    """A meta-path finder that finds nothing: it installs the stand-ins just before a module of
    :data:`DEFERRED` is imported (the import then proceeds as usual), and removes itself."""

    def find_spec(self, name, path=None, target=None):
        if name in _MODULES:
            disarm()
            install()
        return None


_MODULES = frozenset(module for module, _ in DEFERRED)
_TRIGGER = _Trigger()


def arm() -> None:
    """Install the stand-ins when librosa first imports a module of :data:`DEFERRED` (at once if numba and one of
    them are imported already: then only the modules not yet imported are affected)."""
    if _installed or os.environ.get("SER_NUMBA_EAGER", "") not in ("", "0"):
        return
    if any(module in sys.modules for module in _MODULES):
        install()
    elif _TRIGGER not in sys.meta_path:
        sys.meta_path.insert(0, _TRIGGER)


def disarm() -> None:
    if _TRIGGER in sys.meta_path:
        sys.meta_path.remove(_TRIGGER)
