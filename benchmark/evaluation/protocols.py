"""Evaluation protocols: which utterances train and which test, fold by fold, seeded."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from features.errors import UserInputError
from features.registries import Registry

HOLDOUT_TEST_SIZE = 0.2
PARTS = ("train", "dev", "test")


class ProtocolError(UserInputError):
    """A protocol that cannot be applied to this corpus or these arguments; one-line message."""


@dataclass(frozen=True)
class Fold:
    """One fold: row numbers into the corpus table.

    ``dev`` (optional) rows are for early stopping and tuning only, never scored. ``name``, ``train_corpus`` and
    ``test_corpus`` identify a cross-corpus fold (``emodb->ravdess``); :meth:`columns` gives them for folds.csv.
    """

    protocol: str
    index: int
    train: np.ndarray  # row numbers into the corpus table
    test: np.ndarray
    dev: np.ndarray | None = None
    name: str | None = None
    train_corpus: str | None = None
    test_corpus: str | None = None

    def columns(self) -> dict[str, object]:
        """Extra folds.csv columns: fold_name, train_corpus, test_corpus (empty when not set), n_dev."""
        return {"fold_name": self.name or "", "train_corpus": self.train_corpus or "",
                "test_corpus": self.test_corpus or "", "n_dev": 0 if self.dev is None else int(len(self.dev))}


def resolve_protocols(spec: str) -> list[str]:
    """``--protocols`` as checked names, de-duplicated in order (``all``: every protocol of one corpus).

    Raises
    ------
    ProtocolError
        An unknown protocol (the message lists them), or none named.
    """
    return PROTOCOLS.resolve(spec, empty="no protocol named; e.g. --protocols stratified,speaker")


def make_folds(protocol: str, table: pd.DataFrame, n_folds: int = 5, seed: int = 0, loso: bool = False,
               fold_file: str | Path | FoldFile | None = None) -> list[Fold]:
    """Folds of ``protocol`` over the rows of ``table`` (columns ``emotion``, ``speaker``, ``text``, ``corpus``).

    ``fold_file`` (a path or a parsed :class:`FoldFile`, e.g. a published split's) sets the speakers of the
    speaker-independent protocols; a file with a ``part`` column also sets the development rows (``Fold.dev``).
    """
    if n_folds < 2:
        raise ProtocolError(f"--folds must be at least 2, got {n_folds}")
    return PROTOCOLS.get(protocol).folds(table, n_folds, seed, loso, fold_file)


def _stratified_folds(table: pd.DataFrame, n_folds: int, seed: int, loso: bool, fold_file) -> list[Fold]:
    check_fold_count("stratified", table, n_folds)
    y = table["emotion"].astype(str).to_numpy()
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [Fold("stratified", i, tr, te) for i, (tr, te) in enumerate(splitter.split(np.zeros(len(y)), y))]


def _holdout_folds(table: pd.DataFrame, n_folds: int, seed: int, loso: bool, fold_file) -> list[Fold]:
    return [holdout_fold(table["emotion"].astype(str).to_numpy(), seed)]


def _speaker_folds(table: pd.DataFrame, n_folds: int, seed: int, loso: bool, fold_file) -> list[Fold]:
    plan = speaker_plan(table, n_folds, seed, loso, fold_file)
    speakers = table["speaker"].astype(str)
    folds = []
    for i, parts in enumerate(plan):
        part_of_row = speakers.map(parts).to_numpy()
        dev = np.flatnonzero(part_of_row == "dev")
        folds.append(Fold("speaker", i, np.flatnonzero(part_of_row == "train"),
                          np.flatnonzero(part_of_row == "test"), dev if len(dev) else None))
    return folds


def _speaker_text_plan_folds(table: pd.DataFrame, n_folds: int, seed: int, loso: bool, fold_file) -> list[Fold]:
    return _speaker_text_folds(table, speaker_plan(table, n_folds, seed, loso, fold_file), seed)


def check_fold_count(protocol: str, table: pd.DataFrame, n_folds: int) -> None:
    """Refuse a ``--folds`` the corpus cannot give ``protocol``, naming the flag and the largest allowed.

    Stratified k-fold needs every emotion in every test fold, so k is at most the size of the smallest emotion;
    it is never reduced silently (a 3-fold result reported as 10-fold). Speaker protocols with fewer speakers
    than folds fall back to leave-one-speaker-out, which :func:`fold_notes` says.

    Raises
    ------
    ProtocolError
        ``--folds`` above what the corpus allows, or an emotion with a single utterance (stratified).
    """
    if protocol != "stratified" or table.empty:
        return
    counts = table["emotion"].astype(str).value_counts()
    smallest, emotion = int(counts.min()), str(counts.idxmin())
    if smallest < 2:
        raise ProtocolError(f"stratified protocol: every emotion needs at least 2 utterances; {emotion!r} has "
                            f"{smallest} (drop it with --emotions, or use --protocols speaker)")
    if n_folds > smallest:
        raise ProtocolError(f"--folds {n_folds}: too many for the stratified protocol, whose every fold needs "
                            f"each emotion, and {emotion!r} has {smallest} utterances; allowed: --folds 2 to "
                            f"{smallest}")


def fold_notes(protocols: list[str], table: pd.DataFrame, n_folds: int, loso: bool = False,
               fold_file: object | None = None) -> list[str]:
    """What a run must say about its folds because they differ from what was asked (one line each).

    Today: speaker protocols on fewer speakers than ``--folds`` leave one speaker out per fold instead.
    """
    notes = []
    speaker_protocols = [p for p in protocols if p in ("speaker", "speaker+text")]
    if speaker_protocols and fold_file is None and not loso:
        n_speakers = table["speaker"].astype(str).nunique()
        if 2 <= n_speakers < n_folds:
            which = " and ".join(speaker_protocols)
            notes.append(f"--folds {n_folds}: the corpus has {n_speakers} speakers, so {which} leave(s) one "
                         f"speaker out per fold ({n_speakers} folds)")
    return notes


def holdout_fold(y: np.ndarray, seed: int, test_size: float = HOLDOUT_TEST_SIZE) -> Fold:
    """The seed systems' evaluation: one stratified random split of utterances (speakers shared), seeded."""
    labels, counts = np.unique(y, return_counts=True)
    if len(labels) < 2 or counts.min() < 2:
        raise ProtocolError("holdout protocol: needs at least 2 emotions with at least 2 utterances each")
    n_test = int(np.ceil(test_size * len(y)))
    if n_test < len(labels) or len(y) - n_test < len(labels):
        raise ProtocolError(f"holdout protocol: {len(y)} utterances are too few for a stratified 80/20 split of "
                            f"{len(labels)} emotions")
    rows = np.arange(len(y))
    train, test = train_test_split(rows, test_size=test_size, stratify=y, random_state=seed, shuffle=True)
    return Fold("holdout", 0, np.sort(train), np.sort(test))


# --------------------------------------------------------------------------------------------------------------
# Speaker plans: for each fold, every speaker's part (train, dev or test).


def speaker_plan(table: pd.DataFrame, n_folds: int, seed: int, loso: bool,
                 fold_file: str | Path | FoldFile | None) -> list[dict[str, str]]:
    """For each fold, speaker -> part (``train``, ``dev`` or ``test``)."""
    unique = sorted(table["speaker"].astype(str).unique())
    if len(unique) < 2:
        raise ProtocolError(f"speaker-independent protocols need at least 2 speakers; the corpus has {len(unique)}")
    if fold_file is not None:
        parsed = fold_file if isinstance(fold_file, FoldFile) else read_fold_file(fold_file)
        return parsed.plan(unique)
    assignment = speaker_assignment(table, n_folds, seed, loso)
    return [{s: "test" if f == fold else "train" for s, f in assignment.items()}
            for fold in sorted(set(assignment.values()))]


def speaker_assignment(table: pd.DataFrame, n_folds: int, seed: int, loso: bool,
                       fold_file: str | Path | FoldFile | None = None) -> dict[str, int]:
    """Speaker -> test fold: from a fold file, leave-one-speaker-out, or stratified group k-fold."""
    speakers = table["speaker"].astype(str)
    unique = sorted(speakers.unique())
    if len(unique) < 2:
        raise ProtocolError(f"speaker-independent protocols need at least 2 speakers; the corpus has {len(unique)}")
    if fold_file is not None:
        parsed = fold_file if isinstance(fold_file, FoldFile) else read_fold_file(fold_file)
        return {s: i for i, parts in enumerate(parsed.plan(unique)) for s, p in parts.items() if p == "test"}
    if loso or len(unique) < n_folds:
        return {s: i for i, s in enumerate(unique)}
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    assignment = {}
    for i, (_, test) in enumerate(splitter.split(np.zeros(len(table)), table["emotion"], speakers)):
        for speaker in speakers.iloc[test].unique():
            assignment[speaker] = i
    return assignment


def _speaker_key(speaker: str) -> str:
    # Corpora spell speaker ids with or without leading zeros ("01" vs "1"); either matches.
    return speaker.lstrip("0") or "0"


@dataclass(frozen=True)
class FoldFile:
    """A validated fold file: ``speaker,fold`` (each speaker's test fold) or ``speaker,fold,part``.

    With a ``part`` column each fold lists its speakers' parts explicitly (``train``, ``dev``, ``test``), so a
    file can hold a fixed train/development/test split (one fold) or folds with their own development speakers.
    """

    path: str
    rows: tuple[tuple[int, str, str, int], ...]  # (fold, speaker, part, line)
    has_parts: bool

    @property
    def folds(self) -> list[int]:
        return sorted({fold for fold, _, _, _ in self.rows})

    @property
    def speakers(self) -> list[str]:
        return sorted({speaker for _, speaker, _, _ in self.rows})

    def plan(self, corpus_speakers: list[str]) -> list[dict[str, str]]:
        """For each fold, every corpus speaker's part; the file's speakers must be exactly the corpus's.

        Raises
        ------
        ProtocolError
            Speakers of the file not in the corpus, or corpus speakers the file gives no fold (or no part).
        """
        by_key = {_speaker_key(s): s for s in corpus_speakers}
        unknown = sorted({s for _, s, _, _ in self.rows if _speaker_key(s) not in by_key})
        if unknown:
            raise ProtocolError(f"{self.path}: speaker(s) {_listing(unknown)} not in the corpus (its speakers: "
                                f"{_listing(sorted(corpus_speakers))})")
        plans = []
        for fold in self.folds:
            listed = {by_key[_speaker_key(s)]: p for f, s, p, _ in self.rows if f == fold}
            if self.has_parts:
                missing = [s for s in corpus_speakers if s not in listed]
                if missing:
                    raise ProtocolError(f"{self.path}: fold {fold} gives no part to speaker(s) {_listing(missing)}")
                plans.append(listed)
            else:
                plans.append({s: listed.get(s, "train") for s in corpus_speakers})
        if not self.has_parts:
            listed_all = {by_key[_speaker_key(s)] for _, s, _, _ in self.rows}
            missing = [s for s in corpus_speakers if s not in listed_all]
            if missing:
                raise ProtocolError(f"{self.path}: no fold for speaker(s) {_listing(missing)}")
        return plans


def _listing(items: list[str], limit: int = 10) -> str:
    items = [str(item).encode("unicode_escape").decode() for item in items]  # a newline in a name stays on one line
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def read_fold_file(path: str | Path) -> FoldFile:
    """Read and validate a fold file before any audio is decoded; every fault is one line naming the file.

    Checked: the file exists and is CSV with columns ``speaker,fold`` (and optionally ``part``); no empty cell;
    folds are integers; parts are train, dev or test; no speaker twice (in a fold, with parts); at least 2 folds
    (without parts), or a train and a test speaker in every fold (with parts). Speakers against the corpus are
    checked by :meth:`FoldFile.plan`.
    """
    path = Path(path)
    if not path.is_file():
        raise ProtocolError(f"fold file not found: {path}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            records = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ProtocolError(f"{path}: cannot be read as CSV ({str(error).splitlines()[0]})") from None
    records = [r for r in records if any(cell.strip() for cell in r)]
    if not records:
        raise ProtocolError(f"{path}: empty; needs columns speaker,fold")
    header = [c.strip().lower() for c in records[0]]
    if not {"speaker", "fold"} <= set(header):
        raise ProtocolError(f"{path}: needs columns speaker,fold (and optionally part); found "
                            f"{','.join(header) or 'no header'}")
    has_parts = "part" in header
    col = {name: header.index(name) for name in ("speaker", "fold", "part") if name in header}
    rows: list[tuple[int, str, str, int]] = []
    seen: dict[tuple, int] = {}
    for line, record in enumerate(records[1:], start=2):
        cells = {name: (record[i].strip() if i < len(record) else "") for name, i in col.items()}
        for name in col:
            if not cells[name]:
                raise ProtocolError(f"{path}: line {line}: empty {name} cell")
        speaker, fold_text = cells["speaker"], cells["fold"]
        try:
            fold = int(fold_text)
        except ValueError:
            raise ProtocolError(f"{path}: line {line}: fold {fold_text!r} of speaker {speaker!r} is not an "
                                "integer") from None
        part = cells.get("part", "test").lower()
        if part not in PARTS:
            raise ProtocolError(f"{path}: line {line}: part {cells['part']!r} is not train, dev or test")
        key = (fold, _speaker_key(speaker)) if has_parts else (_speaker_key(speaker),)
        if key in seen:
            where = f" in fold {fold}" if has_parts else ""
            raise ProtocolError(f"{path}: speaker {speaker!r} listed twice{where} (lines {seen[key]} and {line})")
        seen[key] = line
        rows.append((fold, speaker, part, line))
    if not rows:
        raise ProtocolError(f"{path}: no rows below the header")
    parsed = FoldFile(str(path), tuple(rows), has_parts)
    if has_parts:
        for fold in parsed.folds:
            parts = {p for f, _, p, _ in rows if f == fold}
            lacking = [p for p in ("train", "test") if p not in parts]
            if lacking:
                raise ProtocolError(f"{path}: fold {fold} has no {' and no '.join(lacking)} speaker")
    elif len(parsed.folds) < 2:
        raise ProtocolError(f"{path}: needs at least 2 folds, found {len(parsed.folds)} (for a fixed split, "
                            "add a part column: train, dev, test)")
    return parsed


def validate_fold_file(fold_file: str | Path | FoldFile, speakers) -> FoldFile:
    """Check a fold file against a loaded corpus's speakers, before any audio is decoded; returns it parsed.

    Raises
    ------
    ProtocolError
        Any fault :func:`read_fold_file` or :meth:`FoldFile.plan` finds (one line naming the file).
    """
    parsed = fold_file if isinstance(fold_file, FoldFile) else read_fold_file(fold_file)
    parsed.plan(sorted({str(s) for s in speakers}))
    return parsed


def _speaker_text_folds(table: pd.DataFrame, plan: list[dict[str, str]], seed: int) -> list[Fold]:
    if table["text"].isna().any():
        raise ProtocolError("speaker+text protocol needs a sentence id for every utterance; this corpus has "
                            "none for some (use --protocols stratified,speaker)")
    texts = np.random.default_rng(seed).permutation(sorted(table["text"].astype(str).unique()))
    if len(texts) < 2:
        raise ProtocolError("speaker+text protocol needs at least 2 different sentences")
    groups = min(max(len(plan), 2), len(texts))
    text_group = {t: i % groups for i, t in enumerate(texts)}
    speakers = table["speaker"].astype(str)
    row_text = table["text"].astype(str).map(text_group).to_numpy()
    folds = []
    for i, parts in enumerate(plan):
        part = speakers.map(parts).to_numpy()
        tg = i % groups
        test = np.flatnonzero((part == "test") & (row_text == tg))
        train = np.flatnonzero((part == "train") & (row_text != tg))
        dev = np.flatnonzero((part == "dev") & (row_text != tg))
        folds.append(Fold("speaker+text", i, train, test, dev if len(dev) else None))
    return folds


# --------------------------------------------------------------------------------------------------------------
# Several corpora


def corpus_names(table: pd.DataFrame) -> list[str]:
    """The corpora of a table in order of first appearance."""
    if "corpus" not in table:
        return []
    return list(dict.fromkeys(table["corpus"].astype(str)))


def cross_corpus_folds(protocol: str, table: pd.DataFrame, n_folds: int = 5, seed: int = 0,
                       loso: bool = False) -> list[Fold]:
    """``cross-corpus``: each ordered pair (A, B) is one fold, trained on all of A, tested on all of B, on the
    emotions both have; each diagonal cell (A, A) is A's own speaker-independent folds, exactly as a run on A
    alone with the same seed makes them. ``leave-one-corpus-out``: one fold per corpus, trained on all others.
    """
    names = corpus_names(table)
    if len(names) < 2:
        raise ProtocolError(f"{protocol} needs at least 2 corpora in the run (e.g. --dataset emodb:DIR,ravdess:DIR); "
                            f"found {len(names)}")
    corpus = table["corpus"].astype(str).to_numpy()
    emotion = table["emotion"].astype(str).to_numpy()
    has = {name: set(emotion[corpus == name].tolist()) for name in names}
    folds: list[Fold] = []
    if protocol == "leave-one-corpus-out":
        for name in names:
            others = [n for n in names if n != name]
            shared = has[name] & set().union(*(has[n] for n in others))
            _need_shared(protocol, name, "+".join(others), shared)
            train = np.flatnonzero((corpus != name) & np.isin(emotion, sorted(shared)))
            test = np.flatnonzero((corpus == name) & np.isin(emotion, sorted(shared)))
            folds.append(Fold(protocol, len(folds), train, test, None, f"rest->{name}", "+".join(others), name))
        return folds
    for a in names:
        for b in names:
            if a == b:
                rows = np.flatnonzero(corpus == a)
                inner = make_folds("speaker", table.iloc[rows].reset_index(drop=True), n_folds, seed, loso)
                for fold in inner:
                    folds.append(Fold(protocol, len(folds), rows[fold.train], rows[fold.test], None, f"{a}->{a}",
                                      a, a))
                continue
            shared = has[a] & has[b]
            _need_shared(protocol, a, b, shared)
            keep = np.isin(emotion, sorted(shared))
            folds.append(Fold(protocol, len(folds), np.flatnonzero((corpus == a) & keep),
                              np.flatnonzero((corpus == b) & keep), None, f"{a}->{b}", a, b))
    return folds


def _need_shared(protocol: str, train: str, test: str, shared: set[str]) -> None:
    if len(shared) < 2:
        raise ProtocolError(f"{protocol}: {train} and {test} share {len(shared)} emotion(s); a pair needs at "
                            "least 2 (choose corpora or --emotions they share)")


# --------------------------------------------------------------------------------------------------------------
# The protocols, each with its fold maker ``folds(table, n_folds, seed, loso, fold_file)``; defined last, after
# the makers they carry.


@dataclass(frozen=True)
class Protocol:
    """A protocol ``--protocols`` names: its description and the function that makes its folds."""

    name: str
    description: str
    folds: Callable[..., list[Fold]]
    speaker_independent: bool = False  # no test speaker is seen in training
    cross_corpus: bool = False  # needs several corpora (and ignores a fold file)


def _cross(protocol: str) -> Callable[..., list[Fold]]:
    def folds(table: pd.DataFrame, n_folds: int, seed: int, loso: bool, fold_file) -> list[Fold]:
        return cross_corpus_folds(protocol, table, n_folds, seed, loso)
    return folds


# "all" is every protocol of one corpus: the cross-corpus ones fail on a single corpus.
PROTOCOLS: Registry[Protocol] = Registry("protocol", ProtocolError, in_all=lambda p: not p.cross_corpus)
for _protocol in (
    Protocol("stratified", "stratified k-fold over utterances; speakers shared by training and test "
             "(speaker-dependent)", _stratified_folds),
    Protocol("holdout", "stratified random 80/20 split of utterances, one fold, seeded; speakers shared (the seed "
             "systems' own evaluation)", _holdout_folds),
    Protocol("speaker", "speaker-independent: each fold holds out whole speakers (LOSO when speakers < folds)",
             _speaker_folds, speaker_independent=True),
    Protocol("speaker+text", "speakers and sentences of the test fold are both unseen in training",
             _speaker_text_plan_folds, speaker_independent=True),
    Protocol("cross-corpus", "several corpora: train on all of one, test on all of another, each ordered pair, on "
             "the emotions both have; in-corpus speaker folds on the diagonal", _cross("cross-corpus"),
             speaker_independent=True, cross_corpus=True),
    Protocol("leave-one-corpus-out", "several corpora: train on all corpora but one, test on the one left out",
             _cross("leave-one-corpus-out"), speaker_independent=True, cross_corpus=True),
):
    PROTOCOLS.register(_protocol.name, _protocol)
SPEAKER_INDEPENDENT = tuple(name for name, p in PROTOCOLS.items() if p.speaker_independent)
CROSS_CORPUS = tuple(name for name, p in PROTOCOLS.items() if p.cross_corpus)
