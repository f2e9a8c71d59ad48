"""What the corpus table alone decides, checked before any audio is decoded.

Folds depend only on the table's columns (emotion, speaker, text, corpus), never on the audio, so each protocol's
folds are made once on the table as loaded: a corpus that cannot give them (a single emotion, fewer speakers than
a speaker protocol needs, a published split naming speakers it lacks) is refused now, in one line, rather than
after every file was analysed. The run makes its folds again on the rows whose features could be computed.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from benchmark.evaluation.protocols import make_folds
from features.errors import UserInputError


class CorpusShapeError(UserInputError):
    """The corpus, as its table says, cannot be benchmarked as asked."""


def check_table(table: pd.DataFrame, protocols: Sequence[str], n_folds: int, seed: int, loso: bool = False,
                fold_file=None) -> None:
    """Refuse, before decoding, a table on which a protocol cannot make its folds.

    Parameters
    ----------
    table : the corpus table (a row per utterance, before feature extraction).
    protocols, n_folds, seed, loso, fold_file : as the run will use them.

    Raises
    ------
    CorpusShapeError
        One emotion only, or what ``make_folds`` refuses (its one-line message, naming the protocol).
    """
    emotions = sorted(table["emotion"].astype(str).unique()) if len(table) else []
    if len(emotions) < 2:
        found = f"only {emotions[0]!r}" if emotions else "no utterance"
        raise CorpusShapeError(f"the corpus has {found}: at least two emotions are needed to classify")
    for protocol in protocols:
        try:
            make_folds(protocol, table, n_folds, seed, loso, fold_file)
        except UserInputError as error:
            raise CorpusShapeError(f"--protocols {protocol}: {error}") from None
