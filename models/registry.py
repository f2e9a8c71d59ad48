"""The model registry: names to factories, so the runner and users pick models with ``--models``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass


class ModelError(ValueError):
    """An unknown or misregistered model: a user error with a one-line message."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: Callable
    input_kind: str  # "vector" or "sequence"
    description: str
    neural: bool


MODELS: dict[str, ModelSpec] = {}


def register_model(name: str, factory: Callable | None = None, *, input_kind: str = "vector",
                   description: str = "", neural: bool = False, replace: bool = False):
    """Register ``factory(random_state=..., n_jobs=..., **params)`` under ``name``; usable as a decorator.

    The factory may accept any subset of ``random_state`` and ``n_jobs``; it returns an unfitted estimator
    with ``fit(X, y)`` (optionally ``groups=``) and ``predict``, ideally ``predict_proba``.
    """
    if input_kind not in ("vector", "sequence"):
        raise ModelError(f"model {name!r}: input_kind must be 'vector' or 'sequence'")

    def register(func: Callable) -> Callable:
        if name in MODELS and not replace and MODELS[name].factory is not func:
            raise ModelError(f"model {name!r} is already registered; pass replace=True to override it")
        MODELS[name] = ModelSpec(name, func, input_kind, description, neural)
        return func

    return register(factory) if factory is not None else register


def make_model(name: str, random_state: int = 0, n_jobs: int = 1, **params):
    """A fresh, unfitted estimator from the registry, seeded and with bounded threads."""
    spec = get_model(name)
    offered = {"random_state": random_state, "n_jobs": n_jobs, **params}
    if _takes_kwargs(spec.factory):
        return spec.factory(**offered)
    accepted = _parameters(spec.factory)
    unknown = [k for k in params if k not in accepted]
    if unknown:
        raise ModelError(f"model {name!r} has no parameter(s) {', '.join(unknown)}")
    return spec.factory(**{k: v for k, v in offered.items() if k in accepted})


def get_model(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; choose from: {', '.join(MODELS)}") from None


def resolve_models(spec: str) -> list[str]:
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise ModelError("no model named; e.g. --models svm,xgboost")
    if names == ["all"]:
        return list(MODELS)
    for name in names:
        get_model(name)
    return list(dict.fromkeys(names))


def _parameters(factory: Callable) -> set[str]:
    try:
        return set(inspect.signature(factory).parameters)
    except (TypeError, ValueError):  # builtins without a signature
        return set()


def _takes_kwargs(factory: Callable) -> bool:
    try:
        return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return False
