"""Planning a run: every entry (a model on an input under a protocol) and every fit, known before any runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from features import GROUPS, get_feature_set, resolve
from features.errors import UserInputError
from models.registry import get_model

RANK_PROTOCOLS = ("speaker", "speaker+text", "stratified")
CORPUS_NORM = "@corpus-norm"  # marks an input z-normalised per corpus, in every table


@dataclass(frozen=True)
class InputSpec:
    """A model input: the vector bank of some sets side by side, or one sequence set (NaN-padded frames)."""

    name: str
    kind: str  # "vector" or "sequence"
    sets: tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    """One row of a table to fill: a model on an input under a protocol."""

    table: str  # "leaderboard" or "ablation"
    features: str  # the input's name
    model: str
    protocol: str
    speaker_norm: bool


def vector_label(sets: Sequence[str]) -> str:
    for group, members in GROUPS.items():
        if tuple(sets) == tuple(members):
            return group
    return "+".join(sets)


def input_for(model: str, vector_sets: Sequence[str], overrides: dict[str, str]) -> InputSpec:
    """The input ``model`` takes: ``--input MODEL=SET`` if given, else its declared default, else the bank."""
    spec = get_model(model)
    name = overrides.get(model, spec.default_input)
    if name is None:
        return InputSpec(vector_label(vector_sets), "vector", tuple(vector_sets))
    if name in GROUPS or get_feature_set(name).kind == "vector":
        if spec.input_kind == "sequence":
            raise UserInputError(f"--input {model}={name}: {model} takes a sequence set (frames), {name!r} is a "
                                 "vector set")
        sets = tuple(resolve(name))
        return InputSpec(vector_label(sets), "vector", sets)
    if spec.input_kind != "sequence":
        raise UserInputError(f"--input {model}={name}: {model} takes feature vectors, {name!r} is a sequence set")
    return InputSpec(name, "sequence", (name,))


def plan_entries(models: Sequence[str], protocols: Sequence[str], inputs: dict[str, InputSpec],
                 speaker_norm: bool, corpus_norm: bool = False) -> list[Entry]:
    """The leaderboard's entries; normalised variants get rows of their own (``spk-norm``, ``@corpus-norm``)."""
    variants = [("", False)] + ([("", True)] if speaker_norm else []) + (
        [(CORPUS_NORM, False)] if corpus_norm else [])
    entries = []
    for suffix, norm in variants:
        for model in models:
            entries += [Entry("leaderboard", inputs[model].name + suffix, model, p, norm) for p in protocols]
    return entries


def plan_ablation(models: Sequence[str], protocols: Sequence[str], vector_sets: Sequence[str],
                  inputs: dict[str, InputSpec]) -> tuple[list[Entry], list[InputSpec]]:
    """Each feature group alone and all together, for the fast (classical, vector-bank) models."""
    bank = vector_label(vector_sets)
    fast = [m for m in models if not get_model(m).neural and inputs[m].name == bank]
    if len(vector_sets) < 2 or not fast:
        return [], []
    protocol = next((p for p in RANK_PROTOCOLS if p in protocols), protocols[0])
    groups = [InputSpec(s, "vector", (s,)) for s in vector_sets] + [InputSpec(bank, "vector", tuple(vector_sets))]
    if bank == "all" and "classic" in GROUPS:  # the design card's groups, each alone and together, beside it
        classic = GROUPS["classic"]
        groups += [InputSpec(s, "vector", (s,)) for s in classic] + [InputSpec("classic", "vector", tuple(classic))]
    return [Entry("ablation", g.name, m, protocol, False) for m in fast for g in groups], groups


def fit_cost(model: str, kind: str) -> float:
    """A rough relative cost, to start the longest fits first (the order never changes a result)."""
    spec = get_model(model)
    if spec.neural:
        return 20.0 if kind == "sequence" else 4.0
    return 2.0 if model == "xgboost" else 1.0
