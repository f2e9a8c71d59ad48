"""Functionals: a (rows, frames) matrix to a fixed-length vector of per-row statistics.

:func:`functionals` computes the few statistics ``--stats`` names (used by the classic sets);
:func:`rich_functionals` computes the broad set the speech bank uses (moments, percentiles and ranges,
regression, up-level and rise times, peak statistics), vectorised over every row at once.
"""

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


PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
UP_LEVELS = (25, 50, 75, 90)
RICH_STATS: tuple[str, ...] = (
    "mean", "std", "skew", "kurtosis", "min", "max", "range", "minpos", "maxpos", "rqmean", "meanabsdiff",
    *(f"p{p:02d}" for p in PERCENTILES),
    "iqr1_2", "iqr2_3", "iqr1_3", "range1_99",
    "slope", "offset", "linerr", "curvature",
    *(f"up{u}" for u in UP_LEVELS), "risetime",
    "peakrate", "peakmean_rel", "peakdist_mean", "peakdist_std", "valleymean_rel",
)


def rich_functionals(matrix: np.ndarray, frame_rate: float) -> np.ndarray:
    """Every statistic of :data:`RICH_STATS` for every row of ``matrix``, stacked stat-major.

    Parameters
    ----------
    matrix : shape (rows, frames); the frames need not be contiguous in time (e.g. voiced frames only).
    frame_rate : frames per second; times (``slope``, ``peakrate``, ``peakdist_*``) are in seconds.

    Returns
    -------
    values : shape (len(RICH_STATS) * rows,), finite; a row with no frames gives zeros, one frame gives its
        value for every location statistic and zeros for the spreads.

    Notes
    -----
    ``skew`` and ``kurtosis`` are the population (biased) moments, kurtosis not in excess; ``minpos`` and
    ``maxpos`` are the first position of the extreme as a fraction of the length; ``up<q>`` is the fraction
    of frames above ``min + q% * range``; ``risetime`` the fraction of frame steps that rise; ``linerr`` the
    RMS residual of the regression line and ``curvature`` the quadratic coefficient of a least-squares
    parabola over time in seconds; peaks are local maxima (``x[t-1] < x[t] >= x[t+1]``), ``peakmean_rel``
    the mean peak value minus the row mean and ``valleymean_rel`` the same for local minima.
    """
    x = np.atleast_2d(np.asarray(matrix, dtype=np.float64))
    rows, n = x.shape
    if n == 0:
        return np.zeros(len(RICH_STATS) * rows)
    out: dict[str, np.ndarray] = {}
    mean = x.mean(axis=1)
    centred = x - mean[:, None]
    m2 = np.einsum("ij,ij->i", centred, centred) / n
    std = np.sqrt(m2)
    safe = np.where(m2 > 1e-12 * np.maximum(1.0, mean ** 2), m2, np.inf)
    c2 = centred * centred
    out["mean"], out["std"] = mean, std
    out["skew"] = np.einsum("ij,ij->i", c2, centred) / n / safe ** 1.5
    out["kurtosis"] = np.where(np.isfinite(safe), np.einsum("ij,ij->i", c2, c2) / n / safe ** 2, 0.0)
    lo, hi = x.min(axis=1), x.max(axis=1)
    out["min"], out["max"], out["range"] = lo, hi, hi - lo
    denominator = max(n - 1, 1)
    out["minpos"] = x.argmin(axis=1) / denominator
    out["maxpos"] = x.argmax(axis=1) / denominator
    out["rqmean"] = np.sqrt(np.einsum("ij,ij->i", x, x) / n)
    steps = np.diff(x, axis=1)
    out["meanabsdiff"] = np.abs(steps).mean(axis=1) * frame_rate if n > 1 else np.zeros(rows)

    ranked = np.sort(x, axis=1)
    quantiles = dict(zip(PERCENTILES, _sorted_percentiles(ranked, PERCENTILES), strict=True))
    for p in PERCENTILES:
        out[f"p{p:02d}"] = quantiles[p]
    out["iqr1_2"] = quantiles[50] - quantiles[25]
    out["iqr2_3"] = quantiles[75] - quantiles[50]
    out["iqr1_3"] = quantiles[75] - quantiles[25]
    out["range1_99"] = quantiles[99] - quantiles[1]

    t = (np.arange(n) - (n - 1) / 2.0) / frame_rate
    tt = t @ t
    if n > 1:
        b = centred @ t / tt
        residual = centred - b[:, None] * t
        out["slope"], out["offset"] = b, mean + b * t[0]
        out["linerr"] = np.sqrt(np.einsum("ij,ij->i", residual, residual) / n)
    else:
        out["slope"], out["offset"], out["linerr"] = np.zeros(rows), mean, np.zeros(rows)
    if n > 2:
        q = t * t - tt / n  # t^2 made orthogonal to 1 and t (t is centred, so t^3 sums to 0)
        out["curvature"] = centred @ q / (q @ q)
    else:
        out["curvature"] = np.zeros(rows)

    span = hi - lo
    for u in UP_LEVELS:
        level = lo + (u / 100.0) * span
        out[f"up{u}"] = np.where(span > 0, (x > level[:, None]).mean(axis=1), 0.0)
    out["risetime"] = (steps > 0).mean(axis=1) if n > 1 else np.zeros(rows)
    out.update(_peak_statistics(x, mean, frame_rate))
    return np.concatenate([out[name] for name in RICH_STATS])


def _sorted_percentiles(ranked: np.ndarray, percentiles: Sequence[float]) -> list[np.ndarray]:
    """Linear-interpolation percentiles (numpy's default method) from rows sorted ascending."""
    n = ranked.shape[1]
    position = (n - 1) * np.asarray(percentiles, dtype=np.float64) / 100.0
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, n - 1)
    weight = position - below
    lower, upper = ranked[:, below], ranked[:, above]
    values = lower + (upper - lower) * weight
    return list(values.T)


def _peak_statistics(x: np.ndarray, mean: np.ndarray, frame_rate: float) -> dict[str, np.ndarray]:
    rows, n = x.shape
    zeros = np.zeros(rows)
    if n < 3:
        return {"peakrate": zeros, "peakmean_rel": zeros, "peakdist_mean": zeros, "peakdist_std": zeros,
                "valleymean_rel": zeros}
    middle = x[:, 1:-1]
    peaks = (middle > x[:, :-2]) & (middle >= x[:, 2:])
    valleys = (middle < x[:, :-2]) & (middle <= x[:, 2:])
    count = peaks.sum(axis=1)
    n_valleys = valleys.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        peak_mean = np.where(count > 0, (middle * peaks).sum(axis=1) / np.maximum(count, 1) - mean, 0.0)
        valley_mean = np.where(n_valleys > 0, (middle * valleys).sum(axis=1) / np.maximum(n_valleys, 1) - mean, 0.0)
    r, c = np.nonzero(peaks)
    same = r[1:] == r[:-1]
    gaps = (c[1:] - c[:-1])[same] / frame_rate
    owner = r[1:][same]
    n_gaps = np.bincount(owner, minlength=rows)
    total = np.bincount(owner, weights=gaps, minlength=rows)
    squares = np.bincount(owner, weights=gaps * gaps, minlength=rows)
    gap_mean = np.where(n_gaps > 0, total / np.maximum(n_gaps, 1), 0.0)
    gap_var = np.where(n_gaps > 0, squares / np.maximum(n_gaps, 1) - gap_mean ** 2, 0.0)
    return {"peakrate": count * frame_rate / n, "peakmean_rel": peak_mean, "peakdist_mean": gap_mean,
            "peakdist_std": np.sqrt(np.maximum(gap_var, 0.0)), "valleymean_rel": valley_mean}
