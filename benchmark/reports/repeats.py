"""What a leaderboard says about its repeats (``--repeats``): seed spread, rank stability, ``seed-sensitive``.

A repeat is one complete evaluation of every model (all folds) with one training seed (and, under
``--repeat-folds``, one fold draw). A row's score is the mean over repeats of its mean UAR over folds; its seed SD
is the standard deviation (ddof=1) of that per-repeat score; its rank stability is the share of repeats in
which, ranked by their per-repeat scores alone, the rows put it at the rank the table prints.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from benchmark.evaluation.metrics import mean_std

SEED_FLAG = "seed-sensitive"


def n_repeats(folds: pd.DataFrame) -> int:
    """How many repeats a run folder's ``folds.csv`` holds (1 for folders written before ``--repeats``)."""
    return int(folds["repeat"].nunique()) if "repeat" in folds and len(folds) else 1


def summarise_repeats(ok: pd.DataFrame, metrics=("uar", "wa", "f1")) -> dict:
    """Mean over repeats of each metric's mean over folds, and the mean within-repeat SD over folds.

    Parameters
    ----------
    ok : DataFrame
        The scored fold rows of one table entry (columns ``repeat`` and the metrics).
    metrics : sequence of str
        Metric columns.

    Returns
    -------
    dict
        ``{metric}_mean``, ``{metric}_std`` (SD over folds, averaged over repeats), ``{metric}_seed_sd`` (SD of
        the per-repeat means, ddof=1; 0 with one repeat) and ``n_repeats``.
    """
    out: dict = {"n_repeats": int(ok["repeat"].nunique())}
    for metric in metrics:
        per_repeat = [mean_std(g[metric]) for _, g in ok.groupby("repeat", sort=True)]
        means = np.array([m for m, _ in per_repeat], dtype=float)
        stds = np.array([s for _, s in per_repeat], dtype=float)
        out[f"{metric}_mean"] = float(np.nanmean(means)) if len(means) else math.nan
        out[f"{metric}_std"] = float(np.nanmean(stds)) if len(stds) else math.nan
        out[f"{metric}_seed_sd"] = float(np.std(means, ddof=1)) if len(means) > 1 else 0.0
    return out


def repeat_scores(folds: pd.DataFrame, rows: list[dict]) -> np.ndarray:
    """The ranked score of every leaderboard row in every repeat: an array (rows, repeats), NaN where missing."""
    if not rows:
        return np.zeros((0, 0))
    rank_by = rows[0]["rank_by"]
    main = folds[(folds["table"] == "leaderboard") & (folds["protocol"] == rank_by) & (folds["status"] == "ok")]
    if "train_corpus" in main and "test_corpus" in main and rank_by == "cross-corpus":
        main = main[main["train_corpus"] != main["test_corpus"]]  # the matrix's diagonal is never ranked
    repeats = sorted(folds["repeat"].unique().tolist()) if "repeat" in folds else [0]
    means = main.groupby(["features", "model", "speaker_norm", "repeat"])["uar"].mean()
    scores = np.full((len(rows), len(repeats)), np.nan)
    for i, row in enumerate(rows):
        for j, r in enumerate(repeats):
            scores[i, j] = means.get((row["features"], row["model"], bool(row["speaker_norm"]), r), np.nan)
    return scores


def rank_stability(scores: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Share of repeats in which each row, ranked by that repeat's scores alone, holds its printed rank.

    Parameters
    ----------
    scores : array, shape (rows, repeats)
        Each row's score in each repeat (higher is better); NaN ranks last.
    ranks : array, shape (rows,)
        The printed ranks, 1 = best. Rows whose scores tie in a repeat keep their printed order there.

    Returns
    -------
    array, shape (rows,)
        Values in [0, 1].
    """
    scores = np.asarray(scores, dtype=float)
    ranks = np.asarray(ranks)
    if scores.size == 0:
        return np.zeros(len(ranks))
    held = np.zeros(len(ranks))
    for j in range(scores.shape[1]):
        column = np.where(np.isnan(scores[:, j]), -np.inf, scores[:, j])
        order = np.lexsort((ranks, -column))  # best first; a tie keeps the printed order
        repeat_rank = np.empty(len(ranks), dtype=int)
        repeat_rank[order] = np.arange(1, len(ranks) + 1)
        held += repeat_rank == ranks
    return held / scores.shape[1]


def seed_sensitive(scores: list[float], seed_sds: list[float]) -> list[bool]:
    """Rows (in printed order) whose seed SD exceeds the distance to the nearer neighbour in the table.

    One run of such a model can land on either side of its neighbour: its place is a seed lottery.
    """
    flags = []
    for i, (score, sd) in enumerate(zip(scores, seed_sds, strict=True)):
        gaps = [abs(score - scores[k]) for k in (i - 1, i + 1) if 0 <= k < len(scores)
                and not math.isnan(scores[k]) and not math.isinf(scores[k])]
        flags.append(bool(gaps) and not math.isnan(sd) and sd > 0 and sd > min(gaps))
    return flags


def annotate_repeats(rows: list[dict], folds: pd.DataFrame) -> None:
    """Add ``n_repeats``, ``seed_sd`` (points of UAR), ``rank_stability`` and the ``seed-sensitive`` flag to the
    leaderboard rows (in place). With one repeat only ``n_repeats`` is set."""
    count = n_repeats(folds)
    for row in rows:
        row["n_repeats"] = count
    if count < 2 or not rows:
        return
    scores = repeat_scores(folds, rows)
    stability = rank_stability(scores, np.array([r["rank"] for r in rows]))
    for i, row in enumerate(rows):
        present = scores[i][~np.isnan(scores[i])]
        row["seed_sd"] = 100 * float(np.std(present, ddof=1)) if len(present) > 1 else math.nan
        row["rank_stability"] = float(stability[i])
    printed = [100 * r["score"] if not math.isinf(r["score"]) else math.nan for r in rows]
    for row, flag in zip(rows, seed_sensitive(printed, [r["seed_sd"] for r in rows]), strict=True):
        if flag:
            row["flags"] = f"{row['flags']} {SEED_FLAG}".strip()
