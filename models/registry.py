"""The model registry: names to factories, so the runner and users pick models with ``--models``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from features.errors import UserInputError
from features.registries import Registry


class ModelError(UserInputError):
    """An unknown or misregistered model: a user error with a one-line message."""


class ModelFactoryError(RuntimeError):
    """A model factory that raised: a bug in the factory (exit 1, traceback kept), not the user's mistake."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    factory: Callable
    input_kind: str  # "vector" or "sequence"
    description: str
    neural: bool
    default_input: str | None = None  # a feature set's name; None: the vector bank chosen with --features
    seed_free: bool = False  # its predictions do not depend on the training seed: fitted once per fold, not per repeat
    # "model": picked by name or by "all"; "seed": a reference system's replication (the `seeds` command runs
    # those); "head": a head meant for one kind of input (ssl_head). Only "model" entries are in "all".
    family: str = "model"

    @property
    def in_all(self) -> bool:
        """Whether ``--models all`` includes this model."""
        return self.family == "model"


MODELS: Registry[ModelSpec] = Registry("model", ModelError, in_all=lambda spec: spec.in_all)
FAMILIES = ("model", "seed", "head")


def register_model(name: str, factory: Callable | None = None, *, input_kind: str = "vector",
                   description: str = "", neural: bool = False, default_input: str | None = None,
                   replace: bool = False, seed_free: bool = False, family: str = "model"):
    """Register ``factory(random_state=..., n_jobs=..., **params)`` under ``name``; usable as a decorator.

    The factory may accept any subset of ``random_state`` and ``n_jobs``; it returns an unfitted estimator
    with ``fit(X, y)`` (optionally ``groups=``) and ``predict``, ideally ``predict_proba``. ``default_input``
    names the feature set the model takes unless ``--input MODEL=SET`` says otherwise (``None``: the vector
    bank); a sequence model without one takes ``mfcc_frames``. ``seed_free`` declares that the model's
    predictions do not depend on ``random_state`` on a fixed input: under ``--repeats`` it is fitted once per
    fold (with the run's ``--seed``) and its seed spread is 0 by construction. ``family`` is ``"model"``
    (the default: included in ``--models all``), ``"seed"`` (a reference system's replication) or ``"head"``
    (chosen by name only).
    """
    if input_kind == "sequence" and default_input is None:
        default_input = "mfcc_frames"
    if input_kind not in ("vector", "sequence"):
        raise ModelError(f"model {name!r}: input_kind must be 'vector' or 'sequence'")
    if family not in FAMILIES:
        raise ModelError(f"model {name!r}: family must be one of {', '.join(FAMILIES)}")

    def register(func: Callable) -> Callable:
        same = name in MODELS and MODELS[name].factory is func  # a module imported twice registers it again
        MODELS.register(name, ModelSpec(name, func, input_kind, description, neural, default_input, seed_free,
                                        family), replace=replace or same)
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


def check_params(name: str, params: dict) -> None:
    """Refuse unknown parameters and values of the wrong type or out of range, naming both (see
    :mod:`models.validation`: built-in models by their table, a plugin's by its schema or signature)."""
    from .validation import check_value, param_rules

    spec = get_model(name)
    target, open_ended = spec.factory, _takes_kwargs(spec.factory)
    if open_ended:  # a factory of **overrides (the seed recipes): the estimator it builds says what it takes
        try:
            target, open_ended = type(make_model(name)), False
        except UserInputError:  # the factory refused something of the user's: their message, exit 2
            raise
        except Exception as error:  # a factory that cannot even be built with its defaults: its bug, exit 1
            raise ModelFactoryError(f"model {name!r} cannot be built with its defaults: "
                                    f"{type(error).__name__}: {error}") from error
    builtin = getattr(target, "__module__", "").startswith("models.")
    rules = param_rules(target, builtin)
    for key, value in params.items():
        if key not in rules and not open_ended:
            raise ModelError(f"--set {name}.{key}: model {name!r} has no parameter {key!r}; it has "
                             f"{', '.join(sorted(rules))}")
        problem = check_value(name, key, value, rules[key]) if key in rules else None
        if problem:
            raise ModelError(problem)


def get_model(name: str) -> ModelSpec:
    """The registered model ``name``.

    Raises
    ------
    ModelError
        No such model; the message lists the models there are.
    """
    return MODELS.get(name)


def resolve_models(spec: str | list[str] | tuple[str, ...]) -> list[str]:
    """Model names, checked and de-duplicated in order; ``"all"`` expands to every model of the ``"model"``
    family (not the seed systems' replications, which the ``seeds`` command runs, nor the heads)."""
    return MODELS.resolve(spec, empty="no model named; e.g. --models svm,xgboost")


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
