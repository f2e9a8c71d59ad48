"""The degenerate-prediction check: a fit that answers (nearly) one class, or the same probabilities, for all.

Such a fit scores exactly chance UAR (1 / number of classes) with no error anywhere, and reads like a finding
("this corpus teaches nothing about that one") when it is a failure of the model on inputs it cannot judge
(an RBF kernel that is zero for every test clip, a linear model whose logits one exploding column decides).
Every fit is checked and a degenerate fold is flagged in every table and in the report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["DOMINANT_SHARE", "MARGIN", "MIN_PROBA_SPREAD", "MIN_ROWS", "degenerate_reason"]

DOMINANT_SHARE = 0.9  # one predicted class covering at least this share of the test clips ...
MARGIN = 0.25  # ... and at least this much more than the test fold's most frequent true class
MIN_PROBA_SPREAD = 0.01  # mean over classes of the standard deviation of a class's probability across clips
MIN_ROWS = 10  # fewer test clips say too little either way


def degenerate_reason(y_true: Sequence[str], y_pred: Sequence[str], proba: np.ndarray | None = None) -> str:
    """Why a fold's predictions are degenerate, or ``""`` when they are not.

    Parameters
    ----------
    y_true, y_pred : sequences of str
        The test fold's true and predicted labels, one per clip.
    proba : ndarray of shape (n_clips, n_classes), optional
        The predicted class probabilities, when the model gives them.

    Returns
    -------
    str
        ``""``, or a one-line reason: the predictions collapse onto one class (its share of the test clips at
        least ``DOMINANT_SHARE`` and ``MARGIN`` above the most frequent true class's share, so a fold that
        really is mostly one class is not flagged), or the probabilities barely vary between clips (mean
        standard deviation per class below ``MIN_PROBA_SPREAD``). A fold with fewer than ``MIN_ROWS`` clips or
        a single true class is never flagged.

    Examples
    --------
    >>> truth = ["angry", "sad", "happy", "neutral"] * 5
    >>> degenerate_reason(truth, ["angry"] * 20)
    'predicts angry for 100% of 20 test clips (the most frequent true class is 25%)'
    >>> degenerate_reason(truth, truth)
    ''
    """
    y_true, y_pred = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    n = len(y_true)
    if n < MIN_ROWS or len(set(y_true.tolist())) < 2:
        return ""
    labels, counts = np.unique(y_pred, return_counts=True)
    share = counts.max() / n
    true_share = np.unique(y_true, return_counts=True)[1].max() / n
    if share >= DOMINANT_SHARE and share >= true_share + MARGIN:
        return (f"predicts {labels[counts.argmax()]} for {100 * share:.0f}% of {n} test clips (the most frequent "
                f"true class is {100 * true_share:.0f}%)")
    if proba is not None and len(proba) == n and proba.ndim == 2 and proba.shape[1] > 1:
        spread = float(np.std(np.asarray(proba, dtype=float), axis=0).mean())
        if spread < MIN_PROBA_SPREAD:
            return (f"probabilities barely vary between the {n} test clips (mean std per class {spread:.4f}, "
                    f"below {MIN_PROBA_SPREAD})")
    return ""
