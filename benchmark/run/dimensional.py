"""The dimensional task (``--task dimensional --targets arousal,valence[,dominance]``): regressors on the same
features, protocols, folds, published splits, leakage audit and cache as the categorical benchmark, scored by CCC.

Folds are made by the same functions as the categorical run's; where those stratify by emotion, the rows are
stratified by the quartile of their first target instead (a corpus with dimensional labels only has no emotion).
Every fit sees its training rows only: features and targets are imputed and scaled inside the regressor.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.corpora.targets import load_dimensional
from benchmark.evaluation.audit import audit, format_audit
from benchmark.evaluation.protocols import (
    CROSS_CORPUS,
    make_folds,
    read_fold_file,
    resolve_protocols,
    validate_fold_file,
)
from benchmark.evaluation.regression import regression_scores
from benchmark.evaluation.splits import partition_folds, resolve_split
from benchmark.reports import dimensional as report
from features import GROUPS, extract, load_plugins, pad_sequences, resolve
from features.bank import effective_jobs
from features.cache import default_cache_dir
from features.sequences import MAX_SEQUENCE_STEPS
from models.regression import DEFAULT_REGRESSORS, REGRESSORS, make_regressor, resolve_regressors

from .config import DEFAULT_MODELS, ConfigError, RunConfig
from .fitcache import row_digests, rows_digest
from .folder import RunFolderWriter

TARGETS = ("arousal", "valence", "dominance")
FORMAT = 1


@dataclass
class DimensionalResult:
    run_dir: Path
    leaderboard: pd.DataFrame
    fits_run: int
    fits_cached: int


def stratification_labels(y: np.ndarray, bins: int = 4) -> np.ndarray:
    """Quartile labels of one target (``q1``..``q4``), for the protocols that stratify; ties share a bin."""
    edges = np.unique(np.quantile(y, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.array([f"q{k + 1}" for k in np.searchsorted(edges, y, side="right")])


def fit_regression(model: str, params: dict, seed: int, X: np.ndarray, Y: np.ndarray, speakers: np.ndarray,
                   train: np.ndarray, test: np.ndarray, dev: np.ndarray | None) -> dict:
    """One fit: the regressor on ``X[train], Y[train]`` (development rows for early stopping), predictions of
    ``X[test]``. Test targets are never read. A failure is returned as ``{"error": ...}``, never raised."""
    from threadpoolctl import threadpool_limits

    from .backends import keep_workers_alive, thread_environment

    # One thread per fit whatever the backend (TensorFlow reads these at import, in a fresh worker), and loky's
    # leak guard raised so that a worker keeps its TensorFlow import between fits.
    os.environ.update(thread_environment(1))
    keep_workers_alive()
    start = time.perf_counter()
    try:
        with threadpool_limits(limits=1):
            estimator = make_regressor(model, random_state=seed, n_jobs=1, **params)
            kwargs = {"groups": speakers[train]}
            if dev is not None and len(dev):
                kwargs["validation"] = (X[dev], Y[dev])
            estimator.fit(X[train], Y[train], **kwargs)
            predictions = np.asarray(estimator.predict(X[test]), dtype=np.float64)
    except Exception as error:  # recorded as a failed fold, shown in every table
        return {"error": f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error) else ''}"[:300],
                "seconds": round(time.perf_counter() - start, 3)}
    if predictions.shape != (len(test), Y.shape[1]) or not np.isfinite(predictions).all():
        return {"error": f"bad predictions: shape {predictions.shape} or not finite",
                "seconds": round(time.perf_counter() - start, 3)}
    return {"predictions": predictions, "epochs": getattr(estimator, "n_epochs_", None),
            "seconds": round(time.perf_counter() - start, 3)}


class RegressionCache:
    """Finished fits under ``root/fits-dimensional``, keyed by everything that decides them."""

    def __init__(self, root: Path, persist: bool):
        self.root, self.persist = Path(root) / "fits-dimensional", persist
        self.problems: list[str] = []

    def get(self, key: str, n_test: int) -> dict | None:
        path = self.root / f"{key}.npz"
        if not self.persist or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                predictions = data["predictions"].astype(np.float64)
                meta = json.loads(str(data["meta"]))
            if meta.get("key") != key or len(predictions) != n_test:
                raise ValueError("record does not match its key")
            return {"predictions": predictions, "epochs": meta.get("epochs"), "seconds": meta["seconds"],
                    "cached": True}
        except (OSError, ValueError, KeyError) as error:
            self.problems.append(f"{path}: unreadable fit record ({type(error).__name__}); refitted")
            path.unlink(missing_ok=True)
            return None

    def put(self, key: str, record: dict) -> None:
        if not self.persist or "predictions" not in record:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{key}.tmp.npz"
        np.savez(tmp, predictions=record["predictions"], meta=np.array(json.dumps(
            {"key": key, "epochs": record.get("epochs"), "seconds": record["seconds"]})))
        tmp.replace(self.root / f"{key}.npz")


def _code_digest() -> str:
    import models.regression as module

    return hashlib.sha256(Path(module.__file__).read_bytes()).hexdigest()


def run_dimensional(config: RunConfig, targets: Sequence[str], argv: Sequence[str] | None = None,
                    log: Callable[[str], None] | None = None) -> DimensionalResult:
    """Run the dimensional benchmark and write ``<out>/<dataset>-dimensional-<timestamp>/``.

    Raises
    ------
    ConfigError
        No or unknown targets, a cross-corpus protocol, or a model without a regressor.
    """
    say = log or ((lambda _: None) if config.quiet else print)
    config.validate()
    targets = list(dict.fromkeys(t.strip().lower() for t in targets))
    if not targets:
        raise ConfigError("--targets: name at least one target, e.g. arousal,valence")
    load_plugins(config.plugins)
    names = resolve_regressors(DEFAULT_REGRESSORS if tuple(config.models) == DEFAULT_MODELS else config.models)
    for name, params in config.model_params.items():
        if name not in names:
            raise ConfigError(f"--set {name}.{next(iter(params), '')}: {name!r} is not a regressor of this run")
        make_regressor(name, **params)
    protocols = resolve_protocols(",".join(config.protocols))
    unsupported = [flag for flag, on in (("--backend dask", config.backend == "dask"), ("--tune", config.tune),
                                         ("--speaker-norm", config.speaker_norm), ("--corpus-norm", config.corpus_norm),
                                         ("--input", bool(config.inputs))) if on]
    if unsupported:
        raise ConfigError(f"{unsupported[0]}: not available for --task dimensional (yet); leave it out")
    crossing = [p for p in protocols if p in CROSS_CORPUS]
    if crossing:
        raise ConfigError(f"--protocols {crossing[0]}: not available for --task dimensional")
    vector_sets = resolve(list(config.features))
    inputs = {m: (REGRESSORS[m].default_input or None) for m in names}
    inputs = {m: (i,) if REGRESSORS[m].input_kind == "sequence" else tuple(resolve(i)) if i else tuple(vector_sets)
              for m, i in inputs.items()}
    sequence_sets = sorted({inputs[m][0] for m in names if REGRESSORS[m].input_kind == "sequence"})
    jobs = effective_jobs(config.jobs)
    cache_root = Path(config.cache_dir) if config.cache_dir else default_cache_dir()

    corpus = load_dimensional(config.dataset, config.data_dir, targets, strict=config.strict,
                              cache_dir=config.cache_dir, seed=config.seed, profile=config.profile)
    say(f"corpus {corpus.name}: {len(corpus.table)} utterances, {corpus.table['speaker'].nunique()} speakers, "
        f"targets {', '.join(targets)}, {len(corpus.skipped)} file(s) skipped")
    for line in corpus.notes:
        say(f"  {line}")
    split = resolve_split(config.split, corpus.name) if config.split else None
    fold_file = split.fold_file if split else read_fold_file(config.fold_file) if config.fold_file else None
    if fold_file is not None:
        validate_fold_file(fold_file, corpus.table["speaker"].astype(str).unique())

    needed = sorted({s for sets in inputs.values() for s in sets} - set(sequence_sets))
    feats = extract(corpus.table, needed, config.analysis, sequence_sets=sequence_sets, cache_dir=config.cache_dir,
                    use_cache=config.use_cache,
                    jobs=jobs, plugins=config.plugins, content_hash=config.content_hash,
                    progress=None if not config.quiet else False)
    say(f"features: {feats.report.summary_line()}")
    table = feats.table.reset_index(drop=True)
    Y = table[targets].to_numpy(dtype=np.float64)
    speakers = table["speaker"].astype(str).to_numpy()
    strat = table.copy()
    strat["emotion"] = stratification_labels(Y[:, 0])
    by_part = split is not None and bool(split.partition)
    folds = {p: partition_folds(strat, split, p) if by_part and p in ("speaker", "speaker+text") else
             make_folds(p, strat, config.folds, config.seed, config.loso, fold_file) for p in protocols}
    audit_report = audit(strat, folds, split=split)
    say("")
    say(format_audit(audit_report))
    say("")

    arrays = {}
    for sets in set(inputs.values()):
        if sets[0] in sequence_sets:
            sequences = feats.sequences[sets[0]]
            arrays[sets] = pad_sequences(sequences, min(max(len(q) for q in sequences), MAX_SEQUENCE_STEPS))
        else:
            arrays[sets] = feats.matrix(list(sets))[0].astype(np.float64)
    digests = {sets: row_digests(X.astype(np.float32)) for sets, X in arrays.items()}
    cache = RegressionCache(cache_root, config.use_cache)
    code = _code_digest()
    planned, records = [], {}
    for model in names:
        params = dict(config.model_params.get(model, {}))
        sets = inputs[model]
        for protocol in protocols:
            for fold in folds[protocol]:
                d = digests[sets]
                payload = {"format": FORMAT, "model": model, "params": make_regressor(model, **params).get_params(),
                           "seed": config.seed, "code": code,
                           "train": rows_digest(d[fold.train], Y[fold.train].round(9).astype(str), speakers[fold.train]),
                           "test": rows_digest(d[fold.test]),
                           "dev": rows_digest(d[fold.dev], Y[fold.dev].round(9).astype(str)) if fold.dev is not None
                           else None}
                key = hashlib.sha256(json.dumps(payload, sort_keys=True, default=repr).encode()).hexdigest()
                planned.append((model, protocol, fold, key, params, sets))
    todo = {}
    for model, _protocol, fold, key, params, sets in planned:
        if key in records or key in todo:
            continue
        cached = cache.get(key, len(fold.test))
        if cached is not None:
            records[key] = cached
        else:
            todo[key] = (model, params, sets, fold)
    fits_cached = len(records)
    say(f"fits: {len(todo)} to run, {fits_cached} from the cache")
    results = _run_fits(todo, arrays, Y, speakers, config.seed, jobs if (config.backend or "") != "serial" else 1)
    for key, record in results.items():
        cache.put(key, record)
        records[key] = record

    fold_rows, prediction_frames = [], []
    for model, protocol, fold, key, _params, sets in planned:
        record = records[key]
        row = {"dataset": corpus.name, "features": _label(sets), "model": model, "protocol": protocol,
               "fold": fold.index, "fold_name": fold.name or "", "n_train": len(fold.train), "n_test": len(fold.test),
               "n_dev": 0 if fold.dev is None else len(fold.dev),
               "n_test_speakers": len(set(speakers[fold.test].tolist())), "seconds": record.get("seconds"),
               "epochs": record.get("epochs") or "", "cached": bool(record.get("cached"))}
        if "predictions" not in record:
            row.update(status="failed", error=record["error"])
        else:
            row.update(status="ok", error="", **regression_scores(Y[fold.test], record["predictions"], targets))
            frame = pd.DataFrame({"model": model, "features": _label(sets), "protocol": protocol, "fold": fold.index,
                                  "row": fold.test, "speaker": speakers[fold.test]})
            for j, target in enumerate(targets):
                frame[f"true_{target}"] = Y[fold.test, j]
                frame[f"pred_{target}"] = np.round(record["predictions"][:, j], 6)
            prediction_frames.append(frame)
        fold_rows.append(row)
    folds_frame = pd.DataFrame(fold_rows)
    predictions = pd.concat(prediction_frames, ignore_index=True) if prediction_frames else pd.DataFrame()
    board = report.leaderboard(folds_frame, predictions, targets, config.bootstrap_resamples, config.seed)
    paired = report.paired_tests(predictions, targets, board, config.bootstrap_resamples, config.seed)

    writer = RunFolderWriter(Path(config.out), f"{corpus.name}-dimensional")
    try:
        writer.csv("folds.csv", folds_frame)
        writer.csv("predictions.csv", predictions)
        writer.csv("leaderboard.csv", board)
        writer.csv("paired.csv", paired)
        writer.text("leaderboard.md", report.render(board, targets, "md", paired) + "\n")
        writer.text("leaderboard.tex", report.render(board, targets, "latex") + "\n")
        writer.json("audit.json", audit_report)
        splits = pd.DataFrame({"row": np.arange(len(table)), "path": table["path"].astype(str), "speaker": speakers,
                               **{t: Y[:, j] for j, t in enumerate(targets)}})
        for protocol, fold_list in folds.items():
            assignment = np.full(len(table), -1)
            for fold in fold_list:
                assignment[fold.test] = fold.index
            splits[f"test_fold_{protocol}"] = assignment
        writer.csv("splits.csv", splits)
        config_dict = asdict(config)
        writer.json("run.json", {
            "task": "dimensional", "targets": targets, "command": " ".join(["run_benchmark.py", *(argv or [])]),
            "dataset": corpus.name, "seed": config.seed, "config": config_dict, "models": names,
            "inputs": {m: _label(s) for m, s in inputs.items()},
            "corpus": {"root": str(corpus.root), "utterances": len(table), "speakers": int(len(set(speakers))),
                       "skipped": [{"path": s.path, "reason": s.reason} for s in corpus.skipped],
                       "notes": corpus.notes},
            "split": split.provenance() if split else None,
            "fits": {"run": len(results), "cached": fits_cached, "cache_problems": cache.problems},
            "finished": datetime.now().isoformat(timespec="seconds"),
        })
        if config.report:
            report.plot_predictions(writer.path, predictions, board, targets)
        run_dir = writer.commit()
    except BaseException:
        writer.discard()
        raise
    if config.report:
        report.write_html_report(run_dir)
    say(report.render(board, targets, "console"))
    say(f"fits: {len(results)} run, {fits_cached} from the cache")
    say(f"results: {run_dir}")
    if not (folds_frame["status"] == "ok").any():
        from .engine import RunFailed

        raise RunFailed(f"every fit failed (first: {folds_frame['error'].iloc[0]}); tables in {run_dir}")
    return DimensionalResult(run_dir, board, len(results), fits_cached)


def _label(sets: tuple[str, ...]) -> str:
    for group, members in GROUPS.items():
        if tuple(sets) == tuple(members):
            return group
    return "+".join(sets)


def _run_fits(todo: dict, arrays: dict, Y: np.ndarray, speakers: np.ndarray, seed: int, jobs: int) -> dict:
    """Every fit to run, side by side on ``jobs`` processes (one thread each); the result never depends on
    ``jobs``: each fit depends on its arguments alone."""
    items = list(todo.items())
    if not items:
        return {}
    calls = [(model, params, seed, arrays[sets], Y, speakers, fold.train, fold.test, fold.dev)
             for _, (model, params, sets, fold) in items]
    if jobs <= 1 or len(items) == 1:
        out = [fit_regression(*call) for call in calls]
    else:
        from joblib import Parallel, delayed

        out = Parallel(n_jobs=min(jobs, len(items)), backend="loky")(delayed(fit_regression)(*c) for c in calls)
    return {key: record for (key, _), record in zip(items, out, strict=True)}
