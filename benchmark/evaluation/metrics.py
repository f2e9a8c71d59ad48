"""Scores: UAR (the SER standard), WA, macro-F1, per-class recall and confusion, and their aggregation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score


def fold_scores(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict:
    """Scores of one fold, computed by scikit-learn.

    UAR is the mean recall over the classes present in ``y_true`` (balanced accuracy, macro recall); WA is
    accuracy; macro-F1 averages F1 over the classes present in ``y_true`` or ``y_pred`` (an F1 of 0 for a class
    predicted but absent, or present but never predicted). Recall of a class absent from the fold is NaN.

    Parameters
    ----------
    y_true, y_pred : sequence of str
        The fold's true and predicted labels.
    labels : sequence of str
        Every label of the run, in the order of the confusion matrix and the recall dict.

    Returns
    -------
    dict
        ``uar``, ``wa``, ``f1``, ``recall`` (label -> recall or NaN), ``confusion`` (rows: true labels),
        ``chance_uar`` and ``chance_wa``.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(labels)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    present = [label for label, n in zip(labels, support, strict=True) if n > 0]
    scored = [label for label, n, m in zip(labels, support, predicted, strict=True) if n > 0 or m > 0]
    recall = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan)
    return {
        # macro recall over the classes present: balanced accuracy, without its warning about predicted
        # classes absent from y_true (those are simply not in the mean)
        "uar": float(recall_score(y_true, y_pred, labels=present, average="macro")),
        "wa": float(accuracy_score(y_true, y_pred)),
        "f1": float(f1_score(y_true, y_pred, labels=scored, average="macro", zero_division=0.0)),
        "recall": dict(zip(labels, recall.tolist(), strict=True)),
        "confusion": cm,
        "chance_uar": 1.0 / len(present),
        "chance_wa": float(support.max() / max(len(y_true), 1)),
    }


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single fold) ignoring NaN."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0
