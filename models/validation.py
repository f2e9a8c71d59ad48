"""The validation part that neural models carve out of their training data for early stopping."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedShuffleSplit

MIN_ROWS = 20  # below this, a validation part is too small to stop on; train the full schedule


def validation_split(y: np.ndarray, groups: np.ndarray | None, fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Indices (train, validation) within the training data; validation is ``None`` when not possible.

    With ``groups`` (speaker ids) and at least three of them, validation holds out whole speakers, so that
    early stopping mirrors a speaker-independent test; otherwise a stratified random part.
    """
    n = len(y)
    everything = np.arange(n)
    if fraction <= 0 or n < MIN_ROWS:
        return everything, None
    rng = np.random.default_rng(seed)
    if groups is not None:
        unique = np.unique(groups)
        if len(unique) >= 3:
            order = rng.permutation(unique)
            chosen: list = []
            for group in order[:-2]:  # always leave at least two speakers to train on
                chosen.append(group)
                if np.isin(groups, chosen).sum() >= fraction * n:
                    break
            val = np.flatnonzero(np.isin(groups, chosen))
            return np.setdiff1d(everything, val), val
    counts = np.bincount(y)
    if counts[counts > 0].min() >= 2 and int(round(fraction * n)) >= np.count_nonzero(counts):
        split = StratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        train, val = next(split.split(np.zeros(n), y))
    else:
        val = rng.choice(n, size=max(1, int(round(fraction * n))), replace=False)
        train = np.setdiff1d(everything, val)
    return np.sort(train), np.sort(val)
