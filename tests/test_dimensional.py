"""The dimensional task: CCC against a reference, the regressors, training-fold scaling, the run and its exports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmark.corpora import CorpusError
from benchmark.evaluation.regression import (
    ccc,
    paired_ccc_test,
    pearson,
    regression_scores,
    speaker_bootstrap_ccc,
)
from models.regression import REGRESSORS, make_regressor
from tests.helpers import loud_manifest, write_tone


def reference_ccc(x, y):
    """Lin (1989) through an independent route: rho_c = 2 r s_x s_y / (s_x^2 + s_y^2 + (mean_x - mean_y)^2)."""
    r = stats.pearsonr(x, y)[0]
    sx, sy = np.std(x), np.std(y)
    return 2 * r * sx * sy / (sx**2 + sy**2 + (np.mean(x) - np.mean(y)) ** 2)


def test_ccc_on_known_arrays():
    x = np.array([1.0, 2, 3, 4, 5])
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(x, -x + 6) == pytest.approx(-1.0)
    # by hand: means 3 and 6, variances 2 and 8, covariance 4 -> 2*4 / (2 + 8 + 9) = 8/19
    assert ccc(x, 2 * x) == pytest.approx(8 / 19)
    assert ccc(x, np.full(5, 3.0)) == 0.0  # a constant scores 0 whatever its value
    assert np.isnan(ccc(np.full(5, 3.0), np.full(5, 3.0)))  # no variation to agree on: undefined, not perfect
    assert ccc(x, x + 1) < pearson(x, x + 1) == pytest.approx(1.0)  # a bias costs CCC, not r
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.normal(size=50)
        b = 0.6 * a + rng.normal(scale=0.5, size=50) + rng.normal()
        assert ccc(a, b) == pytest.approx(reference_ccc(a, b), abs=1e-12)
        assert pearson(a, b) == pytest.approx(stats.pearsonr(a, b)[0], abs=1e-12)


def test_regression_scores_per_target_and_mean():
    true = np.array([[1.0, 5.0], [2.0, 4.0], [3.0, 3.0], [4.0, 1.0]])
    pred = np.array([[1.0, 3.0], [2.0, 3.0], [3.0, 3.0], [4.0, 3.0]])
    s = regression_scores(true, pred, ["arousal", "valence"])
    assert s["ccc_arousal"] == pytest.approx(1.0) and s["ccc_valence"] == 0.0
    assert s["ccc_mean"] == pytest.approx(0.5)
    assert s["rmse_valence"] == pytest.approx(np.sqrt((4 + 1 + 0 + 4) / 4))
    assert s["mae_arousal"] == 0.0


def test_speaker_bootstrap_and_paired_test():
    rng = np.random.default_rng(1)
    n, speakers = 200, np.repeat([f"s{i}" for i in range(10)], 20)
    true = rng.normal(size=(n, 2))
    good = true + rng.normal(scale=0.3, size=(n, 2))
    poor = true + rng.normal(scale=1.5, size=(n, 2))
    point, low, high = speaker_bootstrap_ccc(true, good, speakers, 300, seed=0)
    assert low < point < high and point > 0.8
    assert speaker_bootstrap_ccc(true, good, speakers, 300, seed=0) == (point, low, high)
    flat = np.ones((n, 1))  # no variation to agree on: undefined point and interval, no warning
    assert all(np.isnan(v) for v in speaker_bootstrap_ccc(flat, flat, speakers, 100))
    same = paired_ccc_test(true, good, good, speakers, 300)
    assert same["difference"] == 0.0 and same["p"] == 1.0
    better = paired_ccc_test(true, good, poor, speakers, 300)
    assert better["difference"] > 0.3 and better["low"] > 0 and better["p"] < 0.01


@pytest.mark.parametrize("name", ["ridge", "svr", "xgboost"])
def test_regressor_learns_a_generated_target_far_above_a_constant(name):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(160, 6))
    Y = np.column_stack([3 + 2 * X[:, 0] + 0.5 * X[:, 1], 1 - X[:, 2]]) + rng.normal(scale=0.2, size=(160, 2))
    model = make_regressor(name, n_estimators=60) if name == "xgboost" else make_regressor(name)
    model.fit(X[:120], Y[:120])
    pred = model.predict(X[120:])
    assert pred.shape == (40, 2)
    scores = regression_scores(Y[120:], pred, ["a", "b"])
    assert scores["ccc_mean"] > 0.8
    constant = regression_scores(Y[120:], np.tile(Y[:120].mean(axis=0), (40, 1)), ["a", "b"])
    assert constant["ccc_mean"] == 0.0


def test_target_and_feature_scaling_fitted_on_training_rows_only():
    from benchmark.run.dimensional import fit_regression

    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 4))
    Y = np.column_stack([X[:, 0] * 2 + 5, X[:, 1]])
    speakers = np.repeat(np.arange(6).astype(str), 10)
    train, test = np.arange(40), np.arange(40, 60)
    clean = fit_regression("ridge", {}, 0, X, Y, speakers, train, test, None)["predictions"]
    poisoned_y = Y.copy()
    poisoned_y[test] = 1e6  # test targets never reach the scaler or the model
    assert np.array_equal(fit_regression("ridge", {}, 0, X, poisoned_y, speakers, train, test, None)["predictions"],
                          clean)
    poisoned_x = X.copy()
    poisoned_x[test[0]] = 1e6  # a wild test row changes its own prediction only: no scaler saw it
    again = fit_regression("ridge", {}, 0, poisoned_x, Y, speakers, train, test, None)["predictions"]
    assert np.array_equal(again[1:], clean[1:]) and not np.array_equal(again[0], clean[0])
    model = make_regressor("svr").fit(X[train], Y[train])
    assert np.allclose(model.target_scaler_.mean_, Y[train].mean(axis=0))


def test_dnn_regression_head_fits_and_stops_on_development_rows():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 5)).astype(np.float32)
    Y = np.column_stack([X[:, 0], -X[:, 1]])
    model = make_regressor("dnn", hidden=(16,), max_epochs=4, patience=2, batch_size=16)
    model.fit(X[:60], Y[:60], groups=np.repeat(list("abcdef"), 10), validation=(X[60:70], Y[60:70]))
    assert model.predict(X[70:]).shape == (10, 2)
    assert 1 <= model.n_epochs_ <= 4 and "val_loss" in model.history_
    with pytest.raises(Exception, match="choose ccc or mse"):
        make_regressor("dnn", loss="mae", max_epochs=1).fit(X[:20], Y[:20])
    assert set(REGRESSORS) >= {"svr", "ridge", "xgboost", "dnn"}


# --------------------------------------------------------------------------------------------------------------
# A generated corpus whose target has a known relation to the audio: arousal is each file's gain in dB.


def test_dimensional_run_end_to_end_and_its_exports(tmp_path):
    from benchmark.run.config import RunConfig
    from benchmark.run.dimensional import run_dimensional

    manifest = loud_manifest(tmp_path / "corpus")
    config = RunConfig(dataset="manifest", data_dir=str(manifest), features=("rms",), models=("ridge", "svr"),
                       protocols=("stratified", "speaker"), folds=5, out=str(tmp_path / "out"), quiet=True,
                       jobs=1, bootstrap_resamples=200, cache_dir=str(tmp_path / "cache"))
    result = run_dimensional(config, ["arousal", "valence"])
    board = result.leaderboard
    ranked = board[board["rank"] != ""]
    assert set(ranked["protocol"]) == {"speaker"} and list(ranked["rank"]) == ["1", "2"]
    assert (ranked["ccc_mean"].diff().dropna() <= 0).all()  # ranked by mean CCC
    best = ranked.iloc[0]
    assert best["ccc_arousal"] > 0.9  # loudness is in the rms features
    assert abs(best["ccc_valence"]) < 0.5  # noise is not learned
    assert best["ccc_low"] <= best["ccc_pooled"] <= best["ccc_high"]
    gap = board[(board["protocol"] == "speaker") & (board["model"] == best["model"])]["gap_to_stratified"].iloc[0]
    strat = board[(board["protocol"] == "stratified") & (board["model"] == best["model"])]["ccc_mean"].iloc[0]
    assert gap == pytest.approx(strat - best["ccc_mean"])
    run = result.run_dir
    for name in ("folds.csv", "predictions.csv", "leaderboard.csv", "leaderboard.md", "leaderboard.tex",
                 "paired.csv", "run.json", "audit.json", "splits.csv"):
        assert (run / name).is_file(), name
    md = (run / "leaderboard.md").read_text()
    assert "| rank" in md and "CCC aro" in md and "Paired speaker-bootstrap" in md
    assert "\\toprule" in (run / "leaderboard.tex").read_text()
    plots = sorted(p.name for p in (run / "plots").iterdir())
    assert "pred_vs_true__ridge__speaker.png" in plots
    predictions = pd.read_csv(run / "predictions.csv")
    folds = pd.read_csv(run / "folds.csv")
    speaker_rows = predictions[(predictions["protocol"] == "speaker") & (predictions["model"] == "ridge")]
    assert sorted(speaker_rows["row"]) == list(range(40))  # every row scored once, by a fold that never saw it
    splits = pd.read_csv(run / "splits.csv")
    for fold in range(5):
        test = set(splits.loc[splits["test_fold_speaker"] == fold, "speaker"])
        train = set(splits.loc[splits["test_fold_speaker"] != fold, "speaker"])
        assert not test & train
    assert (folds["status"] == "ok").all()
    again = run_dimensional(config, ["arousal", "valence"])
    assert again.fits_cached == len(folds) and again.fits_run == 0
    pd.testing.assert_frame_equal(again.leaderboard, board)


def test_a_parallel_dimensional_run_stops_its_worker_pool(tmp_path, monkeypatch):
    """Extraction and the fits share one pool of workers; the run stops it when its fits are done, as the
    categorical engine does, so no worker outlives the run."""
    from benchmark.run.config import RunConfig
    from benchmark.run.dimensional import run_dimensional
    from features import pool

    manifest = loud_manifest(tmp_path / "corpus")
    config = RunConfig(dataset="manifest", data_dir=str(manifest), features=("rms", "zcr"), models=("ridge",),
                       protocols=("speaker",), folds=5, out=str(tmp_path / "out"), quiet=True, jobs=2,
                       backend="processes", bootstrap_resamples=200, cache_dir=str(tmp_path / "cache"))
    alive: list[set[int]] = []
    original = pool.shared_pool

    def watched(workers: int, threads: int = 1):
        executor = original(workers, threads)
        alive.append(pool.worker_pids())
        return executor

    monkeypatch.setattr(pool, "shared_pool", watched)  # extraction asks for the pool through the module
    try:
        run_dimensional(config, ["arousal"])
        assert alive, "the run never asked for the pool: nothing was tested"
        assert not pool.pool_alive() and pool.worker_pids() == set()
    finally:
        pool.shutdown_pool(kill_workers=True)


def test_target_manifest_faults(tmp_path):
    from benchmark.corpora.targets import load_dimensional

    write_tone(tmp_path / "a.wav")
    write_tone(tmp_path / "b.wav")
    (tmp_path / "m.csv").write_text("path,speaker,arousal\na.wav,s1,3.5\nb.wav,s2,high\n")
    corpus = load_dimensional("manifest", tmp_path / "m.csv", ["arousal"])
    assert len(corpus.table) == 1 and corpus.table["arousal"].iloc[0] == 3.5
    assert corpus.skipped[0].reason == "manifest line 3: arousal 'high' is not a finite number"
    with pytest.raises(CorpusError, match=r"missing column\(s\) valence"):
        load_dimensional("manifest", tmp_path / "m.csv", ["arousal", "valence"])
    with pytest.raises(CorpusError, match="emodb has no dimensional labels"):
        load_dimensional("emodb", tmp_path, ["arousal"])


def test_cli_targets_need_the_dimensional_task(tmp_path):
    from benchmark.cli import main

    assert main(["run", "--targets", "arousal", "--out", str(tmp_path)]) == 2
    assert main(["run", "--task", "dimensional", "--protocols", "cross-corpus", "--out", str(tmp_path)]) == 2


def test_dimensional_on_msppodcast_official_partitions(tmp_path):
    from benchmark.run.config import RunConfig
    from benchmark.run.dimensional import run_dimensional
    from tests.helpers import make_msppodcast

    make_msppodcast(tmp_path / "msp")
    config = RunConfig(dataset="msppodcast", data_dir=str(tmp_path / "msp"), split="official", features=("rms",),
                       models=("ridge",), protocols=("speaker",), out=str(tmp_path / "out"), quiet=True, jobs=1,
                       report=False, bootstrap_resamples=100, use_cache=False)
    result = run_dimensional(config, ["arousal", "valence", "dominance"])
    folds = pd.read_csv(result.run_dir / "folds.csv", keep_default_na=False)
    assert folds["fold_name"].tolist() == ["Test1", "Test2"] and (folds["n_dev"] == 20).all()
    predictions = pd.read_csv(result.run_dir / "predictions.csv")
    splits = pd.read_csv(result.run_dir / "splits.csv")
    assert len(splits) == 90  # X and O segments keep their dimensional labels
    from benchmark.corpora.more import dimensional_loader

    partition = dimensional_loader("msppodcast")(tmp_path / "msp").table["partition"]
    assert set(partition[predictions["row"]]) == {"Test1", "Test2"}  # development rows never scored
    assert "ccc_dominance" in folds
    tuned = run_dimensional(RunConfig(**{**config.__dict__, "tune": True}), ["arousal", "valence", "dominance"])
    tuned_folds = pd.read_csv(tuned.run_dir / "folds.csv", keep_default_na=False)
    assert (tuned_folds["best_params"] != "").all()  # chosen on the Development part (tests/test_dimensional_engine)
    assert set(partition[pd.read_csv(tuned.run_dir / "predictions.csv")["row"]]) == {"Test1", "Test2"}


def test_lstm_regression_head_on_padded_frames_fits_lengths_on_training_clips():
    from features.sequences import pad_sequences

    rng = np.random.default_rng(4)
    lengths = rng.integers(5, 12, size=60)
    sequences = [rng.normal(size=(n, 3)).astype(np.float32) + k % 3 for k, n in enumerate(lengths)]
    X = pad_sequences(sequences, 40)  # one padding width for all; the training clips decide the cut
    Y = np.array([[q[:, 0].mean(), q[:, 1].std()] for q in sequences])
    model = make_regressor("lstm", units=(8,), dense=8, max_epochs=3, patience=2)
    model.fit(X[:50], Y[:50], groups=np.repeat(list("abcde"), 10))
    assert model.length_ == int(np.ceil(np.percentile(lengths[:50], 95)))
    frames = np.concatenate(sequences[:50])
    assert np.allclose(model.frame_mean_, frames.mean(axis=0), atol=1e-4)  # training frames only, no padding
    assert model.predict(X[50:]).shape == (10, 2)
    with pytest.raises(Exception, match="take frame sequences"):
        make_regressor("lstm", max_epochs=1).fit(X[:, :, 0], Y)


def test_flags_the_dimensional_task_does_not_take_are_refused(tmp_path):
    from benchmark.run.config import ConfigError, RunConfig
    from benchmark.run.dimensional import run_dimensional

    with pytest.raises(ConfigError, match="--protocols cross-corpus: not available for --task dimensional"):
        run_dimensional(RunConfig(out=str(tmp_path), quiet=True, protocols=("cross-corpus",)), ["arousal"])
    for flags, flag in (({"repeats": 2}, "--repeats"), ({"balance": "smote"}, "--balance"),
                        ({"near_duplicates": True}, "--near-duplicates")):
        with pytest.raises(ConfigError, match=f"{flag}: not available for --task dimensional"):
            run_dimensional(RunConfig(out=str(tmp_path), quiet=True, models=("ridge",), **flags), ["arousal"])
    with pytest.raises(Exception, match="--tune: regressor 'lstm' has no tuning grid"):
        run_dimensional(RunConfig(out=str(tmp_path), quiet=True, tune=True, models=("lstm",)), ["arousal"])
    with pytest.raises(ConfigError, match="--input ridge=mfcc_frames: ridge takes feature vectors"):
        run_dimensional(RunConfig(out=str(tmp_path), quiet=True, models=("ridge",), inputs={"ridge": "mfcc_frames"}),
                        ["arousal"])
    with pytest.raises(ConfigError, match="--input svm=mfcc: 'svm' is not a regressor of this run"):
        run_dimensional(RunConfig(out=str(tmp_path), quiet=True, models=("ridge",), inputs={"svm": "mfcc"}),
                        ["arousal"])


def test_dimensional_report_export_and_compare(tmp_path, capsys):
    import io
    import json

    from benchmark.cli import main
    from benchmark.run.config import RunConfig
    from benchmark.run.dimensional import run_dimensional

    manifest = loud_manifest(tmp_path / "corpus")
    common = dict(dataset="manifest", data_dir=str(manifest), features=("rms",), protocols=("speaker",), folds=5,
                  quiet=True, jobs=1, bootstrap_resamples=100, cache_dir=str(tmp_path / "cache"))
    # one results folder, so the two runs' folder names differ even when both start in the same second
    a = run_dimensional(RunConfig(models=("ridge",), out=str(tmp_path / "runs"), **common), ["arousal", "valence"])
    b = run_dimensional(RunConfig(models=("svr",), out=str(tmp_path / "runs"), **common), ["arousal", "valence"])
    assert a.run_dir.name != b.run_dir.name
    page = (a.run_dir / "report.html").read_text()
    assert "Leaderboard" in page and "data:image/png;base64," in page and "Leakage audit" in page
    assert f"{a.leaderboard['ccc_mean'].iloc[0]:.3f}" in page
    capsys.readouterr()
    assert main(["export", str(a.run_dir), "--format", "json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["targets"] == ["arousal", "valence"]
    assert exported["leaderboard"][0]["ccc_mean"] == pytest.approx(a.leaderboard["ccc_mean"].iloc[0])
    for fmt, marker in (("md", "| rank"), ("latex", "\\toprule"), ("csv", "ccc_mean")):
        assert main(["export", str(a.run_dir), "--format", fmt]) == 0
        assert marker in capsys.readouterr().out
    assert main(["compare", str(a.run_dir), str(b.run_dir)]) == 0
    text = capsys.readouterr().out
    assert a.run_dir.name in text and b.run_dir.name in text and "ΔCCC" in text
    diff = a.leaderboard["ccc_mean"].iloc[0] - b.leaderboard["ccc_mean"].iloc[0]
    line = next(x for x in text.splitlines() if x.startswith(f"{a.run_dir.name}: ridge"))
    assert line.split()[-1] == "40"  # every test row shared: same corpus, same seed, same folds
    # pooled mean-CCC difference, not the fold mean: same sign when the two differ clearly
    if abs(diff) > 0.05:
        assert float(line.split()[4]) * diff > 0
    assert main(["compare", str(a.run_dir), str(b.run_dir), "--format", "csv"]) == 0
    long = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"rank": str})
    assert list(long["run_dir"].unique()) == [a.run_dir.name, b.run_dir.name]
    leader_b = long[(long["run_dir"] == b.run_dir.name) & (long["rank"] == "1")]
    assert float(leader_b["diff_vs_first"].iloc[0]) == pytest.approx(float(line.split()[4]), abs=5e-4)
    assert main(["compare", str(a.run_dir), str(b.run_dir), "--format", "latex"]) == 0
    assert capsys.readouterr().out.count("\\toprule") == 3  # two leaderboards and the tests
    out_html = tmp_path / "compare.html"
    assert main(["compare", str(a.run_dir), str(b.run_dir), "--format", "html", "-o", str(out_html)]) == 0
    assert "Paired tests" in out_html.read_text() and a.run_dir.name in out_html.read_text()
    md = (a.run_dir / "leaderboard.md").read_text()
    assert "Arousal alone" in md and "Valence alone" in md and "MAE arousal" in md
    assert "Arousal alone" in page
    categorical = tmp_path / "cat"
    categorical.mkdir()
    (categorical / "run.json").write_text('{"dataset": "x"}')
    assert main(["compare", str(a.run_dir), str(categorical)]) == 2
    assert "categorical run cannot be compared with a dimensional one" in capsys.readouterr().err
