"""Shared fixtures: tiny generated audio trees, an isolated cache, the small built-in corpus."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

EMODB_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def write_tone(path: Path, seconds: float = 0.4, sr: int = 16000, freq: float = 220.0, channels: int = 1,
               fmt: str = "WAV", subtype: str | None = None, seed: int = 0) -> Path:
    """A short tone with a little noise, written in ``fmt`` whatever ``path``'s extension says."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    y = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.normal(size=t.size)
    data = np.stack([y, 0.5 * y], axis=1) if channels == 2 else y
    sf.write(path, data, sr, format=fmt, subtype=subtype)
    return path


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


@pytest.fixture
def emodb_dir() -> Path:
    if not (EMODB_DIR / "wav").is_dir():
        pytest.skip(f"real EmoDB copy not found at {EMODB_DIR}")
    return EMODB_DIR
