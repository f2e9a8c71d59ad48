"""Shared fixtures: tiny generated audio trees, an isolated cache, the small built-in corpus and what the session
builds once from it (its feature cache, a 36-clip manifest, a tiny trained bundle).

Plain helpers live in ``tests/helpers.py``; this file holds fixtures only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import link_cache, write_manifest

EMODB_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own cache unless it asks for the shared one."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("SER_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shared-cache")


@pytest.fixture(scope="session")
def small_corpus_dir(shared_cache) -> Path:
    from benchmark.corpora.synthetic import ensure_synthetic_corpus

    return ensure_synthetic_corpus(cache_dir=shared_cache, seed=0, profile="small", quiet=True)


@pytest.fixture(scope="session")
def shared_features(tmp_path_factory) -> Path:
    """A feature cache for the session's runs on the small corpus (linked in by ``tests.helpers.link_cache``).

    Feature extraction is most of a small run's time; the rows are keyed by file identity and library versions,
    so a run served from here computes exactly what it would have computed. Tests that count extraction, or
    damage a cache, use a cache of their own instead.
    """
    return tmp_path_factory.mktemp("shared-features")


@pytest.fixture
def cache(tmp_path, shared_cache, small_corpus_dir, shared_features) -> Path:
    """This test's cache root for runs on the small corpus: the session's corpus and feature cache linked in, the
    fit cache (what the engine tests count) and degraded features its own."""
    return link_cache(tmp_path / "cache", shared_cache, shared_features)


SPEAKERS = 4
EMOTIONS = ("angry", "happy", "sad")
PER_CELL = 3


@pytest.fixture(scope="session")
def mini(small_corpus_dir, tmp_path_factory) -> Path:
    """A manifest of 4 speakers x 3 emotions x 3 clips (36) of the small built-in corpus; tests only read it."""
    files = sorted(p for p in small_corpus_dir.glob("syn_*.wav"))
    speakers = sorted({p.name.split("_")[1] for p in files})[:SPEAKERS]
    rows = []
    for speaker in speakers:
        for emotion in EMOTIONS:
            cell = [p for p in files if p.name.split("_")[1:3] == [speaker, emotion]][:PER_CELL]
            rows += [(str(p), emotion, speaker) for p in cell]
    assert len(rows) == SPEAKERS * len(EMOTIONS) * PER_CELL
    path = tmp_path_factory.mktemp("mini") / "manifest.csv"
    write_manifest(path, rows)
    return path


@pytest.fixture(scope="module")
def warm(tmp_path_factory) -> Path:
    """A feature and fit cache shared by a module's runs that do not damage it."""
    return tmp_path_factory.mktemp("warm-cache")


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> tuple[Path, Path]:
    """A tone corpus's manifest and an SVM bundle trained on it (with its speaker-CV estimate): (manifest, zip).

    Trained once for the session; tests that change a bundle copy it first.
    """
    from tests.helpers import make_tone_corpus, train_tiny

    root = tmp_path_factory.mktemp("tiny-bundle")
    manifest = make_tone_corpus(root / "corpus")
    bundle = train_tiny(manifest, "svm", evaluate=True, cache_dir=root / "cache")
    return manifest, bundle.save(root / "svm.zip")


@pytest.fixture
def emodb_dir() -> Path:
    if not (EMODB_DIR / "wav").is_dir():
        pytest.skip(f"real EmoDB copy not found at {EMODB_DIR}")
    return EMODB_DIR
