"""``run --leaks``: fit every decomposition row of :mod:`benchmark.evaluation.leaks` and score it.

Fits are keyed exactly as the run's own grid keys them (model, parameters, code, seed, library versions and the
content of the training, test and early-stopping rows), so the honest row and the ``speakers`` row come from
the fits the leaderboard already made, and a second ``--leaks`` run fits nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from benchmark.evaluation.leaks import (
    LEAKS,
    Augmented,
    Variant,
    build_variant,
    reference_name,
    twin_tools,
)
from benchmark.reports.statistics import paired_speaker_test, speaker_bootstrap_ci
from models.registry import get_model
from models.tuning import DEFAULT_GRIDS, _combinations

from .fitcache import FitCache, fit_key, library_versions, row_digests, rows_digest
from .fitting import FitRecord, FitSpec, run_fit

TOGETHER = "all together"


@dataclass(frozen=True)
class Planned:
    variant: str
    fold: int
    params: tuple
    tune: bool
    key: str


def plan_variants(leaks: Sequence[str], folds, X, y, groups, seed: int, augmented: Augmented | None
                  ) -> dict[str, Variant]:
    """The honest row, each leak alone, each leak's in-fold twin, and (two leaks or more) all of them together."""
    variants = {"honest": build_variant("honest", (), (), folds, X, y, groups, seed)}
    for leak in leaks:
        variants[leak] = build_variant(leak, (leak,), (), folds, X, y, groups, seed, augmented)
        ref = reference_name(leak)
        if ref == "speaker+text" and ref not in variants:
            variants[ref] = build_variant(ref, (), (), folds, X, y, groups, seed, base="speaker+text")
        elif ref.startswith("in-fold") and ref not in variants:
            variants[ref] = build_variant(ref, (), twin_tools(leak), folds, X, y, groups, seed, augmented)
    if len(leaks) > 1:
        variants[TOGETHER] = build_variant(TOGETHER, tuple(leaks), (), folds, X, y, groups, seed, augmented)
    return variants


WITH_LEAKS = "with its leaks"
DATA_LEAKS = ("scale-on-all", "select-on-all", "augment-before-split", "oversample-before-split")


def plan_system(leaks: Sequence[str], folds, X, y, groups, seed: int, augmented: Augmented | None
                ) -> dict[str, Variant]:
    """A system's decomposition: its leaks together, each removed in turn, and the honest row."""
    variants = {"honest": build_variant("honest", (), (), folds, X, y, groups, seed)}
    variants[WITH_LEAKS] = build_variant(WITH_LEAKS, tuple(leaks), (), folds, X, y, groups, seed, augmented)
    if len(leaks) > 1:
        for leak in leaks:
            name = f"without {leak}"
            rest = tuple(x for x in leaks if x != leak)
            variants[name] = build_variant(name, rest, (), folds, X, y, groups, seed, augmented)
    return variants


def run_leak_rows(model: str, features: str, variants: dict[str, Variant], params: dict, seed: int,
                  cache: FitCache, code: str, canonical: Callable[[dict], dict], jobs: int = 1,
                  bootstrap: int = 1000, say: Callable[[str], None] = lambda _: None) -> tuple[list[dict], int, int]:
    """Fit (or fetch from the cache) every fold of every variant, then score: (rows, fits run, fits cached)."""
    spec_of: dict[str, tuple[FitSpec, object]] = {}
    planned: list[Planned] = []
    neural = get_model(model).neural
    versions = library_versions(neural)
    for name, variant in variants.items():
        if not neural and "epoch-on-test" in variant.leaks and len(variant.leaks) == 1:
            continue  # no epochs to choose: the row says n/a
        if variant.folds and variant.folds[0].X.ndim != 2 and (set(variant.leaks) & set(DATA_LEAKS)
                                                              or variant.tools):
            continue  # fitted feature transforms apply to feature vectors
        candidates = [dict(params)]
        if variant.tune == "test":
            if model not in DEFAULT_GRIDS:
                continue
            candidates = [{**params, **c} for c in _combinations(DEFAULT_GRIDS[model])]
        for fold in variant.folds:
            d = row_digests(fold.X)
            dev = fold.dev  # as the run's grid passes it, so that the honest row shares its fits
            for candidate in candidates:
                tune = variant.tune == "inner"
                key = fit_key(model, {**canonical(candidate), "__tune__": tune}, code, seed, versions,
                              rows_digest(d[fold.train], fold.y[fold.train], fold.groups[fold.train]),
                              rows_digest(d[fold.test]),
                              rows_digest(d[dev], fold.y[dev]) if dev is not None else None)
                planned.append(Planned(name, fold.index, tuple(sorted(candidate.items())), tune, key))
                if key not in spec_of:
                    spec_of[key] = (FitSpec(model, tuple(sorted(candidate.items())), seed, 1, (), tune),
                                    (fold, dev))
    records: dict[str, FitRecord] = {}
    for key in spec_of:
        hit = cache.get(key)
        if hit is not None:
            records[key] = hit
    cached = len(records)
    todo = [k for k in spec_of if k not in records]
    if todo:
        say(f"leaks: {model}: {len(todo)} fit(s) to run, {cached} from the cache")
        from joblib import Parallel, delayed

        def one(key):
            spec, (fold, dev) = spec_of[key]
            return run_fit(spec, fold.X, fold.y, fold.groups, fold.train, fold.test, dev)

        results = Parallel(n_jobs=max(1, min(jobs, len(todo))))(delayed(one)(k) for k in todo)
        for key, record in zip(todo, results, strict=True):
            cache.put(key, record)
            records[key] = record
    rows = score_variants(model, features, variants, planned, records, neural, bootstrap, seed)
    return rows, len(todo), cached


def _pooled(variant: Variant, planned: list[Planned], records: dict[str, FitRecord], n: int
            ) -> tuple[np.ndarray, str]:
    """Each tested corpus row's prediction ('' where untested), and an error ('' when every fold is ok).

    Under ``tune-on-test`` a fold's prediction is that of the candidate scoring best on the fold's own test rows.
    """
    from benchmark.reports.statistics import uar

    pred = np.full(n, "", dtype=object)
    for fold in variant.folds:
        mine = [p for p in planned if p.variant == variant.name and p.fold == fold.index]
        if not mine:
            return pred, "not run"
        best, best_score = None, -1.0
        for p in mine:
            record = records.get(p.key)
            if record is None or record.status != "ok":
                return pred, record.error if record is not None else "not run"
            score = uar(fold.y[fold.test], record.predictions) if len(mine) > 1 else 0.0
            if score > best_score:
                best, best_score = record, score
        pred[fold.test] = best.predictions
    return pred, ""


def score_variants(model: str, features: str, variants: dict[str, Variant], planned: list[Planned],
                   records: dict[str, FitRecord], neural: bool, bootstrap: int, seed: int) -> list[dict]:
    """One row per variant: UAR with its speaker-bootstrap interval, and against its reference the inflation
    in points with the paired permutation test over speakers."""
    honest = variants["honest"]
    first = honest.folds[0]  # the honest array holds exactly the corpus rows, in table order
    n = len(first.X)
    y, groups = first.y.astype(object), first.groups.astype(object)
    pooled = {name: _pooled(v, planned, records, n) for name, v in variants.items()}
    rows = []
    for name, variant in variants.items():
        kind = "leak" if variant.leaky else "reference"
        row = {"model": model, "features": features, "row": name, "kind": kind, "leaky": variant.leaky,
               "leaks": "+".join(variant.leaks), "tools": "+".join(variant.tools),
               "what": LEAKS.get(name, "the leaks above, committed together" if name == "all together" else
                                 _reference_what(name)),
               "reference": "", "uar": np.nan, "ci_low": np.nan, "ci_high": np.nan, "reference_uar": np.nan,
               "inflation": np.nan, "p_value": np.nan, "acc": np.nan, "n_test": 0, "n_speakers": 0, "status": "ok", "error": ""}
        if WITH_LEAKS in variants:  # a system: its leaks against honest; each removal against all its leaks
            row["kind"] = "system"
            row["what"] = f"{'+'.join(variant.leaks) or 'no leak'}"
            row["reference"] = "honest" if name == WITH_LEAKS else WITH_LEAKS if name != "honest" else ""
        elif variant.leaky:
            row["reference"] = reference_name(name) if len(variant.leaks) == 1 else "honest"
        if not neural and variant.leaks == ("epoch-on-test",):
            row.update(status="n/a", error="the model has no epochs to choose")
            rows.append(row)
            continue
        if variant.folds and variant.folds[0].X.ndim != 2 and (set(variant.leaks) & set(DATA_LEAKS)
                                                              or variant.tools):
            row.update(status="n/a", error="a fitted feature transform needs feature vectors, not sequences")
            rows.append(row)
            continue
        if variant.tune == "test" and model not in DEFAULT_GRIDS:
            row.update(status="n/a", error=f"{model} has no tuning grid")
            rows.append(row)
            continue
        pred, error = pooled[name]
        if error:
            row.update(status="failed", error=error)
            rows.append(row)
            continue
        tested = pred != ""
        row["acc"] = 100 * float(np.mean(pred[tested].astype(str) == y[tested].astype(str)))
        point, low, high = speaker_bootstrap_ci(y[tested], pred[tested].astype(str), groups[tested],
                                                n_resamples=bootstrap, seed=seed)
        row.update(uar=100 * point, ci_low=100 * low, ci_high=100 * high, n_test=int(tested.sum()),
                   n_speakers=len(set(groups[tested].tolist())))
        ref = row["reference"]
        if ref and ref in pooled and not pooled[ref][1]:
            ref_pred = pooled[ref][0]
            both = tested & (ref_pred != "")
            test = paired_speaker_test(y[both], pred[both].astype(str), ref_pred[both].astype(str), groups[both],
                                       seed=seed)
            row.update(reference_uar=100 * test.uar_b, inflation=100 * test.diff, p_value=test.p_value)
        rows.append(row)
    return rows


def _reference_what(name: str) -> str:
    if name == "honest":
        return "speaker-independent folds, every fitted step on the training fold only"
    if name == "speaker+text":
        return "speakers and sentences of the test fold both unseen in training"
    tool = name.removeprefix("in-fold ")
    return {"scale": "StandardScaler fitted on the training fold", "select":
            "SelectKBest fitted on the training fold", "augment": "the training clips augmented, never a test clip",
            "oversample": "SMOTE on the training fold", "tune":
            "hyper-parameters by inner speaker-grouped CV on the training speakers"}.get(tool, name)


DEFAULT_LEAK_AUGMENT = ("noise", "pitch")  # one copy each, as the common SER notebooks do


def run_leaks(leaks: Sequence[str], model_names: Sequence[str], inputs_of: dict, arrays: dict, table, folds: dict,
              config, cache_root, jobs: int, canonical: Callable[[str, dict], dict],
              code_of: Callable[[str], str], say: Callable[[str], None]) -> list[dict]:
    """Every decomposition row of every vector-input model of the run (``run --leaks``)."""
    from features.augment import augmentation, augmented_features

    from .augmenting import transforms

    y = table["emotion"].astype(str).to_numpy()
    groups = table["speaker"].astype(str).to_numpy()
    cache = FitCache(cache_root, persist=config.use_cache)
    rows: list[dict] = []
    augmented_of: dict[tuple, Augmented] = {}
    systems = dict(getattr(config, "system_leaks", {}) or {})
    for model in model_names:
        spec = inputs_of[model]
        mine = list(systems.get(model, leaks))
        if model in systems and not mine:
            continue  # a system whose leaks cannot be named from its sources
        X = arrays[(spec.name, False)][: len(table)]  # the corpus rows (--augment appends copies)
        augmented = None
        if "augment-before-split" in mine and spec.kind == "vector":
            if spec.sets not in augmented_of:
                augs = (transforms(config)[0] if config.augment
                        else [augmentation(a) for a in DEFAULT_LEAK_AUGMENT])
                copies = augmented_features(table["path"].astype(str).tolist(), table["digest"].astype(str).tolist(),
                                            np.arange(len(table)), augs, spec.sets, config.seed, config.analysis,
                                            cache_root if config.use_cache else None, jobs)
                say(f"leaks: {len(copies.X)} augmented copies ({', '.join(a.label for a in augs)}): "
                    f"{copies.computed} computed, {copies.cached} from the cache")
                augmented_of[spec.sets] = Augmented(copies.X, copies.source)
            augmented = augmented_of[spec.sets]
        elif "augment-before-split" in mine:
            mine = [leak for leak in mine if leak != "augment-before-split"]
            say(f"leaks: {model}: augment-before-split left out ({spec.name} is a sequence input)")
        variants = plan_system(mine, folds, X, y, groups, config.seed, augmented) if model in systems else \
            plan_variants(mine, folds, X, y, groups, config.seed, augmented)
        params = dict(config.model_params.get(model, {}))
        model_rows, run, cached = run_leak_rows(model, spec.name, variants, params, config.seed, cache,
                                                code_of(model), lambda p, m=model: canonical(m, p), jobs,
                                                config.bootstrap_resamples, say)
        say(f"leaks: {model}: {run} fit(s) run, {cached} from the cache")
        rows += model_rows
    return rows


def leak_stage(config, table, folds: dict, inputs_of: dict, arrays: dict, model_names: Sequence[str], cache_root,
               jobs: int, fold_file, say: Callable[[str], None], canonical: Callable[[str, dict], dict],
               code_of: Callable[[str], str]) -> list[dict]:
    """The folds the leaks need (the run's, or made with the run's seed and settings), then every row."""
    from benchmark.evaluation.leaks import HONEST, needs_protocols
    from benchmark.evaluation.protocols import ProtocolError, make_folds

    leaks = list(config.leaks)
    all_folds = dict(folds)
    named = sorted({x for v in (getattr(config, "system_leaks", {}) or {}).values() for x in v})
    for protocol in [HONEST, *needs_protocols([*leaks, *named])]:
        if protocol in all_folds:
            continue
        try:
            all_folds[protocol] = make_folds(protocol, table, config.folds, config.seed, config.loso, fold_file)
        except ProtocolError as error:
            if protocol == HONEST:
                raise
            dropped = [leak for leak in leaks if protocol in needs_protocols([leak])]
            say(f"leaks: {', '.join(dropped)} left out: {error}")
            leaks = [leak for leak in leaks if leak not in dropped]
    say("")
    say(f"leaks: {len(leaks)} leaky pipeline(s) on top of the {HONEST} folds: {', '.join(leaks)}")
    return run_leaks(leaks, model_names, inputs_of, arrays, table, all_folds, config, cache_root, jobs, canonical,
                     code_of, say)


LEAKAGE_COLUMNS = ("model", "features", "row", "kind", "leaky", "leaks", "tools", "reference", "uar", "ci_low",
                   "ci_high", "reference_uar", "inflation", "p_value", "acc", "n_test", "n_speakers", "status", "error",
                   "what")


def write_leakage(writer, rows: list[dict], plots: bool) -> None:
    """``leakage.csv`` (every row, leaky ones marked), ``leakage.md`` and the waterfall plots into the folder."""
    import pandas as pd

    from benchmark.reports import leakage

    frame = pd.DataFrame(rows)[list(LEAKAGE_COLUMNS)]
    for column in ("uar", "ci_low", "ci_high", "reference_uar", "inflation", "acc"):
        frame[column] = frame[column].astype(float).round(4)
    writer.csv(leakage.LEAKAGE_CSV, frame)
    writer.text("leakage.md", leakage.render(writer.path, "md"))
    if plots:
        leakage.plot_waterfall(writer.path)
