"""Making a bundle: fit one model on a whole corpus and measure, by the benchmark's own speaker protocol, what
that recipe is worth on speakers it never heard (or take that number from a finished run)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.corpora import load_corpus
from benchmark.evaluation.metrics import fold_scores, mean_std
from benchmark.evaluation.normalisation import speaker_normalise
from benchmark.evaluation.protocols import make_folds
from benchmark.reports.statistics import speaker_bootstrap_ci
from benchmark.run.engine import corpus_fingerprint, package_versions
from benchmark.run.fitting import fit_model, fit_on_fold
from benchmark.run.plan import input_for
from features import AnalysisConfig, extract, load_plugins, pad_sequences, resolve
from features.bank import library_versions
from features.registry import REGISTRY, get_feature_set
from features.sequences import MAX_SEQUENCE_STEPS
from models import make_model
from models.registry import check_params, get_model

from .bundle import Bundle, BundleError, FeatureSpec, HonestScore

N_RESAMPLES = 2000
LEVEL = 0.95


@dataclass
class TrainConfig:
    """What ``train`` needs; the defaults are the benchmark's."""

    model: str
    dataset: str | None = None
    data_dir: str | None = None
    features: str = "all"  # vector sets for vector models; for a sequence model, a sequence set (or "all":
    # the model's default input)
    speaker_norm: bool = False
    seed: int = 0
    folds: int = 5
    evaluate: bool = True
    n_resamples: int = N_RESAMPLES
    jobs: int | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    plugins: tuple[str, ...] = ()
    model_params: dict = field(default_factory=dict)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    profile: str = "default"
    include_song: bool = False
    strict: bool = False
    robustness: tuple[str, ...] = ()  # conditions to measure on the evaluation's test folds (train --robustness)


def train_bundle(config: TrainConfig, log: Callable[[str], None] | None = None,
                 score: HonestScore | None = None, expected_fingerprint: str | None = None,
                 robustness: dict | None = None) -> Bundle:
    """Fit ``config.model`` on the whole corpus and bundle it with its honest score.

    Unless ``config.evaluate`` is off or a ``score`` is given, the score is measured here by the speaker
    protocol (``make_folds("speaker", table, folds, seed)``): each fold's model is fitted on the other speakers
    and predicts the held-out ones; the pooled predictions give the UAR and a bootstrap interval over speakers
    (:func:`benchmark.reports.statistics.speaker_bootstrap_ci`), the folds the leaderboard's mean ± std.

    The bundle also keeps what its training clips were like, for ``predict`` to compare inputs with: the raw
    features' per-column range (vector inputs, :mod:`benchmark.apps.domain`) and every clip's estimated level,
    SNR, bandwidth and duration (:mod:`benchmark.apps.recording`); and ``robustness``, a robustness profile
    (:func:`benchmark.apps.robustness.profile_from_run`), when given.
    """
    say = log or (lambda _: None)
    load_plugins(config.plugins)
    check_params(config.model, dict(config.model_params))  # type and range, before any audio is decoded
    conditions, condition_notes = [], []
    if config.robustness:
        if score is not None or not config.evaluate:
            raise BundleError("--robustness is measured by the speaker-independent evaluation: drop "
                              "--no-evaluate (or, with --from-run, the profile comes from the run)")
        if config.speaker_norm:
            raise BundleError("--robustness with --speaker-norm: the per-speaker statistics would be re-estimated "
                              "on the degraded clips (another experiment); measure it without --speaker-norm")
        from benchmark.run.robustness import parse_conditions

        conditions, condition_notes = parse_conditions(config.robustness)
    model_input = model_input_for(config.model, config.features)
    names, label = list(model_input.sets), model_input.name
    corpus = load_corpus(config.dataset, config.data_dir, include_song=config.include_song, strict=config.strict,
                         cache_dir=config.cache_dir, seed=config.seed, profile=config.profile)
    say(f"corpus {corpus.name}: {len(corpus.table)} utterances, {corpus.table['speaker'].nunique()} speakers, "
        f"{len(corpus.skipped)} file(s) skipped")
    vector = model_input.kind == "vector"
    feats = extract(corpus.table, names if vector else [], config.analysis, sequence_sets=[] if vector else names,
                    cache_dir=config.cache_dir, use_cache=config.use_cache, jobs=config.jobs,
                    plugins=config.plugins, progress=None)
    say(f"features: {feats.report.summary_line()}")
    table = feats.table
    if config.strict and feats.report.failed:
        path, reason = feats.report.failed[0]
        raise BundleError(f"{len(feats.report.failed)} file(s) could not be analysed and --strict is on; first: "
                          f"{path}: {reason}")
    fingerprint = corpus_fingerprint(table)
    if expected_fingerprint is not None and fingerprint != expected_fingerprint:
        raise BundleError("the corpus found now is not the one the run scored (its fingerprint differs); the run's "
                          "score would not describe this model: train with --dataset/--data-dir instead")
    if vector:
        X = feats.matrix(names)[0]
        sets = [_set_entry(n, config.analysis, columns=feats.columns[n]) for n in names]
    else:
        sequences = feats.sequences[names[0]]
        X = pad_sequences(sequences, min(max(len(s) for s in sequences), MAX_SEQUENCE_STEPS))
        sets = [_set_entry(names[0], config.analysis, dims=int(sequences[0].shape[1]))]
    y = table["emotion"].astype(str).to_numpy()
    speakers = table["speaker"].astype(str).to_numpy()
    if len(set(y.tolist())) < 2:
        raise BundleError("fewer than two emotions in the corpus; nothing to classify")
    profile = None
    if vector:  # what predict compares its inputs with: raw features, before any speaker normalisation
        from benchmark.apps.domain import training_profile

        durations = table["duration"].to_numpy(dtype=float) if "duration" in table else None
        profile = training_profile(X, durations)
    say(f"estimating the {len(table)} training clips' level, SNR and bandwidth ...")
    audio = recording_profile(table, config.analysis.sr)
    if config.speaker_norm:
        X = speaker_normalise(X, speakers)
    params = dict(config.model_params)
    if score is None and config.evaluate:
        say(f"measuring {config.model} on unseen speakers ({config.folds} speaker folds) ...")
        degraded = None
        if conditions:
            degraded = degraded_inputs(conditions, condition_notes, table, X, names, vector, config, say)
        score = speaker_score(config.model, X, y, speakers, table, seed=config.seed, folds=config.folds,
                              n_resamples=config.n_resamples, jobs=config.jobs, model_params=params,
                              degraded=degraded)
        say(score.line())
        if degraded is not None:
            robustness = {**degraded.profile(score, config.n_resamples, config.seed), "model": config.model,
                          "features": label}
            from .robustness import describe

            say(describe(robustness))
    say(f"fitting {config.model} on all {len(y)} utterances ...")
    model = make_model(config.model, random_state=config.seed, n_jobs=_threads(config.jobs), **params)
    fit_model(model, X, y, speakers, np.arange(len(y)))
    summary = corpus.summary()
    corpus_info = {"dataset": corpus.name, "root": str(corpus.root), "fingerprint": fingerprint,
                   "utterances": int(len(table)), "speakers": int(table["speaker"].nunique()),
                   "emotions": {str(k): int(v) for k, v in table["emotion"].value_counts().sort_index().items()},
                   "skipped": len(summary["skipped"]), "not_analysed": len(feats.report.failed)}
    features = FeatureSpec(model_input.kind, label, tuple(sets), config.analysis, library_versions())
    settings = {"seed": config.seed, "folds": config.folds, "model_params": params, "features": config.features,
                "n_resamples": config.n_resamples, "profile": config.profile, "data_dir": config.data_dir}
    versions = {**package_versions(), **_extra_versions()}
    bundle = Bundle.create(model, model_name=config.model, features=features, corpus=corpus_info, score=score,
                           speaker_norm=config.speaker_norm, settings=settings, versions=versions)
    bundle.domain = profile
    bundle.recording = audio
    bundle.robustness = robustness
    return bundle


def recording_profile(table: pd.DataFrame, sr: int) -> dict:
    """The training clips' recording conditions (:func:`benchmark.apps.recording.distribution`), each clip
    decoded as feature extraction decodes it (mono, at the analysis rate)."""
    from features.audio import AudioError, read_audio

    from .recording import distribution, estimate

    stats, durations = [], []
    for path in dict.fromkeys(table["path"].astype(str)):  # a file named by several rows counts once
        try:
            y = read_audio(path, sr=sr)[0]
        except AudioError:  # analysed a moment ago; gone or changed since: left out of the profile
            continue
        stats.append(estimate(y, sr))
        durations.append(len(y) / sr)
    return distribution(stats, durations)


def speaker_score(model_name: str, X: np.ndarray, y: np.ndarray, speakers: np.ndarray, table: pd.DataFrame, *,
                  seed: int = 0, folds: int = 5, n_resamples: int = N_RESAMPLES, jobs: int | None = None,
                  model_params: dict | None = None, degraded: DegradedInputs | None = None) -> HonestScore:
    """UAR on unseen speakers by the benchmark's speaker protocol, with a bootstrap interval over speakers.

    With ``degraded``, each fold's model (fitted on clean training rows, as for the score) also predicts the
    degraded copies of its test rows; the predictions are kept in ``degraded`` for its profile.
    """
    fold_list = make_folds("speaker", table, folds, seed, False, None)
    labels = sorted(set(y.tolist()))
    predicted = np.empty(len(y), dtype=object)
    tested = np.zeros(len(y), dtype=bool)
    uars = []
    for fold in fold_list:
        model = make_model(model_name, random_state=seed, n_jobs=_threads(jobs), **(model_params or {}))
        pred = fit_on_fold(model, X, y, speakers, fold.train, fold.test)[0].astype(str)
        if degraded is not None:
            degraded.predict(model, fold)
        predicted[fold.test] = pred
        tested[fold.test] = True
        uars.append(fold_scores(y[fold.test], pred, labels)["uar"])
    point, low, high = speaker_bootstrap_ci(y[tested], predicted[tested].astype(str), speakers[tested],
                                            n_resamples, seed)
    mean, std = mean_std(uars)
    return HonestScore(uar=point, low=low, high=high, level=LEVEL, fold_mean=mean, fold_std=std,
                       n_folds=len(fold_list), n_speakers=len(set(speakers[tested].tolist())),
                       n_utterances=int(tested.sum()), chance=1.0 / len(labels), source="train")


# ---------------------------------------------------------------------------------------------------------------
# Robustness measured here (train --robustness): the run's machinery on the evaluation's speaker folds


@dataclass
class DegradedInputs:
    """Every clip's features under each condition (rows aligned with the table) and the folds' predictions.

    Babble needs the fold: it is made from training-fold clips of other speakers (as in a run), so its copies
    are built per fold (:func:`benchmark.run.robustness.babble_sources`); the other conditions are the same
    for a clip in every fold. Nothing is fitted on degraded audio: each copy is predicted by the clean model
    of the fold that tests it.
    """

    conditions: list
    arrays: dict[str, np.ndarray]  # condition name -> X under it
    failed: dict[str, set[int]]  # condition name -> rows whose degraded copy failed
    y: np.ndarray
    speakers: np.ndarray
    predicted: dict[str, np.ndarray] = field(default_factory=dict)
    clean: np.ndarray | None = None

    def predict(self, model, fold) -> None:
        for c in self.conditions:
            out = self.predicted.setdefault(c.name, np.full(len(self.y), None, dtype=object))
            out[fold.test] = np.asarray(model.predict(np.asarray(self.arrays[c.name][fold.test]))).astype(str)
        if self.clean is None:
            self.clean = np.full(len(self.y), None, dtype=object)
        self.clean[fold.test] = np.asarray(model.predict(np.asarray(self.arrays["clean"][fold.test]))).astype(str)

    def profile(self, score: HonestScore, n_resamples: int, seed: int) -> dict:
        """The robustness profile (:mod:`benchmark.apps.robustness`) of the pooled out-of-fold predictions."""
        from benchmark.reports.statistics import paired_speaker_test

        conditions = []
        for c in self.conditions:
            pred = self.predicted.get(c.name)
            keep = np.array([p is not None and r not in self.failed[c.name] for r, p in enumerate(pred)])
            if not keep.any():
                continue
            point, low, high = speaker_bootstrap_ci(self.y[keep], pred[keep].astype(str), self.speakers[keep],
                                                    n_resamples, seed)
            test = paired_speaker_test(self.y[keep], pred[keep].astype(str), self.clean[keep].astype(str),
                                       self.speakers[keep], seed=seed)
            conditions.append({"name": c.name, "kind": c.kind, "params": c.params(), "snr_db": c.snr_db,
                               "uar": point, "ci_low": low, "ci_high": high, "delta": test.uar_a - test.uar_b,
                               "p_value": test.p_value,
                               "verdict": ("worse" if test.diff < 0 else "better") if test.significant else "tie",
                               "n_utterances": int(keep.sum())})
        return {"source": "train", "model": None, "features": None, "protocol": "speaker",
                "clean_uar": score.uar, "conditions": conditions}


def degraded_inputs(conditions, notes, table: pd.DataFrame, X: np.ndarray, names: list[str], vector: bool,
                    config: TrainConfig, say) -> DegradedInputs:
    """Decode, degrade and analyse every clip under every condition (each clip is a test row exactly once
    under the speaker protocol), with the run's seeds, so a cached degraded copy is shared with runs."""
    from benchmark.run.robustness import _int_seed, babble_sources
    from features.robust import Task, extract_degraded

    paths = table["path"].astype(str).to_numpy()
    speakers = table["speaker"].astype(str).to_numpy()
    digests = table["digest"].astype(str).to_numpy()
    fold_of = {int(r): f for f in make_folds("speaker", table, config.folds, config.seed, False, None)
               for r in f.test}
    tasks, where = [], []
    for c in conditions:
        for row in range(len(table)):
            sources: tuple[str, ...] = ()
            if c.kind == "babble":
                rng = np.random.default_rng(_int_seed(config.seed, "babble-sources", "speaker", digests[row]))
                sources = tuple(paths[r] for r in babble_sources(fold_of[row], row, speakers, rng))
            tasks.append(Task(paths[row], c, digests[row], sources))
            where.append((c.name, row))
    say(f"robustness: {len(conditions)} condition(s) on {len(table)} clips, {len(tasks)} degraded copies")
    for note in notes:
        say(f"  {note}")
    result = extract_degraded(tasks, names if vector else [], config.analysis, config.seed,
                              sequence_sets=[] if vector else names, cache_dir=config.cache_dir,
                              use_cache=config.use_cache, jobs=config.jobs, plugins=config.plugins)
    say(f"  degraded features: {result.computed} computed, {result.cache_hits} from the cache, "
        f"{len(result.failed)} failed, {result.seconds:.1f} s")
    arrays, failed = {"clean": X}, {}
    for c in conditions:
        ids = [t for t, w in enumerate(where) if w[0] == c.name]
        if vector:
            arrays[c.name] = np.hstack([result.vectors[s][ids] for s in names]).astype(X.dtype)
        else:
            arrays[c.name] = pad_sequences([result.sequences[names[0]][t] for t in ids], X.shape[1])
        failed[c.name] = {where[t][1] for t in ids if t in result.failed}
    return DegradedInputs(list(conditions), arrays, failed, table["emotion"].astype(str).to_numpy(), speakers)


# ---------------------------------------------------------------------------------------------------------------
# From a finished run


def config_from_run(run_dir: str | Path, model: str, speaker_norm: bool = False, **overrides
                    ) -> tuple[TrainConfig, HonestScore, str]:
    """The corpus, features and settings of a finished run, its score for ``model`` and its corpus fingerprint.

    The score is the run's speaker-protocol row of ``leaderboard.json`` (mean ± std over folds); when the run
    folder has ``predictions.csv``, the pooled UAR and its bootstrap interval over speakers come from there.
    """
    run_dir = Path(run_dir)
    run_file = run_dir / "run.json"
    if not run_file.is_file():
        raise BundleError(f"--from-run {run_dir}: no run.json (not a finished run folder)")
    try:
        run = json.loads(run_file.read_text())
        config = run["config"]
    except (ValueError, KeyError):
        raise BundleError(f"--from-run {run_dir}: run.json is unreadable") from None
    known = {f.name for f in fields(AnalysisConfig)}
    analysis = {k: v for k, v in (run.get("analysis") or config.get("analysis") or {}).items() if k in known}
    if "stats" in analysis:
        analysis["stats"] = tuple(analysis["stats"])
    if speaker_norm and not config.get("speaker_norm"):
        raise BundleError(f"--from-run {run_dir}: the run did not use --speaker-norm, so it has no score for it")
    params = dict((config.get("model_params") or {}).get(model, {}))
    features = config.get("features", "all")
    features = ",".join(features) if isinstance(features, list | tuple) else str(features)
    override = (config.get("inputs") or {}).get(model) or (
        config.get("sequence_features") if get_model(model).input_kind == "sequence" else None)
    train = TrainConfig(model=model, dataset=config.get("dataset") or run.get("dataset"),
                        data_dir=config.get("data_dir"), features=override or features,
                        speaker_norm=speaker_norm, seed=int(config.get("seed", run.get("seed", 0))),
                        folds=int(config.get("folds", 5)), plugins=tuple(config.get("plugins") or ()),
                        model_params=params, analysis=AnalysisConfig(**analysis),
                        profile=config.get("profile", "default"), include_song=bool(config.get("include_song")),
                        strict=bool(config.get("strict")))
    for key, value in overrides.items():
        if value is not None:
            setattr(train, key, value)
    load_plugins(train.plugins)
    label = model_input_for(model, train.features).name
    score = score_from_run(run_dir, model, label, speaker_norm, seed=train.seed)
    return train, score, run["corpus"]["fingerprint"]


def score_from_run(run_dir: Path, model: str, features: str, speaker_norm: bool, seed: int = 0,
                   n_resamples: int = N_RESAMPLES) -> HonestScore:
    board_file = run_dir / "leaderboard.json"
    if not board_file.is_file():
        raise BundleError(f"--from-run {run_dir}: no leaderboard.json")
    board = json.loads(board_file.read_text())
    rows = [r for r in board if r.get("table") == "leaderboard" and r.get("model") == model
            and r.get("features") == features and r.get("protocol") == "speaker"
            and bool(r.get("speaker_norm")) == speaker_norm]
    if not rows or rows[0].get("uar_mean") is None:
        have = sorted({f"{r['model']} on {r['features']}" for r in board if r.get("protocol") == "speaker"})
        raise BundleError(f"--from-run {run_dir}: no speaker-protocol score for {model} on {features}"
                          f"{' (spk-norm)' if speaker_norm else ''}; the run has: {', '.join(have) or 'none'}")
    row = rows[0]
    mean, std, n_folds = float(row["uar_mean"]), row.get("uar_std"), int(row.get("n_folds", 0))
    chance = float(row["chance_uar"]) if row.get("chance_uar") is not None else None
    point, low, high, n_speakers, n_utt = mean, None, None, 0, 0
    predictions = run_dir / "predictions.csv"
    if predictions.is_file():
        pred = pd.read_csv(predictions, dtype={"features": str, "model": str, "protocol": str, "speaker": str,
                                               "emotion": str, "predicted": str}, keep_default_na=False)
        norm = pred["speaker_norm"].astype(str).str.lower().eq("true")
        sel = pred[(pred["table"] == "leaderboard") & (pred["model"] == model) & (pred["features"] == features)
                   & (pred["protocol"] == "speaker") & (norm == speaker_norm)]
        if len(sel):
            point, low, high = speaker_bootstrap_ci(sel["emotion"].to_numpy(), sel["predicted"].to_numpy(),
                                                    sel["speaker"].to_numpy(), n_resamples, seed)
            n_speakers, n_utt = int(sel["speaker"].nunique()), int(len(sel))
    return HonestScore(uar=point, low=low, high=high, level=LEVEL, fold_mean=mean,
                       fold_std=None if std is None else float(std), n_folds=n_folds, n_speakers=n_speakers,
                       n_utterances=n_utt, chance=chance, source=f"run:{run_dir}")


def robustness_from_run(run_dir: str | Path, model: str, features: str) -> dict | None:
    """The run's robustness profile of ``model`` on the input ``features`` names (None: no ``--robustness``)."""
    from .robustness import ProfileError, profile_from_run

    try:
        return profile_from_run(run_dir, model, model_input_for(model, features).name)
    except ProfileError as error:
        raise BundleError(f"--from-run {run_dir}: {error}") from None


# ---------------------------------------------------------------------------------------------------------------


def model_input_for(model: str, features: str | Sequence[str]):
    """The input ``model`` takes: the vector sets named by ``features`` for a vector model; for a sequence model,
    the sequence set named by ``features`` or, when ``features`` names vector sets (``all``), its default."""
    items = [s.strip() for s in features.split(",")] if isinstance(features, str) else [str(s) for s in features]
    items = [s for s in items if s]
    if get_model(model).input_kind == "sequence":
        sequence = [s for s in items if s in REGISTRY and REGISTRY[s].kind == "sequence"]
        return input_for(model, [], {model: sequence[0]} if sequence else {})
    return input_for(model, resolve(items), {})


def _set_entry(name: str, analysis: AnalysisConfig, columns: Sequence[str] | None = None,
               dims: int | None = None) -> dict:
    fs = get_feature_set(name)
    entry = {"name": name, "version": fs.version, "kind": fs.kind, "key": fs.key(analysis, library_versions())}
    if columns is not None:
        entry["columns"] = list(columns)
    if dims is not None:
        entry["dims"] = dims
    return entry


def _threads(jobs: int | None) -> int:
    from features.bank import effective_jobs

    return effective_jobs(jobs)


def _extra_versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for package in ("skops",):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return out
