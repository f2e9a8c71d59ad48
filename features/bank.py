"""Extraction: decode each clip once, compute every missing feature set on one shared analysis, cache it."""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# The one place the built-in sets are registered: the module that looks them up, so that no lookup can run
# before them (builtin also registers the optional openSMILE sets).
from . import builtin, lazy_kernels, pool, spectrograms  # noqa: F401  (spectrograms: logmel_frames, spectrogram, ...)
from .analysis import Clip
from .audio import AudioError, read_native, resample
from .cache import Rows, SetStore, default_cache_dir, file_key
from .config import AnalysisConfig
from .plugins import load_plugins
from .registry import FeatureError, FeatureSet, as_sequence, as_vector, get_feature_set

SAME_COLUMNS = "same as the chunk's previous clip"  # a worker's stand-in for a set's repeated column names

lazy_kernels.arm()  # librosa's kernels that no built-in set calls compile on first call (12 of 14 CPU-s cold)

CLIP_INFO = "_clip"  # pseudo-set: native rate, native duration, peak, RMS; text = digest of the decoded samples
CLIP_INFO_COLUMNS = ["native_sr", "native_duration", "peak", "rms"]
CLIP_INFO_VERSION = 1


class ExtractionInterrupted(KeyboardInterrupt):
    """Ctrl-C during extraction: what finished is cached; the message says how much."""


@dataclass
class ExtractionReport:
    files: int = 0
    computed: int = 0  # files decoded and analysed in this run
    cache_hits: int = 0  # files served entirely from the cache
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    failed_by_set: dict[str, int] = field(default_factory=dict)  # feature set -> files it failed on
    first_failure_of_set: dict[str, tuple[str, str]] = field(default_factory=dict)  # feature set -> (path, reason)
    warnings: list[str] = field(default_factory=list)
    cache_problems: list[str] = field(default_factory=list)

    def failure_line(self) -> str | None:
        """One line on the files that could not be analysed, naming the feature set to blame when one failed on
        every file, and the first file's reason; None when every file was analysed."""
        if not self.failed:
            return None
        n = len(self.failed)
        if len(self.failed_by_set) == 1 and n == self.files:  # one set failed on every file it was given
            name, count = next(iter(self.failed_by_set.items()))
            path, reason = self.first_failure_of_set[name]
            reason = reason.removeprefix(f"feature set {name!r} failed: ")
            others = f"; the other {n - count} could not be decoded" if n > count else ""
            every = "every file" if n == count else "every file it was given"
            return f"feature set {name!r} failed on {every} ({count}{others}); first: {path}: {reason}"
        path, reason = self.failed[0]
        return f"{n} of {self.files} file(s) could not be analysed; first: {path}: {reason}"

    def summary_line(self) -> str:
        speed = self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else float("inf")
        return (f"{self.files} files, {self.audio_seconds:.1f} s of audio, {self.wall_seconds:.2f} s wall, "
                f"{speed:.0f}x realtime, {self.cache_hits} cache hits, {self.computed} computed, "
                f"{len(self.failed)} failed")


@dataclass
class Features:
    """Features of the clips that could be analysed, rows aligned with :attr:`table`."""

    table: pd.DataFrame
    vectors: dict[str, np.ndarray]
    columns: dict[str, list[str]]
    sequences: dict[str, list[np.ndarray]]
    report: ExtractionReport

    def matrix(self, names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        """The named vector sets side by side: (n_clips, total columns) and the column names."""
        missing = [n for n in names if n not in self.vectors]
        if missing:
            raise FeatureError(f"feature set(s) not extracted: {', '.join(missing)}")
        X = np.hstack([self.vectors[n] for n in names]) if names else np.zeros((len(self.table), 0))
        return X, [c for n in names for c in self.columns[n]]


def library_versions() -> dict[str, str]:
    import librosa
    import scipy

    return {"librosa": librosa.__version__, "numpy": np.__version__, "scipy": scipy.__version__}


def effective_jobs(jobs: int | None) -> int:
    cores = os.cpu_count() or 1
    if jobs is None or jobs == 0:
        return cores
    return max(1, cores + 1 + jobs) if jobs < 0 else jobs


def extract(
    table: pd.DataFrame,
    sets: Sequence[str],
    config: AnalysisConfig | None = None,
    *,
    sequence_sets: Sequence[str] = (),
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    jobs: int | None = None,
    plugins: Sequence[str | Path] = (),
    content_hash: bool = False,
    progress: bool | None = False,
    parallel_backend: str | None = None,
) -> Features:
    """Features for every row of a corpus table, computing only what the cache lacks.

    Parameters
    ----------
    table : corpus table with a ``path`` column.
    sets, sequence_sets : names of registered vector and sequence feature sets.
    config : analysis settings.
    cache_dir : cache root (default :func:`~features.cache.default_cache_dir`); ``use_cache=False`` keeps
        everything in memory.
    jobs : worker processes (``None``: all cores).
    plugins : Python files that register feature sets; loaded here and in every worker.
    content_hash : identify files by content rather than path, size and modification time.
    progress : show a progress bar (``None``: only on a terminal).
    parallel_backend : a joblib backend for the workers (default loky processes; ``"dask"`` needs an active
        dask.distributed client).
    """
    start = time.perf_counter()
    config = config or AnalysisConfig()
    plugin_paths = [str(Path(p).resolve()) for p in plugins]
    load_plugins(plugin_paths)
    wanted = [CLIP_INFO, *dict.fromkeys(sets), *dict.fromkeys(sequence_sets)]
    specs = {name: get_feature_set(name) for name in wanted[1:]}
    for name in sequence_sets:
        if specs[name].kind != "sequence":
            raise FeatureError(f"feature set {name!r} is not a sequence set")
    versions = library_versions()
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    stores = {name: _open_store(root, name, specs.get(name), config, versions, use_cache) for name in wanted}
    report = ExtractionReport(files=len(table))

    paths = table["path"].astype(str).tolist()
    keys: list[str | None] = []
    failed: dict[int, tuple[str, str | None]] = {}  # row -> (reason, the feature set to blame or None)
    for i, path in enumerate(paths):
        try:
            keys.append(file_key(path, content_hash))
        except OSError as error:
            keys.append(None)
            failed[i] = (f"cannot be read: {error.strerror or error}", None)
    lookups = {name: store.lookup([k or "" for k in keys]) for name, store in stores.items()}
    tasks = []
    first_row: dict[str, int] = {}  # a file named by several rows is analysed once, for the first of them
    repeats: list[int] = []
    for i, key in enumerate(keys):
        if key is None:
            continue
        if key in first_row:
            repeats.append(i)
            continue
        first_row[key] = i
        needed = tuple(name for name in wanted if lookups[name][i] is None)
        if needed:
            tasks.append((i, paths[i], needed))
    report.cache_hits = len(paths) - len(tasks) - len(failed) - len(repeats)
    if repeats:
        first = repeats[0]
        report.warnings.append(f"{len(repeats)} row(s) name a file another row already names (each file is "
                               f"analysed once); first: {paths[first]} (rows {first_row[keys[first]]} and {first})")

    if tasks:
        # Sets that hold a model in memory (self-supervised encoders) run here, batched, never in workers.
        local = {name for name in wanted[1:] if specs[name].in_process}
        for part, part_jobs in ((_only(tasks, local, False), jobs), (_only(tasks, local, True), 1)):
            if part:
                failed.update(_run_tasks(part, keys, stores, config, plugin_paths, part_jobs, progress, root,
                                         use_cache, parallel_backend))
        report.computed = len(tasks) - sum(1 for i, *_ in tasks if i in failed)
    for i in repeats:  # the repeats share their first row's outcome
        if first_row[keys[i]] in failed:
            failed[i] = failed[first_row[keys[i]]]
    if use_cache:
        for store in stores.values():
            store.compact()
    for store in stores.values():
        report.cache_problems.extend(store.problems)

    features = _assemble(table, keys, stores, wanted, failed, config, report)
    report.wall_seconds = time.perf_counter() - start
    return features


def _only(tasks: list, names: set[str], inside: bool) -> list:
    """The tasks restricted to the sets in ``names`` (``inside``) or to the others; empty ones dropped."""
    out = [(i, path, tuple(n for n in needed if (n in names) == inside)) for i, path, needed in tasks]
    return [task for task in out if task[2]]


def _open_store(root: Path, name: str, spec: FeatureSet | None, config: AnalysisConfig,
                versions: dict[str, str], use_cache: bool) -> SetStore:
    if spec is None:  # clip info depends on the analysis rate only
        key = hashlib.sha256(f"{CLIP_INFO_VERSION}|{config.sr}|{versions}".encode()).hexdigest()[:20]
        kind = "vector"
    else:
        key, kind = spec.key(config, versions), spec.kind
    directory = root / "features" / name / key
    if not use_cache:
        return SetStore(directory, kind, persist=False)
    return SetStore.open(directory, kind)


def _run_tasks(tasks, keys, stores, config, plugin_paths, jobs, progress, root, use_cache,
               parallel_backend) -> dict[int, tuple[str, str | None]]:
    from tqdm import tqdm

    n_jobs = min(effective_jobs(jobs), len(tasks))
    # Chunks large enough that IPC does not dominate on short clips (8 clips at least), and about 16 per worker,
    # so that the last chunk leaves the other workers idle briefly: at 4 per worker (64 clips, about 0.6 s) a cold
    # EmoDB extraction took 0.15-0.25 s longer on 2 cores.
    size = int(np.clip(np.ceil(len(tasks) / (n_jobs * 16)), 8, 64))
    chunks = [tasks[i: i + size] for i in range(0, len(tasks), size)]
    jobs_args = [([(path, needed) for _, path, needed in chunk], config, plugin_paths) for chunk in chunks]
    failed: dict[int, tuple[str, str | None]] = {}
    bar = tqdm(total=len(tasks), unit="file", desc="features", disable=None if progress is None else not progress,
               smoothing=0.1)
    stored = 0  # files whose every missing set is now in the cache (or in memory with --no-cache)
    try:
        names = sorted({name for _, _, needed in tasks for name in needed})
        if n_jobs == 1 or len(chunks) == 1:  # in-process: no worker start-up for small jobs
            pool.wait_for_warm_up()  # never compile beside a worker that compiles (numba issue 10128)
            results = (_compute_chunk_indexed(c, *args) for c, args in enumerate(jobs_args))
        elif parallel_backend:
            from joblib import Parallel, delayed, parallel_config

            pool.wait_for_warm_up()
            warm_up([n for n in names if compiles_numba(n, config)], config)
            with parallel_config(backend=parallel_backend):
                results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
                    delayed(_compute_chunk_indexed)(c, *args) for c, args in enumerate(jobs_args))
        else:
            results = on_pool(_compute_chunk_indexed, [(c, *a) for c, a in enumerate(jobs_args)], names, config,
                              n_jobs, plugin_paths)
        for c, outcome in results:
            chunk_failed = _store_chunk(chunks[c], outcome, keys, stores)
            failed.update(chunk_failed)
            stored += len(chunks[c]) - len(chunk_failed)
            bar.update(len(chunks[c]))
    except KeyboardInterrupt:
        bar.close()
        if use_cache:
            message = (f"interrupted: {stored} of {len(tasks)} files' features were cached in {root}; run again to "
                       "continue from there")
        else:
            message = f"interrupted: {stored} of {len(tasks)} files were analysed, nothing kept (--no-cache)"
        raise ExtractionInterrupted(message) from None
    bar.close()
    return failed


def on_pool(function, args: list[tuple], names: Sequence[str], config: AnalysisConfig, n_jobs: int,
            plugin_paths: Sequence[str] = ()):
    """``function(*a)`` for every ``a`` of ``args`` on the run's shared worker pool, yielded as each finishes.

    The numba warm-up of those of the sets ``names`` that may compile (:func:`compiles_numba`) runs first, in one
    worker (or was started there already, while the built-in corpus was generated: :func:`start_warm_up`), and
    the tasks are submitted once it has finished, so that every other process only loads the cache it wrote
    (numba issue 10128). The other workers start
    meanwhile, and this process never imports librosa's compiled functions at all.
    """
    from concurrent.futures import as_completed

    plugin_paths = list(plugin_paths)
    compiling = {n for n in names if compiles_numba(n, config)}  # none: the workers start on the tasks at once
    if pool.warm_up_pending() or not compiling <= _warmed:
        if not pool.warm_up_pending():  # else it was started early (see start_warm_up)
            pool.start_warm_up(warm_up_worker, sorted(compiling - _warmed), config, plugin_paths, workers=n_jobs)
        pool.wait_for_warm_up()
        if not compiling <= _warmed | _warming:  # the early one covered fewer sets: the rest, in one worker too
            pool.start_warm_up(warm_up_worker, sorted(compiling - _warmed - _warming), config, plugin_paths,
                               workers=n_jobs)
            pool.wait_for_warm_up()
        _warmed.update(compiling, _warming)
        _warming.clear()
    executor = pool.shared_pool(n_jobs)
    futures = [executor.submit(function, *a) for a in args]
    finished = False
    try:
        for future in as_completed(futures):
            yield future.result()
        finished = True
    finally:
        if not finished:  # interrupted, or a worker died: stop what runs, run nothing more
            for future in futures:
                future.cancel()
            pool.shutdown_pool(kill_workers=True)


# Built-in sets that compile no numba function: librosa's eager kernels are deferred (features/lazy_kernels.py) and
# the zero-crossing rate is counted in numpy. Computed in a fresh process with an empty NUMBA_CACHE_DIR they write
# nothing there (tests/test_faults.py checks it, on long, short and silent clips), so their workers need no warm-up
# and start on the clips at once: about 1 s sooner in a cold extraction of EmoDB.
NUMBA_FREE = frozenset({"mfcc", "chroma", "contrast", "tonnetz", "zcr", "rms", "mel", "mfcc_frames", "cepstral",
                        "spectral", "voice", "rhythm"})


def compiles_numba(name: str, config: AnalysisConfig) -> bool:
    """Whether computing the set ``name`` under ``config`` may compile a numba function (then workers may only
    run it after the warm-up): every set but the built-in ones of :data:`NUMBA_FREE`, and ``tonnetz`` too when
    its source is the constant-Q route (``tonnetz_source="cqt"``, whose librosa functions are jitted)."""
    if name == CLIP_INFO:
        return False
    if name == "tonnetz" and config.tonnetz_source == "cqt":
        return True
    return not (name in NUMBA_FREE and get_feature_set(name).builtin)


def start_warm_up(names: Sequence[str], config: AnalysisConfig | None = None, jobs: int | None = None,
                  plugins: Sequence[str | Path] = ()) -> bool:
    """Compile librosa's numba functions for the sets ``names`` in a worker of the shared pool, in the background;
    True when one was started (more than one job, and a set that runs in workers).

    For a caller that knows extraction will compute on the pool and has other work first (the run engine,
    while it generates the built-in corpus). Until extraction joins it, the caller must not use librosa.
    """
    plugin_paths = [str(Path(p).resolve()) for p in plugins]
    load_plugins(plugin_paths)
    names = sorted(n for n in set(names) - {CLIP_INFO} - _warmed if not get_feature_set(n).in_process)
    if effective_jobs(jobs) < 2 or not names or pool.warm_up_pending():
        return False
    _warming.update(names)
    pool.start_warm_up(warm_up_worker, names, config or AnalysisConfig(), plugin_paths, workers=effective_jobs(jobs))
    return True


def warm_up_worker(names: Sequence[str], config: AnalysisConfig, plugin_paths: Sequence[str]) -> None:
    """:func:`warm_up` in a worker, with the run's plugins loaded first (their sets are warmed up too)."""
    load_plugins(plugin_paths)
    warm_up(names, config)


# Sets whose numba functions this process's pool has compiled (so no second warm-up is needed), and those of
# the warm-up started early and not yet joined.
_warmed: set[str] = set()
_warming: set[str] = set()


def _store_chunk(chunk, outcome, keys, stores) -> dict[int, tuple[str, str | None]]:
    """Write one finished chunk's results, a pack per set; return the files that failed (reason, set to blame)."""
    failed: dict[int, tuple[str, str | None]] = {}
    per_set: dict[str, list] = defaultdict(list)
    columns_seen: dict[str, list[str]] = {}
    checked: dict[str, list[str]] = {}  # per set, the columns object found right last (resent: the same object)
    columns_resent(results for results, _, _ in outcome)
    for (i, _, _), (results, error, culprit) in zip(chunk, outcome, strict=True):
        if error is None:
            culprit, error = _column_mismatch(results, stores, columns_seen, checked)
        if error is not None:
            failed[i] = (error, culprit)
            continue
        for name, (values, _, nonfinite, text) in results.items():
            per_set[name].append((keys[i], values, nonfinite, text))
    for name, items in per_set.items():
        keys_, values, flags, texts = (list(column) for column in zip(*items, strict=True))
        stores[name].write_pack(Rows.build(keys_, values, flags, texts, stores[name].kind), columns_seen.get(name))
    return failed


def _column_mismatch(results: dict, stores: dict, columns_seen: dict[str, list[str]],
                     checked: dict[str, list[str]]) -> tuple[str | None, str | None]:
    """A vector set must name the same columns for every clip (the first clip's, or the cached ones);
    returns (set, reason) of the first that does not, else (None, None). ``checked`` remembers, per set, the
    columns object last found right, so the clips of a chunk that share it are not compared again."""
    for name, (_, columns, _, _) in results.items():
        if columns is None or columns is checked.get(name):
            continue
        expected = stores[name].columns or columns_seen.setdefault(name, list(columns))
        if list(columns) != list(expected):
            if len(columns) != len(expected):
                return name, f"feature set {name!r} returned {len(columns)} columns, expected {len(expected)}"
            first = next(j for j, (a, b) in enumerate(zip(columns, expected, strict=True)) if a != b)
            return name, (f"feature set {name!r} returned column {columns[first]!r} where the others have "
                          f"{expected[first]!r}")
        checked[name] = columns
    return None, None


def warm_up(names: Sequence[str], config: AnalysisConfig) -> None:
    """Run every set once on a short noise clip in this process, before any other process computes them.

    librosa compiles numba functions on first use and caches them on disk; two processes compiling the same
    function at once can leave a cache that crashes every later process that loads it (numba issue 10128).
    Compiling in one process first (one worker of the pool, see :func:`on_pool`, or this one before a dask
    extraction) means the others only ever load a finished cache. A set that fails on noise is left to fail,
    with its reason, on the real files.
    """
    from threadpoolctl import threadpool_limits

    y = np.random.default_rng(0).normal(scale=0.1, size=config.sr).astype(np.float32)
    clip = Clip(y, config, "warm-up noise")
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            if name == CLIP_INFO:
                continue
            try:
                get_feature_set(name).func(clip)
            except (Exception, SystemExit) as error:  # noqa: BLE001 - the same set runs, and reports, on every file
                clip.warnings.append(f"warm-up of {name!r} failed: {type(error).__name__}")


def _compute_chunk_indexed(index: int, tasks, config, plugin_paths):
    return index, _compute_chunk(tasks, config, plugin_paths)


def _compute_chunk(tasks: list[tuple[str, tuple[str, ...]]], config: AnalysisConfig,
                   plugin_paths: list[str]) -> list[tuple[dict, str | None, str | None]]:
    """Worker: for each (path, sets), decode once, analyse once, compute the sets. Never raises per file."""
    from threadpoolctl import threadpool_limits

    load_plugins(plugin_paths)
    # One BLAS thread everywhere, so features are bit-identical whatever --jobs is (and small matrix
    # products gain nothing from threads). librosa's short-clip warning is reported by the bank itself.
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"n_fft=\d+ is too large")
        outcome = [_compute_clip(path, needed, config) for path, needed in tasks]
    send_columns_once(results for results, _, _ in outcome)
    return outcome


def send_columns_once(outcome: Iterable[dict[str, tuple]]) -> None:
    """In a worker, before a chunk's results go back: a set's column names that equal those of the chunk's
    previous clip become :data:`SAME_COLUMNS`, so that they travel once per chunk, not with every clip (the
    bank's 7,431 names cost more to pickle and compare than its values). :func:`columns_resent` undoes it.

    ``outcome`` holds, per clip, a dict set -> tuple whose second item is the column names (None for a sequence
    set); a failed clip's dict is empty. Changed in place.
    """
    sent: dict[str, list[str]] = {}
    for results, name, entry in _named_entries(outcome):
        if sent.get(name) == entry[1]:
            results[name] = (entry[0], SAME_COLUMNS, *entry[2:])
        else:
            sent[name] = entry[1]


def columns_resent(outcome: Iterable[dict[str, tuple]]) -> None:
    """In this process, for a chunk :func:`send_columns_once` packed: every :data:`SAME_COLUMNS` becomes the
    list the chunk sent last for that set, the same object, so a check of each clip's columns can stop at
    ``is``. Changed in place; every clip of the chunk must be passed, in order, failed ones included."""
    last: dict[str, list[str]] = {}
    for results, name, entry in _named_entries(outcome):
        if isinstance(entry[1], str):
            results[name] = (entry[0], last[name], *entry[2:])
        else:
            last[name] = entry[1]


def _named_entries(outcome: Iterable[dict[str, tuple]]):
    """(clip's results, set, entry) for every vector set's entry (one with column names) of every clip."""
    for results in outcome:
        for name, entry in list(results.items()):
            if entry[1] is not None:
                yield results, name, entry


def _compute_clip(path: str, needed: tuple[str, ...],
                  config: AnalysisConfig) -> tuple[dict, str | None, str | None]:
    """(results per set, None, None), or ({}, the reason the file failed, the feature set to blame or None)."""
    try:
        native, native_sr = read_native(path)
    except AudioError as error:
        return {}, error.reason, None
    y = resample(native, native_sr, config.sr)
    clip = Clip(y, config, path)
    results: dict[str, tuple] = {}
    for name in needed:
        if name == CLIP_INFO:
            digest = hashlib.blake2b(native.tobytes() + str(native_sr).encode(), digest_size=16).hexdigest()
            info = np.array([native_sr, native.size / native_sr, np.abs(native).max(),
                             np.sqrt(np.mean(native.astype(np.float64) ** 2))])
            results[name] = (info, CLIP_INFO_COLUMNS, False, digest)
            continue
        spec = get_feature_set(name)
        try:
            raw = spec.func(clip)
            if spec.kind == "sequence":
                values, columns = as_sequence(raw, spec), None
            else:
                values, columns = as_vector(raw, spec)
        except FeatureError as error:  # what the set returned cannot be used; the message names the set
            return {}, _one_line(error), name
        except SystemExit as error:  # a (user) set calling sys.exit fails the file, as any other fault of it
            return {}, f"feature set {name!r} called sys.exit({error.code!r})", name
        except Exception as error:  # a broken (user) feature set fails this file, reported, not the run
            return {}, f"feature set {name!r} failed: {type(error).__name__}: {_one_line(error)}", name
        nonfinite = not np.all(np.isfinite(values))
        if nonfinite:
            values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        results[name] = (values, columns, nonfinite, "")
    return results, None, None


def _one_line(error: BaseException, limit: int = 300) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _assemble(table, keys, stores, wanted, failed, config, report) -> Features:
    for i, (reason, culprit) in sorted(failed.items()):
        report.failed.append((str(table["path"].iloc[i]), reason))
        if culprit is not None:
            report.failed_by_set[culprit] = report.failed_by_set.get(culprit, 0) + 1
            report.first_failure_of_set.setdefault(culprit, report.failed[-1])
    ok = [i for i in range(len(table)) if i not in failed]
    ok_keys = [keys[i] for i in ok]
    index = {name: stores[name].lookup(ok_keys) for name in wanted}
    vectors, columns, sequences = {}, {}, {}
    for name in wanted:
        store, rows = stores[name], index[name]
        merged = store.rows
        if store.kind == "sequence":
            sequences[name] = [merged.row(r) for r in rows]
        else:
            vectors[name] = merged.values[rows] if rows else np.zeros((0, len(store.columns or [])))
            columns[name] = list(store.columns or [])
        flagged = merged.nonfinite[rows] if rows else np.zeros(0, bool)
        if name != CLIP_INFO:
            report.warnings += [f"{table['path'].iloc[ok[j]]}: feature set {name!r} gave non-finite values, "
                                "replaced by 0" for j in np.flatnonzero(flagged)]
    info = vectors.pop(CLIP_INFO)
    columns.pop(CLIP_INFO)
    kept = table.iloc[ok].reset_index(drop=True).copy()
    if not ok:  # nothing analysed: report.failed and failure_line() say why
        import pandas as pd  # here only: the workers, which import this module, never need pandas

        kept["digest"], kept["peak"] = pd.Series(dtype=str), pd.Series(dtype=float)
        return Features(kept, vectors, columns, sequences, report)
    kept["digest"] = stores[CLIP_INFO].rows.text[index[CLIP_INFO]]
    kept["peak"] = info[:, 2]
    report.audio_seconds = float(info[:, 1].sum())
    for j, (peak, duration) in enumerate(zip(info[:, 2], info[:, 1], strict=True)):
        if peak <= 1e-7:
            report.warnings.append(f"{kept['path'].iloc[j]}: silent clip")
        elif duration * config.sr < config.win_length:
            report.warnings.append(f"{kept['path'].iloc[j]}: shorter than one analysis window")
    return Features(kept, vectors, columns, sequences, report)
