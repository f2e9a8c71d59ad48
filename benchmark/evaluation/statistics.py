"""Statistics over test speakers: bootstrap intervals of UAR, a paired test against the best model, per-speaker UAR.

Under the speaker protocols the unit of independence is the speaker, not the utterance: utterances of one
speaker share a voice, a microphone and an acting style, so resampling utterances would give intervals that are
far too narrow. Everything here therefore resamples (or permutes) whole speakers.

All functions are pure, seeded and work on plain arrays (true labels, predicted labels, speaker ids), so they can
be used on any predictions, not only a run folder's.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05  # significance level of the paired test
EXACT_LIMIT = 16  # up to 2**16 sign patterns the permutation test enumerates them all instead of sampling


def _codes(values: Sequence, categories: Sequence | None = None) -> tuple[np.ndarray, list]:
    values = np.asarray(values).astype(str)
    cats = sorted(set(values.tolist())) if categories is None else [str(c) for c in categories]
    index = {c: i for i, c in enumerate(cats)}
    return np.array([index[v] for v in values.tolist()], dtype=int), cats


def _speaker_counts(y_true, y_pred, speakers, labels=None) -> tuple[np.ndarray, np.ndarray, list]:
    """Per speaker and class: test utterances (support) and correct predictions (hits); shapes (S, C)."""
    y_true = np.asarray(y_true).astype(str)
    y_pred = np.asarray(y_pred).astype(str)
    if not (len(y_true) == len(y_pred) == len(speakers)):
        raise ValueError("y_true, y_pred and speakers must have the same length")
    labels = sorted(set(y_true.tolist())) if labels is None else [str(x) for x in labels]
    t, _ = _codes(y_true, labels)
    s, spk = _codes(speakers)
    support = np.zeros((len(spk), len(labels)))
    hits = np.zeros((len(spk), len(labels)))
    np.add.at(support, (s, t), 1)
    np.add.at(hits, (s, t), (y_true == y_pred).astype(float))
    return support, hits, spk


def _uar_from_counts(support: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """UAR (mean recall over the classes present) along the last axis; NaN where no class is present."""
    present = support > 0
    recall = np.divide(hits, support, out=np.zeros_like(hits, dtype=float), where=present)
    n = present.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, recall.sum(axis=-1) / np.maximum(n, 1), np.nan)


def uar(y_true: Sequence, y_pred: Sequence) -> float:
    """Unweighted average recall: the mean recall over the classes present in ``y_true``.

    Parameters
    ----------
    y_true, y_pred : sequence of labels
        True and predicted labels of the same utterances.

    Returns
    -------
    float
        UAR in [0, 1]; NaN for empty input.
    """
    speakers = np.zeros(len(y_true), dtype=int)
    if len(y_true) == 0:
        return float("nan")
    support, hits, _ = _speaker_counts(y_true, y_pred, speakers)
    return float(_uar_from_counts(support.sum(0), hits.sum(0)))


def speaker_bootstrap_ci(y_true: Sequence, y_pred: Sequence, speakers: Sequence, n_resamples: int = 1000,
                         seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """UAR with a percentile bootstrap interval over test speakers.

    Each resample draws as many speakers as there are, with replacement, and pools all utterances of the drawn
    speakers (a speaker drawn twice counts twice); UAR is computed on the pool. The interval is the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled UARs, widened if needed so that it
    always contains the point estimate.

    Parameters
    ----------
    y_true, y_pred : sequence of labels
        True and predicted labels of the test utterances (pooled over folds: each utterance once).
    speakers : sequence
        The speaker of each utterance.
    n_resamples : int
        Number of bootstrap resamples.
    seed : int
        Seed of the resampling; the same seed gives the same interval.
    level : float
        Confidence level, e.g. 0.95.

    Returns
    -------
    tuple of float
        ``(uar, low, high)``: UAR on all utterances and the interval's bounds, in [0, 1]. With a single speaker
        the interval collapses onto the point.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if len(y_true) == 0:
        return float("nan"), float("nan"), float("nan")
    support, hits, _ = _speaker_counts(y_true, y_pred, speakers)
    point = float(_uar_from_counts(support.sum(0), hits.sum(0)))
    n_spk = support.shape[0]
    if n_spk < 2:
        return point, point, point
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_spk, size=(n_resamples, n_spk))
    weights = np.zeros((n_resamples, n_spk))
    np.add.at(weights, (np.arange(n_resamples)[:, None], draws), 1.0)
    boot = _uar_from_counts(weights @ support, weights @ hits)
    boot = boot[~np.isnan(boot)]
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return point, float(min(low, point)), float(max(high, point))


def speaker_repeat_bootstrap_ci(y_true: Sequence, y_pred: Sequence, speakers: Sequence, repeats: Sequence,
                                n_resamples: int = 1000, seed: int = 0,
                                level: float = 0.95) -> tuple[float, float, float]:
    """Mean UAR over repeats with a percentile interval that covers test speakers and training seeds.

    Speakers and repeats are crossed (every repeat tests every speaker once), so each resample draws both at
    once, independently: as many speakers as there are, with replacement (weights shared by every repeat), and
    as many repeats as there are, with replacement; its value is the mean, over the drawn repeats, of the UAR
    pooled over the drawn speakers' utterances. This two-way ("pigeonhole", Owen 2007) bootstrap is somewhat
    conservative: each source's variance is counted in full. With one repeat it is :func:`speaker_bootstrap_ci`.

    Parameters
    ----------
    y_true, y_pred : sequence of labels
        True and predicted labels, one entry per (repeat, test utterance).
    speakers : sequence
        The speaker of each entry.
    repeats : sequence of int
        The repeat of each entry.
    n_resamples, seed, level :
        As in :func:`speaker_bootstrap_ci`.

    Returns
    -------
    tuple of float
        ``(mean pooled UAR over repeats, low, high)`` in [0, 1].
    """
    repeats = np.asarray(repeats)
    ids = sorted(set(repeats.tolist()))
    if len(ids) < 2:
        return speaker_bootstrap_ci(y_true, y_pred, speakers, n_resamples=n_resamples, seed=seed, level=level)
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    y_true = np.asarray(y_true).astype(str)
    y_pred = np.asarray(y_pred).astype(str)
    speakers = np.asarray(speakers).astype(str)
    labels = sorted(set(y_true.tolist()))
    spk = sorted(set(speakers.tolist()))
    s_index = {v: i for i, v in enumerate(spk)}
    support = np.zeros((len(ids), len(spk), len(labels)))
    hits = np.zeros_like(support)
    for k, r in enumerate(ids):
        at = repeats == r
        sup, hit, names = _speaker_counts(y_true[at], y_pred[at], speakers[at], labels)
        rows = [s_index[n] for n in names]
        support[k, rows], hits[k, rows] = sup, hit
    per_repeat = _uar_from_counts(support.sum(1), hits.sum(1))
    point = float(np.nanmean(per_repeat))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(spk), size=(n_resamples, len(spk)))
    weights = np.zeros((n_resamples, len(spk)))
    np.add.at(weights, (np.arange(n_resamples)[:, None], draws), 1.0)
    picks = rng.integers(0, len(ids), size=(n_resamples, len(ids)))
    boot_by_repeat = np.stack([_uar_from_counts(weights @ support[k], weights @ hits[k]) for k in range(len(ids))],
                              axis=1)  # (resamples, repeats)
    boot = np.nanmean(np.take_along_axis(boot_by_repeat, picks, axis=1), axis=1)
    boot = boot[~np.isnan(boot)]
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return point, float(min(low, point)), float(max(high, point))


@dataclass(frozen=True)
class PairedTest:
    """The outcome of a paired comparison of model A with model B on the same utterances."""

    uar_a: float
    uar_b: float
    diff: float  # uar_a - uar_b
    p_value: float
    n_speakers: int
    n_utterances: int
    exact: bool  # every sign pattern enumerated (otherwise sampled)
    min_p: float  # the smallest p-value this many speakers can give

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA

    @property
    def verdict(self) -> str:
        """``"better"``, ``"worse"`` (A relative to B) or ``"tie"`` (not significant at 5 %)."""
        if not self.significant:
            return "tie"
        return "better" if self.diff > 0 else "worse"


def paired_speaker_test(y_true: Sequence, pred_a: Sequence, pred_b: Sequence, speakers: Sequence,
                        n_resamples: int = 10000, seed: int = 0) -> PairedTest:
    """Paired permutation test of UAR(A) - UAR(B) over speakers (two-sided).

    Under the null hypothesis the two models are exchangeable within each speaker: swapping all of one speaker's
    predictions between A and B leaves the distribution of the difference unchanged. Pooled UAR is linear in
    each speaker's hits, so the difference under a swap pattern is ``sum_s sign_s * v_s`` with ``v_s`` the
    speaker's contribution to the observed difference; the p-value is the share of sign patterns whose
    |difference| reaches the observed one. With at most ``EXACT_LIMIT`` speakers every pattern is enumerated
    (exact test); otherwise ``n_resamples`` seeded random patterns are drawn (with the usual +1 correction).
    Identical predictions give a difference of 0 and p = 1.
    """
    y_true = np.asarray(y_true).astype(str)
    pred_a = np.asarray(pred_a).astype(str)
    pred_b = np.asarray(pred_b).astype(str)
    if not (len(y_true) == len(pred_a) == len(pred_b) == len(speakers)):
        raise ValueError("y_true, pred_a, pred_b and speakers must have the same length")
    labels = sorted(set(y_true.tolist()))
    support, hits_a, _ = _speaker_counts(y_true, pred_a, speakers, labels)
    _, hits_b, _ = _speaker_counts(y_true, pred_b, speakers, labels)
    total = support.sum(0)
    present = total > 0
    n_classes = max(int(present.sum()), 1)
    # Contribution of each speaker to UAR(A) - UAR(B).
    v = ((hits_a - hits_b)[:, present] / total[present]).sum(axis=1) / n_classes
    observed = float(v.sum())
    uar_a = float(_uar_from_counts(total, hits_a.sum(0)))
    uar_b = float(_uar_from_counts(total, hits_b.sum(0)))
    n_spk = len(v)
    tol = 1e-12
    if np.all(np.abs(v) < tol):
        p, exact = 1.0, n_spk <= EXACT_LIMIT
    elif n_spk <= EXACT_LIMIT:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n_spk)))
        stats = np.abs(signs @ v)
        p, exact = float(np.mean(stats >= abs(observed) - tol)), True
    else:
        rng = np.random.default_rng(seed)
        signs = rng.choice((1.0, -1.0), size=(n_resamples, n_spk))
        stats = np.abs(signs @ v)
        p, exact = float((1 + np.sum(stats >= abs(observed) - tol)) / (n_resamples + 1)), False
    min_p = 2.0 / 2 ** n_spk if n_spk <= EXACT_LIMIT else 1.0 / (n_resamples + 1)
    return PairedTest(uar_a=uar_a, uar_b=uar_b, diff=observed, p_value=min(p, 1.0), n_speakers=n_spk,
                      n_utterances=len(y_true), exact=exact, min_p=min(min_p, 1.0))


def per_speaker_uar(y_true: Sequence, y_pred: Sequence, speakers: Sequence) -> dict[str, tuple[float, int]]:
    """UAR of each speaker's utterances alone (classes absent for that speaker are left out).

    Returns
    -------
    dict
        ``{speaker: (uar, n_utterances)}``, speakers sorted as strings.
    """
    support, hits, spk = _speaker_counts(y_true, y_pred, speakers)
    scores = _uar_from_counts(support, hits)
    return {s: (float(scores[i]), int(support[i].sum())) for i, s in enumerate(spk)}
