"""Robustness in a run: every leaderboard model, fitted once on clean audio, also predicts degraded copies of its
test fold.

The degraded copies are scored by the same fitted model, in the same fit call that predicts the clean test rows
(:func:`benchmark.run.fitting.run_fit` with ``extras``): nothing is fitted on degraded audio and nothing of the
clean model changes. The clean record is cached under its usual key, so a clean run's scores and cache are the
same with or without ``--robustness``; each degraded prediction is cached under a key of its own (the clean fit's
key, the condition and the degraded test rows' content).

Babble is made per fold from that fold's *training* clips of speakers other than the clip's own (under the
speaker protocols the test speakers are never among them); every other condition is the same for a clip in
every fold and protocol, and its features are computed once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmark.evaluation.metrics import fold_scores
from benchmark.evaluation.protocols import Fold
from features import pad_sequences
from features.degrade import (
    BABBLE_TALKERS,
    CODECS,
    NOISE_KINDS,
    Condition,
    ConditionError,
    available_codecs,
    condition_from_name,
)
from features.robust import Task, extract_degraded

from .fitcache import row_digests, rows_digest
from .fitting import FitRecord, check_fit
from .plan import CORPUS_NORM, Entry, InputSpec

SNR_LEVELS = (20.0, 10.0, 5.0, 0.0)
DEFAULT_CONDITIONS = (
    *(f"{kind}@{snr:g}" for kind in NOISE_KINDS for snr in SNR_LEVELS),
    "telephone", *CODECS, "reverb@0.3", "reverb@0.8", "level@-20", "clip@0.3",
)
PRESETS = {"default": DEFAULT_CONDITIONS,
           "noise": tuple(f"{kind}@{snr:g}" for kind in NOISE_KINDS for snr in SNR_LEVELS),
           "channel": ("telephone", *CODECS),
           "room": ("reverb@0.3", "reverb@0.6", "reverb@1.0")}


def parse_conditions(names: Sequence[str]) -> tuple[list[Condition], list[str]]:
    """Conditions from names (``white@10``, ``telephone``, ``mp3``, ``reverb@0.6``, a preset such as ``noise``).

    Codecs the installed libsndfile cannot write are left out of a preset and named in the notes; named alone,
    they are an error.

    Returns
    -------
    (list of Condition, list of str)
        The conditions, de-duplicated in order, and notes for the console (codecs left out).

    Raises
    ------
    ConditionError
        A name that is no condition, or a parameter out of range; the message names it.
    """
    codecs = available_codecs()
    out: dict[str, Condition] = {}
    notes = []
    for raw in names:
        name = raw.strip().lower()
        if name in PRESETS:
            for member in PRESETS[name]:
                if member in CODECS and member not in codecs:
                    notes.append(f"codec {member} left out: the installed libsndfile cannot write it")
                    continue
                c = _one(member)
                out.setdefault(c.name, c)
            continue
        c = _one(name)
        out.setdefault(c.name, c)
    if codecs:
        notes.append(f"lossy codecs written by the installed libsndfile: {', '.join(codecs)}")
    return list(out.values()), list(dict.fromkeys(notes))


def _one(name: str) -> Condition:
    try:
        return condition_from_name(name)
    except ConditionError as error:  # the same message, under the flag's name, with the presets beside it
        message = str(error).replace("condition ", "--robustness ", 1)
        if "give a parameter" in message or "unknown kind" in message:
            message += f"; or a preset: {', '.join(PRESETS)}"
        raise ConditionError(message) from None


def robust_entries(entries: Sequence[Entry]) -> list[Entry]:
    """The entries scored under degraded conditions: the leaderboard's, under the protocol it is ranked by (the
    speaker-independent one when the run has it), on un-normalised inputs (a per-speaker or per-corpus
    normalisation would be re-estimated on the degraded clips: another experiment)."""
    from benchmark.reports.ranking import ranking_protocol

    main = [e for e in entries if e.table == "leaderboard" and not e.speaker_norm and CORPUS_NORM not in e.features]
    if not main:
        return []
    protocol = ranking_protocol({e.protocol for e in main})
    return [e for e in main if e.protocol == protocol]


def babble_sources(fold: Fold, row: int, speakers: np.ndarray, rng: np.random.Generator,
                   talkers: int = BABBLE_TALKERS) -> list[int]:
    """Rows whose audio makes the babble of test row ``row`` in ``fold``: one training-fold clip from each of
    ``talkers`` distinct speakers other than the row's own (fewer speakers: clips repeat over them).

    Only ``fold.train`` rows are candidates, so under the speaker protocols no test speaker's audio is used.

    Raises
    ------
    ConditionError
        When no training clip of another speaker exists.
    """
    own = speakers[row]
    candidates = np.asarray([r for r in fold.train if speakers[r] != own])
    if not len(candidates):
        raise ConditionError(f"babble: fold {fold.index} has no training clip of a speaker other than {own}")
    by_speaker: dict[str, list[int]] = {}
    for r in candidates:
        by_speaker.setdefault(str(speakers[r]), []).append(int(r))
    names = sorted(by_speaker)
    chosen = rng.choice(len(names), size=min(talkers, len(names)), replace=False)
    picks = [by_speaker[names[i]][int(rng.integers(len(by_speaker[names[i]])))] for i in chosen]
    return [picks[i % len(picks)] for i in range(talkers)]


@dataclass
class RobustnessPlan:
    """The degraded inputs of a run and the predictions they need, attached to the grid of clean fits."""

    conditions: list[Condition]
    entries: list[Entry]
    notes: list[str] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # input id -> array aligned with the table
    failed: dict[str, set[int]] = field(default_factory=dict)  # input id -> rows whose degraded copy failed
    input_of: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (condition, protocol, input) -> id
    keys: dict[tuple[Entry, int, str], str] = field(default_factory=dict)  # (entry, fold, condition) -> key
    extras: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # clean key -> [(input id, key)]
    records: dict[str, FitRecord] = field(default_factory=dict)
    babble: dict[tuple[str, int], list[int]] = field(default_factory=dict)  # (protocol, row) -> source rows
    extraction: dict = field(default_factory=dict)

    # --- building -------------------------------------------------------------------------------------------
    def build(self, table: pd.DataFrame, folds: dict[str, list[Fold]], specs: dict[str, InputSpec],
              clean_arrays: dict, config, say) -> None:
        """Decode, degrade and analyse the test clips under every condition; one array per input."""
        paths = table["path"].astype(str).to_numpy()
        speakers = table["speaker"].astype(str).to_numpy()
        digests = table["digest"].astype(str).to_numpy()
        protocols = sorted({e.protocol for e in self.entries})
        needed = {e.features for e in self.entries}
        used_specs = [specs[n] for n in sorted(needed)]
        vector_sets = sorted({s for spec in used_specs if spec.kind == "vector" for s in spec.sets})
        sequence_sets = sorted({spec.name for spec in used_specs if spec.kind == "sequence"})
        tasks: list[Task] = []
        where: list[tuple[str, str, int]] = []  # (condition, tag, row) per task
        for condition in self.conditions:
            tags = protocols if condition.kind == "babble" else ["*"]
            for tag in tags:
                test_rows = sorted({int(r) for p in (protocols if tag == "*" else [tag]) for f in folds[p]
                                    for r in f.test})
                fold_of = {int(r): f for f in folds.get(tag, []) for r in f.test}
                for row in test_rows:
                    sources: tuple[str, ...] = ()
                    if condition.kind == "babble":
                        rng = np.random.default_rng(_int_seed(config.seed, "babble-sources", tag, digests[row]))
                        chosen = babble_sources(fold_of[row], row, speakers, rng)
                        self.babble[(tag, row)] = chosen
                        sources = tuple(paths[r] for r in chosen)
                    tasks.append(Task(paths[row], condition, digests[row], sources))
                    where.append((condition.name, tag, row))
        say(f"robustness: {len(self.conditions)} condition(s) on {len({w[2] for w in where})} test clips, "
            f"{len(tasks)} degraded copies")
        for note in self.notes:
            say(f"  {note}")
        result = extract_degraded(tasks, vector_sets, config.analysis, config.seed, sequence_sets=sequence_sets,
                                  cache_dir=config.cache_dir, use_cache=config.use_cache, jobs=config.jobs,
                                  plugins=config.plugins, content_hash=config.content_hash)
        self.extraction = {"tasks": len(tasks), "computed": result.computed, "cache_hits": result.cache_hits,
                           "failed": len(result.failed), "seconds": round(result.seconds, 3),
                           "first_failures": [f"{tasks[i].path}: {r}" for i, r in sorted(result.failed.items())[:5]]}
        say(f"  degraded features: {result.computed} computed, {result.cache_hits} from the cache, "
            f"{len(result.failed)} failed, {result.seconds:.1f} s")
        for problem in result.problems:
            say(f"  cache: {problem}")
        groups: dict[tuple[str, str], list[int]] = {}
        for t, (cname, tag, _) in enumerate(where):
            groups.setdefault((cname, tag), []).append(t)
        for (cname, tag), task_ids in groups.items():
            rows = np.array([where[t][2] for t in task_ids])
            for spec in used_specs:
                clean = clean_arrays[(spec.name, False)]
                X = np.array(clean, copy=True)  # rows never tested under this tag keep their clean values
                if spec.kind == "vector":
                    X[rows] = np.hstack([result.vectors[s][task_ids] for s in spec.sets]).astype(X.dtype)
                else:
                    X[rows] = pad_sequences([result.sequences[spec.name][t] for t in task_ids], X.shape[1])
                ident = f"robust|{cname}|{tag}|{spec.name}"
                self.arrays[ident] = X
                self.failed[ident] = {int(where[t][2]) for t in task_ids if t in result.failed}
                for protocol in (protocols if tag == "*" else [tag]):
                    self.input_of[(cname, protocol, spec.name)] = ident

    def attach(self, grid) -> None:
        """Key every degraded prediction and hang it on the clean fit that makes it."""
        digests = {ident: row_digests(X) for ident, X in self.arrays.items()}
        for entry in self.entries:
            for fold in grid.folds[entry.protocol]:
                clean_key = grid.keys[(entry, 0, fold.index)]  # the first repeat's fit (--repeats)
                for condition in self.conditions:
                    ident = self.input_of[(condition.name, entry.protocol, entry.features)]
                    key = hashlib.sha256(f"robust|{clean_key}|{condition.name}|"
                                         f"{rows_digest(digests[ident][fold.test])}".encode()).hexdigest()
                    self.keys[(entry, fold.index, condition.name)] = key
                    pairs = self.extras.setdefault(clean_key, [])
                    if (ident, key) not in pairs:
                        pairs.append((ident, key))

    # --- running --------------------------------------------------------------------------------------------
    def missing(self, cache) -> set[str]:
        """Clean fits to (re)run because a degraded prediction they make is not cached; loads the rest."""
        out = set()
        for clean_key, pairs in self.extras.items():
            for _, key in pairs:
                record = cache.get(key)
                if record is None:
                    out.add(clean_key)
                else:
                    self.records[key] = record
        return out

    def inputs_of(self, clean_key: str) -> tuple[str, ...]:
        return tuple(ident for ident, _ in self.extras.get(clean_key, []))

    def take(self, clean_key: str, record: FitRecord, cache) -> FitRecord:
        """Split a finished fit: each degraded prediction is cached under its own key; the clean record is
        returned without them (exactly what a run without --robustness caches)."""
        pairs = self.extras.get(clean_key, [])
        if record.status == "ok" and len(record.extra) == len(pairs):
            for (_, key), (predictions, proba) in zip(pairs, record.extra, strict=True):
                sub = FitRecord("ok", "", predictions, proba, record.classes, seconds=0.0)
                cache.put(key, sub)
                self.records[key] = sub
        elif pairs:
            for _, key in pairs:
                self.records[key] = FitRecord("failed", record.error or "no degraded predictions")
        record.extra = []
        return record

    # --- scoring --------------------------------------------------------------------------------------------
    def score(self, grid) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Per (entry, fold, condition): scores, like folds.csv; and every degraded prediction."""
        y, speakers, labels = grid.y, grid.speakers, grid.labels
        rows, predictions = [], []
        for entry in self.entries:
            for fold in grid.folds[entry.protocol]:
                for condition in self.conditions:
                    key = self.keys[(entry, fold.index, condition.name)]
                    ident = self.input_of[(condition.name, entry.protocol, entry.features)]
                    record = self.records.get(key) or FitRecord("failed", "not run")
                    keep = np.array([r not in self.failed[ident] for r in fold.test], dtype=bool)
                    row = {"features": entry.features, "model": entry.model, "protocol": entry.protocol,
                           "fold": fold.index, "condition": condition.name, "kind": condition.kind,
                           "snr_db": condition.snr_db if condition.snr_db is not None else "",
                           "n_test": int(keep.sum()), "n_failed_clips": int((~keep).sum())}
                    problem = check_fit(record, len(fold.test), set(y[fold.train].tolist()))
                    if problem is None and not keep.any():
                        problem = "every degraded clip of the fold failed"
                    if problem is not None:
                        row.update(status="failed", error=problem)
                        rows.append(row)
                        continue
                    test = fold.test[keep]
                    predicted = record.predictions[keep]
                    s = fold_scores(y[test], predicted, labels)
                    row.update(status="ok", error="", uar=s["uar"], wa=s["wa"], f1=s["f1"],
                               **{f"recall_{k}": v for k, v in s["recall"].items()})
                    rows.append(row)
                    predictions.append(pd.DataFrame({
                        "features": entry.features, "model": entry.model, "protocol": entry.protocol,
                        "condition": condition.name, "fold": fold.index, "row": test, "speaker": speakers[test],
                        "emotion": y[test], "predicted": predicted}))
        frame = pd.DataFrame(rows)
        preds = pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame(
            columns=["features", "model", "protocol", "condition", "fold", "row", "speaker", "emotion", "predicted"])
        return frame, preds

    def provenance(self) -> dict:
        """What run.json records: every condition's parameters, the codecs available, the extraction, babble."""
        return {"conditions": {c.name: c.params() for c in self.conditions},
                "codecs_available": available_codecs(), "notes": self.notes,
                "models_scored": sorted({e.model for e in self.entries}),
                "extraction": self.extraction,
                "babble_source_rows": {f"{tag}:{row}": rows for (tag, row), rows in sorted(self.babble.items())},
                "refitted": "nothing: each degraded copy is predicted by the clean fit of its fold"}


def _int_seed(*parts) -> int:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")
