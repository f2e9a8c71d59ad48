"""Helpers shared by the test modules: generated audio, small corpora, run settings and the checks on a failing
command's output.

Test modules import these from here, never from each other or from ``conftest.py``: a test module imported by
another is collected twice in spirit (its fixtures and constants become the other module's), and moving a test
then breaks an unrelated file. Fixtures stay in ``conftest.py``; plain functions and constants live here.
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------------------------
# Audio


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


# --------------------------------------------------------------------------------------------------------------
# Runs on the small built-in corpus


FAST_XGBOOST = {"xgboost": {"n_estimators": 15, "max_depth": 3}}


def link_cache(cache: Path, shared_cache: Path, shared_features: Path | None = None) -> Path:
    """Make ``cache`` a run's cache root that reuses what the session already built.

    The built-in corpus (``synthetic``) is always linked. With ``shared_features``, so is the feature cache: the
    session extracts each feature set of the small corpus once, while fits (``fits``), degraded features and
    everything a test counts stay in this test's own ``cache``. Feature rows are keyed by the clip's absolute path,
    so sharing them only pays when every run names the clips by one path (see :func:`engine_config`).
    """
    cache.mkdir(parents=True, exist_ok=True)
    links = {"synthetic": shared_cache / "synthetic"}
    if shared_features is not None:
        links["features"] = shared_features
    for name, source in links.items():
        target = cache / name
        if source.is_dir() and not target.exists():
            target.symlink_to(source, target_is_directory=True)
    return cache


def engine_config(tmp_path: Path, corpus_dir: Path, cache: Path, **changes):
    """A small run: two cheap feature sets, the SVM and a small XGBoost, three speaker folds, serial.

    The corpus is the session's small built-in corpus named by its folder (``corpus_dir``), so that every run
    names its clips by one path and a shared feature cache (:func:`link_cache`) is hit. ``changes`` override.
    """
    from benchmark.run.config import RunConfig

    base = dict(dataset="synthetic", data_dir=str(corpus_dir), profile="small", features=("mfcc", "rms"),
                models=("svm", "xgboost"), protocols=("speaker",), folds=3, ablation=False, report=False,
                quiet=True, cache_dir=str(cache), out=str(tmp_path / "out"), model_params=dict(FAST_XGBOOST),
                jobs=2, backend="serial")
    base.update(changes)
    return RunConfig(**base)


# --------------------------------------------------------------------------------------------------------------
# A manifest corpus and the command lines of a fast run (the fault suites)


def write_manifest(path: Path, rows, header=("path", "emotion", "speaker")) -> Path:
    """Write ``rows`` as a manifest CSV with ``header``."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_rows(manifest: Path) -> list[list[str]]:
    """A manifest's rows, the header first."""
    with open(manifest, newline="") as handle:
        return list(csv.reader(handle))


def run_args(manifest: Path, cache: Path, out: Path, *extra: str, quiet: bool = True) -> list[str]:
    """A fast run: one cheap feature set, the SVM, two speaker folds, serial. Later flags in ``extra`` win."""
    return ["run", "--dataset", "manifest", "--data-dir", str(manifest), "--features", "rms", "--models", "svm",
            "--protocols", "speaker", "--folds", "2", "--no-ablation", "--no-report", "--backend", "serial",
            "--jobs", "1", "--cache-dir", str(cache), "--out", str(out), *(["--quiet"] if quiet else []), *extra]


def extract_args(manifest: Path, cache: Path, *extra: str) -> list[str]:
    """``extract`` of the cheap feature set of :func:`run_args`."""
    return ["extract", "--dataset", "manifest", "--data-dir", str(manifest), "--features", "rms", "--jobs", "1",
            "--cache-dir", str(cache), *extra]


def one_line(capsys) -> str:
    """The single line a failing command wrote to stderr (never a traceback)."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def nothing_decoded(cache: Path) -> bool:
    """True when no feature was extracted into ``cache`` (the run stopped before decoding any audio)."""
    return not (cache / "features").exists()


def run_json(out: Path) -> dict:
    """The ``run.json`` of the one run folder in ``out``."""
    (run_dir,) = [p for p in out.iterdir() if not p.name.startswith(".")]
    return json.loads((run_dir / "run.json").read_text())


# --------------------------------------------------------------------------------------------------------------
# A tone corpus and a tiny trained bundle (bundles, the app, the bundle fault classes)


TONE_EMOTIONS = {"angry": 520.0, "sad": 180.0, "happy": 330.0}
TONE_SPEAKERS = ("s1", "s2", "s3", "s4")
TINY = {"max_epochs": 2, "hidden": (8,), "units": 4, "dense": (4,), "filters": (4, 4), "n_estimators": 8,
        "jit_compile": False, "patience": 1}


def make_tone_corpus(root: Path, clips: int = 3, seconds: float = 0.5) -> Path:
    """A manifest corpus of tones: the emotion sets the pitch, the speaker shifts it a little."""
    rows = []
    for s, speaker in enumerate(TONE_SPEAKERS):
        for emotion, freq in TONE_EMOTIONS.items():
            for k in range(clips):
                path = root / "wav" / f"{speaker}_{emotion}_{k}.wav"
                write_tone(path, seconds=seconds, freq=freq * (1 + 0.03 * s) + 7 * k, seed=s * 100 + k)
                rows.append({"path": f"wav/{path.name}", "emotion": emotion, "speaker": speaker})
    manifest = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def train_tiny(manifest: Path, model: str = "svm", evaluate: bool = False, cache_dir: Path | None = None,
               **kwargs):
    """A bundle of ``model`` trained on ``manifest`` with the smallest settings it takes (``TINY``)."""
    from benchmark.apps.training import TrainConfig, train_bundle
    from models import make_model

    names = set(make_model(model).get_params(deep=False))
    params = {k: v for k, v in TINY.items() if k in names}
    features = kwargs.pop("features", "mfcc,rms")
    config = TrainConfig(model=model, dataset="manifest", data_dir=str(manifest), features=features,
                         evaluate=evaluate, n_resamples=200, jobs=1, model_params=params,
                         cache_dir=str(cache_dir) if cache_dir else None, **kwargs)
    return train_bundle(config)


# --------------------------------------------------------------------------------------------------------------
# Bundles and the use-a-model commands


def rewrite_zip(src: Path, dst: Path, change=None, drop: str | None = None, add: dict | None = None,
                rehash: bool = False) -> Path:
    """Copy a bundle, changing members (name -> bytes function), dropping or adding some; optionally recompute
    the manifest's checksums as a deliberate forger would."""
    with zipfile.ZipFile(src) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    from benchmark.apps.bundle import MANIFEST, _manifest_checksum

    manifest = json.loads(members.pop(MANIFEST))
    for name, data in list(members.items()):
        if change is not None:
            members[name] = change(name, data)
    if drop:
        members.pop(drop)
    members.update(add or {})
    if rehash:
        import hashlib

        manifest["members"] = {n: hashlib.sha256(d).hexdigest() for n, d in members.items()}
        manifest["checksum"] = _manifest_checksum(manifest)
    with zipfile.ZipFile(dst, "w") as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))  # as save writes it
        for name, data in members.items():
            archive.writestr(name, data)
    return dst


def cli_parser():
    """The train/predict/ui parsers, as the command line wires them, and their modules by name."""
    from benchmark.cli import predict, train, ui
    from benchmark.cli.common import Parser

    parser = Parser(prog="run_benchmark.py")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    for module in (train, predict, ui):
        module.add_parser(sub)
    return parser, {"train": train, "predict": predict, "ui": ui}


def cli(argv: list[str]) -> int:
    """Run ``train``, ``predict`` or ``ui`` in this process with ``argv``; its exit code."""
    parser, modules = cli_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    return modules[args.command].run(args)
