"""Features of degraded copies of clips, cached like any other: keyed by clip, condition, seed (and for babble the
clips it is made of).

A task is one clip under one :class:`~features.degrade.Condition`: decode the clip (and its babble sources),
resample to the analysis rate, degrade it there, analyse it once and compute every wanted set. Entries live
under ``<cache>/features-degraded/<set>/<set key>/`` in the same pickle-free packs as clean features, so a warm
robustness run decodes nothing.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .analysis import Clip
from .audio import AudioError, read_native, resample
from .bank import columns_resent, effective_jobs, library_versions, on_pool, send_columns_once
from .cache import Rows, SetStore, default_cache_dir, file_key
from .config import AnalysisConfig
from .degrade import Condition, ConditionError, apply, condition_seed
from .plugins import load_plugins
from .pool import wait_for_warm_up
from .registry import FeatureError, as_sequence, as_vector, get_feature_set, module_digest

DEGRADED_DIR = "features-degraded"
DEGRADE_VERSION = 1  # bump when a degradation's code changes what it produces


@dataclass(frozen=True)
class Task:
    """One clip under one condition; ``sources`` are the clips babble is made of (paths), ``clip_id`` seeds it."""

    path: str
    condition: Condition
    clip_id: str
    sources: tuple[str, ...] = ()


@dataclass
class DegradedFeatures:
    """Per task (in the order given): vector sets as arrays, sequence sets as lists; failed tasks listed."""

    vectors: dict[str, np.ndarray]
    sequences: dict[str, list[np.ndarray]]
    failed: dict[int, str] = field(default_factory=dict)  # task index -> reason
    computed: int = 0
    cache_hits: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def task_key(task: Task, seed: int, content_hash: bool = False) -> str:
    """The cache key of a task: the clip's file identity, the condition and its parameters, the seed, the
    degradation code (its version and source) and the identities of the babble sources (40 hex characters)."""
    code = module_digest("degrade.py", "robust.py")  # the sets' own keys cover the analysis code
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{DEGRADE_VERSION}|{code}|{file_key(task.path, content_hash)}|"
             f"{sorted(task.condition.params().items())}|{seed}|{task.clip_id}".encode())
    for source in task.sources:
        h.update(b"|" + file_key(source, content_hash).encode())
    return h.hexdigest()


def extract_degraded(tasks: Sequence[Task], sets: Sequence[str], config: AnalysisConfig, seed: int, *,
                     sequence_sets: Sequence[str] = (), cache_dir: str | Path | None = None, use_cache: bool = True,
                     jobs: int | None = None, plugins: Sequence[str | Path] = (),
                     content_hash: bool = False) -> DegradedFeatures:
    """Features of every task's degraded clip, computing only what the cache lacks.

    Parameters
    ----------
    tasks : the clips and conditions.
    sets, sequence_sets : registered vector and sequence sets to compute.
    config : analysis settings (the clean run's).
    seed : the run's seed; each clip's noise is drawn from (seed, condition, clip).
    cache_dir, use_cache, jobs, plugins, content_hash : as for :func:`features.extract`.

    Returns
    -------
    DegradedFeatures
        Rows aligned with ``tasks``; a failed task's rows are zeros and its reason is in ``failed``.
    """
    start = time.perf_counter()
    plugin_paths = [str(Path(p).resolve()) for p in plugins]
    load_plugins(plugin_paths)
    wanted = [*dict.fromkeys(sets), *dict.fromkeys(sequence_sets)]
    specs = {name: get_feature_set(name) for name in wanted}
    versions = library_versions()
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    stores = {}
    for name, spec in specs.items():
        directory = root / DEGRADED_DIR / name / spec.key(config, versions)
        stores[name] = SetStore.open(directory, spec.kind) if use_cache else SetStore(directory, spec.kind,
                                                                                      persist=False)
    out = DegradedFeatures({}, {})
    keys: list[str | None] = []
    for i, task in enumerate(tasks):
        try:
            keys.append(task_key(task, seed, content_hash))
        except OSError as error:
            keys.append(None)
            out.failed[i] = f"cannot be read: {error.strerror or error}"
    lookups = {name: store.lookup([k or "" for k in keys]) for name, store in stores.items()}
    todo = [(i, tuple(n for n in wanted if lookups[n][i] is None)) for i, k in enumerate(keys) if k is not None]
    todo = [(i, needed) for i, needed in todo if needed]
    out.cache_hits = len(tasks) - len(todo) - len(out.failed)
    if todo:
        out.failed.update(_run(todo, tasks, keys, stores, config, seed, plugin_paths, jobs))
        out.computed = sum(1 for i, _ in todo if i not in out.failed)
    if use_cache:
        for store in stores.values():
            store.compact()
    for store in stores.values():
        out.problems.extend(store.problems)
    for name in wanted:
        store = stores[name]
        rows = store.lookup([k if k is not None and i not in out.failed else "" for i, k in enumerate(keys)])
        merged = store.rows
        if store.kind == "sequence":
            width = merged.values.shape[1] if merged.values.ndim == 2 and merged.values.size else 0
            out.sequences[name] = [merged.row(r) if r is not None else np.zeros((1, width), np.float32)
                                   for r in rows]
        else:
            width = len(store.columns or []) or (merged.values.shape[1] if merged.values.ndim == 2 else 0)
            values = np.zeros((len(tasks), width), np.float32)
            ok = [j for j, r in enumerate(rows) if r is not None]
            if ok:
                values[ok] = merged.values[[rows[j] for j in ok]]
            out.vectors[name] = values
    out.seconds = time.perf_counter() - start
    return out


def _run(todo, tasks, keys, stores, config, seed, plugin_paths, jobs) -> dict[int, str]:
    # All conditions of one clip go to the same chunk, in a row: the worker decodes and resamples the clip (and
    # its babble sources) once for them all (``_decoded`` is memoised per process) instead of once per condition.
    # Results are keyed per task and each task's noise is seeded by (seed, condition, clip), so order changes
    # nothing in the output.
    todo = sorted(todo, key=lambda item: (tasks[item[0]].path, item[0]))
    n_jobs = min(effective_jobs(jobs), len(todo))
    size = int(np.clip(np.ceil(len(todo) / (n_jobs * 4)), 4, 32))
    chunks = [todo[i: i + size] for i in range(0, len(todo), size)]
    args = [([(tasks[i], needed) for i, needed in chunk], config, seed, plugin_paths) for chunk in chunks]
    if n_jobs == 1 or len(chunks) == 1:
        wait_for_warm_up()  # never compile beside a worker that compiles (numba issue 10128)
        results = (_indexed(c, *a) for c, a in enumerate(args))
    else:  # the run's shared pool, after a numba warm-up in one of its workers
        results = on_pool(_indexed, [(c, *a) for c, a in enumerate(args)],
                          sorted({n for _, needed in todo for n in needed}), config, n_jobs)
    failed: dict[int, str] = {}
    for c, outcome in results:
        per_set: dict[str, list] = {}
        columns: dict[str, list[str]] = {}
        checked: dict[str, list[str]] = {}  # per set, the columns found equal to the store's (by identity)
        columns_resent(results_ for results_, _ in outcome)
        for (i, _), (results_, error) in zip(chunks[c], outcome, strict=True):
            if error is not None:
                failed[i] = error
                continue
            for name, (_, cols, _) in results_.items():
                if cols is None:  # a sequence set
                    continue
                expected = stores[name].columns or columns.setdefault(name, cols)
                if cols is not checked.get(name) and list(cols) != list(expected):
                    failed[i] = f"feature set {name!r} returned other columns on the degraded clip"
                    break
                checked[name] = cols
            else:
                for name, (values, _, nonfinite) in results_.items():
                    per_set.setdefault(name, []).append((keys[i], values, nonfinite))
        for name, items in per_set.items():
            k, v, f = (list(x) for x in zip(*items, strict=True))
            stores[name].write_pack(Rows.build(k, v, f, [""] * len(k), stores[name].kind), columns.get(name))
    return failed


def _indexed(index, items, config, seed, plugin_paths):
    from threadpoolctl import threadpool_limits

    load_plugins(plugin_paths)
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"n_fft=\d+ is too large")
        # A degraded clip (band-limited, clipped) can overflow an analysis such as LPC; the non-finite values
        # it gives are replaced by 0 and flagged, as for clean clips, so the warning itself adds nothing.
        warnings.simplefilter("ignore", RuntimeWarning)
        outcome = [degraded_clip_features(task, needed, config, seed) for task, needed in items]
    send_columns_once(results for results, _ in outcome)  # the bank's 7,431 names once per chunk
    return index, outcome


@lru_cache(maxsize=128)
def _decoded(path: str, sr: int) -> np.ndarray:
    native, native_sr = read_native(path)
    return resample(native, native_sr, sr)


def degrade_clip(task: Task, sr: int, seed: int) -> np.ndarray:
    """The task's clip at ``sr`` under its condition (babble sources decoded and resampled alike)."""
    y = _decoded(task.path, sr)
    sources = [_decoded(s, sr) for s in task.sources]
    return apply(task.condition, y, sr, condition_seed(seed, task.condition, task.clip_id), sources)


def degraded_clip_features(task: Task, needed: Sequence[str], config: AnalysisConfig,
                           seed: int) -> tuple[dict, str | None]:
    """({set: (values, columns or None, nonfinite)}, None), or ({}, why the task failed). Never raises per clip."""
    try:
        y = degrade_clip(task, config.sr, seed)
    except (AudioError, ConditionError) as error:
        return {}, f"{task.condition.name}: {error}"
    clip = Clip(y, config, f"{task.path} [{task.condition.name}]")
    results = {}
    for name in needed:
        spec = get_feature_set(name)
        try:
            raw = spec.func(clip)
            values, columns = (as_sequence(raw, spec), None) if spec.kind == "sequence" else as_vector(raw, spec)
        except FeatureError as error:
            return {}, f"{task.condition.name}: {error}"
        except Exception as error:  # a set that fails on a degraded clip fails this task, reported
            return {}, f"{task.condition.name}: feature set {name!r} failed: {type(error).__name__}: {error}"
        nonfinite = not np.all(np.isfinite(values))
        if nonfinite:
            values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        results[name] = (values, columns, nonfinite)
    return results, None
