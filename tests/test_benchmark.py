"""End to end, through the command line, on the small profile of the built-in corpus."""

import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.corpora import load_corpus
from benchmark.evaluation.protocols import make_folds
from benchmark.run.fitting import fit_on_fold
from features import extract
from models import make_model
from tests.helpers import link_cache

QUICK_NEURAL = ["--set", "dnn.max_epochs=6", "--set", "lstm.max_epochs=3", "--set", "lstm.units=32"]


def run(capsys, *args) -> Path:
    """Run the CLI quietly on the small built-in profile; returns the run folder it printed. A later
    ``--cache-dir`` in ``args`` wins over none (the test's isolated cache)."""
    code = main(["run", "--profile", "small", "--quiet", *args])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    return Path(out[-1])


@pytest.fixture
def shared_run(tmp_path, shared_cache, small_corpus_dir) -> list[str]:
    """Flags of a run that reuses the session's feature cache (what ``full_run`` extracted: every default set of
    the small corpus) with a fit cache of its own: ``--dataset``, ``--data-dir`` and ``--cache-dir``.

    Extracting the whole default bank is most of a small run's time, and none of the tests that use this counts
    or damages features; every fit still runs (none is served from another test's fits). Feature rows are keyed
    by the clip's absolute path, so the corpus is named by the session's folder, not by a link in this cache.
    """
    (shared_cache / "features").mkdir(exist_ok=True)
    cache = link_cache(tmp_path / "cache", shared_cache, shared_cache / "features")
    return ["--dataset", "synthetic", "--data-dir", str(small_corpus_dir), "--cache-dir", str(cache)]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, shared_cache):
    out = tmp_path_factory.mktemp("results")
    code = main(["run", "--profile", "small", "--quiet", "--folds", "3", "--cache-dir", str(shared_cache),
                 "--out", str(out), "--protocols", "stratified,speaker,speaker+text", *QUICK_NEURAL])
    assert code == 0
    (run_dir,) = list(out.iterdir())
    return run_dir


def test_every_export_exists_and_parses(full_run):
    records = json.loads((full_run / "leaderboard.json").read_text())
    required = {"dataset", "features", "model", "protocol", "uar_mean", "uar_std", "wa_mean", "wa_std", "f1_mean",
                "f1_std", "n_folds", "speaker_norm"}
    assert records and all(required <= set(r) for r in records)
    main_rows = [r for r in records if r["table"] == "leaderboard"]
    assert {r["model"] for r in main_rows} == {"svm", "xgboost", "dnn", "lstm"}
    assert {r["protocol"] for r in main_rows} == {"stratified", "speaker", "speaker+text"}
    assert all(r["n_folds"] == 3 and 0 <= r["uar_mean"] <= 1 for r in main_rows)
    csv = pd.read_csv(full_run / "leaderboard.csv")
    assert len(csv) == len(records) and required <= set(csv.columns)
    md = (full_run / "leaderboard.md").read_text()
    assert md.startswith("# Leaderboard: synthetic") and "| svm" in md and "Feature-group ablation" in md
    tex = (full_run / "leaderboard.tex").read_text()
    assert tex.count("\\begin{tabular}") == 3 and "\\toprule" in tex and "$\\pm$" in tex  # + per-speaker
    folds = pd.read_csv(full_run / "folds.csv")
    assert set(folds["status"]) == {"ok"} and len(folds[folds["table"] == "leaderboard"]) == 4 * 3 * 3
    audit = json.loads((full_run / "audit.json").read_text())
    assert audit["protocols"]["speaker"]["test_speaker_in_train"] == 0.0
    assert audit["protocols"]["stratified"]["test_speaker_in_train"] == 1.0
    run = json.loads((full_run / "run.json").read_text())
    assert run["seed"] == 0 and run["corpus"]["fingerprint"] and "models" in run["timings_s"]
    assert {"numpy", "librosa", "scikit-learn", "xgboost"} <= set(run["versions"])
    confusion = pd.read_csv(full_run / "confusion" / "all__svm__speaker.csv", index_col=0)
    assert confusion.values.sum() == 252 and list(confusion.index) == list(confusion.columns)
    splits = pd.read_csv(full_run / "splits.csv")
    assert set(splits["test_fold_speaker"]) == {0, 1, 2}


def test_speaker_independent_is_below_stratified(full_run):
    records = json.loads((full_run / "leaderboard.json").read_text())
    uar = {(r["model"], r["protocol"]): r["uar_mean"] for r in records if r["table"] == "leaderboard"}
    for model in ("svm", "xgboost"):
        assert uar[(model, "speaker")] < uar[(model, "stratified")]
        assert uar[(model, "speaker")] > 1 / 7  # but above chance


def test_leaderboard_is_ranked_by_speaker_independent_uar(full_run):
    records = json.loads((full_run / "leaderboard.json").read_text())
    si = sorted((r for r in records if r["table"] == "leaderboard" and r["protocol"] == "speaker"),
                key=lambda r: r["rank"])
    assert [r["rank"] for r in si] == [1, 2, 3, 4]
    assert all(a["uar_mean"] >= b["uar_mean"] for a, b in zip(si, si[1:], strict=False))


@pytest.mark.parametrize("fmt,filename", [("md", "leaderboard.md"), ("csv", "leaderboard.csv"),
                                          ("latex", "leaderboard.tex"), ("json", "leaderboard.json")])
def test_export_reproduces_the_tables_exactly(full_run, capsys, fmt, filename, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(full_run, copy)
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.tex", "leaderboard.json"):
        (copy / name).unlink()  # nothing but folds.csv, audit.json and run.json to rebuild from
    assert main(["export", str(copy), "--format", fmt]) == 0
    assert capsys.readouterr().out == (full_run / filename).read_text()


def test_same_seed_gives_identical_leaderboard(tmp_path, shared_cache, small_corpus_dir, capsys):
    # each run fits everything in a fit cache of its own: the second is a recomputation, never a cache hit; in
    # this process, after the first run's networks (the backends agree: tests/test_engine.py)
    args = ["--models", "svm,xgboost,dnn", "--set", "dnn.max_epochs=4", "--set", "xgboost.n_estimators=40",
            "--folds", "3", "--no-ablation", "--backend", "serial", "--dataset", "synthetic", "--data-dir", str(small_corpus_dir)]
    (shared_cache / "features").mkdir(exist_ok=True)
    caches = {n: link_cache(tmp_path / f"cache-{n}", shared_cache, shared_cache / "features") for n in "abc"}
    first = run(capsys, *args, "--cache-dir", str(caches["a"]), "--out", str(tmp_path / "a"))
    second = run(capsys, *args, "--cache-dir", str(caches["b"]), "--out", str(tmp_path / "b"))
    assert json.loads((second / "run.json").read_text())["fits"]["cached"] == 0
    assert (first / "leaderboard.json").read_text() == (second / "leaderboard.json").read_text()
    assert (first / "predictions.csv").read_text() == (second / "predictions.csv").read_text()
    assert (first / "splits.csv").read_text() == (second / "splits.csv").read_text()
    # another seed draws other folds (what the folds are does not depend on the models: one cheap model)
    other = run(capsys, "--models", "svm", "--folds", "3", "--no-ablation", "--seed", "1", "--dataset", "synthetic",
                "--data-dir", str(small_corpus_dir), "--cache-dir", str(caches["c"]), "--out", str(tmp_path / "c"))
    assert (other / "splits.csv").read_text() != (first / "splits.csv").read_text()


def test_injected_duplicate_is_flagged(tmp_path, small_corpus_dir, shared_run, capsys):
    files = sorted(small_corpus_dir.glob("syn_*.wav"))
    chosen = [f for f in files if "_s01_" in f.name or "_s02_" in f.name]
    lines = ["path,emotion,speaker,text"]
    for f in chosen:
        _, speaker, emotion, text, _ = f.stem.split("_")
        lines.append(f"{f},{emotion},{speaker},{text}")
    twin = tmp_path / "twin.wav"
    shutil.copy(chosen[0], twin)  # the same recording filed under another speaker
    lines.append(f"{twin},{chosen[0].stem.split('_')[2]},m03,s01")
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    run_dir = run(capsys, "--dataset", "manifest", "--data-dir", str(tmp_path / "manifest.csv"),
                  "--models", "svm", "--no-ablation", "--loso", *shared_run[-2:],  # its own corpus: the cache only
                  "--out", str(tmp_path / "out"))
    audit = json.loads((run_dir / "audit.json").read_text())
    assert audit["corpus"]["duplicate_groups"] == [[str(chosen[0]), str(twin)]]
    # each copy's speaker is held out once, with the other copy in training: two crossings
    assert audit["protocols"]["speaker"]["duplicates_across_train_test"] == 2
    pairs = [p for f in audit["protocols"]["speaker"]["folds"] for p in f["duplicate_pairs"]]
    assert pairs == [{"test": str(chosen[0]), "train": str(twin)}, {"test": str(twin), "train": str(chosen[0])}] \
        or pairs == [{"test": str(twin), "train": str(chosen[0])}, {"test": str(chosen[0]), "train": str(twin)}]
    assert "dup" in (run_dir / "leaderboard.md").read_text()


def test_failing_model_is_reported_and_the_run_finishes(tmp_path, shared_run, capsys):
    plugin = tmp_path / "fragile.py"
    plugin.write_text(textwrap.dedent('''
        from sklearn.svm import SVC
        from models import register_model

        class Fragile(SVC):
            def fit(self, X, y, groups=None):
                if "f01" not in set(groups):  # breaks on the fold that tests speaker f01
                    raise RuntimeError("cannot train without f01")
                return super().fit(X, y)

        register_model("fragile", Fragile, replace=True)
    '''))
    run_dir = run(capsys, "--plugin", str(plugin), "--models", "svm,fragile", "--protocols", "speaker",
                  "--loso", "--no-ablation", *shared_run, "--out", str(tmp_path / "out"))
    folds = pd.read_csv(run_dir / "folds.csv")
    fragile = folds[folds["model"] == "fragile"]
    assert (fragile["status"] == "failed").sum() == 1 and (fragile["status"] == "ok").sum() == 5
    assert "RuntimeError: cannot train without f01" in fragile["error"].dropna().iloc[0]
    assert (folds[folds["model"] == "svm"]["status"] == "ok").all()
    assert "failed 1/6" in (run_dir / "leaderboard.md").read_text()


def test_user_feature_set_through_the_cli(tmp_path, shared_run, capsys):
    plugin = tmp_path / "my_features.py"
    plugin.write_text(textwrap.dedent('''
        import numpy as np
        from features import feature_set

        @feature_set("pitch", version=1)
        def pitch(clip):
            """Crude F0 statistics from the autocorrelation peak of each voiced frame."""
            frames = np.lib.stride_tricks.sliding_window_view(clip.y, 640)[::320]
            lags = np.arange(40, 200)
            f0 = []
            for frame in frames:
                ac = np.correlate(frame, frame, "full")[639:]
                if ac[0] > 1e-6:
                    f0.append(clip.sr / lags[np.argmax(ac[lags])])
            f0 = np.array(f0 or [0.0])
            return {"mean": f0.mean(), "std": f0.std()}
    '''))
    run_dir = run(capsys, "--plugin", str(plugin), "--features", "pitch,mfcc", "--models", "svm",
                  *shared_run, "--out", str(tmp_path / "out"))
    records = json.loads((run_dir / "leaderboard.json").read_text())
    assert {r["features"] for r in records} == {"pitch+mfcc", "pitch", "mfcc"}
    pitch_only = [r for r in records if r["features"] == "pitch" and r["table"] == "ablation"]
    assert pitch_only and pitch_only[0]["uar_mean"] > 1 / 7  # F0 alone carries emotion in this corpus


def test_speaker_norm_rows_are_marked(tmp_path, shared_run, capsys):
    run_dir = run(capsys, "--models", "svm", "--speaker-norm", "--no-ablation", *shared_run,
                  "--out", str(tmp_path / "o"))
    records = json.loads((run_dir / "leaderboard.json").read_text())
    assert sorted({r["speaker_norm"] for r in records}) == [False, True]
    assert "spk-norm" in (run_dir / "leaderboard.md").read_text()


def test_shuffling_test_labels_does_not_change_what_is_learned(small_corpus_dir, shared_cache):
    corpus = load_corpus(None, None, cache_dir=shared_cache, profile="small")
    feats = extract(corpus.table, ["mfcc", "rms"], cache_dir=shared_cache, jobs=1)
    X, _ = feats.matrix(["mfcc", "rms"])
    y = feats.table["emotion"].to_numpy()
    speakers = feats.table["speaker"].to_numpy()
    fold = make_folds("speaker", feats.table, 3, seed=0)[0]
    shuffled = y.copy()
    shuffled[fold.test] = np.random.default_rng(1).permutation(y[fold.test])
    assert (shuffled != y).any()
    for name in ("svm", "xgboost"):
        a, _ = fit_on_fold(make_model(name), X, y, speakers, fold.train, fold.test)
        b, _ = fit_on_fold(make_model(name), X, shuffled, speakers, fold.train, fold.test)
        np.testing.assert_array_equal(a, b)
