"""The one registry pattern (features/registries.py) and the five registries built on it."""

from __future__ import annotations

import pytest

from benchmark.corpora import DATASETS, CorpusError, resolve_dataset_name
from benchmark.evaluation.protocols import (
    CROSS_CORPUS,
    PROTOCOLS,
    SPEAKER_INDEPENDENT,
    ProtocolError,
    resolve_protocols,
)
from features import REGISTRY, FeatureError
from features.errors import UserInputError
from features.registries import Registry
from models import MODELS, ModelError, resolve_models


class ColourError(UserInputError):
    pass


def colours() -> Registry[str]:
    registry: Registry[str] = Registry("colour", ColourError, in_all=lambda hex_: hex_ != "#000")
    for name, hex_ in (("red", "#f00"), ("green", "#0f0"), ("black", "#000")):
        registry.register(name, hex_)
    return registry


def test_register_get_names_and_the_one_unknown_message():
    registry = colours()
    assert registry.get("green") == "#0f0" and registry.names() == ["red", "green", "black"]
    with pytest.raises(ColourError, match=r"^unknown colour 'blue'; choose from: red, green, black$"):
        registry.get("blue")


def test_a_taken_name_needs_replace():
    registry = colours()
    with pytest.raises(ColourError, match="colour 'red' is already registered; pass replace=True"):
        registry.register("red", "#e00")
    assert registry.get("red") == "#f00"  # the refused entry did not land
    registry.replace("red", "#e00")
    assert registry.get("red") == "#e00" and registry.names() == ["red", "green", "black"]  # order kept


def test_resolve_expands_all_without_the_opted_out_entries_and_dedupes_in_order():
    registry = colours()
    assert registry.resolve("all") == ["red", "green"]
    assert registry.resolve(" green, red ,green") == ["green", "red"]
    assert registry.resolve("black,all") == ["black", "red", "green"]
    assert registry.resolve(["red", "black"]) == ["red", "black"]
    with pytest.raises(ColourError, match="unknown colour 'blue'"):
        registry.resolve("red,blue")
    with pytest.raises(ColourError, match="pick one"):
        registry.resolve(" , ", empty="pick one")


def test_aliases_and_case():
    registry = Registry("colour", ColourError, aliases={"rouge": "red"})
    registry.register("red", "#f00")
    assert registry.canonical(" Rouge ") == "red" and registry.canonical("RED") == "red"
    with pytest.raises(ColourError, match="unknown colour 'Bleu'"):
        registry.canonical("Bleu")


@pytest.mark.parametrize("registry, error, kind", [
    (REGISTRY, FeatureError, "feature set"), (MODELS, ModelError, "model"), (DATASETS, CorpusError, "dataset"),
    (PROTOCOLS, ProtocolError, "protocol"),
])
def test_the_registries_share_the_pattern_and_its_message(registry, error, kind):
    assert isinstance(registry, Registry) and registry.kind == kind
    with pytest.raises(error, match=f"^unknown {kind} 'no-such-name'; choose from: "):
        registry.get("no-such-name")


def test_models_all_leaves_out_the_seed_replications_and_the_heads():
    chosen = resolve_models("all")
    assert "svm" in chosen and "dnn" in chosen
    assert not any(MODELS[name].family != "model" for name in chosen)
    assert MODELS["ssl_head"].family == "head" and MODELS["seed000_lstm"].family == "seed"
    assert set(MODELS) - set(chosen) == {n for n, spec in MODELS.items() if spec.family in ("seed", "head")}


def test_each_dataset_carries_how_it_loads():
    for name, spec in DATASETS.items():
        assert (spec.parser is None) != (spec.load is None), name  # a name parser or a loader, never both
    assert ".mp4" in DATASETS["ravdess"].extensions and ".mp4" not in DATASETS["emodb"].extensions
    assert DATASETS["manifest"].accepts_file and not DATASETS["emodb"].accepts_file
    assert resolve_dataset_name("CREMA-D") == "cremad" and resolve_dataset_name("msp-podcast") == "msppodcast"


def test_each_protocol_carries_its_fold_maker_and_its_kind():
    assert all(callable(p.folds) for p in PROTOCOLS.values())
    assert CROSS_CORPUS == ("cross-corpus", "leave-one-corpus-out")
    assert SPEAKER_INDEPENDENT == ("speaker", "speaker+text", "cross-corpus", "leave-one-corpus-out")
    assert resolve_protocols("all") == ["stratified", "holdout", "speaker", "speaker+text"]
    with pytest.raises(ProtocolError, match="unknown protocol 'random'"):
        resolve_protocols("speaker,random")
