"""What a bundle was trained on, so that ``predict`` can say when an input lies outside it.

At training time :func:`training_profile` keeps, for every feature column, the 0.5th and 99.5th percentiles of the
training rows, and the range of the clips' durations. At prediction time :func:`outside` names, per input, what
lies outside: a duration beyond the training range (by more than half of it at either end), and feature columns
far outside their training range (more than ``FAR`` times the column's training spread beyond its percentile
range). A model such as the RBF SVM cannot judge such an input: with a few columns hundreds of spreads out, every
kernel value is 0 and every such input gets the same (intercept-only) prediction.
"""

from __future__ import annotations

import io

import numpy as np

FAR = 10.0  # spreads beyond the training range that make a column "far outside"
LOW_Q, HIGH_Q = 0.5, 99.5


def training_profile(X: np.ndarray, durations: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per-column training statistics (low and high percentile, spread) and the duration range.

    Parameters
    ----------
    X : (n, columns) raw training features (before any speaker normalisation).
    durations : (n,) seconds, or None when unknown.

    Returns
    -------
    Arrays ``low``, ``high``, ``spread`` (columns,) and ``durations`` (min, max) or empty.
    """
    X = np.asarray(X, dtype=np.float64)
    low, high = np.percentile(X, [LOW_Q, HIGH_Q], axis=0)
    spread = np.maximum(high - low, 1e-6 * np.maximum(np.abs(low), np.abs(high)) + 1e-12)
    finite = durations is not None and len(durations) and np.all(np.isfinite(durations))
    span = np.array([np.min(durations), np.max(durations)]) if finite else np.zeros(0)
    return {"low": low, "high": high, "spread": spread, "durations": span}


def outside(profile: dict[str, np.ndarray], X: np.ndarray, durations: np.ndarray,
            columns: list[str]) -> list[str]:
    """One text per row: what lies outside the training data ("" when nothing does)."""
    low, high, spread = profile["low"], profile["high"], profile["spread"]
    X = np.asarray(X, dtype=np.float64)
    distance = np.maximum(low - X, X - high) / spread  # spreads outside the range; <= 0 inside
    distance = np.where(np.isfinite(distance), distance, np.inf)
    notes = []
    span = profile.get("durations", np.zeros(0))
    for i in range(len(X)):
        parts = []
        if span.size == 2:
            lo, hi = span
            margin = 0.5 * (hi - lo) + 0.1
            if durations[i] > hi + margin or durations[i] < max(lo - margin, 0) or durations[i] < 0.1:
                parts.append(f"duration {durations[i]:.2f} s outside training's {lo:.2f}-{hi:.2f} s")
        far = np.flatnonzero(distance[i] > FAR)
        if far.size:
            worst = far[np.argmax(distance[i][far])]
            size = "inf" if not np.isfinite(distance[i][worst]) else f"{distance[i][worst]:.0f}"
            parts.append(f"{far.size} feature column(s) far outside training (worst {columns[worst]}: {size} "
                         "spreads)")
        notes.append("; ".join(parts))
    return notes


def to_bytes(profile: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **profile)
    return buffer.getvalue()


def from_bytes(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        return {k: arrays[k] for k in arrays.files}
