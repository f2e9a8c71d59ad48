"""Scores: UAR (the SER standard), WA, macro-F1, per-class recall and confusion, and their aggregation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import confusion_matrix


def fold_scores(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict:
    """Scores of one fold.

    UAR is the mean recall over the classes present in ``y_true`` (balanced accuracy); WA is accuracy;
    macro-F1 averages F1 over the classes present in ``y_true`` or ``y_pred``. Recall of a class absent from
    the fold is NaN.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(labels)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    support, predicted, hits = cm.sum(axis=1), cm.sum(axis=0), np.diag(cm)
    present = support > 0
    recall = np.where(present, hits / np.maximum(support, 1), np.nan)
    precision = np.where(predicted > 0, hits / np.maximum(predicted, 1), 0.0)
    f1 = np.where(precision + np.nan_to_num(recall) > 0,
                  2 * precision * np.nan_to_num(recall) / np.maximum(precision + np.nan_to_num(recall), 1e-12), 0.0)
    scored = present | (predicted > 0)
    return {
        "uar": float(np.nanmean(recall[present])),
        "wa": float(hits.sum() / max(len(y_true), 1)),
        "f1": float(f1[scored].mean()),
        "recall": dict(zip(labels, recall.tolist(), strict=True)),
        "confusion": cm,
        "chance_uar": 1.0 / int(present.sum()),
        "chance_wa": float(support.max() / max(len(y_true), 1)),
    }


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single fold) ignoring NaN."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0
