"""Speaker normalisation: z-scores per speaker from that speaker's own unlabelled features.

Legal under the speaker-independent protocol: a test speaker's statistics come from their own recordings and
no label is used. Rows that use it are marked in every table.
"""

from __future__ import annotations

import numpy as np


def speaker_normalise(X: np.ndarray, speakers: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Z-normalise each speaker's rows with that speaker's mean and standard deviation.

    ``X`` is (n, d) vectors or (n, frames, d) NaN-padded sequences (statistics over real frames; padding stays
    NaN). In a multi-corpus table speaker ids carry their corpus (``emodb:03``), so this stays per speaker
    within each corpus.
    """
    return group_normalise(X, speakers, eps)


def corpus_normalise(X: np.ndarray, corpora: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Z-normalise each corpus's rows with that corpus's own mean and standard deviation (no label used).

    For cross-corpus runs: it removes a corpus's recording-channel and language offset, using the test corpus's
    unlabelled features as a whole (transductive), so rows that use it are marked ``corpus-norm``.
    """
    return group_normalise(X, corpora, eps)


def group_normalise(X: np.ndarray, groups: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Z-normalise the rows of each group with the group's own statistics; see :func:`speaker_normalise`."""
    X = np.asarray(X, dtype=np.float32)
    speakers = np.asarray(groups)
    if len(speakers) != len(X):
        raise ValueError(f"one group per row needed: {len(X)} rows, {len(speakers)} groups")
    out = np.empty_like(X)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        block = X[rows]
        frames = block.reshape(-1, block.shape[-1])
        mean = np.nanmean(frames, axis=0)
        std = np.nanstd(frames, axis=0)
        out[rows] = (block - mean) / np.where(std > eps, std, 1.0)
    return out
