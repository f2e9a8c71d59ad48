"""Leaky pipelines: each is exactly the mistake it names, inflates, and its in-fold twin never reads test rows."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from benchmark.evaluation.leaks import LEAKS, Augmented, LeakError, build_variant, resolve_leaks
from benchmark.evaluation.protocols import make_folds
from benchmark.reports.statistics import uar
from benchmark.run.fitting import FitSpec, run_fit

EMOTIONS = ("angry", "happy", "sad", "neutral")


def corpus(seed=0, speakers=8, texts=4, takes=2, imbalance=False):
    """Rows with an emotion effect, a large speaker effect and a sentence effect, as real corpora have."""
    rng = np.random.default_rng(seed)
    rows, X = [], []
    emo = rng.normal(size=(len(EMOTIONS), 12))
    spk = {s: rng.normal(scale=2.0, size=12) for s in range(speakers)}
    spk_emo = {(s, e): rng.normal(scale=1.0, size=12) for s in range(speakers) for e in range(len(EMOTIONS))}
    txt = {t: rng.normal(scale=1.0, size=12) for t in range(texts)}
    for s in range(speakers):
        for e, emotion in enumerate(EMOTIONS):
            for t in range(texts):
                for k in range(takes if not (imbalance and e > 0) else 1):
                    if imbalance and e == 3 and t % 2:
                        continue
                    rows.append({"path": f"s{s}_{emotion}_{t}_{k}.wav", "speaker": f"sp{s}", "text": f"t{t}",
                                 "emotion": emotion, "corpus": "toy"})
                    X.append(emo[e] + spk[s] + spk_emo[(s, e)] + txt[t] + rng.normal(scale=0.8, size=12))
    return pd.DataFrame(rows), np.asarray(X, dtype=np.float32)


def all_folds(table, n_folds=4, seed=0):
    return {p: make_folds(p, table, n_folds, seed) for p in ("speaker", "stratified", "speaker+text")}


def score(variant, model="svm", params=(), tune=False):
    """Pooled UAR of a variant over its tested rows (the first candidate, or the best on test under tune-on-test)."""
    preds, truth = [], []
    for fold in variant.folds:
        spec = FitSpec(model, tuple(params), 0, 1, (), tune)
        record = run_fit(spec, fold.X, fold.y, fold.groups, fold.train, fold.test, fold.dev)
        assert record.status == "ok", record.error
        preds += list(record.predictions)
        truth += list(fold.y[fold.test])
    return uar(truth, preds)


def build(name, table, X, leaks=(), tools=(), augmented=None, base=None, seed=0):
    y, g = table["emotion"].to_numpy(), table["speaker"].to_numpy()
    return build_variant(name, leaks, tools, all_folds(table), X, y, g, seed, augmented, base)


def copies_of(X, seed=1, scale=0.3):
    """Augmented copies as feature rows: each clip's copy lies close to it, as a noise or pitch copy does."""
    rng = np.random.default_rng(seed)
    return Augmented((X + rng.normal(scale=scale, size=X.shape)).astype(np.float32), np.arange(len(X)))


def test_resolve_leaks_all_and_unknown():
    assert resolve_leaks(["all"]) == list(LEAKS) and len(LEAKS) == 9
    assert resolve_leaks(["test-in-train", "speakers"]) == ["speakers", "test-in-train"]
    with pytest.raises(LeakError, match="--leaks scale-on-everything: unknown leak"):
        resolve_leaks(["scale-on-everything"])


def test_speakers_leak_is_the_random_split_and_inflates():
    table, X = corpus()
    honest, leak = build("honest", table, X), build("speakers", table, X, ("speakers",))
    spk = table["speaker"].to_numpy()
    assert all(set(spk[f.test]).isdisjoint(spk[f.train]) for f in honest.folds)
    assert all(set(spk[f.test]) <= set(spk[f.train]) for f in leak.folds)
    assert score(leak) > score(honest) + 0.05


def test_sentences_leak_shares_sentences_not_speakers_and_inflates():
    inflation = []
    for seed in (0, 1, 2):  # one toy corpus of 8 speakers is too small to show a few points on its own
        table, X = corpus(seed=seed)
        leak = build("sentences", table, X, ("sentences",))
        twin = build("speaker+text", table, X, base="speaker+text")
        spk, txt = table["speaker"].to_numpy(), table["text"].to_numpy()
        for a, b in zip(leak.folds, twin.folds, strict=True):
            assert np.array_equal(a.test, b.test)  # scored on the same utterances
            assert set(spk[a.test]).isdisjoint(spk[a.train])
            assert set(txt[a.test]) <= set(txt[a.train]) and set(txt[b.test]).isdisjoint(txt[b.train])
        inflation.append(score(leak) - score(twin))
    assert np.mean(inflation) > 0.02, inflation


def test_scale_on_all_fits_on_every_row_and_its_twin_on_training_rows_only():
    table, X = corpus()
    leak = build("scale-on-all", table, X, ("scale-on-all",))
    twin = build("in-fold scale", table, X, tools=("scale",))
    for fold in leak.folds:
        np.testing.assert_allclose(fold.fitted["scaler"].mean_, X.astype(np.float64).mean(axis=0), rtol=1e-5)
    for fold in twin.folds:
        np.testing.assert_allclose(fold.fitted["scaler"].mean_, X[fold.train].astype(np.float64).mean(axis=0),
                                   rtol=1e-5)
    # poisoning: the twin's training rows do not move when the test rows change
    poisoned = X.copy()
    fold0 = twin.folds[0]
    poisoned[fold0.test] = 1e3
    again = build("in-fold scale", table, poisoned, tools=("scale",)).folds[0]
    np.testing.assert_allclose(again.X[fold0.train], fold0.X[fold0.train], rtol=1e-5)
    moved = build("scale-on-all", table, poisoned, ("scale-on-all",)).folds[0]
    assert not np.allclose(moved.X[fold0.train], leak.folds[0].X[fold0.train])


def test_select_on_all_ranks_features_on_all_labels_and_its_twin_does_not():
    from sklearn.feature_selection import f_classif

    table, X = corpus()
    y = table["emotion"].to_numpy()
    leak = build("select-on-all", table, X, ("select-on-all",))
    f_all, _ = f_classif(X, y)
    np.testing.assert_allclose(leak.folds[0].fitted["selector"].scores_, f_all, rtol=1e-4)
    twin = build("in-fold select", table, X, tools=("select",)).folds[0]
    f_train, _ = f_classif(X[twin.train], y[twin.train])
    np.testing.assert_allclose(twin.fitted["selector"].scores_, f_train, rtol=1e-4)


def test_augment_before_split_trains_on_copies_of_test_clips_and_inflates():
    table, X = corpus()
    augmented = copies_of(X)
    leak = build("augment-before-split", table, X, ("augment-before-split",), augmented=augmented)
    twin = build("in-fold augment", table, X, tools=("augment",), augmented=augmented)
    for a, b in zip(leak.folds, twin.folds, strict=True):
        source = a.fitted["source"]
        assert set(source[a.train]) >= set(a.test)  # a copy of every test clip trains the model
        assert set(b.fitted["source"][b.train]).isdisjoint(b.test)  # the twin: copies of training clips only
        assert len(b.train) == 2 * np.sum(b.train < len(X))  # each training clip and its one copy
    assert score(leak) > score(twin) + 0.05


def test_oversample_before_split_interpolates_from_test_rows_and_twin_never_reads_them():
    table, X = corpus(imbalance=True)
    leak = build("oversample-before-split", table, X, ("oversample-before-split",))
    twin = build("in-fold oversample", table, X, tools=("oversample",))
    assert len(leak.folds[0].fitted["synthetic"]) > 0
    assert np.array_equal(leak.folds[0].fitted["oversample_rows"], np.arange(len(X)))
    # poisoning the test rows: the twin's synthetic rows stay, the leak's move
    fold0 = twin.folds[0]
    poisoned = X.copy()
    poisoned[fold0.test] += 50.0
    again = build("in-fold oversample", table, poisoned, tools=("oversample",)).folds[0]
    np.testing.assert_array_equal(again.X[again.fitted["synthetic"]], fold0.X[fold0.fitted["synthetic"]])
    moved = build("oversample-before-split", table, poisoned, ("oversample-before-split",)).folds[0]
    assert not np.array_equal(moved.X[moved.fitted["synthetic"]], leak.folds[0].X[leak.folds[0].fitted["synthetic"]])
    assert score(leak) > score(twin)


def test_test_in_train_and_epoch_on_test_are_the_named_mistakes():
    table, X = corpus()
    leak = build("test-in-train", table, X, ("test-in-train",))
    assert all(set(f.test) <= set(f.train) for f in leak.folds)
    assert score(leak) > score(build("honest", table, X)) + 0.2
    epoch = build("epoch-on-test", table, X, ("epoch-on-test",))
    assert all(np.array_equal(f.dev, f.test) for f in epoch.folds)
    assert epoch.tune == "" and build("tune-on-test", table, X, ("tune-on-test",)).tune == "test"


def test_decomposition_adds_up_as_printed(tmp_path):
    from benchmark.reports.leakage import render, waterfall

    rows = [dict(model="m", features="f", row="honest", kind="reference", leaky=False, leaks="", tools="",
                 reference="", uar=41.66, ci_low=30.0, ci_high=50.0, reference_uar=np.nan, inflation=np.nan,
                 p_value=np.nan, n_test=10, n_speakers=4, status="ok", error="", what="")]
    for name, infl in (("speakers", 15.94), ("sentences", 11.9), ("test-in-train", 46.04)):
        rows.append(dict(rows[0], row=name, kind="leak", leaky=True, leaks=name, reference="honest",
                         uar=41.66 + infl, inflation=infl, p_value=0.03))
    rows.append(dict(rows[0], row="all together", kind="leak", leaky=True, leaks="speakers+test-in-train",
                     reference="honest", uar=84.94, inflation=43.28, p_value=0.03))
    pd.DataFrame(rows).to_csv(tmp_path / "leakage.csv", index=False)
    steps = waterfall(pd.read_csv(tmp_path / "leakage.csv"))
    assert [s for s, _ in steps] == ["honest", "speakers", "test-in-train", "interaction", "all together"]
    text = render(tmp_path, "md")
    line = next(x for x in text.splitlines() if x.startswith("m on f:"))
    left, right = line.removeprefix("m on f: ").split(" = ")
    first, *rest = re.split(r" (?=[+-] )", left)
    total = float(first.rsplit(" ", 1)[1]) + sum(float(t[0] + t.rsplit(" ", 1)[1]) for t in rest)
    assert len(rest) == 3 and round(total, 1) == float(right.rsplit(" ", 1)[1]) == 84.9
    assert "speakers (LEAK)" in text and "honest (LEAK)" not in text


def test_run_leaks_writes_the_marked_table_and_reuses_the_fit_cache(tmp_path, small_corpus_dir, cache):
    from benchmark.run.engine import run_benchmark
    from tests.helpers import engine_config

    cfg = engine_config(tmp_path, small_corpus_dir, cache, features=("mfcc",), models=("logreg",), quiet=False,
                        model_params={}, jobs=1, leaks=("speakers", "test-in-train"))
    first: list[str] = []
    result = run_benchmark(cfg, log=first.append)
    frame = pd.read_csv(result.run_dir / "leakage.csv")
    by = frame.set_index("row")
    assert by.loc["speakers", "leaky"] and by.loc["test-in-train", "leaky"] and not by.loc["honest", "leaky"]
    assert by.loc["speakers", "inflation"] > 0 and by.loc["test-in-train", "inflation"] > 10
    assert by.loc["speakers", "inflation"] == pytest.approx(by.loc["speakers", "uar"] - by.loc["honest", "uar"])
    # the honest row is the leaderboard's own fits, and the leaderboard holds no leaky row
    board = pd.read_csv(result.run_dir / "leaderboard.csv")
    assert len(board) == 1 and board["features"].iloc[0] == "mfcc"
    assert any("leaks: logreg: 3 fit(s) from the cache" in x or "3 from the cache" in x for x in first)
    assert "speakers (LEAK)" in (result.run_dir / "leakage.md").read_text()
    second: list[str] = []
    again = run_benchmark(cfg, log=second.append)
    assert any(x.startswith("leaks: logreg: 0 fit(s) run") for x in second), second
    assert pd.read_csv(again.run_dir / "leakage.csv").equals(frame)


def test_claims_name_each_seeds_leaks_with_a_source():
    from benchmark.seeds.claims import load_claims
    from benchmark.seeds.decompose import system_leaks

    claims = load_claims()
    leaks = system_leaks(claims["recipe"])
    assert leaks["seed001_gru"] == ("speakers", "epoch-on-test", "test-in-train")
    assert leaks["seed003_dnn"] == ()  # its README names no split: no leak is invented
    for row in claims.itertuples():
        assert all(x in LEAKS for x in leaks[row.recipe])
        assert row.leak_sources, row.recipe  # every entry says where it comes from


def test_system_plan_removes_each_leak_in_turn_and_the_chain_prints(tmp_path):
    import json

    from benchmark.run.leakrun import WITH_LEAKS, plan_system
    from benchmark.seeds.decompose import claims_leaks_table, render_claims_leaks

    table, X = corpus()
    y, g = table["emotion"].to_numpy(), table["speaker"].to_numpy()
    variants = plan_system(("speakers", "test-in-train"), all_folds(table), X, y, g, 0, None)
    assert set(variants) == {"honest", WITH_LEAKS, "without speakers", "without test-in-train"}
    assert variants["without speakers"].leaks == ("test-in-train",)
    # the printed chain from a leakage.csv of system rows
    base = dict(model="seed001_gru", features="f", kind="system", tools="", ci_low=1.0, ci_high=2.0,
                reference_uar=np.nan, inflation=np.nan, n_test=10, n_speakers=2, status="ok", error="", what="")
    rows = [dict(base, row="honest", leaky=False, leaks="", reference="", uar=50.0, acc=52.0, p_value=np.nan),
            dict(base, row=WITH_LEAKS, leaky=True, leaks="speakers+test-in-train", reference="honest", uar=95.0,
                 acc=96.0, p_value=0.01),
            dict(base, row="without speakers", leaky=True, leaks="test-in-train", reference=WITH_LEAKS, uar=90.0,
                 acc=91.0, p_value=0.2),
            dict(base, row="without test-in-train", leaky=True, leaks="speakers", reference=WITH_LEAKS, uar=70.0,
                 acc=71.0, p_value=0.02)]
    pd.DataFrame(rows).to_csv(tmp_path / "leakage.csv", index=False)
    (tmp_path / "run.json").write_text(json.dumps({"dataset": "tess"}))
    chain = claims_leaks_table(tmp_path)
    steps = list(chain["step"])
    assert steps[0] == "claim" and steps[1].startswith(WITH_LEAKS) and steps[-2] == "honest SI"
    by = chain.set_index("step")
    assert by.loc["- test-in-train (removed)", "change"] == pytest.approx(-25.0)
    assert by.loc["honest SI", "change"] == pytest.approx(-44.0)
    assert by.loc["unexplained (claim - with its leaks)", "acc"] == pytest.approx(100.0 - 96.0)  # TESS claim
    assert "unexplained" in render_claims_leaks(chain)
