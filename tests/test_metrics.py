"""fold_scores, now computed by scikit-learn, gives exactly what the hand-written version gave."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from benchmark.evaluation.metrics import fold_scores

LABELS = ["angry", "happy", "neutral", "sad", "fear"]


def _hand_written(y_true, y_pred, labels) -> dict:
    """The implementation before scikit-learn computed recall and F1 (main 8fa5930), kept as the reference."""
    from sklearn.metrics import confusion_matrix

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


def _cases():
    rng = np.random.default_rng(0)
    for case in range(300):
        n = int(rng.integers(1, 40))
        true_pool = LABELS[: int(rng.integers(1, 6))]  # some classes absent from the fold
        pred_pool = LABELS if case % 3 else true_pool  # predictions of absent classes, or not
        y_true = rng.choice(true_pool, n)
        y_pred = np.where(rng.random(n) < rng.random(), y_true, rng.choice(pred_pool, n))
        yield y_true, y_pred
    yield np.array(["sad"] * 5), np.array(["sad"] * 5)  # one class, all right
    yield np.array(["sad"] * 5), np.array(["happy"] * 5)  # one class, all wrong


@pytest.mark.parametrize("y_true, y_pred", list(_cases()))
def test_scikit_learn_gives_the_hand_written_scores(y_true, y_pred):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no UndefinedMetricWarning or other noise in the run's output
        new = fold_scores(y_true, y_pred, LABELS)
    old = _hand_written(y_true, y_pred, LABELS)
    for key in ("uar", "wa", "f1", "chance_uar", "chance_wa"):
        assert new[key] == pytest.approx(old[key], abs=1e-12), key
    np.testing.assert_array_equal(new["confusion"], old["confusion"])
    assert new["recall"].keys() == old["recall"].keys()
    np.testing.assert_allclose(list(new["recall"].values()), list(old["recall"].values()), atol=1e-12)


def test_uar_is_balanced_accuracy_and_an_absent_class_has_no_recall():
    y_true = ["angry", "angry", "sad", "sad", "sad", "happy"]
    y_pred = ["angry", "sad", "sad", "sad", "happy", "happy"]
    scores = fold_scores(y_true, y_pred, LABELS)
    assert scores["uar"] == pytest.approx(balanced_accuracy_score(y_true, y_pred)) == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    assert np.isnan(scores["recall"]["neutral"]) and scores["recall"]["angry"] == 0.5
    assert scores["wa"] == pytest.approx(4 / 6)
