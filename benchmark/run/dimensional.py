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
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.corpora.targets import load_dimensional
from benchmark.evaluation.audit import audit, format_audit
from benchmark.evaluation.normalisation import speaker_normalise
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
from features import GROUPS, extract, get_feature_set, load_plugins, pad_sequences, resolve
from features.bank import effective_jobs
from features.cache import default_cache_dir
from features.pool import shutdown_pool
from features.sequences import MAX_SEQUENCE_STEPS
from models.regression import (
    DEFAULT_REGRESSORS,
    REGRESSORS,
    make_regressor,
    resolve_regressors,
    tuned_regressor,
)

from .backends import DaskSession, Job, default_backend, run_dask, run_processes, run_serial, thread_budget
from .config import DEFAULT_MODELS, ConfigError, RunConfig
from .fitcache import row_digests, rows_digest
from .fitting import FitRecord, FitSpec, load_plugin_sources, open_input, plugin_sources
from .folder import RunFolderWriter
from .plan import CORPUS_NORM

TARGETS = ("arousal", "valence", "dominance")
FORMAT = 1
SPEAKER_NORM = "@spk-norm"  # marks an input z-normalised per speaker, in the features column of every table
CORPUS_NORM_PARAM = "__corpus_norm__"  # in a FitSpec's params: z-score per corpus inside the fit


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


def run_regression_fit(spec: FitSpec, X, Y: np.ndarray, groups: np.ndarray, train: np.ndarray, test: np.ndarray,
                       dev: np.ndarray | None = None, extras: tuple = ()) -> FitRecord:
    """One dimensional fit, the unit of work the backends run (:func:`benchmark.run.fitting.run_fit`'s signature).

    The regressor is fitted on ``X[train], Y[train]`` (development rows, when given, for early stopping and
    tuning) and predicts ``X[test]``: a :class:`FitRecord` whose ``predictions`` are (n_test, d) floats. ``X`` is
    an array or a ``.npy`` path (the processes backend). ``groups`` is (n, 2): speaker and corpus of each row.
    Test targets are never read. ``spec.params`` may hold ``__corpus_norm__``: the features of each corpus are
    then z-scored with the statistics of that corpus's *training* rows (never a test row's). A failure is returned
    as a failed record, never raised.
    """
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    try:
        load_plugin_sources(spec.plugins)
        X = open_input(X)
        params = dict(spec.params)
        corpus_norm = bool(params.pop(CORPUS_NORM_PARAM, False))
        groups = np.asarray(groups)
        speakers, corpora = groups[:, 0], groups[:, 1]
        with threadpool_limits(limits=max(1, spec.threads)):
            estimator = make_regressor(spec.model, random_state=spec.seed, n_jobs=spec.threads, **params)
            if spec.tune:
                estimator = tuned_regressor(spec.model, estimator, random_state=spec.seed)
            rows = np.concatenate([train, test, dev if dev is not None else np.zeros(0, dtype=int)])
            if corpus_norm:
                X = corpus_normalise_in_fold(X, corpora, train, rows)
            kwargs = {"groups": speakers[train]}
            if dev is not None and len(dev):
                kwargs["validation"] = (np.asarray(X[dev]), Y[dev])
            estimator.fit(np.asarray(X[train]), Y[train], **kwargs)
            predictions = np.asarray(estimator.predict(np.asarray(X[test])), dtype=np.float64)
    except Exception as error:  # recorded as a failed fold, shown in every table
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return FitRecord("failed", f"{type(error).__name__}: {message}"[:300],
                         seconds=round(time.perf_counter() - start, 3), traceback=traceback.format_exc())
    seconds = round(time.perf_counter() - start, 3)
    if predictions.shape != (len(test), Y.shape[1]) or not np.isfinite(predictions).all():
        return FitRecord("failed", f"bad predictions: shape {predictions.shape} or not finite", seconds=seconds)
    best = getattr(estimator, "best_params_", None)
    return FitRecord("ok", "", predictions, epochs=getattr(estimator, "n_epochs_", None),
                     best_params=dict(best) if best else None, seconds=seconds)


def corpus_normalise_in_fold(X, corpora: np.ndarray, train: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``X`` with each corpus's ``rows`` z-scored by the mean and sd of that corpus's training rows.

    A corpus with no training row in the fold is scaled by all the training rows' statistics: the statistics
    always come from training rows, so a test row never moves them. Vectors (n, d) or NaN-padded sequences
    (n, T, d), whose statistics are over real frames; rows not in ``rows`` are left as they are.
    """
    X = np.asarray(X, dtype=np.float32)
    out = X.copy()
    corpora = np.asarray(corpora).astype(str)

    def stats(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frames = block.reshape(-1, block.shape[-1]).astype(np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column stays NaN, imputed later
            mean, std = np.nanmean(frames, axis=0), np.nanstd(frames, axis=0)
        return mean, np.where(std > 1e-8, std, 1.0)

    fallback = stats(X[train])
    for corpus in np.unique(corpora[rows]):
        members = rows[corpora[rows] == corpus]
        own = train[corpora[train] == corpus]
        mean, std = stats(X[own]) if len(own) else fallback
        out[members] = ((X[members] - mean) / std).astype(np.float32)
    return out


def fit_regression(model: str, params: dict, seed: int, X: np.ndarray, Y: np.ndarray, speakers: np.ndarray,
                   train: np.ndarray, test: np.ndarray, dev: np.ndarray | None, tune: bool = False,
                   corpora: np.ndarray | None = None) -> dict:
    """:func:`run_regression_fit` for one model in this process, as a dict (``predictions`` or ``error``)."""
    groups = np.column_stack([np.asarray(speakers).astype(str),
                              np.asarray(corpora if corpora is not None else ["corpus"] * len(X)).astype(str)])
    spec = FitSpec(model, tuple(sorted(params.items())), seed, 1, (), tune)
    record = run_regression_fit(spec, X, Y, groups, train, test, dev)
    if record.status != "ok":
        return {"error": record.error, "seconds": record.seconds}
    return {"predictions": record.predictions, "epochs": record.epochs, "best_params": record.best_params,
            "seconds": record.seconds}


class RegressionCache:
    """Finished fits under ``root/fits-dimensional``, keyed by everything that decides them."""

    def __init__(self, root: Path, persist: bool):
        self.root, self.persist = Path(root) / "fits-dimensional", persist
        self.problems: list[str] = []

    def get(self, key: str, n_test: int) -> FitRecord | None:
        path = self.root / f"{key}.npz"
        if not self.persist or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                predictions = data["predictions"].astype(np.float64)
                meta = json.loads(str(data["meta"]))
            if meta.get("key") != key or len(predictions) != n_test:
                raise ValueError("record does not match its key")
            return FitRecord("ok", "", predictions, epochs=meta.get("epochs"), best_params=meta.get("best_params"),
                             seconds=meta["seconds"], cached=True)
        except (OSError, ValueError, KeyError) as error:
            self.problems.append(f"{path}: unreadable fit record ({type(error).__name__}); refitted")
            path.unlink(missing_ok=True)
            return None

    def put(self, key: str, record: FitRecord) -> None:
        if not self.persist or record.status != "ok" or record.predictions is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{key}.{os.getpid()}.tmp.npz"
        np.savez(tmp, predictions=record.predictions, meta=np.array(json.dumps(
            {"key": key, "epochs": record.epochs, "best_params": record.best_params, "seconds": record.seconds},
            default=_plain)))
        tmp.replace(self.root / f"{key}.npz")


def _plain(value):
    """JSON for numpy scalars in chosen parameters."""
    return value.item() if hasattr(value, "item") else repr(value)


def _code_digest() -> str:
    """The code that decides a dimensional fit: the regressors, the shared sequence and TensorFlow helpers, and
    this module (the fit function and the in-fold normalisation)."""
    import features.sequences
    import models.neural.training
    import models.regression
    import models.scaling

    h = hashlib.sha256()
    for module in (models.regression, models.scaling, models.neural.training, features.sequences):
        h.update(Path(module.__file__).read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()


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
    for name in config.inputs:
        if name not in names:
            raise ConfigError(f"--input {name}={config.inputs[name]}: {name!r} is not a regressor of this run")
    if config.tune:
        for name in names:
            tuned_regressor(name, make_regressor(name))  # a regressor without a grid: one line now, not per fit
    crossing = [p for p in protocols if p in CROSS_CORPUS]
    if crossing:
        raise ConfigError(f"--protocols {crossing[0]}: not available for --task dimensional")
    # flags of the categorical run this task has no counterpart for: refused, never silently ignored
    ignored = [flag for flag, on in (("--repeats", config.repeats > 1), ("--augment", bool(config.augment)),
                                     ("--balance", bool(config.balance)), ("--leaks", bool(config.leaks)),
                                     ("--robustness", bool(config.robustness)), ("--groups", bool(config.groups)),
                                     ("--near-duplicates", config.near_duplicates),
                                     ("--emotions", bool(config.emotions))) if on]
    if ignored:
        raise ConfigError(f"{ignored[0]}: not available for --task dimensional; leave it out")
    vector_sets = resolve(list(config.features))
    inputs = {m: regressor_input(m, vector_sets, config.inputs) for m in names}
    sequence_sets = sorted({inputs[m][0] for m in names if REGRESSORS[m].input_kind == "sequence"})
    jobs = effective_jobs(config.jobs)
    cache_root = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    # Normalised variants get rows of their own, marked in the features column as in the categorical tables.
    variants = [("", None)] + ([(SPEAKER_NORM, "speaker")] if config.speaker_norm else []) + (
        [(CORPUS_NORM, "corpus")] if config.corpus_norm else [])

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

    backend = config.backend or ("dask" if config.scheduler else default_backend(jobs))
    dask = None
    try:
        if backend == "dask":
            dask = DaskSession(config.scheduler, workers=jobs, threads=1)
            say(f"dask: {dask.workers()} worker thread(s) at {dask.address}")
        needed = sorted({s for sets in inputs.values() for s in sets} - set(sequence_sets))
        feats = extract(corpus.table, needed, config.analysis, sequence_sets=sequence_sets,
                        cache_dir=config.cache_dir, use_cache=config.use_cache, jobs=jobs, plugins=config.plugins,
                        content_hash=config.content_hash, progress=None if not config.quiet else False,
                        parallel_backend="dask" if dask else None)
        say(f"features: {feats.report.summary_line()}")
        table = feats.table.reset_index(drop=True)
        Y = table[targets].to_numpy(dtype=np.float64)
        speakers = table["speaker"].astype(str).to_numpy()
        corpora = table["corpus"].astype(str).to_numpy() if "corpus" in table else np.full(len(table), corpus.name)
        groups = np.column_stack([speakers, corpora])
        strat = table.copy()
        strat["emotion"] = stratification_labels(Y[:, 0])
        by_part = split is not None and bool(split.partition)
        folds = {p: partition_folds(strat, split, p) if by_part and p in ("speaker", "speaker+text") else
                 make_folds(p, strat, config.folds, config.seed, config.loso, fold_file) for p in protocols}
        audit_report = audit(strat, folds, split=split)
        say("")
        say(format_audit(audit_report))
        say("")

        arrays: dict[str, np.ndarray] = {}  # input name (the sets' label, "@spk-norm" when per-speaker) -> array
        for sets in set(inputs.values()):
            if sets[0] in sequence_sets:
                sequences = feats.sequences[sets[0]]
                X = pad_sequences(sequences, min(max(len(q) for q in sequences), MAX_SEQUENCE_STEPS))
            else:
                X = feats.matrix(list(sets))[0].astype(np.float64)
            arrays[_label(sets)] = X
            if config.speaker_norm:  # each speaker's own unlabelled rows: no other speaker's row moves them
                arrays[_label(sets) + SPEAKER_NORM] = speaker_normalise(X, speakers)
        digests = {name: row_digests(X.astype(np.float32)) for name, X in arrays.items()}
        cache = RegressionCache(cache_root, config.use_cache)
        code = _code_digest()
        plugins = plugin_sources(config.plugins)
        planned, jobs_by_key = [], {}
        for suffix, variant in variants:
            for model in names:
                params = dict(config.model_params.get(model, {}))
                if variant == "corpus":
                    params[CORPUS_NORM_PARAM] = True  # z-scored per corpus inside the fit, on training rows
                input_name = _label(inputs[model]) + (SPEAKER_NORM if variant == "speaker" else "")
                d = digests[input_name]
                for protocol in protocols:
                    for fold in folds[protocol]:
                        key = _fit_key(model, params, config, code, d, Y, speakers, corpora, fold, variant)
                        planned.append((model, protocol, fold, key, _label(inputs[model]) + suffix))
                        if key not in jobs_by_key:
                            spec = FitSpec(model, tuple(sorted(params.items())), config.seed, 1, plugins,
                                           config.tune)
                            jobs_by_key[key] = Job(key, spec, input_name, fold.train, fold.test, fold.dev,
                                                   _fit_cost(model, config.tune))
        records: dict[str, FitRecord] = {}
        for key, job in jobs_by_key.items():
            cached = cache.get(key, len(job.test))
            if cached is not None:
                records[key] = cached
        fits_cached = len(records)
        todo = sorted((j for k, j in jobs_by_key.items() if k not in records), key=lambda j: -j.cost)
        parallel, _threads = thread_budget(jobs, backend, len(todo))
        if dask is not None:
            parallel = dask.workers()
        say(f"fits: {len(todo)} to run, {fits_cached} from the cache ({backend}, {parallel} side by side)")
        for problem in cache.problems:
            say(f"  cache: {problem}")
        fits_run = 0

        def on_done(job: Job, record: FitRecord) -> None:
            nonlocal fits_run
            cache.put(job.key, record)  # at once: an interrupted run keeps every finished fit
            records[job.key] = record
            fits_run += 1
            if record.status != "ok":
                say(f"failed: {job.spec.model} fit {job.key[:8]}: {record.error}")

        try:
            if todo and (backend == "serial" or (parallel == 1 and backend != "dask")):
                run_serial(todo, arrays, Y, groups, on_done, fit=run_regression_fit)
            elif todo and backend == "processes":
                run_processes(todo, arrays, Y, groups, on_done, parallel, 1, fit=run_regression_fit)
            elif todo:
                run_dask(todo, arrays, Y, groups, on_done, dask.client, fit=run_regression_fit)
        except KeyboardInterrupt:
            from .engine import RunInterrupted

            where = f"cached in {cache.root}" if cache.persist else "not kept (--no-cache)"
            raise RunInterrupted(f"interrupted: {fits_run} of {len(todo)} fits finished and are {where}; run the "
                                 "same command again to continue from there") from None
    finally:
        if dask is not None:
            dask.close()
        # The run's one pool (extraction's and the fits' workers) stops with its fits, as in the categorical
        # engine: no worker keeps this run's plugins, TensorFlow state or memory-mapped inputs into the next run
        # of the same process, and an interrupted run leaves no worker behind.
        shutdown_pool(kill_workers=True)

    fold_rows, prediction_frames = [], []
    for model, protocol, fold, key, label in planned:
        record = records.get(key) or FitRecord("failed", "not run")
        row = {"dataset": corpus.name, "features": label, "model": model, "protocol": protocol,
               "fold": fold.index, "fold_name": fold.name or "", "n_train": len(fold.train), "n_test": len(fold.test),
               "n_dev": 0 if fold.dev is None else len(fold.dev),
               "n_test_speakers": len(set(speakers[fold.test].tolist())), "seconds": record.seconds,
               "epochs": record.epochs or "", "cached": bool(record.cached),
               "best_params": json.dumps(record.best_params, sort_keys=True, default=_plain)
               if record.best_params else ""}
        if record.status != "ok":
            row.update(status="failed", error=record.error)
        else:
            row.update(status="ok", error="", **regression_scores(Y[fold.test], record.predictions, targets))
            frame = pd.DataFrame({"model": model, "features": label, "protocol": protocol, "fold": fold.index,
                                  "row": fold.test, "speaker": speakers[fold.test]})
            for j, target in enumerate(targets):
                frame[f"true_{target}"] = Y[fold.test, j]
                frame[f"pred_{target}"] = np.round(record.predictions[:, j], 6)
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
            "fits": {"backend": backend, "parallel": parallel, "threads_per_fit": 1, "run": fits_run,
                     "cached": fits_cached, "planned": len(jobs_by_key), "cache_problems": cache.problems},
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
    say(f"fits: {fits_run} run, {fits_cached} from the cache")
    say(f"results: {run_dir}")
    if not (folds_frame["status"] == "ok").any():
        from .engine import RunFailed

        raise RunFailed(f"every fit failed (first: {folds_frame['error'].iloc[0]}); tables in {run_dir}")
    return DimensionalResult(run_dir, board, fits_run, fits_cached)


def _label(sets: tuple[str, ...]) -> str:
    for group, members in GROUPS.items():
        if tuple(sets) == tuple(members):
            return group
    return "+".join(sets)


def regressor_input(model: str, vector_sets: Sequence[str], overrides: dict[str, str]) -> tuple[str, ...]:
    """The feature sets ``model`` takes: ``--input MODEL=SET`` if given, else its default, else the bank.

    Raises
    ------
    ConfigError
        A vector set for a sequence regressor, or a sequence set for a vector one (the flag named).
    """
    spec = REGRESSORS[model]
    name = overrides.get(model, spec.default_input)
    if name is None:
        return tuple(vector_sets)
    is_sequence = name not in GROUPS and get_feature_set(name).kind != "vector"
    if spec.input_kind == "sequence" and not is_sequence:
        raise ConfigError(f"--input {model}={name}: {model} takes a sequence set (frames), {name!r} is a vector set")
    if spec.input_kind != "sequence" and is_sequence:
        raise ConfigError(f"--input {model}={name}: {model} takes feature vectors, {name!r} is a sequence set")
    return (name,) if is_sequence else tuple(resolve(name))


def _fit_key(model: str, params: dict, config: RunConfig, code: str, digests: np.ndarray, Y: np.ndarray,
             speakers: np.ndarray, corpora: np.ndarray, fold, variant: str | None) -> str:
    """Everything that decides a fit's predictions, hashed: same key, same fit, whatever run asks for it."""
    model_params = {k: v for k, v in params.items() if k != CORPUS_NORM_PARAM}
    payload = {"format": FORMAT, "model": model, "params": make_regressor(model, **model_params).get_params(),
               "seed": config.seed, "code": code,
               "train": rows_digest(digests[fold.train], Y[fold.train].round(9).astype(str), speakers[fold.train]),
               "test": rows_digest(digests[fold.test]),
               "dev": rows_digest(digests[fold.dev], Y[fold.dev].round(9).astype(str)) if fold.dev is not None
               else None}
    if config.tune:  # only when on, so that the keys of untuned fits stay what they were
        payload["tune"] = True
    if variant == "corpus":  # the corpus of every row decides the in-fold statistics
        parts = [("train", fold.train), ("test", fold.test)] + ([("dev", fold.dev)] if fold.dev is not None else [])
        rows = np.concatenate([r for _, r in parts])
        roles = np.concatenate([np.full(len(r), role) for role, r in parts])
        payload["corpus_norm"] = rows_digest(corpora[rows].astype(str), roles)
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=repr).encode()).hexdigest()


def _fit_cost(model: str, tune: bool) -> float:
    """A rough relative cost, to start the longest fits first (the order never changes a result)."""
    spec = REGRESSORS[model]
    cost = (20.0 if spec.input_kind == "sequence" else 4.0) if spec.neural else 2.0 if model == "xgboost" else 1.0
    return cost * (4.0 if tune else 1.0)
