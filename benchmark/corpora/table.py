"""The corpus table and what every loader shares: its columns, its errors, and the helpers that build it.

Kept apart from the loaders (:mod:`.releases`) and from the multi-corpus table (:mod:`.multi`) so that both
import it and neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.audio import AUDIO_EXTENSIONS
from features.errors import UserInputError

COLUMNS = ["path", "emotion", "label", "speaker", "gender", "text", "corpus"]
SEPARATOR = ":"  # between a corpus name and an id, and between a corpus name and its folder on the command line

ParsedRow = dict[str, object]
Parser = Callable[[Path, Path], ParsedRow]


class CorpusError(UserInputError):
    """A corpus that cannot be loaded as asked: a user error with a one-line message."""


class Skip(Exception):
    """Raised by a name parser: this file is passed over for the given reason."""


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class Corpus:
    """A loaded corpus: the utterance table and the files passed over."""

    name: str
    root: Path
    table: pd.DataFrame
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. a speaker or an emotion with a single utterance
    notes: list[str] = field(default_factory=list)  # e.g. the emotions a multi-corpus table keeps, and why
    parts: dict[str, str] = field(default_factory=dict)  # multi-corpus: corpus name -> its folder or manifest

    def summary(self) -> dict:
        """Counts a user checks before trusting a corpus: per emotion, per speaker, durations, rates."""
        table = self.table
        per_speaker = {
            str(speaker): {str(k): int(v) for k, v in group["emotion"].value_counts().sort_index().items()}
            for speaker, group in table.groupby("speaker", sort=True)
        }
        return {
            "dataset": self.name,
            "root": str(self.root),
            "utterances": int(len(table)),
            "speakers": int(table["speaker"].nunique()),
            "emotions": {str(k): int(v) for k, v in table["emotion"].value_counts().sort_index().items()},
            "per_speaker": per_speaker,
            "genders": {str(k): int(v) for k, v in table["gender"].fillna("unknown").value_counts().items()},
            "texts": int(table["text"].nunique()) if table["text"].notna().any() else 0,
            "total_duration_s": round(float(table["duration"].sum()), 3),
            "sample_rates": {str(int(k)): int(v) for k, v in table["sample_rate"].value_counts().sort_index().items()},
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "corpora": {str(k): int(v) for k, v in table["corpus"].value_counts().sort_index().items()},
            "parts": dict(self.parts),
        }


def as_table(rows: list[ParsedRow]) -> pd.DataFrame:
    """Parsed rows as the corpus table: every column of ``COLUMNS`` present, ids as strings or None."""
    table = pd.DataFrame(rows)
    for column in COLUMNS + ["duration", "sample_rate", "channels"]:
        if column not in table:
            table[column] = None
    extra = [c for c in table.columns if c not in COLUMNS]
    table = table[COLUMNS + extra]
    for column in ("speaker", "text", "label", "gender"):
        values = [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in table[column]]
        table[column] = pd.Series(values, index=table.index, dtype=object)
    return table.reset_index(drop=True)


def prefix_ids(table: pd.DataFrame) -> pd.DataFrame:
    """Speaker and sentence ids prefixed by each row's corpus (``emodb:03``); already prefixed ids stay."""
    table = table.copy()
    corpus = table["corpus"].astype(str)
    for column in ("speaker", "text"):
        values = []
        for c, v in zip(corpus, table[column], strict=True):
            if v is None or (isinstance(v, float) and v != v):
                values.append(None)
            else:
                v = str(v)
                values.append(v if v.startswith(c + SEPARATOR) else f"{c}{SEPARATOR}{v}")
        table[column] = pd.Series(values, index=table.index, dtype=object)
    return table


def check_usable(corpus: Corpus, strict: bool) -> None:
    """Refresh the corpus's small-group warnings; refuse an empty corpus, or (``strict``) any skipped file."""
    corpus.warnings[:] = [w for w in corpus.warnings if "single utterance" not in w] + small_groups(corpus.table)
    if strict and corpus.skipped:
        first = corpus.skipped[0]
        raise CorpusError(f"{len(corpus.skipped)} file(s) skipped and --strict is on; first: {first.path}: "
                          f"{first.reason}")
    if corpus.table.empty:
        detail = f" ({len(corpus.skipped)} file(s) skipped, first: {corpus.skipped[0].path}: " \
                 f"{corpus.skipped[0].reason})" if corpus.skipped else ""
        raise CorpusError(f"no usable utterances for dataset {corpus.name!r} in {corpus.root}{detail}")


def small_groups(table: pd.DataFrame) -> list[str]:
    """Warnings for speakers and emotions with a single utterance: such a fold or class weighs as much as a full
    one in a mean over folds or a UAR, on one recording."""
    warnings = []
    for column, what in (("speaker", "speaker"), ("emotion", "emotion")):
        if column not in table or table.empty:
            continue
        counts = table[column].astype(str).value_counts()
        single = sorted(counts.index[counts == 1].tolist())
        if single:
            shown = ", ".join(single[:8]) + (f" and {len(single) - 8} more" if len(single) > 8 else "")
            warnings.append(f"{len(single)} {what}(s) with a single utterance: {shown}; a fold or class resting "
                            "on one recording counts as much as a full one")
    return warnings


__all__ = [
    "AUDIO_EXTENSIONS", "COLUMNS", "SEPARATOR", "Corpus", "CorpusError", "ParsedRow", "Parser", "Skip", "Skipped",
    "as_table", "check_usable", "prefix_ids", "small_groups",
]
