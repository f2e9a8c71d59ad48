"""Functionals: a (rows, frames) matrix to a fixed-length vector of per-row statistics."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def functionals(matrix: np.ndarray, stats: Sequence[str], frame_rate: float) -> np.ndarray:
    """Per-row statistics over time, stacked stat-major: all rows' means, then all rows' stds, ...

    Parameters
    ----------
    matrix : shape (rows, frames).
    stats : names from ``features.config.STATISTICS``.
    frame_rate : frames per second, so that ``slope`` is in units per second.
    """
    matrix = np.atleast_2d(np.asarray(matrix, dtype=np.float64))
    out = []
    percentiles = [int(s[1:]) for s in stats if s.startswith("p")]
    ranked = np.percentile(matrix, percentiles, axis=1) if percentiles else None
    for stat in stats:
        if stat == "mean":
            out.append(matrix.mean(axis=1))
        elif stat == "std":
            out.append(matrix.std(axis=1))
        elif stat == "min":
            out.append(matrix.min(axis=1))
        elif stat == "max":
            out.append(matrix.max(axis=1))
        elif stat.startswith("p"):
            out.append(ranked[percentiles.index(int(stat[1:]))])
        elif stat == "slope":
            out.append(slope(matrix, frame_rate))
        else:
            raise ValueError(f"unknown statistic {stat!r}")
    return np.concatenate(out)


def slope(matrix: np.ndarray, frame_rate: float) -> np.ndarray:
    """Least-squares slope of each row against time in seconds; 0 for a single frame."""
    frames = matrix.shape[1]
    if frames < 2:
        return np.zeros(matrix.shape[0])
    t = (np.arange(frames) - (frames - 1) / 2.0) / frame_rate
    return (matrix - matrix.mean(axis=1, keepdims=True)) @ t / (t @ t)


def column_names(prefix: str, rows: Sequence[str], stats: Sequence[str]) -> list[str]:
    return [f"{prefix}_{row}_{stat}" if row else f"{prefix}_{stat}" for stat in stats for row in rows]
