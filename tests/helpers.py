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
                rehash: bool = False, edit_manifest=None) -> Path:
    """Copy a bundle, changing members (name -> bytes function), dropping or adding some; optionally recompute
    the manifest's checksums (``rehash``) or edit the manifest and recompute its own checksum
    (``edit_manifest``: a function of the manifest dict), as a deliberate forger would."""
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
    if edit_manifest is not None:
        edit_manifest(manifest)
    if rehash or edit_manifest is not None:
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


# --------------------------------------------------------------------------------------------------------------
# Run folders from constructed predictions (no fits, no audio analysis)

RUN_EMOTIONS = ["angry", "calm", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


def _constructed_predictions(rng, truth: np.ndarray, accuracy: np.ndarray, labels: list[str]) -> np.ndarray:
    hit = rng.random(len(truth)) < accuracy
    wrong = np.array([rng.choice([x for x in labels if x != t]) for t in truth])
    return np.where(hit, truth, wrong)


def make_run(root: Path, n_speakers: int = 6, n_emotions: int = 7, per_cell: int = 3,
             models: dict[str, float] | None = None, protocols: tuple[str, ...] = ("stratified", "speaker"),
             n_folds: int = 3, predictions: bool = True, curves: bool = True, audio: bool = False,
             ablation: bool = True, claims: bool = False, seed: int = 0, dataset: str = "fixture",
             identical: tuple[str, str] | None = None) -> Path:
    """Write a run folder (folds, predictions, curves, splits, confusion, audit, run.json) in the engine's schema.

    ``models`` maps a model name to its speaker-independent accuracy (stratified is 0.15 higher); each speaker
    adds an offset of its own. ``predictions=False, curves=False`` gives an old-format folder. ``identical``
    names two models whose predictions are made the same.
    """
    from benchmark.evaluation.metrics import fold_scores

    models = models or {"svm": 0.75, "xgboost": 0.6, "dnn": 0.45}
    labels = RUN_EMOTIONS[:n_emotions]
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    speakers = [f"s{i + 1:02d}" for i in range(n_speakers)]
    rows = []
    for s in speakers:
        for e in labels:
            for k in range(per_cell):
                rows.append({"path": str(root / "audio" / f"{s}_{e}_{k}.wav"), "speaker": s, "emotion": e,
                             "text": f"t{k}", "corpus": dataset, "duration": round(1.0 + 0.1 * k, 3)})
    splits = pd.DataFrame(rows)
    splits.insert(0, "row", range(len(splits)))
    speaker_fold = {s: i % n_folds for i, s in enumerate(speakers)}
    fold_of = {"stratified": np.arange(len(splits)) % n_folds,
               "speaker": splits["speaker"].map(speaker_fold).to_numpy(),
               "speaker+text": splits["speaker"].map(speaker_fold).to_numpy()}
    for p in protocols:
        splits[f"test_fold_{p}"] = fold_of[p]
    if audio:
        for r in splits.itertuples():
            sr = 16000
            t = np.arange(int(r.duration * sr)) / sr
            f0 = 120 + 20 * labels.index(r.emotion) + 5 * speakers.index(r.speaker)
            y = 0.3 * np.sin(2 * np.pi * f0 * t) * np.hanning(t.size) + 0.01 * rng.normal(size=t.size)
            Path(r.path).parent.mkdir(parents=True, exist_ok=True)
            sf.write(r.path, y, sr)
    skill = {s: o for s, o in zip(speakers, np.linspace(-0.15, 0.15, n_speakers), strict=True)}
    truth = splits["emotion"].to_numpy()
    spk = splits["speaker"].to_numpy()
    tasks = [("leaderboard", "all", m, acc) for m, acc in models.items()]
    if ablation:
        tasks += [("ablation", f, m, acc - drop) for f, drop in (("mfcc", 0.05), ("rms", 0.3), ("all", 0.0))
                  for m, acc in list(models.items())[:2]]
    fold_rows, prediction_rows, curve_rows, made = [], [], [], {}
    for table, features, model, acc in tasks:
        for protocol in protocols:
            base = acc + (0.15 if protocol == "stratified" else 0.0)
            accuracy = np.clip(base + np.array([skill[s] for s in spk]), 0.02, 0.98)
            if identical and model == identical[1] and (table, features, identical[0], protocol) in made:
                predicted = made[(table, features, identical[0], protocol)]
            else:
                predicted = _constructed_predictions(rng, truth, accuracy, labels)
            made[(table, features, model, protocol)] = predicted
            for fold in range(n_folds):
                test = np.flatnonzero(fold_of[protocol] == fold)
                scores = fold_scores(truth[test], predicted[test], labels)
                fold_rows.append({"dataset": dataset, "table": table, "features": features, "model": model,
                                  "protocol": protocol, "speaker_norm": False, "fold": fold,
                                  "n_train": len(splits) - len(test), "n_test": len(test),
                                  "n_test_speakers": len(set(spk[test])), "status": "ok", "error": "",
                                  "uar": scores["uar"], "wa": scores["wa"], "f1": scores["f1"],
                                  "chance_uar": scores["chance_uar"], "chance_wa": scores["chance_wa"],
                                  **{f"recall_{k}": v for k, v in scores["recall"].items()},
                                  "fit_seconds": 0.1, "epochs": 5 if model == "dnn" else "", "cached": False})
                for i in test:
                    probs = np.full(len(labels), 0.4 / (len(labels) - 1))
                    probs[labels.index(predicted[i])] = 0.6
                    prediction_rows.append({"table": table, "features": features, "model": model,
                                            "protocol": protocol, "speaker_norm": False, "fold": fold, "row": i,
                                            "speaker": spk[i], "emotion": truth[i], "predicted": predicted[i],
                                            **{f"p_{k}": round(float(v), 6) for k, v in zip(labels, probs,
                                                                                           strict=True)}})
                if model == "dnn" and table == "leaderboard":
                    for epoch in range(1, 6 + fold):
                        curve_rows.append({"table": table, "features": features, "model": model,
                                           "protocol": protocol, "speaker_norm": False, "fold": fold,
                                           "epoch": epoch, "loss": 2.0 * 0.8 ** epoch + 0.05 * fold,
                                           "accuracy": 1 - 0.8 ** epoch, "val_loss": 2.1 * 0.85 ** epoch,
                                           "val_accuracy": 0.9 * (1 - 0.85 ** epoch)})
    pd.DataFrame(fold_rows).to_csv(root / "folds.csv", index=False, lineterminator="\n")
    splits.to_csv(root / "splits.csv", index=False, lineterminator="\n")
    if predictions:
        pd.DataFrame(prediction_rows).to_csv(root / "predictions.csv", index=False, lineterminator="\n")
    if curves:
        pd.DataFrame(curve_rows).to_csv(root / "curves.csv", index=False, lineterminator="\n")
    (root / "confusion").mkdir(exist_ok=True)
    for (table, features, model, protocol), predicted in made.items():
        if table != "leaderboard":
            continue
        matrix = pd.crosstab(pd.Categorical(truth, labels), pd.Categorical(predicted, labels), dropna=False)
        matrix.index.name = "true\\predicted"
        matrix.columns = labels
        matrix.to_csv(root / "confusion" / f"{features}__{model}__{protocol.replace('+', '-')}.csv",
                      lineterminator="\n")
    audit = {"corpus": {"utterances": len(splits), "speakers": n_speakers, "duplicate_groups": []},
             "protocols": {p: {"n_folds": n_folds, "test_speaker_in_train": 1.0 if p == "stratified" else 0.0,
                               "test_text_in_train": 1.0, "duplicates_across_train_test": 0,
                               "speakers_total": n_speakers,
                               "test_speakers_per_fold": [int(len(set(spk[fold_of[p] == f])))
                                                          for f in range(n_folds)]} for p in protocols},
             "scaling": "Everything is fitted on the training fold only.", "warnings": []}
    (root / "audit.json").write_text(json.dumps(audit, indent=1) + "\n")
    run = {"command": "run_benchmark.py run --fixture", "argv": ["run"], "dataset": dataset, "seed": seed,
           "config": {"models": ",".join(models), "folds": n_folds, "bootstrap_resamples": 400},
           "analysis": {"sr": 16000}, "versions": {"python": "3.11", "numpy": np.__version__},
           "corpus": {"root": str(root / "audio"), "fingerprint": "0" * 64,
                      "summary_line": f"corpus {dataset}: {len(splits)} utterances, {n_speakers} speakers",
                      "emotions": {e: int((truth == e).sum()) for e in labels}, "speakers": n_speakers,
                      "skipped": [], "not_analysed": []},
           "timings_s": {"models": 1.0}, "finished": "2026-01-01T00:00:00", "platform": "test", "python": "3.11"}
    (root / "run.json").write_text(json.dumps(run, indent=1) + "\n")
    if claims:
        pd.DataFrame([{"system": "seed-a", "claim": "97% accuracy", "protocol": "stratified", "ours": "70.1"}]
                     ).to_csv(root / "claims.csv", index=False)
    return root


# --- statistics -------------------------------------------------------------------------------------------------



# --------------------------------------------------------------------------------------------------------------
# Corpora in a release's layout, and manifests with dimensional targets

MSP_HEADER = "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"


def make_msppodcast(root):
    """Every class, O and X, known and unknown speakers, all five partitions, a listed file with no audio and an
    audio file the table does not list."""
    lines = [MSP_HEADER]
    n = 0
    classes = "ASHUFDCNOX"
    parts = {"Train": [("127", "Female"), ("128", "Male"), ("Unknown", "Unknown")],
             "Development": [("300", "Male"), ("Unknown", "Unknown")],
             "Test1": [("500", "Female"), ("501", "Male")],
             "Test2": [("700", "Male"), ("Unknown", "Unknown")]}
    for part, speakers in parts.items():
        for speaker, gender in speakers:
            for code in classes:
                n += 1
                podcast = 100 + n // 7
                name = f"MSP-PODCAST_{podcast:04d}_{n:04d}.wav"
                write_tone(root / "Audios" / name, seconds=0.1, seed=n)
                act, val, dom = 1 + n % 7, 7 - n % 7, 1 + n % 5
                lines.append(f"{name},{code},{act:.1f},{val:.1f},{dom:.1f},{speaker},{gender},{part}\n")
    for i in range(3):  # Test3: the release lists these without labels
        name = f"MSP-PODCAST_9000_{i:04d}.wav"
        write_tone(root / "Audios" / name, seconds=0.1)
        lines.append(f"{name},,,,,Unknown,Unknown,Test3\n")
    lines.append("MSP-PODCAST_9999_0001.wav,A,2.0,2.0,2.0,128,Male,Train\n")  # no audio
    write_tone(root / "Audios" / "MSP-PODCAST_8888_0001.wav", seconds=0.1)  # not in the table
    (root / "Labels").mkdir(parents=True, exist_ok=True)
    (root / "Labels" / "labels_consensus.csv").write_text("".join(lines))
    return n


def loud_manifest(root, speakers=5, per_speaker=8):
    """A manifest whose arousal is each clip's level in dB (something to learn) and valence noise."""
    rows = []
    rng = np.random.default_rng(0)
    for s in range(speakers):
        for i in range(per_speaker):
            db = float(rng.uniform(-30, -3))
            path = root / f"spk{s}" / f"u{i}.wav"
            write_tone(path, seconds=0.3, freq=180 + 40 * s, seed=s * 100 + i)
            import soundfile as sf

            y, sr = sf.read(path)
            sf.write(path, y / np.abs(y).max() * 10 ** (db / 20), sr)
            rows.append({"path": f"spk{s}/u{i}.wav", "speaker": f"spk{s}", "arousal": db,
                         "valence": float(rng.normal())})  # valence: noise, nothing to learn
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root / "manifest.csv"
