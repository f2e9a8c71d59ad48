"""The benchmark run: corpus -> features -> folds -> leakage audit -> planned fits on a backend -> run folder.

The grid is planned first (every fit known before any runs), then the fits the cache lacks are mapped over a
backend, each finished fit cached at once, then everything is scored from the fit records and written.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.corpora import Corpus, is_multi_corpus, load_corpora, load_corpus, parse_corpus_specs
from benchmark.evaluation.audit import audit, format_audit
from benchmark.evaluation.degenerate import degenerate_reason
from benchmark.evaluation.metrics import fold_scores
from benchmark.evaluation.normalisation import corpus_normalise, speaker_normalise
from benchmark.evaluation.protocols import (
    CROSS_CORPUS,
    Fold,
    check_fold_count,
    fold_notes,
    make_folds,
    read_fold_file,
    resolve_protocols,
    validate_fold_file,
)
from benchmark.evaluation.splits import partition_folds, resolve_split
from benchmark.reports import crosscorpus
from benchmark.reports.rundir import (
    CURVE_COLUMNS,
    FOLD_EXTRA,
    FOLDS_COLUMNS,
    FOLDS_TAIL,
    PREDICTION_COLUMNS,
    REPEAT_COLUMNS,
    SPLIT_COLUMNS,
)
from benchmark.reports.tables import render_console, write_exports
from benchmark.seeds.claims import recipes_for, write_claims
from features import extract, load_plugins, pad_sequences, resolve
from features.bank import effective_jobs, start_warm_up
from features.cache import default_cache_dir
from features.opensmile_sets import require as require_extras
from features.pool import shutdown_pool, wait_for_warm_up
from features.sequences import MAX_SEQUENCE_STEPS
from models import make_model
from models.registry import MODELS, check_params, get_model, resolve_models
from models.tuning import tuned

from . import backends
from .config import ConfigError, RunConfig
from .experiment import to_toml
from .fitcache import FitCache, fit_key, library_versions, row_digests, rows_digest
from .fitting import FitRecord, FitSpec, check_fit, plugin_sources
from .folder import RunFolderWriter
from .machine import machine_info
from .plan import CORPUS_NORM, Entry, InputSpec, fit_cost, input_for, plan_ablation, plan_entries
from .precheck import check_table
from .repeats import fold_draws, repeat_seeds
from .robustness import RobustnessPlan, parse_conditions, robust_entries

EXPERIMENT_HEADER = ("The resolved flags of this run: `run_benchmark.py run --config experiment.toml` runs it again\n"
                     "(flags on the command line override these); `reproduce RUN_DIR` compares the two.")


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during the fits: every finished fit is cached; the message says how many."""


@dataclass
class RunResult:
    run_dir: Path
    corpus: Corpus
    audit: dict
    folds: pd.DataFrame
    fits_run: int
    fits_cached: int


@dataclass
class RunContext:
    """What the phases of :func:`run_benchmark` hand on: the request, then each phase's results, in order."""

    config: RunConfig
    argv: Sequence[str] | None
    experiment: dict | None
    expect_fingerprint: str | None
    say: Callable[[str], None]
    timings: dict[str, float] = field(default_factory=dict)
    clock: float = 0.0
    # check
    model_names: list[str] = field(default_factory=list)
    protocols: list[str] = field(default_factory=list)
    vector_sets: list[str] = field(default_factory=list)
    inputs_of: dict = field(default_factory=dict)
    conditions: list = field(default_factory=list)
    condition_notes: list = field(default_factory=list)
    jobs: int = 1
    cache_root: Path | None = None
    # corpus (and the plan of fits it allows)
    corpus: Corpus | None = None
    split: object = None
    fold_file: object = None
    entries: list = field(default_factory=list)
    ablation: list = field(default_factory=list)
    input_specs: dict = field(default_factory=dict)
    vector_needed: list[str] = field(default_factory=list)
    sequence_needed: list[str] = field(default_factory=list)
    backend: str = "serial"
    dask: object = None
    # features
    feats: object = None
    report: object = None
    table: pd.DataFrame | None = None
    # folds and audit
    seeds: list = field(default_factory=list)
    draws: list = field(default_factory=list)
    folds: dict = field(default_factory=dict)
    audit_report: dict = field(default_factory=dict)
    # fits
    grid: Grid | None = None
    records: dict = field(default_factory=dict)
    leak_rows: list = field(default_factory=list)
    # write
    run_dir: Path | None = None


def run_benchmark(config: RunConfig, argv: Sequence[str] | None = None,
                  log: Callable[[str], None] | None = None, experiment: dict | None = None,
                  expect_fingerprint: str | None = None) -> RunResult:
    """Run the whole benchmark and write ``<out>/<dataset>-<timestamp>/``; returns where and what.

    ``experiment`` (the resolved flags, in experiment-file form) is kept in run.json and as experiment.toml;
    ``expect_fingerprint`` (``reproduce``) stops the run before any fit when the corpus found differs from it.
    The phases run in order, each reading what the earlier ones left in one :class:`RunContext`.
    """
    say = log or ((lambda _: None) if config.quiet else print)
    ctx = RunContext(config, argv, experiment, expect_fingerprint, say, clock=time.perf_counter())
    try:
        _check_phase(ctx)
        _warm_up_while_generating(ctx)
        _corpus_phase(ctx)
        ctx.backend = config.backend or ("dask" if config.scheduler else backends.default_backend(ctx.jobs))
        try:
            if ctx.backend == "dask":
                ctx.dask = backends.DaskSession(config.scheduler, workers=ctx.jobs, threads=1)
                say(f"dask: {ctx.dask.workers()} worker thread(s) at {ctx.dask.address}")
            _features_phase(ctx)
            _folds_and_audit_phase(ctx)
            _fits_phase(ctx)
        finally:
            if ctx.dask is not None:
                ctx.dask.close()
    except BaseException:
        shutdown_pool(kill_workers=True)  # a failed or interrupted run stops its workers, whatever they run
        raise
    # One pool per run (extraction's and the fits' workers): stopped here, so that no worker keeps a run's
    # plugins, TensorFlow state or memory-mapped inputs into the next run of this process.
    shutdown_pool(kill_workers=True)
    _write_phase(ctx)
    return _print_phase(ctx)


def _warm_up_while_generating(ctx: RunContext) -> None:
    """When the built-in corpus is about to be generated, compile librosa's numba functions meanwhile, in a
    worker of the run's pool (which extraction will use): the corpus's files are new, so their features will be
    computed. Every other corpus goes straight to extraction, which warms up on the pool first anyway."""
    config = ctx.config
    if config.backend not in (None, "processes") or config.scheduler or is_multi_corpus(config.dataset) \
            or config.emotions or (config.dataset or "synthetic") != "synthetic" or ctx.jobs < 2:
        return
    from benchmark.corpora.synthetic import corpus_dir

    folder = Path(config.data_dir) if config.data_dir else corpus_dir(config.cache_dir, config.seed, config.profile)
    if (folder / "COMPLETE.json").is_file():
        return
    names = {s for spec in ctx.inputs_of.values() for s in spec.sets} | set(ctx.vector_sets if config.ablation
                                                                             else ())
    start_warm_up(sorted(names), config.analysis, ctx.jobs, config.plugins)


def _check_phase(ctx: RunContext) -> None:
    """Everything that can be checked without audio."""
    config = ctx.config
    config.validate()
    load_plugins(config.plugins)
    model_names = resolve_models(list(config.models))
    for name, params in config.model_params.items():
        if name not in MODELS:  # a misspelt model name would otherwise be ignored
            raise ConfigError(f"--set {name}.{next(iter(params), '')}: unknown model {name!r}; choose from: "
                              f"{', '.join(MODELS)}")
        check_params(name, params)
    for name in config.inputs:
        if name not in model_names:
            raise ConfigError(f"--input {name}=…: model {name!r} is not in this run")
    protocols = resolve_protocols(",".join(config.protocols))
    vector_sets = resolve(list(config.features))
    require_extras([*vector_sets, *config.inputs.values()])
    if config.tune:
        for name in model_names:
            tuned(name, make_model(name))  # a model without a grid is a one-line error now, not at every fit
    inputs_of = {m: input_for(m, vector_sets, config.inputs) for m in model_names}
    conditions, condition_notes = parse_conditions(config.robustness) if config.robustness else ([], [])
    jobs = effective_jobs(config.jobs)
    cache_root = Path(config.cache_dir) if config.cache_dir else default_cache_dir()

    ctx.model_names = model_names
    ctx.protocols = protocols
    ctx.vector_sets = vector_sets
    ctx.inputs_of = inputs_of
    ctx.conditions = conditions
    ctx.condition_notes = condition_notes
    ctx.jobs = jobs
    ctx.cache_root = cache_root


def _corpus_phase(ctx: RunContext) -> None:
    """The corpus, then everything its table decides (splits, fold counts), then the plan of fits."""
    config, say, timings, clock = ctx.config, ctx.say, ctx.timings, ctx.clock
    model_names, protocols, vector_sets, inputs_of = ctx.model_names, ctx.protocols, ctx.vector_sets, ctx.inputs_of
    corpus = open_corpus(config)
    timings["corpus"] = _lap(clock)
    say(corpus_line(corpus))
    for line in [*corpus.notes, *corpus.warnings]:
        say(f"  {line}")
    for skip in corpus.skipped[:5]:
        say(f"  skipped {skip.path}: {skip.reason}")
    if len(corpus.skipped) > 5:
        say(f"  ... and {len(corpus.skipped) - 5} more (all listed in run.json)")
    if config.groups:  # a column the corpus lacks is refused before any audio is decoded
        from benchmark.evaluation.fairness import check_group_columns

        check_group_columns(corpus.table, config.groups)
    split = resolve_split(config.split, corpus.name) if config.split else None
    fold_file = split.fold_file if split else read_fold_file(config.fold_file) if config.fold_file else None
    if fold_file is not None and any(p not in CROSS_CORPUS for p in protocols):
        validate_fold_file(fold_file, corpus.table["speaker"].astype(str).unique())
    for protocol in protocols:  # --folds the corpus cannot give: refused before any audio is decoded
        check_fold_count(protocol, corpus.table, config.folds)
    check_table(corpus.table, protocols, config.folds, config.seed, config.loso, fold_file)  # all the table decides

    entries = plan_entries(model_names, protocols, inputs_of, config.speaker_norm, config.corpus_norm)
    ablation, ablation_inputs = plan_ablation(model_names, protocols, vector_sets, inputs_of) \
        if config.ablation else ([], [])
    input_specs = {s.name: s for s in [*inputs_of.values(), *ablation_inputs]}
    vector_needed = sorted({s for spec in input_specs.values() if spec.kind == "vector" for s in spec.sets},
                           key=lambda s: (vector_sets.index(s) if s in vector_sets else len(vector_sets), s))
    sequence_needed = sorted({spec.name for spec in input_specs.values() if spec.kind == "sequence"})
    ctx.corpus = corpus
    ctx.split = split
    ctx.fold_file = fold_file
    ctx.entries = entries
    ctx.ablation = ablation
    ctx.input_specs = input_specs
    ctx.vector_needed = vector_needed
    ctx.sequence_needed = sequence_needed


def _features_phase(ctx: RunContext) -> None:
    """Every vector and sequence set the plan needs, extracted (or read from the cache)."""
    config, say, timings, corpus = ctx.config, ctx.say, ctx.timings, ctx.corpus
    vector_needed, sequence_needed, jobs, dask = ctx.vector_needed, ctx.sequence_needed, ctx.jobs, ctx.dask
    expect_fingerprint = ctx.expect_fingerprint
    clock = time.perf_counter()
    feats = extract(corpus.table, vector_needed, config.analysis, sequence_sets=sequence_needed,
                    cache_dir=config.cache_dir, use_cache=config.use_cache, jobs=jobs, plugins=config.plugins,
                    content_hash=config.content_hash, progress=None if not config.quiet else False,
                    parallel_backend="dask" if dask else None)
    wait_for_warm_up()  # joined even when nothing was computed: later phases may use librosa here
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
    if report.failed and (config.strict or table["emotion"].nunique() < 2):
        # Files that failed are why too few are left (or --strict): name the set to blame and the first reason.
        raise ConfigError(f"{report.failure_line()}{' (--strict is on)' if config.strict else ''}")
    if table["emotion"].nunique() < 2:
        raise ConfigError("fewer than two emotions left after feature extraction; nothing to classify")
    if expect_fingerprint is not None and corpus_fingerprint(table) != expect_fingerprint:
        raise CorpusChanged(f"the corpus found ({corpus_line(corpus)}; fingerprint "
                            f"{corpus_fingerprint(table)}) is not the run's (fingerprint {expect_fingerprint}):"
                            " other files, labels or speakers")
    ctx.feats = feats
    ctx.report = report
    ctx.table = table


def _folds_and_audit_phase(ctx: RunContext) -> None:
    """The folds of every protocol and repeat, and the leakage audit of each draw."""
    config, say, timings, table = ctx.config, ctx.say, ctx.timings, ctx.table
    split, fold_file, protocols, jobs = ctx.split, ctx.fold_file, ctx.protocols, ctx.jobs
    clock = time.perf_counter()
    by_part = split is not None and bool(split.partition)  # a per-utterance split (MSP-Podcast's partitions)

    def draw_folds(protocol: str, seed: int) -> list[Fold]:
        if by_part and protocol in ("speaker", "speaker+text"):
            return partition_folds(table, split, protocol)  # fixed partitions: the same in every draw
        return make_folds(protocol, table, config.folds, seed, config.loso, fold_file)

    seeds = repeat_seeds(config.seed, config.repeats)
    draws = fold_draws(protocols, seeds, config.repeat_folds, draw_folds)
    folds = draws[0]
    for note in fold_notes(protocols, table, config.folds, config.loso, fold_file):
        say(f"  {note}")
    audit_report = audit(table, folds, split=split)
    for draw in draws[1:]:  # every further fold draw is audited too; the report shows the first one
        if draw is not folds:
            audit(table, draw, split=split)
    if config.near_duplicates:  # the same recording re-encoded, resampled, trimmed, gain-changed, noised, shifted
        from benchmark.evaluation.duplicates import add_near_duplicates

        add_near_duplicates(audit_report, table, folds, jobs)
    if config.groups:
        from benchmark.evaluation.fairness import balance

        audit_report["groups"] = {c: balance(table, c) for c in config.groups}
    timings["protocols_and_audit"] = _lap(clock)
    say("")
    say(format_audit(audit_report))
    say("")
    ctx.seeds = seeds
    ctx.draws = draws
    ctx.folds = folds
    ctx.audit_report = audit_report


def _fits_phase(ctx: RunContext) -> None:
    """The model inputs, the grid of fits (with robustness and leak pipelines when asked), run."""
    config, say, timings, table, feats = ctx.config, ctx.say, ctx.timings, ctx.table, ctx.feats
    input_specs, folds, draws, seeds = ctx.input_specs, ctx.folds, ctx.draws, ctx.seeds
    entries, ablation, conditions, condition_notes = ctx.entries, ctx.ablation, ctx.conditions, ctx.condition_notes
    cache_root, jobs, backend, dask = ctx.cache_root, ctx.jobs, ctx.backend, ctx.dask
    inputs_of, model_names, fold_file = ctx.inputs_of, ctx.model_names, ctx.fold_file
    arrays = build_inputs(feats, input_specs, table, config.speaker_norm, config.corpus_norm)
    grid_table, grid_folds = table, folds
    if config.augment:  # copies of the training clips join the training folds only
        from .augmenting import augment_inputs

        grid_table, arrays, grid_folds = augment_inputs(config, feats, table, arrays, input_specs, folds,
                                                        cache_root, jobs, say)
    # augmented rows join the first draw's training folds; --augment with --repeat-folds is refused up front
    grid = Grid(entries + ablation, grid_folds, arrays, grid_table, config, cache_root,
                draws=None if config.augment else draws, seeds=seeds)
    if conditions:
        grid.robust = RobustnessPlan(conditions, robust_entries(entries), condition_notes)
        clock = time.perf_counter()
        grid.robust.build(table, folds, input_specs, arrays, config, say)
        grid.robust.attach(grid)
        timings["robustness_features"] = _lap(clock)
    clock = time.perf_counter()
    records = grid.run(backend, jobs, dask, say)
    timings["models"] = _lap(clock)
    leak_rows = []
    if config.leaks or config.system_leaks:  # deliberately leaky pipelines, measured beside the honest row; they never rank
        from .leakrun import leak_stage

        clock = time.perf_counter()
        leak_rows = leak_stage(config, table, folds, inputs_of, arrays, model_names, cache_root, jobs,
                               fold_file, say, canonical=_canonical_params, code_of=model_code_digest)
        timings["leaks"] = _lap(clock)
    ctx.grid = grid
    ctx.records = records
    ctx.leak_rows = leak_rows


def _write_phase(ctx: RunContext) -> None:
    """The run folder, written in a staging folder and committed whole (or discarded on any failure)."""
    config, corpus, grid, records, leak_rows = ctx.config, ctx.corpus, ctx.grid, ctx.records, ctx.leak_rows
    table, cache_root, model_names, protocols = ctx.table, ctx.cache_root, ctx.model_names, ctx.protocols
    writer = RunFolderWriter(Path(config.out), corpus.name)
    try:
        scored = score_grid(grid, records)
        write_run(writer, scored, ctx)
        if leak_rows:
            from .leakrun import write_leakage

            write_leakage(writer, leak_rows, config.report)
        if grid.robust is not None or config.groups:
            from benchmark.reports.robustness import write_robustness_and_fairness

            write_robustness_and_fairness(writer, grid, table, config)
        writer.seal()
        write_exports(writer.path)
        if any(m in recipes_for(None) for m in model_names):
            write_claims(writer.path)
            if leak_rows:
                from benchmark.seeds.decompose import write_claims_leaks

                write_claims_leaks(writer.path)
        if any(p in CROSS_CORPUS for p in protocols):
            for fmt, filename in (("md", "crosscorpus.md"), ("csv", "crosscorpus.csv"), ("latex", "crosscorpus.tex")):
                writer.text(filename, crosscorpus.render(writer.path, fmt))
        if config.report:  # in the staging folder too: a full disk here leaves no half-written run folder
            from benchmark.reports.html import write_report  # matplotlib: imported only by a run that reports

            write_report(writer.path, cache_dir=cache_root if config.use_cache else None)
        run_dir = writer.commit()
    except OSError as error:
        writer.discard()
        if error.filename:
            raise
        raise OSError(error.errno, error.strerror, str(writer.final)) from error  # a full disk names the folder
    except BaseException:
        writer.discard()
        raise
    ctx.run_dir = run_dir


def _print_phase(ctx: RunContext) -> RunResult:
    """The console tables; a run whose every fit failed is an error after its folder is written."""
    say, run_dir, grid, config, protocols = ctx.say, ctx.run_dir, ctx.grid, ctx.config, ctx.protocols
    corpus, audit_report = ctx.corpus, ctx.audit_report
    say(render_console(run_dir))
    if (run_dir / "leakage.md").is_file():
        say("")
        say((run_dir / "leakage.md").read_text().rstrip())
    if grid.robust is not None or config.groups:
        from benchmark.reports.robustness import console_summary

        say("")
        say(console_summary(run_dir))
    if (run_dir / "claims.md").is_file():
        say("")
        say((run_dir / "claims.md").read_text().rstrip())
    if (run_dir / "claims_leaks.md").is_file():
        say("")
        say((run_dir / "claims_leaks.md").read_text().rstrip())
    if any(p in CROSS_CORPUS for p in protocols):
        say("")
        say(crosscorpus.render(run_dir, "console"))
    say("")
    say(grid.summary_line())
    say(f"results: {run_dir}")
    folds_frame = pd.read_csv(run_dir / "folds.csv", keep_default_na=False)
    if not (folds_frame["status"] == "ok").any():
        raise RunFailed(f"every fit failed (first: {folds_frame['error'].iloc[0]}); tables in {run_dir}, "
                        f"tracebacks in {run_dir / 'failures.txt'}")
    return RunResult(run_dir, corpus, audit_report, folds_frame, grid.fits_run, grid.fits_cached)


class RunFailed(RuntimeError):
    """Every fit of the run failed; the tables were written all the same."""


class CorpusChanged(ConfigError):
    """``reproduce``: the corpus found is not the one the run was scored on."""


def open_corpus(config: RunConfig) -> Corpus:
    """One corpus, or several in one table (``ravdess:DIR,emodb:DIR``), restricted to ``config.emotions``."""
    if is_multi_corpus(config.dataset) or config.emotions:
        return load_corpora(parse_corpus_specs(config.dataset or "synthetic", config.data_dir),
                            list(config.emotions) if config.emotions else None, include_song=config.include_song,
                            strict=config.strict, cache_dir=config.cache_dir, seed=config.seed,
                            profile=config.profile)
    return load_corpus(config.dataset, config.data_dir, include_song=config.include_song, strict=config.strict,
                       cache_dir=config.cache_dir, seed=config.seed, profile=config.profile)


def build_inputs(feats, specs: dict[str, InputSpec], table: pd.DataFrame, speaker_norm: bool,
                 corpus_norm: bool = False) -> dict:
    """Each input array once: (name, normalisation) -> array, shared by every fit that uses it."""
    arrays = {}
    speakers = table["speaker"].astype(str).to_numpy()
    corpora = table["corpus"].astype(str).to_numpy()
    for spec in specs.values():
        if spec.kind == "vector":
            X = feats.matrix(list(spec.sets))[0].astype(np.float32)
        else:
            sequences = feats.sequences[spec.name]
            X = pad_sequences(sequences, min(max(len(s) for s in sequences), MAX_SEQUENCE_STEPS))
        arrays[(spec.name, False)] = X
        if speaker_norm:
            arrays[(spec.name, True)] = speaker_normalise(X, speakers)
        if corpus_norm:
            arrays[(spec.name + CORPUS_NORM, False)] = corpus_normalise(X, corpora)
    return arrays


class Grid:
    """The planned fits of a run: de-duplicated, keyed by content, looked up in the cache, run on a backend."""

    def __init__(self, entries: list[Entry], folds: dict[str, list[Fold]], arrays: dict, table: pd.DataFrame,
                 config: RunConfig, cache_root: Path, draws: list[dict[str, list[Fold]]] | None = None,
                 seeds: list[int] | None = None):
        self.entries, self.folds, self.arrays, self.config = entries, folds, arrays, config
        # repeat r: training seed seeds[r] on the folds draws[r] (--repeats, --repeat-folds)
        self.seeds = list(seeds) if seeds else [config.seed]
        self.draws = list(draws) if draws else [folds] * len(self.seeds)
        self.y = table["emotion"].astype(str).to_numpy()
        self.speakers = table["speaker"].astype(str).to_numpy()
        self.labels = sorted(set(self.y.tolist()))
        self.cache = FitCache(cache_root, persist=config.use_cache)
        self.plugins = plugin_sources(config.plugins)
        self.fits_run = self.fits_cached = 0
        self.robust: RobustnessPlan | None = None  # degraded test copies each clean fit also predicts
        self.seconds: dict[str, float] = defaultdict(float)
        self.tracebacks: dict[tuple[str, str], str] = {}
        digests = {name: row_digests(X) for name, X in arrays.items()}
        self.keys: dict[tuple[Entry, int, int], str] = {}  # (entry, repeat, fold) -> fit key
        self.jobs: dict[str, backends.Job] = {}
        codes: dict[str, str] = {}
        for entry in entries:
            input_key = (entry.features, entry.speaker_norm)
            model = entry.model
            params = dict(config.model_params.get(model, {}))
            if model not in codes:
                codes[model] = model_code_digest(model)
            versions = library_versions(get_model(model).neural)
            for repeat, fold in self.fits_of(entry):
                # A seed-free model keeps --seed in every repeat: same key, so one fit per fold (tuning's inner
                # folds are seeded, so a tuned model is never seed-free).
                seed = config.seed if self.seed_free(model) else self.seeds[repeat]
                dev = getattr(fold, "dev", None)
                d = digests[input_key]
                balance = {"__balance__": config.balance} if config.balance else {}  # old keys unchanged without
                key = fit_key(model, {**_canonical_params(model, params), "__tune__": config.tune, **balance},
                              codes[model],
                              seed, versions,
                              rows_digest(d[fold.train], self.y[fold.train], self.speakers[fold.train]),
                              rows_digest(d[fold.test]),
                              rows_digest(d[dev], self.y[dev]) if dev is not None else None)
                self.keys[(entry, repeat, fold.index)] = key
                if key not in self.jobs:
                    spec = FitSpec(model, tuple(sorted(params.items())), seed, 1, self.plugins, config.tune,
                                   config.balance or "")
                    kind = "sequence" if self.arrays[input_key].ndim == 3 else "vector"
                    self.jobs[key] = backends.Job(key, spec, _input_id(input_key), fold.train, fold.test, dev,
                                                  fit_cost(model, kind))

    def fits_of(self, entry: Entry):
        """(repeat, fold) of every fit an entry needs, repeat by repeat."""
        for repeat, draw in enumerate(self.draws):
            for fold in draw[entry.protocol]:
                yield repeat, fold

    def seed_free(self, model: str) -> bool:
        return get_model(model).seed_free and not self.config.tune

    def run(self, backend: str, jobs: int, dask, say) -> dict[str, FitRecord]:
        from tqdm import tqdm

        records: dict[str, FitRecord] = {}
        for key in self.jobs:
            cached = self.cache.get(key)
            if cached is not None:
                records[key] = cached
        for key in self.robust.missing(self.cache) if self.robust else ():
            records.pop(key, None)  # fitted again (same seed, same result) for the degraded predictions it lacks
        self.fits_cached = len(records)
        todo = sorted((j for k, j in self.jobs.items() if k not in records), key=lambda j: -j.cost)
        parallel, threads = backends.thread_budget(jobs, backend, len(todo))
        if backend == "dask" and dask is not None:
            parallel, threads = dask.workers(), 1
        todo = [backends.Job(j.key, _with_threads(j.spec, threads), j.input_name, j.train, j.test, j.dev, j.cost,
                             self.robust.inputs_of(j.key) if self.robust else ()) for j in todo]
        self.parallel, self.threads = parallel, threads
        for problem in self.cache.problems:
            say(f"  cache: {problem}")
        if self.fits_cached:
            say(f"fits: {self.fits_cached} of {len(self.jobs)} from the cache, {len(todo)} to run")
        bar = tqdm(total=len(todo), desc=f"models ({backend}, {parallel}x{threads})", unit="fit",
                   disable=True if self.config.quiet or not todo else None)
        arrays = {_input_id(k): v for k, v in self.arrays.items()}
        arrays.update(self.robust.arrays if self.robust else {})

        def on_done(job: backends.Job, record: FitRecord) -> None:
            if self.robust is not None:
                record = self.robust.take(job.key, record, self.cache)
            if record.traceback:
                self.tracebacks[(job.spec.model, record.error)] = record.traceback
            self.cache.put(job.key, record)
            records[job.key] = record
            self.fits_run += 1
            if record.status != "ok":
                bar.write(f"failed: {job.spec.model} fit {job.key[:8]}: {record.error}")
            bar.update(1)

        try:
            if backend == "serial" or parallel == 1 and backend != "dask":
                backends.run_serial(todo, arrays, self.y, self.speakers, on_done)
            elif backend == "processes":
                backends.run_processes(todo, arrays, self.y, self.speakers, on_done, parallel, threads)
            else:
                backends.run_dask(todo, arrays, self.y, self.speakers, on_done, dask.client)
        except KeyboardInterrupt:
            bar.close()
            where = f"cached in {self.cache.root}" if self.cache.persist else "not kept (--no-cache)"
            raise RunInterrupted(f"interrupted: {self.fits_run} of {len(todo)} fits finished and are {where}; "
                                 "run the same command again to continue from there") from None
        bar.close()
        for key, record in records.items():
            self.seconds[self.jobs[key].spec.model] += record.seconds
        return records

    def summary_line(self) -> str:
        per_model = ", ".join(f"{m} {s:.1f} s" for m, s in self.seconds.items())
        return (f"fits: {self.fits_run} run, {self.fits_cached} from the cache; fit seconds per model: "
                f"{per_model or 'none'}")


def _input_id(key: tuple[str, bool]) -> str:
    return f"{key[0]}{'|spknorm' if key[1] else ''}"


def _with_threads(spec: FitSpec, threads: int) -> FitSpec:
    return FitSpec(spec.model, spec.params, spec.seed, threads, spec.plugins, spec.tune, spec.balance)


def _canonical_params(model: str, params: dict) -> dict:
    """The model's full parameters (defaults filled in), minus those that never change a result."""
    from models import make_model

    estimator = make_model(model, **params)
    values = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else dict(params)
    # --set svm.C=10 and the default 10.0 are one fit
    return {k: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
            for k, v in values.items() if k not in ("n_jobs", "verbose", "random_state")}


def model_code_digest(model: str) -> str:
    """The code that decides a model's fits: the ``models`` package, the shared sequence helpers, and the file
    that registered the model when it lies outside the package (a plugin)."""
    import inspect

    import features.sequences
    import models

    from . import fitting

    files = sorted(Path(models.__file__).parent.rglob("*.py")) + [Path(features.sequences.__file__),
                                                                  Path(fitting.__file__)]
    factory = get_model(model).factory
    try:
        own = Path(inspect.getfile(factory)).resolve()
    except (TypeError, OSError):
        own = None
    if own is not None and own not in {f.resolve() for f in files}:
        files.append(own)
    h = hashlib.sha256()
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


@dataclass
class Scored:
    folds: list[dict]
    predictions: list[pd.DataFrame]
    curves: list[dict]
    confusions: dict[tuple, tuple[list[str], np.ndarray]]


def score_grid(grid: Grid, records: dict[str, FitRecord]) -> Scored:
    """Fold scores, prediction rows and training curves from the fit records; a bad record fails its fold."""
    y, speakers, labels = grid.y, grid.speakers, grid.labels
    out = Scored([], [], [], {})
    for entry in grid.entries:
        confusion = np.zeros((len(labels), len(labels)), dtype=int)
        ids = asdict(entry)
        for repeat, fold in grid.fits_of(entry):
            key = grid.keys[(entry, repeat, fold.index)]
            record = records.get(key) or FitRecord("failed", "not run")
            row = {"dataset": "", **ids, "fold": fold.index, "n_train": len(fold.train), "n_test": len(fold.test),
                   "n_test_speakers": len(set(speakers[fold.test].tolist())), **fold.columns(),
                   "repeat": repeat, "train_seed": grid.config.seed if grid.seed_free(entry.model)
                   else grid.seeds[repeat]}
            problem = check_fit(record, len(fold.test), set(y[fold.train].tolist()))
            if problem is not None:
                row.update(status="failed", error=problem, degenerate="")
            else:
                scores = fold_scores(y[fold.test], record.predictions, labels)
                confusion += scores["confusion"]
                row.update(status="ok", error="", uar=scores["uar"], wa=scores["wa"], f1=scores["f1"],
                           chance_uar=scores["chance_uar"], chance_wa=scores["chance_wa"],
                           **{f"recall_{k}": v for k, v in scores["recall"].items()})
                row["degenerate"] = degenerate_reason(y[fold.test], record.predictions, record.proba)
                out.predictions.append(_prediction_rows(ids, fold, record, y, speakers, labels, repeat))
                if repeat == 0:  # curves.csv keeps the first repeat's training curves (one curve per fold)
                    out.curves += _curve_rows(ids, fold.index, record.history)
            row.update(fit_seconds=record.seconds, epochs=record.epochs if record.epochs is not None else "",
                       best_params=json.dumps(record.best_params, sort_keys=True) if record.best_params else "",
                       cached=record.cached)
            out.folds.append(row)
        if entry.table == "leaderboard":
            out.confusions[(entry.features, entry.model, entry.protocol, entry.speaker_norm)] = (labels, confusion)
    return out


def _prediction_rows(ids: dict, fold: Fold, record: FitRecord, y, speakers, labels,
                     repeat: int = 0) -> pd.DataFrame:
    n = len(fold.test)
    proba = np.zeros((n, len(labels)))
    column = {label: i for i, label in enumerate(labels)}
    if record.proba is not None:
        for j, cls in enumerate(record.classes):
            proba[:, column[cls]] = record.proba[:, j]
    else:
        proba[np.arange(n), [column[p] for p in record.predictions]] = 1.0
    frame = pd.DataFrame({**{k: [v] * n for k, v in ids.items()}, "repeat": repeat, "fold": fold.index,
                          "row": fold.test,
                          "speaker": speakers[fold.test], "emotion": y[fold.test], "predicted": record.predictions})
    for i, label in enumerate(labels):
        frame[f"p_{label}"] = np.round(proba[:, i], 6)
    return frame


def _curve_rows(ids: dict, fold: int, history: dict[str, list[float]]) -> list[dict]:
    if not history or "loss" not in history:
        return []
    rows = []
    for epoch in range(len(history["loss"])):
        row = {**ids, "fold": fold, "epoch": epoch + 1}
        for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
            values = history.get(name)
            row[name] = round(values[epoch], 6) if values and epoch < len(values) else ""
        rows.append(row)
    return rows


def write_run(writer: RunFolderWriter, scored: Scored, ctx: RunContext) -> None:
    """Every file of the run folder but the rendered tables; schemas in :mod:`benchmark.reports.rundir`."""
    table, folds, audit_report, corpus, report = ctx.table, ctx.folds, ctx.audit_report, ctx.corpus, ctx.report
    config, argv, timings, grid, backend = ctx.config, ctx.argv, ctx.timings, ctx.grid, ctx.backend
    split, experiment = ctx.split, ctx.experiment
    frame = pd.DataFrame(scored.folds)
    frame["dataset"] = corpus.name
    recall = sorted(c for c in frame.columns if c.startswith("recall_"))
    for column in FOLDS_COLUMNS:
        if column not in frame:
            frame[column] = np.nan
    writer.csv("folds.csv", frame[FOLDS_COLUMNS + recall + FOLDS_TAIL + FOLD_EXTRA + REPEAT_COLUMNS])
    labels = grid.labels
    predictions = pd.concat(scored.predictions, ignore_index=True) if scored.predictions else \
        pd.DataFrame(columns=PREDICTION_COLUMNS + [f"p_{label}" for label in labels])
    writer.csv("predictions.csv", predictions)
    writer.csv("curves.csv", pd.DataFrame(scored.curves, columns=CURVE_COLUMNS))
    splits = pd.DataFrame({"row": np.arange(len(table)), "path": table["path"].astype(str),
                           "speaker": table["speaker"].astype(str), "emotion": table["emotion"].astype(str),
                           "text": table["text"], "corpus": table["corpus"], "duration": table["duration"]})
    for protocol, fold_list in folds.items():
        assignment = np.full(len(table), -1)
        for fold in fold_list:
            assignment[fold.test] = fold.index
        splits[f"test_fold_{protocol}"] = assignment
    redrawn = [(r, draw) for r, draw in enumerate(grid.draws) if r and draw is not folds]
    for r, draw in redrawn:  # --repeat-folds: each further draw's test folds, e.g. test_fold_speaker@r1
        for protocol, fold_list in draw.items():
            assignment = np.full(len(table), -1)
            for fold in fold_list:
                assignment[fold.test] = fold.index
            splits[f"test_fold_{protocol}@r{r}"] = assignment
    writer.csv("splits.csv", splits[list(SPLIT_COLUMNS) + [f"test_fold_{p}" for p in folds]
                                    + [f"test_fold_{p}@r{r}" for r, draw in redrawn for p in draw]])
    for (features, model, protocol, norm), (labels_, matrix) in scored.confusions.items():
        name = f"{features}__{model}__{protocol}{'__spknorm' if norm else ''}.csv".replace("+", "-")
        writer.csv(f"confusion/{name}", pd.DataFrame(matrix, index=pd.Index(labels_, name="true\\predicted"),
                                                     columns=labels_).reset_index())
    writer.json("audit.json", audit_report)
    failures = [f"== {r['model']} on {r['features']} / {r['protocol']} fold {r['fold']}: {r['error']}\n"
                f"{grid.tracebacks.get((r['model'], r['error']), '')}" for r in scored.folds if r["status"] != "ok"]
    if failures:
        writer.text("failures.txt", "\n".join(failures))
    summary = corpus.summary()
    config_dict = asdict(config)
    config_dict["plugins"] = [str(Path(p).resolve()) for p in config.plugins]
    writer.json("run.json", {
        "command": " ".join(["run_benchmark.py", *(argv or [])]),
        "argv": list(argv or []),
        "dataset": corpus.name,
        "seed": config.seed,
        "config": config_dict,
        "analysis": {**asdict(config.analysis), "win_length": config.analysis.win_length,
                     "hop_length": config.analysis.hop_length, "n_fft": config.analysis.n_fft},
        "versions": package_versions(),
        "corpus": {"root": str(corpus.root), "fingerprint": corpus_fingerprint(table),
                   "utterances_scored": len(table), "summary_line": corpus_line(corpus),
                   "emotions": summary["emotions"], "speakers": summary["speakers"],
                   "skipped": summary["skipped"],
                   "not_analysed": [{"path": p, "reason": r} for p, r in report.failed]},
        "extraction": {"summary": report.summary_line(), "warnings": report.warnings,
                       "cache_problems": report.cache_problems},
        "split": split.provenance() if split else None,
        **({"robustness": grid.robust.provenance()} if grid.robust is not None else {}),
        "fits": {"backend": backend, "parallel": grid.parallel, "threads_per_fit": grid.threads,
                 "run": grid.fits_run, "cached": grid.fits_cached, "planned": len(grid.jobs),
                 "fit_seconds_per_model": {m: round(s, 3) for m, s in grid.seconds.items()},
                 "cache_problems": grid.cache.problems},
        "timings_s": timings,
        "finished": datetime.now().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "machine": machine_info(),
        "repeats": {"n": len(grid.seeds), "train_seeds": grid.seeds, "redrawn_folds": config.repeat_folds},
        **({"experiment": experiment} if experiment is not None else {}),
    })
    if experiment is not None:
        writer.text("experiment.toml", to_toml(experiment, EXPERIMENT_HEADER))


def corpus_line(corpus: Corpus) -> str:
    s = corpus.summary()
    return (f"corpus {corpus.name}: {s['utterances']} utterances, {s['speakers']} speakers, "
            f"{len(s['emotions'])} emotions, {s['total_duration_s'] / 60:.1f} min of audio, "
            f"{len(corpus.skipped)} file(s) skipped")


def corpus_fingerprint(table: pd.DataFrame) -> str:
    h = hashlib.sha256()
    for digest, emotion, speaker in zip(table["digest"], table["emotion"], table["speaker"], strict=True):
        h.update(f"{digest}|{emotion}|{speaker}\n".encode())
    return h.hexdigest()[:16]


def package_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in ("numpy", "scipy", "librosa", "scikit-learn", "xgboost", "tensorflow", "keras", "pandas", "joblib",
                 "soundfile", "dask", "distributed"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def _lap(start: float) -> float:
    return round(time.perf_counter() - start, 3)
