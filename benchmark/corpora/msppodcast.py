"""MSP-Podcast (UT Dallas MSP lab, v1.11 and later): ``Audios/<FileName>`` labelled by
``Labels/labels_consensus.csv``.

The consensus table has one row per segment: ``FileName, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender,
Split_Set``. ``EmoClass`` is one letter: ``A`` anger, ``S`` sadness, ``H`` happiness, ``U`` surprise, ``F`` fear,
``D`` disgust, ``C`` contempt, ``N`` neutral (the 8 classes of the Odyssey 2024 challenge), ``O`` other and ``X``
no agreement. Arousal, valence and dominance are means on 1-7. ``Split_Set`` is the official partition: ``Train``,
``Development``, ``Test1`` (237 speakers), ``Test2`` (117 podcasts found by random selection) and, from v1.11,
``Test3`` (2,347 class-balanced segments whose labels are withheld for the challenge: kept out of every task here,
as the release has no labels for them to score).

Speakers the release could not identify carry ``SpkrID`` ``Unknown`` (and ``Gender`` ``Unknown``). They are not one
speaker: each is grouped by its podcast (the first number of the file name, ``MSP-PODCAST_0153_0288``), written
``unknown@0153``, so an unknown voice never sits on both sides of a speaker fold through its own podcast, and the
speaker bootstrap does not treat thousands of segments as a single speaker.

The official partitions are the split (``--split official``): train on ``Train``, stop early and tune on
``Development`` (never scored), test on ``Test1`` and on ``Test2`` (two folds). The challenge's metric, macro-F1, is
reported beside UAR in every table (the ``f1`` column).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .releases import _with_audio_info
from .table import Corpus, CorpusError, Skipped, as_table

MSP_CLASSES = {"A": "angry", "S": "sad", "H": "happy", "U": "surprise", "F": "fear", "D": "disgust",
               "C": "contempt", "N": "neutral"}
MSP_OTHER = {"O": "other", "X": "no agreement"}
PARTITIONS = ("Train", "Development", "Test1", "Test2", "Test3")
LABEL_COLUMNS = ("FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set")
UNKNOWN = "unknown"
# The release's documented partition sizes (v1.11, 151,654 segments), printed beside a loaded copy's.
RELEASE_COUNTS = {"v1.11": {"Train": 84030, "Development": 19815, "Test1": 30647, "Test2": 14815, "Test3": 2347}}


def read_consensus(path: Path) -> pd.DataFrame:
    """The consensus label table, columns checked, one row per file name.

    Raises
    ------
    CorpusError
        Missing, unreadable, or lacking a documented column (named).
    """
    if not path.is_file():
        raise CorpusError(f"{path}: not found; MSP-Podcast needs Labels/labels_consensus.csv beside Audios/")
    try:
        labels = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as error:
        raise CorpusError(f"{path}: cannot be read as CSV ({str(error).splitlines()[0]})") from None
    labels.columns = [c.strip() for c in labels.columns]
    missing = [c for c in LABEL_COLUMNS if c not in labels.columns]
    if missing:
        raise CorpusError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(LABEL_COLUMNS)}")
    duplicated = labels["FileName"][labels["FileName"].duplicated()]
    if len(duplicated):
        raise CorpusError(f"{path}: file {duplicated.iloc[0]!r} listed twice")
    return labels


def speaker_of(speaker_id: str, file_name: str) -> str:
    """The speaker column: the release's id, or ``unknown@<podcast>`` for an unidentified speaker."""
    text = str(speaker_id).strip()
    if text and text.lower() != UNKNOWN:
        return text
    parts = Path(file_name).stem.split("_")
    podcast = parts[1] if len(parts) >= 3 else Path(file_name).stem
    return f"{UNKNOWN}@{podcast}"


def load_msppodcast(root: Path, task: str = "8class") -> Corpus:
    """Load MSP-Podcast: ``8class`` (the challenge's classes), ``all`` (``O`` other kept), or ``dimensional``
    (every labelled segment, ``X`` and ``O`` included, with ``arousal``, ``valence``, ``dominance``).

    Rows carry ``partition`` (the release's ``Split_Set``). Segments the task leaves out, files the table does not
    list, and listed files with no audio are reported (skipped, or a note for missing audio).

    Raises
    ------
    CorpusError
        No ``Labels/labels_consensus.csv`` or ``Audios/`` folder, or a malformed label table.
    """
    if task not in ("8class", "all", "dimensional"):
        raise CorpusError(f"MSP-Podcast task {task!r}: choose from 8class, all, dimensional")
    labels = read_consensus(root / "Labels" / "labels_consensus.csv")
    audio_dir = root / "Audios"
    if not audio_dir.is_dir():
        raise CorpusError(f"{audio_dir}: not found; MSP-Podcast keeps its segments in Audios/")
    rows, skipped = [], []
    listed = set()
    for record in labels.to_dict("records"):
        name = record["FileName"].strip()
        listed.add(name)
        path = audio_dir / name
        part = record["Split_Set"].strip()
        code = record["EmoClass"].strip().upper()
        if part not in PARTITIONS:
            skipped.append(Skipped(str(path), f"unknown Split_Set {part!r} (expected {', '.join(PARTITIONS)})"))
            continue
        if part == "Test3":
            skipped.append(Skipped(str(path), "Test3: labels withheld by the release (challenge test set)"))
            continue
        try:
            values = {k: float(record[c]) for k, c in (("arousal", "EmoAct"), ("valence", "EmoVal"),
                                                        ("dominance", "EmoDom"))}
        except ValueError:
            values = None
        if task == "dimensional":
            if values is None or not all(np.isfinite(list(values.values()))):
                skipped.append(Skipped(str(path), "no numeric EmoAct/EmoVal/EmoDom"))
                continue
            emotion = MSP_CLASSES.get(code) or MSP_OTHER.get(code) or "none"
        elif code in MSP_CLASSES:
            emotion = MSP_CLASSES[code]
        elif code == "O" and task == "all":
            emotion = "other"
        elif code in MSP_OTHER:
            skipped.append(Skipped(str(path), f"EmoClass {code} ({MSP_OTHER[code]}): outside the challenge's 8 "
                                              "classes"))
            continue
        else:
            skipped.append(Skipped(str(path), f"unknown EmoClass {code!r}"))
            continue
        if not path.is_file():
            skipped.append(Skipped(str(path), "listed in labels_consensus.csv, no such file in Audios/"))
            continue
        gender = record["Gender"].strip().lower()
        fields = {"emotion": emotion, "label": code, "speaker": speaker_of(record["SpkrID"], name),
                  "gender": "F" if gender == "female" else "M" if gender == "male" else None, "text": None,
                  "partition": part, **(values or {"arousal": np.nan, "valence": np.nan, "dominance": np.nan})}
        row = _with_audio_info(path, fields, "msppodcast", skipped)
        if row is not None:
            rows.append(row)
    unlisted = [p for p in sorted(audio_dir.iterdir()) if p.is_file() and p.name not in listed
                and not p.name.startswith(".")]
    for path in unlisted:
        skipped.append(Skipped(str(path), "not in labels_consensus.csv"))
    corpus = Corpus("msppodcast", root, as_table(rows), skipped)
    table = corpus.table
    if not table.empty:
        parts = table["partition"].value_counts()
        corpus.notes.append("partitions: " + ", ".join(f"{p} {int(parts.get(p, 0))}" for p in PARTITIONS[:4])
                            + " (v1.11 release: " + ", ".join(f"{p} {n}" for p, n in RELEASE_COUNTS['v1.11'].items())
                            + ", Test3 unlabelled)")
        unknown = table["speaker"].str.startswith(f"{UNKNOWN}@")
        if unknown.any():
            corpus.notes.append(f"{int(unknown.sum())} segment(s) from unidentified speakers, grouped by podcast "
                                f"into {table['speaker'][unknown].nunique()} unknown@<podcast> speaker(s)")
    return corpus


LOADERS = {
    "msppodcast": lambda root: load_msppodcast(root, "8class"),
    "msppodcast-all": lambda root: load_msppodcast(root, "all"),
}
DIMENSIONAL_LOADERS = {name: (lambda root: load_msppodcast(root, "dimensional")) for name in LOADERS}
