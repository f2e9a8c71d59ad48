"""Frame sequences for sequence models: padded with NaN, so the true lengths travel with the array."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The padding cap of every run, bundle and dimensional run; models then cut to a length chosen from their
# training clips (choose_length), so the cap only bounds memory on a corpus of very long clips.
MAX_SEQUENCE_STEPS = 2000


def choose_length(lengths: Sequence[int], percentile: float = 95.0) -> int:
    """A padding length that covers ``percentile`` % of the clips (at least 1)."""
    if len(lengths) == 0:
        raise ValueError("no sequences to choose a length from")
    return max(1, int(np.ceil(np.percentile(np.asarray(lengths), percentile))))


def pad_sequences(sequences: Sequence[np.ndarray], max_len: int) -> np.ndarray:
    """Stack (frames, dims) arrays into (n, max_len, dims): truncated at ``max_len``, padded with NaN.

    NaN marks padding unambiguously (a real frame is never NaN), so models recover each clip's length with
    ``sequence_lengths`` and mask the rest.
    """
    dims = {s.shape[1] for s in sequences}
    if len(dims) != 1:
        raise ValueError(f"sequences disagree on their frame size: {sorted(dims)}")
    out = np.full((len(sequences), max_len, dims.pop()), np.nan, dtype=np.float32)
    for i, seq in enumerate(sequences):
        n = min(len(seq), max_len)
        out[i, :n] = seq[:n]
    return out


def sequence_lengths(X: np.ndarray) -> np.ndarray:
    """Number of real (non-NaN) frames per row of a NaN-padded (n, T, d) array."""
    real = ~np.isnan(X).all(axis=2)
    return real.sum(axis=1)
