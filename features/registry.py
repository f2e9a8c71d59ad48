"""The feature-set registry: built-in sets and the ones users add with ``@feature_set``."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from numbers import Real

import numpy as np

from .config import AnalysisConfig
from .errors import UserInputError
from .registries import Registry


class FeatureError(UserInputError):
    """A feature-set name or result that cannot be used; a user error with a one-line message."""


@dataclass(frozen=True)
class FeatureSet:
    name: str
    func: Callable
    version: int
    kind: str  # "vector": fixed-length per clip; "sequence": (frames, dims) per clip
    uses: tuple[str, ...] | None  # config fields the set depends on; None: all of them
    columns: tuple[str, ...] | None
    description: str
    builtin: bool
    identity: str = ""  # what else decides the numbers (e.g. a model's weights digest); part of the key
    in_process: bool = False  # holds a model in memory: computed in the extracting process, never in a worker

    def key(self, config: AnalysisConfig, library_versions: dict[str, str]) -> str:
        """Identity of this set's numbers: name, version, code, settings and library versions."""
        return _set_key(self, config, tuple(sorted(library_versions.items())))


@lru_cache(maxsize=256)
def _set_key(self: FeatureSet, config: AnalysisConfig, library_versions: tuple) -> str:
    payload = {"name": self.name, "version": self.version, "kind": self.kind, "source": _source_digest(self.func),
               "helpers": _helpers_digest() if self.builtin else "", "config": config.subset(self.uses),
               "libraries": library_versions}
    if self.identity:  # only when set, so that every other set keeps its cache key
        payload["identity"] = self.identity
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


# Modules of this package that change no clean feature: the cache and the registry, the encoders' sets (they
# carry their own identity), the worker pool and numba's deferred kernels, and the code that makes degraded
# and augmented copies, whose caches hash those modules themselves (``module_digest``). Editing one of them
# must not make every user recompute the bank.
NOT_FEATURE_CODE = frozenset({
    "bank.py", "cache.py", "plugins.py", "registry.py", "registries.py", "errors.py", "__init__.py", "ssl.py",
    "pool.py", "lazy_kernels.py", "degrade.py", "augment.py", "robust.py",
})


@cache
def _helpers_digest() -> str:
    """The built-in sets' numbers also depend on the shared analysis and descriptor modules: their source."""
    from pathlib import Path

    return module_digest(*sorted(p.name for p in Path(__file__).parent.glob("*.py")
                                 if p.name not in NOT_FEATURE_CODE))


@cache
def module_digest(*names: str) -> str:
    """A digest of the source of these modules of :mod:`features` (file names, such as ``"degrade.py"``): what
    keys a cache whose entries that code makes."""
    from pathlib import Path

    h = hashlib.sha256()
    for name in names:
        h.update(name.encode() + b"\0" + (Path(__file__).parent / name).read_bytes())
    return h.hexdigest()


@cache
def _source_digest(func: Callable) -> str:
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):  # defined where no source is kept (e.g. an interactive session)
        source = getattr(func, "__qualname__", repr(func))
    return hashlib.sha256(source.encode()).hexdigest()


GROUPS: dict[str, tuple[str, ...]] = {}  # a group's name -> the vector sets it stands for ("all", "classic", ...)
REGISTRY: Registry[FeatureSet] = Registry("feature set", FeatureError, choices=lambda: available())


def feature_set(name: str, version: int = 1, *, columns: Sequence[str] | None = None, kind: str = "vector",
                uses: Sequence[str] | None = None, description: str = "", replace: bool = False,
                _builtin: bool = False, identity: str = "", in_process: bool = False) -> Callable:
    """Register a feature set: a function of the shared :class:`~features.analysis.Clip`.

    The function returns a dict name -> float, a pandas Series, or a 1-D array (named by ``columns``, or
    ``NAME_0, NAME_1, ...``). Bump ``version`` when its numbers change; its source code is part of the
    cache key too, so an edited function is never served stale numbers.

    Examples
    --------
    >>> @feature_set("loudness", version=1)
    ... def loudness(clip):
    ...     return {"peak": float(abs(clip.y).max())}
    """
    if not name or not all(ch.isalnum() or ch in "_-" for ch in name):
        raise FeatureError(f"feature-set name {name!r}: use letters, digits, '_' or '-'")
    if kind not in ("vector", "sequence"):
        raise FeatureError(f"feature set {name!r}: kind must be 'vector' or 'sequence'")

    def register(func: Callable) -> Callable:
        same_function = name in REGISTRY and _same_code(REGISTRY[name].func, func)
        REGISTRY.register(name, FeatureSet(name, func, int(version), kind, tuple(uses) if uses is not None else None,
                                           tuple(columns) if columns is not None else None, description,
                                           _builtin, identity, in_process), replace=replace or same_function)
        return func

    return register


def _same_code(a: Callable, b: Callable) -> bool:
    # A plugin file loaded twice (e.g. in the parent and again in a worker) registers equal functions.
    code_a, code_b = getattr(a, "__code__", None), getattr(b, "__code__", None)
    return (code_a is not None and code_b is not None and a.__qualname__ == b.__qualname__
            and code_a.co_code == code_b.co_code)


def get_feature_set(name: str) -> FeatureSet:
    """The registered set ``name``.

    Raises
    ------
    FeatureError
        No such set; the message lists the sets and groups there are.
    """
    return REGISTRY.get(name)


def available(kind: str | None = None) -> list[str]:
    """The registered sets' names (of one ``kind``, if given), then the groups (vector sets only)."""
    names = [n for n, s in REGISTRY.items() if kind is None or s.kind == kind]
    return names + ([g for g in GROUPS] if kind in (None, "vector") else [])


def resolve(spec: str | Sequence[str]) -> list[str]:
    """``"all"`` or ``"mfcc,chroma"`` -> registered vector-set names, groups expanded, order kept."""
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [str(s).strip() for s in spec]
    names: list[str] = []
    for item in filter(None, items):
        for name in GROUPS.get(item, (item,)):
            fs = get_feature_set(name)
            if fs.kind != "vector":
                raise FeatureError(f"feature set {name!r} is a sequence set; sequence models take it with "
                                   f"--input MODEL={name} (extract: --sequences {name})")
            if name not in names:
                names.append(name)
    if not names:
        raise FeatureError("no feature set named; e.g. --features all or --features mfcc,chroma")
    return names


def as_vector(result: object, fs: FeatureSet) -> tuple[np.ndarray, list[str]]:
    """Normalise what a vector set returned into (values, column names).

    Accepted: a dict name -> number, a pandas Series of numbers, a 1-D array or list of numbers (named by the
    set's ``columns``, or ``NAME_0, NAME_1, ...``), or a pair (1-D values, names).

    Raises
    ------
    FeatureError
        Anything else, in one line naming the set and what it returned (a string, None, a dict with a
        non-numeric value, a 2-D array, a ragged nested list ...), so the file fails with a reason, not a
        traceback.
    """
    def refuse(what: str) -> FeatureError:
        return FeatureError(f"feature set {fs.name!r} returned {what}; a vector set returns a dict name -> number, "
                            "a pandas Series or a 1-D array of numbers")

    if result is None or isinstance(result, str | bytes):
        raise refuse(_describe(result))
    if isinstance(result, tuple) and len(result) == 2 and not np.isscalar(result[0]):
        if isinstance(result[1], str | bytes) or not _is_sized(result[1]):
            raise refuse(f"a pair (values, names) whose names are {_describe(result[1])}")
        values = _numbers(result[0], fs, refuse)
        names = [str(n) for n in result[1]]
    elif isinstance(result, dict):
        names = [str(k) for k in result]
        for key, value in result.items():
            if not _is_number(value):
                raise refuse(f"a dict whose value for {str(key)!r} is {_describe(value)}")
        values = np.asarray([float(v) for v in result.values()], dtype=np.float64)
    elif hasattr(result, "index") and hasattr(result, "to_numpy"):  # pandas Series (a DataFrame is 2-D: refused)
        values = _numbers(result.to_numpy(), fs, refuse)
        names = [str(k) for k in result.index]
    else:
        values = _numbers(result, fs, refuse)
        names = list(fs.columns) if fs.columns is not None else [f"{fs.name}_{i}" for i in range(values.size)]
    if values.size == 0:
        raise refuse("no values")
    if len(names) != values.size:
        raise FeatureError(f"feature set {fs.name!r} returned {values.size} values for {len(names)} names")
    if not fs.builtin:  # user columns are prefixed with the set's name, so two sets never collide
        names = [n if n.startswith(f"{fs.name}_") else f"{fs.name}_{n}" for n in names]
    return values, names


def as_sequence(result: object, fs: FeatureSet) -> np.ndarray:
    """What a sequence set returned as a float (frames, dims) array with at least one frame.

    Raises
    ------
    FeatureError
        Anything else, in one line naming the set and what it returned.
    """
    def refuse(what: str) -> FeatureError:
        return FeatureError(f"feature set {fs.name!r} returned {what}; a sequence set returns a (frames, dims) "
                            "array of numbers")

    if result is None or isinstance(result, str | bytes | dict):
        raise refuse(_describe(result))
    values = _array(result, refuse)
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise refuse(f"an array of shape {values.shape}")
    return values


def _numbers(result: object, fs: FeatureSet, refuse: Callable[[str], FeatureError]) -> np.ndarray:
    values = _array(result, refuse)
    if values.ndim != 1:
        raise refuse(f"an array of shape {values.shape}" if values.ndim else _describe(result))
    return values


def _array(result: object, refuse: Callable[[str], FeatureError]) -> np.ndarray:
    """``result`` as a float64 array, or a refusal saying what it is (strings, ragged lists, other objects)."""
    if isinstance(result, np.ndarray) and result.dtype.kind in "biuf":
        return result.astype(np.float64, copy=False)
    try:
        raw = np.asarray(result)
    except ValueError:  # numpy refuses ragged nested lists
        raise refuse(f"{_describe(result)} of unequal lengths (a ragged nested list)") from None
    if raw.dtype.kind in "biuf":
        return raw.astype(np.float64)
    if raw.dtype.kind == "O" and raw.ndim:  # e.g. a list mixing numbers with None or other objects
        bad = [v for v in raw.ravel().tolist() if not _is_number(v)]
        if not bad:
            return raw.astype(np.float64)
        raise refuse(f"{_describe(result)} holding {_describe(bad[0])}")
    kind = {"c": " (complex numbers)", "U": " (strings)", "S": " (strings)"}.get(raw.dtype.kind, "")
    raise refuse(_describe(result) + kind)


def _is_number(value: object) -> bool:
    if isinstance(value, np.ndarray):
        return value.ndim == 0 and value.dtype.kind in "biuf"
    return isinstance(value, Real | np.bool_)


def _is_sized(value: object) -> bool:
    if isinstance(value, np.ndarray):
        return value.ndim == 1
    return hasattr(value, "__len__") and hasattr(value, "__iter__")


def _describe(value: object, limit: int = 40) -> str:
    """A few words on a value for a message: its type and, for short things, its text."""
    if value is None:
        return "None"
    if isinstance(value, str | bytes):
        text = repr(value)
        return f"a {type(value).__name__} {text if len(text) <= limit else text[:limit] + '...'}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, dict):
        return f"a dict of {len(value)} item(s)"
    if isinstance(value, list | tuple):
        inner = {type(v).__name__ for v in value}
        return f"a {type(value).__name__} of {len(value)} {'/'.join(sorted(inner)) or 'item'}(s)"
    name = type(value).__name__
    text = repr(value)
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}" + (f" {text}" if len(text) <= limit and "\n" not in text
                                                              and " at 0x" not in text else "")
