"""Scores of the dimensional task: the concordance correlation coefficient (CCC), Pearson's r and the errors, per
dimension and their mean; the speaker bootstrap interval and the paired speaker-bootstrap test on CCC.

CCC (Lin 1989) is what the dimensional SER literature and the MSP-Podcast / AVEC challenges report:
``2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2)`` with population (ddof 0) moments. Unlike r it
penalises a bias and a wrong scale, so a constant prediction scores 0 whatever its value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def ccc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Concordance correlation coefficient of two 1-D arrays (population moments).

    Parameters
    ----------
    y_true, y_pred : numpy.ndarray
        The same length, at least 2.

    Returns
    -------
    float
        In [-1, 1]; 0 when either array is constant and the other is not; NaN when there is nothing to score
        (fewer than 2 values, or both arrays one and the same constant: agreement on no variation is undefined).
    """
    x, y = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"ccc: arrays of shape {x.shape} and {y.shape}; need two 1-D arrays of one length")
    if x.size < 2:
        return float("nan")
    mx, my = x.mean(), y.mean()
    vx, vy = x.var(), y.var()
    cov = ((x - mx) * (y - my)).mean()
    denominator = vx + vy + (mx - my) ** 2
    if denominator == 0:
        return float("nan")
    return float(2 * cov / denominator)


def pearson(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Pearson's r; 0 when either array is constant (no linear relation can be read)."""
    x, y = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if x.size < 2:
        return float("nan")
    sx, sy = x.std(), y.std()
    if sx == 0 or sy == 0:
        return 0.0
    return float(((x - x.mean()) * (y - y.mean())).mean() / (sx * sy))


def regression_scores(y_true: np.ndarray, y_pred: np.ndarray, targets: Sequence[str]) -> dict:
    """Per-dimension CCC, r, RMSE and MAE, and the mean CCC over dimensions.

    Parameters
    ----------
    y_true, y_pred : numpy.ndarray
        Shape (n, d), one column per target.
    targets : sequence of str
        The d target names, in column order.

    Returns
    -------
    dict
        ``ccc_<t>``, ``r_<t>``, ``rmse_<t>``, ``mae_<t>`` for each target and ``ccc_mean``.
    """
    y_true, y_pred = np.atleast_2d(np.asarray(y_true, float)), np.atleast_2d(np.asarray(y_pred, float))
    if y_true.shape != y_pred.shape or y_true.shape[1] != len(targets):
        raise ValueError(f"regression_scores: shapes {y_true.shape} and {y_pred.shape} for {len(targets)} targets")
    out: dict[str, float] = {}
    for j, target in enumerate(targets):
        t, p = y_true[:, j], y_pred[:, j]
        out[f"ccc_{target}"] = ccc(t, p)
        out[f"r_{target}"] = pearson(t, p)
        out[f"rmse_{target}"] = float(np.sqrt(np.mean((t - p) ** 2)))
        out[f"mae_{target}"] = float(np.mean(np.abs(t - p)))
    out["ccc_mean"] = float(np.mean([out[f"ccc_{t}"] for t in targets]))
    return out


def mean_ccc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The mean over columns of the CCC of (n, d) arrays."""
    return float(np.mean([ccc(y_true[:, j], y_pred[:, j]) for j in range(y_true.shape[1])]))


def _speaker_rows(speakers: np.ndarray) -> list[np.ndarray]:
    _, inverse = np.unique(np.asarray(speakers).astype(str), return_inverse=True)
    return [np.flatnonzero(inverse == k) for k in range(inverse.max() + 1)]


def speaker_bootstrap_ccc(y_true: np.ndarray, y_pred: np.ndarray, speakers: np.ndarray, resamples: int = 1000,
                          seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """Mean CCC and its percentile interval from resampling whole speakers with replacement.

    Parameters
    ----------
    y_true, y_pred : numpy.ndarray
        (n, d) pooled test rows (every fold's predictions of unseen speakers).
    speakers : numpy.ndarray
        (n,) speaker of each row.
    resamples, seed, level : int, int, float
        Bootstrap size, its seed, the interval's coverage.

    Returns
    -------
    tuple of float
        (point estimate on all rows, lower, upper).
    """
    y_true, y_pred = np.atleast_2d(y_true), np.atleast_2d(y_pred)
    groups = _speaker_rows(speakers)
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for b in range(resamples):
        rows = np.concatenate([groups[k] for k in rng.integers(0, len(groups), len(groups))])
        values[b] = mean_ccc(y_true[rows], y_pred[rows])
    alpha = (1 - level) / 2
    finite = values[np.isfinite(values)]
    if not finite.size:  # e.g. a target with no variation in the test rows: CCC undefined, so is its interval
        return mean_ccc(y_true, y_pred), float("nan"), float("nan")
    return mean_ccc(y_true, y_pred), float(np.quantile(finite, alpha)), float(np.quantile(finite, 1 - alpha))


def paired_ccc_test(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, speakers: np.ndarray,
                    resamples: int = 1000, seed: int = 0) -> dict:
    """Paired speaker-bootstrap test of mean CCC between two systems scored on the same rows.

    The same speaker resample is applied to both systems; the two-sided p-value is twice the smaller share of
    resamples on either side of zero difference (floored at one resample).

    Returns
    -------
    dict
        ``difference`` (a minus b on all rows), ``low``, ``high`` (95 % interval) and ``p``.
    """
    y_true, pred_a, pred_b = np.atleast_2d(y_true), np.atleast_2d(pred_a), np.atleast_2d(pred_b)
    groups = _speaker_rows(speakers)
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    for b in range(resamples):
        rows = np.concatenate([groups[k] for k in rng.integers(0, len(groups), len(groups))])
        diffs[b] = mean_ccc(y_true[rows], pred_a[rows]) - mean_ccc(y_true[rows], pred_b[rows])
    diffs = diffs[np.isfinite(diffs)]
    if not diffs.size:
        return {"difference": float("nan"), "low": float("nan"), "high": float("nan"), "p": float("nan")}
    share = min((diffs <= 0).mean(), (diffs >= 0).mean())
    return {"difference": mean_ccc(y_true, pred_a) - mean_ccc(y_true, pred_b),
            "low": float(np.quantile(diffs, 0.025)), "high": float(np.quantile(diffs, 0.975)),
            "p": float(min(1.0, max(2 * share, 1 / resamples)))}
