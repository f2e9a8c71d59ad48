"""Validation: the part neural models carve out of their training data for early stopping, and the schemas
every model parameter is checked against before a run decodes any audio."""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedShuffleSplit

MIN_ROWS = 20  # below this, a validation part is too small to stop on; train the full schedule


def validation_split(y: np.ndarray, groups: np.ndarray | None, fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Indices (train, validation) within the training data; validation is ``None`` when not possible.

    With ``groups`` (speaker ids) and at least three of them, validation holds out whole speakers, so that
    early stopping mirrors a speaker-independent test; otherwise a stratified random part.
    """
    n = len(y)
    everything = np.arange(n)
    if fraction <= 0 or n < MIN_ROWS:
        return everything, None
    rng = np.random.default_rng(seed)
    if groups is not None:
        unique = np.unique(groups)
        if len(unique) >= 3:
            order = rng.permutation(unique)
            chosen: list = []
            for group in order[:-2]:  # always leave at least two speakers to train on
                chosen.append(group)
                if np.isin(groups, chosen).sum() >= fraction * n:
                    break
            val = np.flatnonzero(np.isin(groups, chosen))
            return np.setdiff1d(everything, val), val
    counts = np.bincount(y)
    if counts[counts > 0].min() >= 2 and int(round(fraction * n)) >= np.count_nonzero(counts):
        split = StratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        train, val = next(split.split(np.zeros(n), y))
    else:
        val = rng.choice(n, size=max(1, int(round(fraction * n))), replace=False)
        train = np.setdiff1d(everything, val)
    return np.sort(train), np.sort(val)


# ==============================================================================================================
# Parameter schemas: every parameter of every model checked for type and range before any audio is decoded.
#
# A rule is a test and the words the message uses. Built-in models are checked against the table below (by
# parameter name, with overrides per class); a plugin's model against the schema it declares
# (``param_schema = {"alpha": number(low=0)}`` on its factory or class) or, failing that, against what its
# signature says (annotations such as ``int``, ``float | None``, ``Literal["a", "b"]``, or the default's type).


@dataclass(frozen=True)
class Rule:
    """What a parameter's value may be: ``test(value)`` is true for the values allowed, ``says`` describes them."""

    test: Callable[[Any], bool]
    says: str

    def __call__(self, value) -> bool:
        try:
            return bool(self.test(value))
        except (TypeError, ValueError, OverflowError):
            return False


def _is_number(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False, whole: bool = False) -> Rule:
    """A finite number (a whole one with ``whole``) within the bounds given (open or closed)."""

    def test(v) -> bool:
        if not _is_number(v) or not math.isfinite(v):
            return False
        if whole and not isinstance(v, int | np.integer):
            return False
        if low is not None and (v <= low if low_open else v < low):
            return False
        return high is None or (v < high if high_open else v <= high)

    kind = "a whole number" if whole else "a number"
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high:g}")
    return Rule(test, kind + (" " + " and ".join(bounds) if bounds else ""))


def choice(*values) -> Rule:
    """One of ``values`` (``None`` included when listed; written ``none`` on the command line)."""
    return Rule(lambda v: any(v is c if c is None or isinstance(c, bool) else (isinstance(v, str) and v == c)
                              for c in values),
                "one of " + ", ".join("none" if c is None else str(c) for c in values))


def flag() -> Rule:
    return Rule(lambda v: isinstance(v, bool), "true or false")


def text() -> Rule:
    return Rule(lambda v: isinstance(v, str), "a text")


def sizes(min_items: int = 1) -> Rule:
    """A list of layer sizes, each a whole number at least 1."""
    return Rule(lambda v: isinstance(v, list | tuple) and len(v) >= min_items
                and all(number(1, whole=True)(x) for x in v),
                f"a list of {'at least one ' if min_items else ''}whole number(s), each at least 1")


def either(*rules: Rule) -> Rule:
    return Rule(lambda v: any(rule(v) for rule in rules), " or ".join(rule.says for rule in rules))


def optional(rule: Rule) -> Rule:
    return either(choice(None), rule)


def anything() -> Rule:
    return Rule(lambda v: True, "anything")


_PLATEAU = Rule(lambda v: isinstance(v, list | tuple) and len(v) == 3 and number(0, 1, low_open=True,
                high_open=True)(v[0]) and number(0, whole=True)(v[1]) and number(0)(v[2]),
                "[factor in (0, 1), patience >= 0, min_lr >= 0]")
_WHOLE_1 = number(1, whole=True)
_WHOLE_0 = number(0, whole=True)
_FRACTION = number(0, 1, high_open=True)  # [0, 1)
_SHARE = number(0.001, 1)  # [0.001, 1]: xgboost refuses a share that underflows float32
_POSITIVE = number(0, low_open=True)
# liblinear never returns for C near 1e-200 (found by the fuzz); 1e-30 is far below any useful regularisation
_C = number(1e-30)

# Every built-in model's parameters, by name (the same name means the same thing in every built-in model).
BUILTIN_RULES: dict[str, Rule] = {
    "C": _C, "gamma": either(choice("scale", "auto"), _POSITIVE),
    "class_weight": choice("balanced", None), "random_state": _WHOLE_0, "n_jobs": _WHOLE_1,
    "max_iter": _WHOLE_1, "n_estimators": _WHOLE_1, "max_depth": _WHOLE_0,
    # [1e-30, 10]: xgboost refuses rates that overflow float32 or fall below its smallest normal (1.2e-38)
    "learning_rate": number(1e-30, 10),
    "subsample": _SHARE, "colsample_bytree": _SHARE, "balanced": flag(),
    "probability": choice("softmax", "sigmoid"),
    "batch_size": _WHOLE_1, "dropout": _FRACTION, "conv_dropout": _FRACTION, "early_stopping": flag(),
    "hidden": sizes(), "dense": sizes(min_items=0), "filters": sizes(), "jit_compile": flag(),
    "lr_plateau": optional(_PLATEAU), "max_epochs": _WHOLE_1, "patience": _WHOLE_0, "restore_best": flag(),
    "standardise": flag(), "validation_by_group": flag(), "validation_fraction": _FRACTION,
    "verbose": _WHOLE_0, "frame_pool": _WHOLE_1, "length": optional(_WHOLE_1),
    "length_percentile": number(0, 100, low_open=True), "normalise": choice("dim", None), "units": _WHOLE_1,
    "kernel": _WHOLE_1, "pool": _WHOLE_1, "head": choice("mean", "flatten"), "batchnorm": flag(),
    "cell": choice("lstm", "gru"), "channels": _WHOLE_1, "bidirectional": flag(),
    "clip": optional(_POSITIVE), "length_norm": flag(),
}
BUILTIN_OVERRIDES: dict[str, dict[str, Rule]] = {  # per estimator class: what differs from the table above
    "CNNLSTMClassifier": {"normalise": choice("dim", "channel", None)},
}


def rules_from_signature(factory: Callable) -> dict[str, Rule]:
    """A rule per parameter of ``factory``, from its annotation, else its default's type; unknown: anything."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        signature = inspect.signature(target)
        hints = typing.get_type_hints(target)
    except (TypeError, ValueError, NameError):
        try:
            signature, hints = inspect.signature(factory), {}
        except (TypeError, ValueError):
            return {}
    rules = {}
    for name, parameter in signature.parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        default = None if parameter.default is parameter.empty else parameter.default
        rule = _rule_from_annotation(hints.get(name)) if name in hints else None
        rules[name] = rule or _rule_from_default(default)
    return rules


def _rule_from_annotation(annotation) -> Rule | None:
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return flag()
    if annotation is int:
        return number(whole=True)
    if annotation is float:
        return number()
    if annotation is str:
        return text()
    if annotation is type(None):
        return choice(None)
    if origin is typing.Literal:
        return choice(*typing.get_args(annotation))
    if origin in (list, tuple):
        return Rule(lambda v: isinstance(v, list | tuple), "a list")
    if origin in (typing.Union, types.UnionType):
        parts = [_rule_from_annotation(a) for a in typing.get_args(annotation)]
        return None if any(p is None for p in parts) else either(*parts)
    return None


def _rule_from_default(default) -> Rule:
    if isinstance(default, bool):
        return flag()
    if isinstance(default, int):
        return number(whole=True)
    if isinstance(default, float):
        return number()
    if isinstance(default, list | tuple):
        return Rule(lambda v: isinstance(v, list | tuple), "a list")
    return anything()  # a text or None default says nothing about what else is allowed


def param_rules(factory: Callable, builtin: bool) -> dict[str, Rule]:
    """The rules for a model's parameters: declared > built-in table > signature."""
    rules = rules_from_signature(factory)
    if builtin:
        rules.update({k: BUILTIN_RULES[k] for k in rules if k in BUILTIN_RULES})
        rules.update({k: r for k, r in BUILTIN_OVERRIDES.get(getattr(factory, "__name__", ""), {}).items()
                      if k in rules})
    declared = getattr(factory, "param_schema", None)
    if isinstance(declared, dict):
        rules.update({k: r for k, r in declared.items() if isinstance(r, Rule)})
    return rules


def check_value(model: str, key: str, value, rule: Rule) -> str | None:
    """The one-line message refusing ``value`` for ``model.key``, or ``None`` when it is allowed."""
    if rule(value):
        return None
    shown = "none" if value is None else (list(value) if isinstance(value, tuple) else value)
    return f"--set {model}.{key}={shown!r}: must be {rule.says}"
