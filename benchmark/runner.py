"""The benchmark run: corpus -> features -> folds -> leakage audit -> models -> leaderboards and exports."""

from __future__ import annotations

import hashlib
import inspect
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from features import AnalysisConfig, extract, load_plugins, pad_sequences, resolve
from features.registry import GROUPS, get_feature_set
from models import make_model
from models.registry import get_model, resolve_models

from .audit import audit, format_audit
from .corpora import Corpus, load_corpus
from .leaderboard import FORMATS, render, render_console
from .metrics import fold_scores
from .normalisation import speaker_normalise
from .protocols import Fold, make_folds, resolve_protocols

DEFAULT_MODELS = "svm,xgboost,dnn,lstm"
MAX_SEQUENCE_STEPS = 2000  # padding cap; models then truncate to a percentile of their training lengths


@dataclass
class RunConfig:
    dataset: str | None = None
    data_dir: str | None = None
    features: str = "all"
    sequence_features: str = "mfcc_frames"
    models: str = DEFAULT_MODELS
    protocols: str = "stratified,speaker"
    folds: int = 5
    loso: bool = False
    fold_file: str | None = None
    speaker_norm: bool = False
    seed: int = 0
    jobs: int | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    content_hash: bool = False
    out: str = "results"
    plugins: tuple[str, ...] = ()
    quiet: bool = False
    ablation: bool = True
    include_song: bool = False
    strict: bool = False
    profile: str = "default"
    model_params: dict = field(default_factory=dict)  # model name -> {param: value}
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)


@dataclass
class RunResult:
    run_dir: Path
    corpus: Corpus
    audit: dict
    folds: pd.DataFrame


@dataclass(frozen=True)
class Entry:
    """One row of a table to fill: a model on a feature input under a protocol."""

    table: str
    features: str
    model: str
    protocol: str
    speaker_norm: bool


def run_benchmark(config: RunConfig, argv: Sequence[str] | None = None,
                  log: Callable[[str], None] | None = None) -> RunResult:
    """Run the whole benchmark and write ``<out>/<dataset>-<timestamp>/``; returns where and what."""
    say = log or ((lambda _: None) if config.quiet else print)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    load_plugins(config.plugins)
    model_names = resolve_models(config.models)
    protocols = resolve_protocols(config.protocols)
    vector_sets = resolve(config.features)
    needs_vectors = any(get_model(m).input_kind == "vector" for m in model_names)
    needs_sequences = any(get_model(m).input_kind == "sequence" for m in model_names)
    sequence_set = config.sequence_features if needs_sequences else None
    if sequence_set and get_feature_set(sequence_set).kind != "sequence":
        raise ValueError(f"--sequence-features {sequence_set!r} is not a sequence feature set")

    corpus = load_corpus(config.dataset, config.data_dir, include_song=config.include_song, strict=config.strict,
                         cache_dir=config.cache_dir, seed=config.seed, profile=config.profile)
    timings["corpus"] = _lap(clock)
    say(_corpus_line(corpus))
    for skip in corpus.skipped[:5]:
        say(f"  skipped {skip.path}: {skip.reason}")
    if len(corpus.skipped) > 5:
        say(f"  ... and {len(corpus.skipped) - 5} more (all listed in run.json)")

    clock = time.perf_counter()
    feats = extract(corpus.table, vector_sets if needs_vectors else [], config.analysis,
                    sequence_sets=[sequence_set] if sequence_set else [], cache_dir=config.cache_dir,
                    use_cache=config.use_cache, jobs=config.jobs, plugins=config.plugins,
                    content_hash=config.content_hash, progress=None if not config.quiet else False)
    timings["features"] = _lap(clock)
    report = feats.report
    say(f"features: {report.summary_line()}")
    for path, reason in report.failed[:5]:
        say(f"  skipped {path}: {reason}")
    for problem in report.cache_problems:
        say(f"  cache: {problem}")
    if report.warnings:
        say(f"  {len(report.warnings)} warning(s), first: {report.warnings[0]}")
    table = feats.table
    if config.strict and report.failed:
        raise ValueError(f"{len(report.failed)} file(s) could not be analysed and --strict is on; first: "
                         f"{report.failed[0][0]}: {report.failed[0][1]}")
    if table["emotion"].nunique() < 2:
        raise ValueError("fewer than two emotions left after feature extraction; nothing to classify")

    clock = time.perf_counter()
    folds = {p: make_folds(p, table, config.folds, config.seed, config.loso, config.fold_file) for p in protocols}
    audit_report = audit(table, folds)
    timings["protocols_and_audit"] = _lap(clock)
    say("")
    say(format_audit(audit_report))
    say("")

    inputs: dict[str, np.ndarray] = {}
    vector_label = features_label(vector_sets)
    if needs_vectors:
        inputs[vector_label] = feats.matrix(vector_sets)[0]
    if sequence_set:
        sequences = feats.sequences[sequence_set]
        inputs[sequence_set] = pad_sequences(sequences, min(max(len(s) for s in sequences), MAX_SEQUENCE_STEPS))
    entries = plan_entries(model_names, protocols, vector_label, sequence_set, config.speaker_norm)
    ablation = plan_ablation(model_names, protocols, vector_sets) if config.ablation else []
    for name in sorted({e.features for e in ablation}):
        if name not in inputs:
            inputs[name] = feats.matrix(name.split("+"))[0]

    clock = time.perf_counter()
    records, confusions = run_grid(entries + ablation, inputs, table, folds, config)
    timings["models"] = _lap(clock)

    run_dir = _new_run_dir(Path(config.out), corpus.name)
    write_run(run_dir, records, confusions, table, folds, audit_report, corpus, feats.report, config, argv,
              timings)
    say(render_console(run_dir))
    say("")
    say(f"results: {run_dir}")
    return RunResult(run_dir, corpus, audit_report, pd.DataFrame(records))


def features_label(sets: Sequence[str]) -> str:
    return "all" if tuple(sets) == GROUPS["all"] else "+".join(sets)


def plan_entries(models: Sequence[str], protocols: Sequence[str], vector_label: str, sequence_set: str | None,
                 speaker_norm: bool) -> list[Entry]:
    entries = []
    for norm in ([False, True] if speaker_norm else [False]):
        for model in models:
            features = sequence_set if get_model(model).input_kind == "sequence" else vector_label
            entries += [Entry("leaderboard", features, model, p, norm) for p in protocols]
    return entries


def plan_ablation(models: Sequence[str], protocols: Sequence[str], vector_sets: Sequence[str]) -> list[Entry]:
    """Each feature group alone, for the fast (non-neural, vector) models, under the ranking protocol."""
    fast = [m for m in models if not get_model(m).neural and get_model(m).input_kind == "vector"]
    if len(vector_sets) < 2 or not fast:
        return []
    protocol = next(p for p in ("speaker", "speaker+text", "stratified") if p in protocols)
    groups = [*vector_sets, features_label(vector_sets)]  # each alone, then all together
    return [Entry("ablation", name, model, protocol, False) for model in fast for name in groups]


def run_grid(entries: list[Entry], inputs: dict[str, np.ndarray], table: pd.DataFrame,
             folds: dict[str, list[Fold]], config: RunConfig) -> tuple[list[dict], dict]:
    """Fit and score every entry on every fold of its protocol; a failing fold is recorded, not fatal."""
    from tqdm import tqdm

    y = table["emotion"].astype(str).to_numpy()
    speakers = table["speaker"].astype(str).to_numpy()
    labels = sorted(set(y.tolist()))
    normalised: dict[str, np.ndarray] = {}
    records, confusions = [], {}
    done: dict[tuple, list[dict]] = {}
    total = sum(len(folds[e.protocol]) for e in entries)
    bar = tqdm(total=total, desc="models", unit="fit", disable=True if config.quiet else None)
    for entry in entries:
        key = (entry.features, entry.model, entry.protocol, entry.speaker_norm)
        if key in done:  # the ablation's full-set row is the leaderboard's row: same folds, same seed
            records += [{**r, "table": entry.table} for r in done[key]]
            bar.update(len(folds[entry.protocol]))
            continue
        X = inputs[entry.features]
        if entry.speaker_norm:
            if entry.features not in normalised:
                normalised[entry.features] = speaker_normalise(X, speakers)
            X = normalised[entry.features]
        entry_records = []
        confusion = np.zeros((len(labels), len(labels)), dtype=int)
        for fold in folds[entry.protocol]:
            bar.set_postfix_str(f"{entry.model} {entry.protocol} fold {fold.index + 1}")
            record = {"dataset": "", **asdict(entry), "fold": fold.index, "n_train": len(fold.train),
                      "n_test": len(fold.test), "n_test_speakers": len(set(speakers[fold.test].tolist()))}
            start = time.perf_counter()
            try:
                model = make_model(entry.model, random_state=config.seed, n_jobs=_threads(config.jobs),
                                   **config.model_params.get(entry.model, {}))
                predicted = fit_predict(model, X, y, speakers, fold)
                record["epochs"] = getattr(model, "n_epochs_", "")
            except Exception as error:  # recorded as a failed fold, shown in every table
                message = str(error).strip().splitlines()[0] if str(error).strip() else ""
                record.update(status="failed", error=f"{type(error).__name__}: {message}"[:300])
                bar.write(f"failed: {entry.model} / {entry.protocol} fold {fold.index}: {record['error']}")
            else:
                scores = fold_scores(y[fold.test], predicted, labels)
                confusion += scores["confusion"]
                record.update(status="ok", error="", uar=scores["uar"], wa=scores["wa"], f1=scores["f1"],
                              chance_uar=scores["chance_uar"], chance_wa=scores["chance_wa"],
                              **{f"recall_{k}": v for k, v in scores["recall"].items()})
            record["fit_seconds"] = round(time.perf_counter() - start, 3)
            entry_records.append(record)
            bar.update(1)
        done[key] = entry_records
        records += entry_records
        if entry.table == "leaderboard":
            confusions[key] = (labels, confusion)
    bar.close()
    return records, confusions


def fit_predict(model, X: np.ndarray, y: np.ndarray, speakers: np.ndarray, fold: Fold) -> np.ndarray:
    """Fit on the training rows of ``fold`` only and predict its test rows; test labels are never read."""
    train = fold.train
    kwargs = {"groups": speakers[train]} if _accepts_groups(model) else {}
    model.fit(X[train], y[train], **kwargs)
    return np.asarray(model.predict(X[fold.test]))


def _accepts_groups(model) -> bool:
    try:
        return "groups" in inspect.signature(model.fit).parameters
    except (TypeError, ValueError):
        return False


def _threads(jobs: int | None) -> int:
    from features.bank import effective_jobs

    return effective_jobs(jobs)


def _lap(start: float) -> float:
    return round(time.perf_counter() - start, 3)


def _corpus_line(corpus: Corpus) -> str:
    s = corpus.summary()
    return (f"corpus {corpus.name}: {s['utterances']} utterances, {s['speakers']} speakers, "
            f"{len(s['emotions'])} emotions, {s['total_duration_s'] / 60:.1f} min of audio, "
            f"{len(corpus.skipped)} file(s) skipped")


def _new_run_dir(out: Path, dataset: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = out / f"{dataset}-{stamp}"
    n = 2
    while candidate.exists():
        candidate = out / f"{dataset}-{stamp}-{n}"
        n += 1
    candidate.mkdir(parents=True)
    return candidate


def corpus_fingerprint(table: pd.DataFrame) -> str:
    """Identity of the data that was scored: audio content, label and speaker per utterance, order-free."""
    rows = sorted(zip(table["digest"], table["emotion"], table["speaker"].astype(str), strict=True))
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("numpy", "scipy", "librosa", "scikit-learn", "xgboost", "tensorflow", "tensorflow-cpu",
                    "keras", "pandas", "joblib", "soundfile", "tabulate"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_run(run_dir: Path, records: list[dict], confusions: dict, table: pd.DataFrame,
              folds: dict[str, list[Fold]], audit_report: dict, corpus: Corpus, report, config: RunConfig,
              argv: Sequence[str] | None, timings: dict[str, float]) -> None:
    """Write every artefact of a run, then the tables rendered back from those files."""
    clock = time.perf_counter()
    frame = pd.DataFrame(records)
    frame["dataset"] = corpus.name
    frame.to_csv(run_dir / "folds.csv", index=False, lineterminator="\n")
    splits = table[["path", "speaker", "emotion", "text"]].copy()
    for protocol, fold_list in folds.items():
        column = np.full(len(table), -1)
        for fold in fold_list:
            column[fold.test] = fold.index
        splits[f"test_fold_{protocol}"] = column
    splits.to_csv(run_dir / "splits.csv", index=False, lineterminator="\n")
    confusion_dir = run_dir / "confusion"
    confusion_dir.mkdir()
    for (features, model, protocol, norm), (labels, matrix) in confusions.items():
        name = f"{features}__{model}__{protocol}{'__spknorm' if norm else ''}.csv".replace("+", "-")
        pd.DataFrame(matrix, index=pd.Index(labels, name="true\\predicted"), columns=labels).to_csv(
            confusion_dir / name, lineterminator="\n")
    (run_dir / "audit.json").write_text(json.dumps(audit_report, indent=1) + "\n")
    summary = corpus.summary()
    config_dict = asdict(config)
    config_dict["plugins"] = [str(Path(p).resolve()) for p in config.plugins]
    run_info = {
        "command": " ".join(["run_benchmark.py", *(argv or [])]),
        "argv": list(argv or []),
        "dataset": corpus.name,
        "seed": config.seed,
        "config": config_dict,
        "analysis": {**asdict(config.analysis), "win_length": config.analysis.win_length,
                     "hop_length": config.analysis.hop_length, "n_fft": config.analysis.n_fft},
        "versions": package_versions(),
        "corpus": {"root": str(corpus.root), "fingerprint": corpus_fingerprint(table),
                   "utterances_scored": len(table), "summary_line": _corpus_line(corpus),
                   "emotions": summary["emotions"], "speakers": summary["speakers"],
                   "skipped": summary["skipped"],
                   "not_analysed": [{"path": p, "reason": r} for p, r in report.failed]},
        "extraction": {"summary": report.summary_line(), "warnings": report.warnings,
                       "cache_problems": report.cache_problems},
        "timings_s": timings,
        "finished": datetime.now().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }
    run_info["timings_s"]["write"] = _lap(clock)
    (run_dir / "run.json").write_text(json.dumps(run_info, indent=1, default=str) + "\n")
    for fmt, filename in FORMATS.items():
        (run_dir / filename).write_text(render(run_dir, fmt))
