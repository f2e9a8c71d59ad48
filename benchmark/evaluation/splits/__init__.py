"""Published splits shipped as data: the exact speaker folds papers and toolkits use, with their provenance.

Each split is a small fold file in this folder (``speaker,fold`` for k folds of test speakers, or
``speaker,fold,part`` for a fixed train/development/test split) and an entry in ``index.json`` naming its
source, version, what it holds out, and whether it is speaker- and text-independent. ``--split NAME`` selects one
for the speaker-independent protocols.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from benchmark.evaluation.protocols import Fold, FoldFile, ProtocolError, read_fold_file

HERE = Path(__file__).resolve().parent
INDEX = HERE / "index.json"


@dataclass(frozen=True)
class PublishedSplit:
    """One shipped split for one corpus; ``fold_file`` goes to ``make_folds(..., fold_file=...)``."""

    name: str
    corpus: str
    path: Path
    folds: int
    holds_out: str
    source: str
    url: str
    version: str
    speaker_independent: bool
    text_independent: bool
    text_note: str = ""
    cite: str = ""
    published: dict | None = field(default=None, compare=False)
    partition: str = ""  # a per-utterance split: the table column naming each row's part (MSP-Podcast)

    @property
    def fold_file(self) -> FoldFile | None:
        return None if self.partition else read_fold_file(self.path)

    @property
    def has_dev(self) -> bool:
        if self.partition:
            return True
        return any(part == "dev" for _, _, part, _ in self.fold_file.rows)

    def provenance(self) -> dict:
        """JSON-ready: for run.json, the audit and ``list``."""
        return {"name": self.name, "corpus": self.corpus, "file": "" if self.partition else self.path.name,
                "folds": self.folds, "partition": self.partition,
                "holds_out": self.holds_out, "source": self.source, "url": self.url, "version": self.version,
                "speaker_independent": self.speaker_independent, "text_independent": self.text_independent,
                "text_note": self.text_note, "cite": self.cite, "has_dev": self.has_dev, "published": self.published}


@cache
def _index() -> tuple[PublishedSplit, ...]:
    entries = json.loads(INDEX.read_text())
    splits = []
    for e in entries:
        splits.append(PublishedSplit(
            name=e["name"], corpus=e["corpus"], path=HERE / (e["file"] or ""), folds=int(e["folds"]),
            holds_out=e["holds_out"], source=e["source"], url=e["url"], version=e["version"],
            speaker_independent=bool(e["speaker_independent"]), text_independent=bool(e["text_independent"]),
            text_note=e.get("text_note", ""), cite=e.get("cite", ""), published=e.get("published"), partition=e.get("partition") or ""))
    return tuple(splits)


def list_splits(corpus_name: str | None = None) -> list[PublishedSplit]:
    """Every shipped split (of one corpus, if named), sorted by corpus then name."""
    found = [s for s in _index() if corpus_name is None or s.corpus == corpus_name]
    return sorted(found, key=lambda s: (s.corpus, s.name))


def resolve_split(name: str, corpus_name: str) -> PublishedSplit:
    """The shipped split ``name`` for the corpus ``corpus_name`` (a dataset name such as ``ravdess``).

    Raises
    ------
    ProtocolError
        No split of that name for that corpus (the message lists the splits there are).
    """
    key = name.strip().lower()
    for split in _index():
        if split.name == key and split.corpus == corpus_name:
            return split
    here = [s.name for s in list_splits(corpus_name)]
    elsewhere = sorted({s.corpus for s in _index() if s.name == key})
    hint = f"; {key!r} exists for {', '.join(elsewhere)}" if elsewhere else ""
    listing = ", ".join(here) if here else "none"
    raise ProtocolError(f"--split {name!r}: no such split for {corpus_name} (splits for {corpus_name}: "
                        f"{listing}{hint})")


TRAIN_PARTS, DEV_PARTS = ("Train",), ("Development",)


def partition_folds(table, split: PublishedSplit, protocol: str = "speaker") -> list[Fold]:
    """A per-utterance published split as folds: train on the ``Train`` rows, the ``Development`` rows as the
    development part (early stopping and tuning only, never scored), one fold per test partition present
    (``Test1``, ``Test2``, ... in order), named after it.

    Parameters
    ----------
    table : pandas.DataFrame
        The corpus table, with the column ``split.partition``.
    split : PublishedSplit
        A split with ``partition`` set.
    protocol : str
        The protocol the folds are recorded under.

    Returns
    -------
    list of Fold

    Raises
    ------
    ProtocolError
        The table has no such column, or no training or no test rows.
    """
    import numpy as np

    column = split.partition
    if column not in table:
        raise ProtocolError(f"--split {split.name}: the corpus has no {column!r} column ({split.corpus} only)")
    part = table[column].astype(str).to_numpy()
    train = np.flatnonzero(np.isin(part, TRAIN_PARTS))
    dev = np.flatnonzero(np.isin(part, DEV_PARTS))
    tests = sorted({p for p in part.tolist() if p.startswith("Test")})
    if not len(train) or not tests:
        raise ProtocolError(f"--split {split.name}: needs Train rows and at least one Test partition; found "
                            f"{', '.join(sorted(set(part.tolist()))) or 'none'}")
    return [Fold(protocol, i, train, np.flatnonzero(part == name), dev if len(dev) else None, name)
            for i, name in enumerate(tests)]


def format_splits() -> str:
    """The table ``list`` prints: name, corpus, folds, speaker-/text-independent, what it holds out, source."""
    from tabulate import tabulate

    rows = [[s.name, s.corpus, s.folds, "yes" if s.speaker_independent else "no",
             "yes" if s.text_independent else "no", "yes" if s.has_dev else "", s.cite or s.source]
            for s in list_splits()]
    return tabulate(rows, ["split", "corpus", "folds", "speaker-indep.", "text-indep.", "dev", "source"],
                    tablefmt="simple", disable_numparse=True)


__all__ = ["PublishedSplit", "ProtocolError", "format_splits", "list_splits", "partition_folds", "resolve_split"]
