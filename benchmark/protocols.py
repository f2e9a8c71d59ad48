"""Evaluation protocols: which utterances train and which test, fold by fold, seeded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

PROTOCOLS = {
    "stratified": "stratified k-fold over utterances; speakers shared by training and test (speaker-dependent)",
    "speaker": "speaker-independent: each fold holds out whole speakers (LOSO when speakers < folds)",
    "speaker+text": "speakers and sentences of the test fold are both unseen in training",
}
SPEAKER_INDEPENDENT = ("speaker", "speaker+text")


class ProtocolError(ValueError):
    """A protocol that cannot be applied to this corpus or these arguments; one-line message."""


@dataclass(frozen=True)
class Fold:
    protocol: str
    index: int
    train: np.ndarray  # row numbers into the corpus table
    test: np.ndarray


def resolve_protocols(spec: str) -> list[str]:
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in PROTOCOLS]
    if unknown or not names:
        raise ProtocolError(f"unknown protocol(s) {', '.join(unknown) or '(none)'}; choose from: "
                            f"{', '.join(PROTOCOLS)}")
    return list(dict.fromkeys(names))


def make_folds(protocol: str, table: pd.DataFrame, n_folds: int = 5, seed: int = 0, loso: bool = False,
               fold_file: str | Path | None = None) -> list[Fold]:
    """Folds of ``protocol`` over the rows of ``table`` (columns ``emotion``, ``speaker``, ``text``)."""
    if n_folds < 2:
        raise ProtocolError(f"--folds must be at least 2, got {n_folds}")
    y = table["emotion"].to_numpy()
    if protocol == "stratified":
        smallest = int(table["emotion"].value_counts().min())
        if smallest < 2:
            raise ProtocolError("stratified protocol: every emotion needs at least 2 utterances")
        splitter = StratifiedKFold(n_splits=min(n_folds, smallest), shuffle=True, random_state=seed)
        return [Fold(protocol, i, tr, te) for i, (tr, te) in enumerate(splitter.split(np.zeros(len(y)), y))]
    speaker_fold = speaker_assignment(table, n_folds, seed, loso, fold_file)
    if protocol == "speaker":
        fold_of_row = table["speaker"].map(speaker_fold).to_numpy()
        return [Fold(protocol, i, np.flatnonzero(fold_of_row != f), np.flatnonzero(fold_of_row == f))
                for i, f in enumerate(sorted(set(speaker_fold.values())))]
    if protocol == "speaker+text":
        return _speaker_text_folds(table, speaker_fold, seed)
    raise ProtocolError(f"unknown protocol {protocol!r}; choose from: {', '.join(PROTOCOLS)}")


def speaker_assignment(table: pd.DataFrame, n_folds: int, seed: int, loso: bool,
                       fold_file: str | Path | None) -> dict[str, int]:
    """Speaker -> test fold: from a fold file, leave-one-speaker-out, or stratified group k-fold."""
    speakers = table["speaker"].astype(str)
    unique = sorted(speakers.unique())
    if len(unique) < 2:
        raise ProtocolError(f"speaker-independent protocols need at least 2 speakers; the corpus has {len(unique)}")
    if fold_file is not None:
        return read_fold_file(fold_file, unique)
    if loso or len(unique) < n_folds:
        return {s: i for i, s in enumerate(unique)}
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    assignment = {}
    for i, (_, test) in enumerate(splitter.split(np.zeros(len(table)), table["emotion"], speakers)):
        for speaker in speakers.iloc[test].unique():
            assignment[speaker] = i
    return assignment


def read_fold_file(path: str | Path, speakers: list[str]) -> dict[str, int]:
    """A CSV ``speaker,fold`` (e.g. a published split); every corpus speaker must have a fold."""
    path = Path(path)
    if not path.is_file():
        raise ProtocolError(f"fold file not found: {path}")
    try:
        folds = pd.read_csv(path, dtype=str)
    except Exception as error:
        raise ProtocolError(f"{path}: cannot be read as CSV ({str(error).splitlines()[0]})") from None
    folds.columns = [c.strip().lower() for c in folds.columns]
    if not {"speaker", "fold"} <= set(folds.columns):
        raise ProtocolError(f"{path}: needs columns speaker,fold")
    mapping: dict[str, int] = {}
    for speaker, fold in zip(folds["speaker"].str.strip(), folds["fold"].str.strip(), strict=True):
        try:
            mapping[speaker] = int(fold)
        except ValueError:
            raise ProtocolError(f"{path}: fold {fold!r} of speaker {speaker!r} is not an integer") from None
    # Corpora spell speaker ids with or without leading zeros ("01" vs "1"); accept either.
    normalised = {s.lstrip("0") or "0": f for s, f in mapping.items()}
    assignment, missing = {}, []
    for speaker in speakers:
        fold = mapping.get(speaker, normalised.get(speaker.lstrip("0") or "0"))
        if fold is None:
            missing.append(speaker)
        else:
            assignment[speaker] = fold
    if missing:
        raise ProtocolError(f"{path}: no fold for speaker(s) {', '.join(missing[:10])}")
    if len(set(assignment.values())) < 2:
        raise ProtocolError(f"{path}: needs at least 2 folds")
    return assignment


def _speaker_text_folds(table: pd.DataFrame, speaker_fold: dict[str, int], seed: int) -> list[Fold]:
    if table["text"].isna().any():
        raise ProtocolError("speaker+text protocol needs a sentence id for every utterance; this corpus has "
                            "none for some (use --protocols stratified,speaker)")
    fold_ids = sorted(set(speaker_fold.values()))
    texts = np.random.default_rng(seed).permutation(sorted(table["text"].astype(str).unique()))
    if len(texts) < 2:
        raise ProtocolError("speaker+text protocol needs at least 2 different sentences")
    groups = min(len(fold_ids), len(texts))
    text_group = {t: i % groups for i, t in enumerate(texts)}
    row_speaker = table["speaker"].astype(str).map(speaker_fold).to_numpy()
    row_text = table["text"].astype(str).map(text_group).to_numpy()
    folds = []
    for i, f in enumerate(fold_ids):
        tg = i % groups
        test = np.flatnonzero((row_speaker == f) & (row_text == tg))
        train = np.flatnonzero((row_speaker != f) & (row_text != tg))
        folds.append(Fold("speaker+text", i, train, test))
    return folds
