"""Corpora for the dimensional task: a table with numeric target columns (arousal, valence, dominance, ...).

Three sources: a release with dimensional labels (IEMOCAP's attribute means, MSP-Podcast's consensus), a manifest
CSV with numeric columns, and the built-in corpus with *generated* targets of a known relation to its audio (for
demonstrations and tests only: no real label).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .emotions import canonical_emotion
from .more import DESCRIPTIONS as MORE_DATASETS
from .more import dimensional_loader
from .releases import (
    _require_dir,
    _with_audio_info,
    load_corpus,
    manifest_path,
    resolve_dataset_name,
)
from .table import Corpus, CorpusError, Skipped, as_table

# Circumplex positions of the built-in corpus's emotions (Russell 1980, rounded), for its generated valence and
# dominance; its generated arousal is the recording's own loudness.
VALENCE = {"happy": 0.8, "surprise": 0.4, "calm": 0.3, "neutral": 0.0, "boredom": -0.3, "angry": -0.5,
           "disgust": -0.6, "fear": -0.6, "sad": -0.7}
DOMINANCE = {"angry": 0.7, "happy": 0.4, "disgust": 0.3, "surprise": 0.0, "neutral": 0.0, "calm": 0.1,
             "boredom": -0.2, "sad": -0.5, "fear": -0.7}


def load_target_manifest(location: Path, targets: Sequence[str]) -> Corpus:
    """A CSV with ``path,speaker`` and one numeric column per target; ``emotion``, ``text``, ``gender`` and
    ``corpus`` optional. Paths are relative to the CSV. A row whose target cell is empty or not a finite number
    is skipped with the line and the column named.

    Raises
    ------
    CorpusError
        No such file, unreadable CSV, or a missing ``path``/``speaker``/target column.
    """
    csv_path = location / "manifest.csv" if location.is_dir() else location
    if not csv_path.is_file():
        raise CorpusError(f"manifest not found: {csv_path}")
    try:
        manifest = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except Exception as error:
        raise CorpusError(f"{csv_path}: cannot be read as CSV ({str(error).splitlines()[0]})") from None
    manifest.columns = [c.strip().lower() for c in manifest.columns]
    missing = [c for c in ("path", "speaker", *targets) if c not in manifest.columns]
    if missing:
        raise CorpusError(f"{csv_path}: missing column(s) {', '.join(missing)}; --task dimensional needs "
                          f"path,speaker,{','.join(targets)}")
    rows, skipped = [], []
    for number, record in enumerate(manifest.to_dict("records"), start=2):
        raw = record["path"].strip()
        where = str(csv_path.parent / raw) if raw else f"{csv_path}:{number}"
        if not raw or not record["speaker"].strip():
            skipped.append(Skipped(where, f"manifest line {number}: empty path or speaker"))
            continue
        values, bad = {}, None
        for target in targets:
            try:
                values[target] = float(record[target])
            except ValueError:
                bad = target
                break
            if not np.isfinite(values[target]):
                bad = target
                break
        if bad is not None:
            skipped.append(Skipped(where, f"manifest line {number}: {bad} {record[bad]!r} is not a finite number"))
            continue
        try:
            path = manifest_path(raw, csv_path.parent)
        except CorpusError as error:
            skipped.append(Skipped(where, f"manifest line {number}: {error}"))
            continue
        label = record.get("emotion", "").strip()
        fields = {"emotion": (canonical_emotion(label) or label.lower()) if label else "none", "label": label or None,
                  "speaker": record["speaker"].strip(), "gender": record.get("gender", "").strip().upper()[:1] or None,
                  "text": record.get("text", "").strip() or None, **values}
        row = _with_audio_info(path, fields, record.get("corpus", "").strip().lower() or "manifest", skipped)
        if row is not None:
            rows.append(row)
    return Corpus("manifest", csv_path, as_table(rows), skipped)


def loudness(path: str | Path) -> float:
    """The recording's level in dB relative to full scale (RMS over the whole file, all channels)."""
    import soundfile as sf

    data, _ = sf.read(str(path), dtype="float64", always_2d=True)
    rms = float(np.sqrt(np.mean(np.square(data)))) if data.size else 0.0
    return 20.0 * np.log10(max(rms, 1e-10))


def generated_targets(table: pd.DataFrame) -> pd.DataFrame:
    """The built-in corpus's generated targets: ``arousal`` the file's loudness (dB RMS, a function of the audio
    alone), ``valence`` and ``dominance`` the emotion's circumplex position. A copy with the three columns."""
    out = table.copy()
    out["arousal"] = [loudness(p) for p in table["path"]]
    out["valence"] = [VALENCE.get(str(e), 0.0) for e in table["emotion"]]
    out["dominance"] = [DOMINANCE.get(str(e), 0.0) for e in table["emotion"]]
    return out


def load_dimensional(dataset: str | None, data_dir: str | Path | None, targets: Sequence[str], *,
                     strict: bool = False, cache_dir=None, seed: int = 0, profile: str = "default") -> Corpus:
    """The corpus of a dimensional run, every row with a finite value of every target.

    Raises
    ------
    CorpusError
        A corpus without dimensional labels, a target it does not have (the message lists those it has), or no
        usable row.
    """
    if dataset is None:
        dataset = "manifest" if data_dir is not None and str(data_dir).lower().endswith(".csv") else "synthetic"
    name = resolve_dataset_name(dataset)
    available: tuple[str, ...]
    if name == "manifest":
        corpus = load_target_manifest(_require_dir(name, data_dir, allow_file=True), targets)
        available = tuple(targets)
    elif name in MORE_DATASETS and dimensional_loader(name) is not None:
        corpus = dimensional_loader(name)(_require_dir(name, data_dir))
        available = ("arousal", "valence", "dominance")
    elif name == "synthetic":
        corpus = load_corpus("synthetic", data_dir, cache_dir=cache_dir, seed=seed, profile=profile)
        corpus.table = generated_targets(corpus.table)
        corpus.notes.append("generated targets (not labels): arousal = the file's loudness in dB RMS, valence and "
                            "dominance = the emotion's circumplex position")
        available = ("arousal", "valence", "dominance")
    else:
        raise CorpusError(f"--task dimensional: {name} has no dimensional labels; use iemocap, msppodcast, or a "
                          "manifest CSV with numeric target columns")
    unknown = [t for t in targets if t not in available]
    if unknown:
        raise CorpusError(f"--targets {','.join(targets)}: {name} has no {', '.join(unknown)} (it has "
                          f"{', '.join(available)})")
    if strict and corpus.skipped:
        first = corpus.skipped[0]
        raise CorpusError(f"{len(corpus.skipped)} file(s) skipped and --strict is on; first: {first.path}: "
                          f"{first.reason}")
    if corpus.table.empty:
        raise CorpusError(f"no usable utterances with {', '.join(targets)} for dataset {name!r} in {corpus.root}")
    return corpus
