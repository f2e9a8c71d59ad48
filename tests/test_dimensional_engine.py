"""The dimensional task on the engine's backends, with --tune, --speaker-norm, --corpus-norm and --input:
identical results whatever the backend, and nothing of a test fold in any choice or statistic."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from benchmark.evaluation.normalisation import speaker_normalise
from benchmark.evaluation.regression import mean_ccc
from benchmark.run.config import RunConfig
from benchmark.run.dimensional import corpus_normalise_in_fold, fit_regression, run_dimensional
from models.regression import REGRESSION_GRIDS, TunedRegressor, make_regressor, tuned_regressor
from tests.helpers import loud_manifest

TARGETS = ["arousal", "valence"]
# the columns of folds.csv that say how a fit went (its time, whether the cache had it), not what it predicted
HOW_IT_RAN = ["seconds", "cached"]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return loud_manifest(tmp_path_factory.mktemp("loud"))


def config(out, manifest, cache, **overrides) -> RunConfig:
    settings = dict(dataset="manifest", data_dir=str(manifest), features=("rms",), models=("ridge",),
                    protocols=("speaker",), folds=2, out=str(out), quiet=True, jobs=1, bootstrap_resamples=100,
                    cache_dir=str(cache), report=False)
    settings.update(overrides)
    return RunConfig(**settings)


def test_serial_processes_and_dask_give_byte_identical_results(tmp_path, manifest):
    """One process (serial), two worker processes, two Dask workers: the same bytes. The network is in the grid
    because its seeding is what a worker's other threads could disturb."""
    pytest.importorskip("distributed")
    runs = {}
    for backend in ("serial", "processes", "dask"):
        # two worker processes; one Dask worker (its fits run on a worker thread, beside the event loop's)
        shutil.rmtree(tmp_path / "cache" / "fits-dimensional", ignore_errors=True)  # every fit runs; features cached
        cfg = config(tmp_path / backend, manifest, tmp_path / "cache", backend=backend,
                     jobs=1 if backend == "dask" else 2,
                     models=("ridge", "xgboost", "dnn"),
                     model_params={"xgboost": {"n_estimators": 10}, "dnn": {"hidden": [4], "max_epochs": 2}})
        result = run_dimensional(cfg, TARGETS)
        assert (result.fits_run, result.fits_cached) == (6, 0)
        runs[backend] = result.run_dir
        fits = json.loads((result.run_dir / "run.json").read_text())["fits"]
        assert fits["backend"] == backend and fits["threads_per_fit"] == 1
    for backend in ("processes", "dask"):
        for name in ("predictions.csv", "leaderboard.csv", "paired.csv", "splits.csv", "leaderboard.md"):
            assert (runs[backend] / name).read_bytes() == (runs["serial"] / name).read_bytes(), (backend, name)
        folds = [pd.read_csv(runs[b] / "folds.csv").drop(columns=HOW_IT_RAN) for b in ("serial", backend)]
        pd.testing.assert_frame_equal(folds[0], folds[1])
    assert (pd.read_csv(runs["serial"] / "folds.csv")["status"] == "ok").all()


def poisoned_problem():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(72, 5))
    Y = np.column_stack([2 * X[:, 0] + 0.3 * rng.normal(size=72), X[:, 1] - X[:, 2]])
    speakers = np.repeat([f"s{i}" for i in range(9)], 8)
    test = np.flatnonzero(np.isin(speakers, ["s7", "s8"]))
    train = np.setdiff1d(np.arange(72), test)
    return X, Y, speakers, train, test


def test_tuning_sees_the_training_speakers_only_and_scores_ccc():
    X, Y, speakers, train, test = poisoned_problem()
    clean = fit_regression("ridge", {}, 0, X, Y, speakers, train, test, None, tune=True)
    assert set(clean["best_params"]) == {"alpha"} and clean["best_params"]["alpha"] in REGRESSION_GRIDS["ridge"]["alpha"]
    poisoned_y = Y.copy()
    poisoned_y[test] = 1e6  # a choice made on the test fold would move with its targets
    again = fit_regression("ridge", {}, 0, X, poisoned_y, speakers, train, test, None, tune=True)
    assert again["best_params"] == clean["best_params"]
    assert np.array_equal(again["predictions"], clean["predictions"])
    poisoned_x = X.copy()
    poisoned_x[test[0]] = 1e6  # a wild test row moves its own prediction only
    wild = fit_regression("ridge", {}, 0, poisoned_x, Y, speakers, train, test, None, tune=True)
    assert wild["best_params"] == clean["best_params"]
    assert np.array_equal(wild["predictions"][1:], clean["predictions"][1:])

    model = tuned_regressor("ridge", make_regressor("ridge")).fit(X[train], Y[train], groups=speakers[train])
    held = [s for fold in model.inner_groups_ for s in fold]
    assert sorted(held) == sorted(set(speakers[train].tolist()))  # every inner fold holds out training speakers
    assert not set(held) & {"s7", "s8"}
    # the inner score is the mean CCC on the held-out inner speakers, recomputed here from the same splits
    splits = model._inner_splits(len(train), speakers[train])
    params, score = model.cv_scores_[1]
    expected = np.mean([mean_ccc(Y[train][val], make_regressor("ridge", **params).fit(
        X[train][tr], Y[train][tr]).predict(X[train][val])) for tr, val in splits])
    assert score == pytest.approx(expected, abs=1e-12)
    assert model.best_params_ == max(model.cv_scores_, key=lambda c: c[1])[0]


def test_tuning_chooses_what_the_inner_speakers_reward():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(80, 40))  # 40 noise columns and one signal: heavy ridge shrinkage generalises best
    Y = (X[:, 0] + rng.normal(scale=2.0, size=80))[:, None]
    speakers = np.repeat([f"s{i}" for i in range(8)], 10)
    wide = TunedRegressor(make_regressor("ridge"), {"alpha": [1e-6, 1e4]}).fit(X, Y, groups=speakers)
    scores = dict((c["alpha"], s) for c, s in wide.cv_scores_)
    assert wide.best_params_ == {"alpha": max(scores, key=scores.get)}


def test_tuning_on_the_development_part_when_the_split_has_one():
    X, Y, speakers, train, test = poisoned_problem()
    dev, train = train[:16], train[16:]
    model = tuned_regressor("svr", make_regressor("svr"))
    model.fit(X[train], Y[train], groups=speakers[train], validation=(X[dev], Y[dev]))
    assert model.inner_groups_ == ["development part"]
    clean = fit_regression("svr", {}, 0, X, Y, speakers, train, test, dev, tune=True)
    poisoned_y = Y.copy()
    poisoned_y[test] = -1e6
    again = fit_regression("svr", {}, 0, X, poisoned_y, speakers, train, test, dev, tune=True)
    assert again["best_params"] == clean["best_params"] == model.best_params_
    assert np.array_equal(again["predictions"], clean["predictions"])


def test_a_tuned_run_records_its_choices_per_fold(tmp_path, manifest):
    result = run_dimensional(config(tmp_path / "o", manifest, tmp_path / "cache", tune=True, models=("ridge",)),
                             TARGETS)
    folds = pd.read_csv(result.run_dir / "folds.csv", keep_default_na=False)
    assert all(json.loads(b)["alpha"] in REGRESSION_GRIDS["ridge"]["alpha"] for b in folds["best_params"])
    untuned = run_dimensional(config(tmp_path / "p", manifest, tmp_path / "cache", models=("ridge",)), TARGETS)
    assert untuned.fits_run == 2  # a tuned fit and an untuned one never share a cache entry
    again = run_dimensional(config(tmp_path / "q", manifest, tmp_path / "cache", tune=True, models=("ridge",)),
                            TARGETS)
    assert again.fits_cached == 2
    assert pd.read_csv(again.run_dir / "folds.csv", keep_default_na=False)["best_params"].tolist() == \
        folds["best_params"].tolist()


def test_speaker_norm_uses_each_speakers_own_rows_only():
    X, _, speakers, train, test = poisoned_problem()
    Z = speaker_normalise(X, speakers)
    poisoned = X.copy()
    poisoned[test] = np.random.default_rng(0).normal(scale=1e6, size=(len(test), X.shape[1]))
    assert np.array_equal(speaker_normalise(poisoned, speakers)[train], Z[train])


def test_corpus_norm_statistics_come_from_training_rows_only():
    X, Y, speakers, train, test = poisoned_problem()
    corpora = np.where(np.isin(speakers, ["s0", "s1", "s2", "s7"]), "a", "b")
    rows = np.arange(len(X))
    out = corpus_normalise_in_fold(X, corpora, train, rows)
    for name in ("a", "b"):
        own = train[corpora[train] == name]
        assert np.allclose(out[own].mean(axis=0), 0, atol=1e-5)  # the corpus's training rows are centred
    poisoned = X.copy()
    poisoned[test] *= 1e6
    again = corpus_normalise_in_fold(poisoned, corpora, train, rows)
    assert np.array_equal(again[train], out[train])  # no test row moved a statistic
    lonely = np.where(speakers == "s8", "c", corpora)  # corpus c is in the test fold only
    fallback = corpus_normalise_in_fold(X, lonely, train, rows)
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    c = lonely == "c"
    assert np.allclose(fallback[c], (X[c] - mean) / std, atol=1e-5)  # scaled by training rows, not its own
    params = {"__corpus_norm__": True}
    clean = fit_regression("ridge", params, 0, X, Y, speakers, train, test, None, corpora=corpora)
    poisoned_y = Y.copy()
    poisoned_y[test] = 1e6
    poisoned_x = X.copy()
    poisoned_x[test[0]] = 1e6
    again = fit_regression("ridge", params, 0, poisoned_x, poisoned_y, speakers, train, test, None, corpora=corpora)
    assert np.array_equal(again["predictions"][1:], clean["predictions"][1:])


def test_normalised_variants_and_inputs_get_rows_of_their_own(tmp_path):
    corpus = tmp_path / "corpus"
    table = pd.read_csv(loud_manifest(corpus))
    table["corpus"] = np.where(table["speaker"].isin(["spk0", "spk1"]), "first", "second")
    table.to_csv(corpus / "manifest.csv", index=False)
    cfg = config(tmp_path / "o", corpus / "manifest.csv", tmp_path / "cache", speaker_norm=True, corpus_norm=True,
                 models=("ridge", "svr"), inputs={"svr": "zcr"}, report=True)
    result = run_dimensional(cfg, TARGETS)
    board = result.leaderboard
    assert sorted(set(board["features"])) == ["rms", "rms@corpus-norm", "rms@spk-norm", "zcr", "zcr@corpus-norm",
                                              "zcr@spk-norm"]
    assert set(board.loc[board["model"] == "svr", "features"]) == {"zcr", "zcr@spk-norm", "zcr@corpus-norm"}
    folds = pd.read_csv(result.run_dir / "folds.csv")
    assert (folds["status"] == "ok").all() and len(folds) == 2 * 3 * 2
    plots = {p.name for p in (result.run_dir / "plots").iterdir()}
    assert {"pred_vs_true__ridge__speaker.png", "pred_vs_true__ridge__speaker__spk-norm.png",
            "pred_vs_true__ridge__speaker__corpus-norm.png"} <= plots
    # each variant's fits differ (the normalisation reaches the model) but are deterministic
    predictions = pd.read_csv(result.run_dir / "predictions.csv")
    ridge = {f: part.sort_values("row")["pred_arousal"].to_numpy()
             for f, part in predictions[predictions["model"] == "ridge"].groupby("features")}
    assert not np.array_equal(ridge["rms"], ridge["rms@spk-norm"])


def test_recurrent_regression_heads_use_their_cells():
    from models.regression import _keras

    keras = _keras()
    kinds = {}
    for name in ("lstm", "gru", "bilstm"):
        network = make_regressor(name, units=(4, 3), dense=4)._network(keras, (10, 3), 2)
        kinds[name] = [type(layer).__name__ for layer in network.layers]
        assert network.output_shape == (None, 2)  # one linear output per target
    assert kinds["lstm"].count("LSTM") == 2 and kinds["gru"].count("GRU") == 2
    assert kinds["bilstm"].count("Bidirectional") == 2


@pytest.mark.parametrize("name", ["cnn1d", "ssl_head", "cnn_lstm"])
def test_sequence_regression_heads_fit_and_stop_on_development_rows(name):
    from features.sequences import pad_sequences


    rng = np.random.default_rng(7)
    lengths = rng.integers(4, 9, size=30)
    sequences = [rng.normal(size=(n, 3)).astype(np.float32) + k % 3 for k, n in enumerate(lengths)]
    X = pad_sequences(sequences, 20)
    Y = np.array([[q[:, 0].mean(), q[:, 1].std()] for q in sequences])
    small = {"cnn1d": {"filters": (4,), "dense": 4}, "ssl_head": {"units": 4},
             "cnn_lstm": {"filters": (2,), "units": 4, "dense": 4}}[name]
    model = make_regressor(name, max_epochs=2, patience=1, batch_size=16, length_percentile=95.0, **small)
    model.fit(X[:20], Y[:20], groups=np.repeat(list("abcd"), 5), validation=(X[20:25], Y[20:25]))
    predictions = model.predict(X[25:])
    assert predictions.shape == (5, 2) and np.isfinite(predictions).all()
    assert 1 <= model.n_epochs_ <= 2 and "val_loss" in model.history_
    assert model.length_ == int(np.ceil(np.percentile(lengths[:20], 95)))  # the training clips decide the cut


def test_models_all_leaves_the_ssl_head_out():
    from models.regression import REGRESSORS, resolve_regressors

    assert "ssl_head" in REGRESSORS and "ssl_head" not in resolve_regressors(["all"])
    assert resolve_regressors(["ssl_head"]) == ["ssl_head"]
