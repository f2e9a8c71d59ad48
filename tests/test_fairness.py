"""Fairness statistics on constructed cases whose group gap is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.evaluation.fairness import (
    GroupColumnError,
    balance,
    check_group_columns,
    group_flags,
    group_gap_test,
    group_uar,
    recall_by_group,
)
from benchmark.reports.statistics import uar

LABELS = np.array(list("abcd"))


def constructed(accuracy_f: float, accuracy_m: float, speakers_per_group: int = 5, per_speaker: int = 40,
                seed: int = 0):
    """Speakers f0.. and m0..; each group's predictions are right with the given probability, else a wrong
    label, so each group's UAR is its accuracy (up to sampling)."""
    rng = np.random.default_rng(seed)
    speakers = np.array([f"{g}{i}" for g in "fm" for i in range(speakers_per_group) for _ in range(per_speaker)])
    groups = np.array([s[0].upper() for s in speakers])
    y = np.tile(np.repeat(LABELS, per_speaker // 4), 2 * speakers_per_group)
    right = rng.random(len(y)) < np.where(groups == "F", accuracy_f, accuracy_m)
    wrong = LABELS[(np.searchsorted(LABELS, y) + rng.integers(1, 4, len(y))) % 4]
    return y, np.where(right, y, wrong), speakers, groups


def test_group_uar_is_the_uar_of_each_groups_utterances_with_an_interval_around_it():
    y, pred, spk, g = constructed(0.9, 0.5)
    frame = group_uar(y, pred, spk, g, n_resamples=300).set_index("group")
    for group in ("F", "M"):
        mask = g == group
        assert frame.loc[group, "uar"] == pytest.approx(uar(y[mask], pred[mask]))
        assert frame.loc[group, "ci_low"] <= frame.loc[group, "uar"] <= frame.loc[group, "ci_high"]
        assert frame.loc[group, "n_speakers"] == 5 and frame.loc[group, "n_utterances"] == 200
    assert frame.loc["F", "uar"] == pytest.approx(0.9, abs=0.07)
    assert frame.loc["M", "uar"] == pytest.approx(0.5, abs=0.08)


def test_a_real_gap_is_found_significant_at_the_smallest_p_the_speakers_allow():
    y, pred, spk, g = constructed(0.95, 0.45)
    test = group_gap_test(y, pred, spk, g)
    assert test.best == "F" and test.worst == "M"
    assert test.gap == pytest.approx(uar(y[g == "F"], pred[g == "F"]) - uar(y[g == "M"], pred[g == "M"]))
    assert test.exact and test.n_speakers == 10
    # 252 ways to split 10 speakers 5/5, two of them (the observed and its mirror) give the largest gap
    assert test.min_p == pytest.approx(2 / 252)
    assert test.p_value == pytest.approx(2 / 252) and test.significant


def test_no_gap_is_not_significant_and_identical_groups_give_p_1():
    y, pred, spk, g = constructed(0.7, 0.7, seed=3)
    test = group_gap_test(y, pred, spk, g)
    assert not test.significant and test.p_value > 0.1
    y = np.tile(LABELS, 20)
    spk = np.repeat([f"s{i}" for i in range(8)], 10)
    same = group_gap_test(y, y, spk, np.where(np.isin(spk, ["s0", "s1", "s2", "s3"]), "A", "B"))
    assert same.gap == 0 and same.p_value == 1.0


def test_many_speakers_fall_back_to_seeded_sampled_permutations():
    y, pred, spk, g = constructed(0.9, 0.5, speakers_per_group=12, per_speaker=8)
    a = group_gap_test(y, pred, spk, g, n_permutations=500, seed=1)
    assert not a.exact and a.min_p == pytest.approx(1 / 501) and a.p_value == pytest.approx(1 / 501)
    assert a == group_gap_test(y, pred, spk, g, n_permutations=500, seed=1)


def test_three_speakers_a_group_can_never_be_significant_and_says_so():
    y, pred, spk, g = constructed(1.0, 0.25, speakers_per_group=3)
    test = group_gap_test(y, pred, spk, g)
    assert test.min_p == pytest.approx(2 / 20) and not test.significant


def test_recall_per_emotion_per_group():
    y, pred, spk, g = constructed(1.0, 0.5)
    frame = recall_by_group(y, pred, spk, g)
    assert set(frame["group"]) == {"F", "M"} and len(frame) == 8
    assert (frame[frame["group"] == "F"]["recall"] == 1.0).all()
    m = frame[frame["group"] == "M"]
    assert m["support"].sum() == 200 and m["recall"].mean() == pytest.approx(0.5, abs=0.08)


def test_missing_values_are_left_out_and_a_group_must_belong_to_the_speaker():
    y, pred, spk, g = constructed(0.9, 0.5)
    g = g.astype(object)
    g[spk == "f0"] = None
    frame = group_uar(y, pred, spk, g, n_resamples=100)
    assert frame.set_index("group").loc["F", "n_speakers"] == 4
    g[0] = "M"  # f0 now in M for one utterance, F (missing) elsewhere: still one group; make it two
    g[spk == "f1"] = "F"
    g[np.flatnonzero(spk == "f1")[0]] = "M"
    with pytest.raises(ValueError, match="speaker f1 is in two groups"):
        group_uar(y, pred, spk, g)


def test_group_columns_are_checked_against_the_corpus_in_one_line():
    table = pd.DataFrame({"speaker": ["a", "a", "b"], "emotion": ["x", "y", "x"], "gender": ["F", "F", "M"],
                          "age_band": ["20s", "30s", "20s"], "path": ["1", "2", "3"]})
    check_group_columns(table, ["gender"])
    with pytest.raises(GroupColumnError, match="--groups height: the corpus has no such column"):
        check_group_columns(table, ["height"])
    with pytest.raises(GroupColumnError, match="--groups age_band: speaker a is in two groups"):
        check_group_columns(table, ["age_band"])


def test_balance_counts_groups_and_emotions_and_tests_their_independence():
    table = pd.DataFrame({"speaker": [f"s{i // 10}" for i in range(40)],
                          "gender": ["F"] * 20 + ["M"] * 20,
                          "emotion": ["angry"] * 18 + ["sad"] * 2 + ["angry"] * 2 + ["sad"] * 18})
    b = balance(table, "gender")
    assert b["speakers"] == {"F": 2, "M": 2} and b["utterances"] == {"F": 20, "M": 20}
    assert b["by_emotion"]["F"] == {"angry": 18, "sad": 2}
    assert b["p_value"] < 0.001  # emotion depends on gender here: a gap could come from the data
    even = balance(table.assign(emotion=["angry", "sad"] * 20), "gender")
    assert even["p_value"] > 0.5


def test_the_leaderboard_flags_a_significant_gap_under_the_ranking_protocol(tmp_path):
    pd.DataFrame([
        {"features": "all", "model": "svm", "protocol": "speaker", "speaker_norm": False, "column": "gender",
         "gap": 0.2, "p_value": 0.008, "significant": True},
        {"features": "all", "model": "dnn", "protocol": "speaker", "speaker_norm": False, "column": "gender",
         "gap": 0.05, "p_value": 0.4, "significant": False},
        {"features": "all", "model": "dnn", "protocol": "stratified", "speaker_norm": False, "column": "gender",
         "gap": 0.3, "p_value": 0.001, "significant": True},
    ]).to_csv(tmp_path / "fairness_tests.csv", index=False)
    rows = [{"features": "all", "model": m, "speaker_norm": False, "rank_by": "speaker", "flags": f}
            for m, f in (("svm", ""), ("dnn", "few-spk"))]
    group_flags(rows, tmp_path)
    assert rows[0]["flags"] == "group-gap(gender)"
    assert rows[1]["flags"] == "few-spk"  # its significant gap is under another protocol

