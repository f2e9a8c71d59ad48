"""Repeats (training seeds and fold draws), experiment files and ``reproduce``: verdicts that survive a re-run."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.reports.repeats import rank_stability, seed_sensitive
from benchmark.reports.statistics import speaker_bootstrap_ci, speaker_repeat_bootstrap_ci
from benchmark.run.config import ConfigError, RunConfig
from benchmark.run.engine import run_benchmark
from benchmark.run.experiment import to_toml
from benchmark.run.repeats import repeat_seeds
from benchmark.run.reproduce import DIFFERENT, IDENTICAL, WITHIN, compare_records
from tests.helpers import engine_config

FAST = {"xgboost": {"n_estimators": 10, "max_depth": 2}}


def config(tmp_path, corpus_dir, cache, **changes) -> RunConfig:
    return engine_config(tmp_path, corpus_dir, cache, **{"model_params": dict(FAST), "jobs": 1, **changes})


def test_repeat_seeds_start_at_the_seed_and_keep_earlier_repeats():
    seeds = repeat_seeds(7, 5)
    assert seeds[0] == 7 and len(set(seeds)) == 5
    assert repeat_seeds(7, 3) == seeds[:3]  # adding repeats never changes the earlier ones
    assert repeat_seeds(8, 3)[1:] != seeds[1:3]
    with pytest.raises(ConfigError, match="--repeats 0"):
        RunConfig(repeats=0).validate()
    with pytest.raises(ConfigError, match="--repeat-folds needs"):
        RunConfig(repeat_folds=True).validate()


def test_repeats_fit_a_seeded_model_n_times_and_a_seed_free_one_once(tmp_path, small_corpus_dir, cache):
    result = run_benchmark(config(tmp_path, small_corpus_dir, cache, repeats=3))
    assert result.fits_run == 3 + 3 * 3  # svm: one fit per fold; xgboost: one per fold and repeat
    folds = pd.read_csv(result.run_dir / "folds.csv")
    xgb, svm = folds[folds["model"] == "xgboost"], folds[folds["model"] == "svm"]
    assert sorted(xgb["repeat"].unique()) == [0, 1, 2] and xgb["train_seed"].nunique() == 3
    assert set(svm["train_seed"]) == {0}
    predictions = pd.read_csv(result.run_dir / "predictions.csv")
    by = {(m, r): g.sort_values(["fold", "row"])["predicted"].tolist()
          for (m, r), g in predictions.groupby(["model", "repeat"])}
    assert by[("svm", 0)] == by[("svm", 1)] == by[("svm", 2)]
    assert by[("xgboost", 0)] != by[("xgboost", 1)] or by[("xgboost", 0)] != by[("xgboost", 2)]
    board = json.loads((result.run_dir / "leaderboard.json").read_text())
    svm_row = next(r for r in board if r["model"] == "svm")
    xgb_row = next(r for r in board if r["model"] == "xgboost")
    assert svm_row["n_repeats"] == 3 and svm_row["seed_sd"] == 0.0
    per_repeat = xgb.groupby("repeat")["uar"].mean()
    assert xgb_row["uar_mean"] == pytest.approx(per_repeat.mean(), abs=1e-6)
    assert xgb_row["seed_sd"] == pytest.approx(per_repeat.std(ddof=1), abs=1e-6)
    assert 0 <= xgb_row["rank_stability"] <= 1
    text = " ".join((result.run_dir / "leaderboard.md").read_text().split())  # the legend wraps anywhere
    assert "seed SD" in text and "rank stab." in text and "two-way percentile bootstrap" in text


def test_adding_repeats_fits_only_the_new_ones(tmp_path, small_corpus_dir, cache):
    first = run_benchmark(config(tmp_path / "a", small_corpus_dir, cache, repeats=2))
    assert first.fits_run == 3 + 2 * 3
    more = run_benchmark(config(tmp_path / "b", small_corpus_dir, cache, repeats=3))
    assert (more.fits_run, more.fits_cached) == (3, 3 + 2 * 3)


def test_repeated_folds_draw_other_speaker_folds_per_repeat(tmp_path, small_corpus_dir, cache):
    result = run_benchmark(config(tmp_path, small_corpus_dir, cache, models=("svm",), repeats=2, repeat_folds=True))
    assert result.fits_run == 2 * 3  # other folds: even a seed-free model is fitted again
    splits = pd.read_csv(result.run_dir / "splits.csv")
    assert (splits["test_fold_speaker"] != splits["test_fold_speaker@r1"]).any()
    for column in ("test_fold_speaker", "test_fold_speaker@r1"):  # every speaker is tested in one fold only
        assert splits.groupby("speaker")[column].nunique().max() == 1


def _crossed(vary: bool, n_speakers=10, n_repeats=5, per=20):
    """Predictions of one model, crossed speakers x repeats. Steady: every repeat predicts the same (60 % right);
    ``vary``: a seed lottery, the repeats alternately 85 % and 35 % right."""
    labels = np.array(["a", "b"])
    truth = labels[np.arange(per) % 2]
    wrong = labels[1 - np.arange(per) % 2]
    y, pred, spk, rep = [], [], [], []
    for r in range(n_repeats):
        rate = (0.35 if r % 2 else 0.85) if vary else 0.6
        for s in range(n_speakers):
            right = np.random.default_rng(100 * s + (r if vary else 0)).random(per) < rate
            y += truth.tolist()
            pred += np.where(right, truth, wrong).tolist()
            spk += [f"s{s}"] * per
            rep += [r] * per
    return np.array(y), np.array(pred), np.array(spk), np.array(rep)


def test_the_interval_widens_with_the_seed_spread():
    y, pred, spk, rep = _crossed(vary=False)
    steady = speaker_repeat_bootstrap_ci(y, pred, spk, rep, n_resamples=500, seed=3)
    # repeats that agree exactly: the same interval as the speaker bootstrap alone (same speaker draws)
    first = rep == 0
    assert steady == pytest.approx(speaker_bootstrap_ci(y[first], pred[first], spk[first], n_resamples=500, seed=3))
    y, pred, spk, rep = _crossed(vary=True)
    lottery = speaker_repeat_bootstrap_ci(y, pred, spk, rep, n_resamples=500, seed=3)
    assert lottery[2] - lottery[1] > 2 * (steady[2] - steady[1])
    assert lottery[1] <= lottery[0] <= lottery[2]


def test_rank_stability_and_seed_sensitive_on_a_constructed_case():
    # three models over four repeats: A always first; B and C swap places in two repeats of four
    scores = np.array([[0.90, 0.91, 0.89, 0.90],
                       [0.70, 0.60, 0.71, 0.62],
                       [0.65, 0.66, 0.64, 0.66]])
    np.testing.assert_allclose(rank_stability(scores, np.array([1, 2, 3])), [1.0, 0.5, 0.5])
    # a tie keeps the printed order; a missing score ranks last
    np.testing.assert_allclose(rank_stability(np.array([[0.5, np.nan], [0.5, 0.4]]), np.array([1, 2])),
                               [0.5, 0.5])
    means, sds = [90.0, 65.75, 65.25], [0.8, 5.4, 1.0]
    assert seed_sensitive(means, sds) == [False, True, True]
    assert seed_sensitive(means, [0.8, 0.3, 0.2]) == [False, False, False]


def test_a_config_file_gives_the_byte_identical_run_of_the_same_flags(tmp_path, small_corpus_dir, cache):
    flags = ["--profile", "small", "--features", "mfcc,rms", "--models", "svm", "--protocols", "speaker",
             "--folds", "3", "--no-ablation", "--no-report", "--quiet", "--jobs", "1", "--backend", "serial",
             "--cache-dir", str(cache), "--set", "svm.C=3"]
    assert main(["run", *flags, "--out", str(tmp_path / "flags")]) == 0
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "experiment.toml").write_text(
        'profile = "small"\nfeatures = ["mfcc", "rms"]\nmodels = "svm"\nprotocols = ["speaker"]\nfolds = 2\n'
        'no-ablation = true\nno_report = true\nquiet = true\njobs = 1\nbackend = "serial"\n'
        f'cache-dir = "{cache}"\nset = {{svm = {{C = 3}}}}\nout = "{tmp_path / "file"}"\n')
    # --folds on the command line overrides the file's
    assert main(["run", "--config", str(tmp_path / "exp" / "experiment.toml"), "--folds", "3"]) == 0
    (a,), (b,) = (tmp_path / "flags").iterdir(), (tmp_path / "file").iterdir()
    assert (a / "leaderboard.json").read_bytes() == (b / "leaderboard.json").read_bytes()
    recorded = json.loads((b / "run.json").read_text())["experiment"]
    assert recorded["folds"] == 3 and recorded["set"] == {"svm": {"C": 3}}
    assert tomllib.loads((b / "experiment.toml").read_text()) == recorded
    # the finished run is an experiment file itself
    assert main(["run", "--config", str(b / "run.json"), "--out", str(tmp_path / "again")]) == 0
    (c,) = (tmp_path / "again").iterdir()
    assert (c / "leaderboard.json").read_bytes() == (b / "leaderboard.json").read_bytes()


def test_a_bad_experiment_file_is_one_line_naming_it(tmp_path, capsys):
    bad = tmp_path / "exp.toml"
    bad.write_text('modles = "svm"\n')
    assert main(["run", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "unknown key 'modles'" in err[0]
    bad.write_text("folds = 'five'\n")
    assert main(["run", "--config", str(bad)]) == 2
    assert "folds must be a whole number" in capsys.readouterr().err


def test_toml_writer_reads_back():
    values = {"models": ["svm", "dnn"], "folds": 5, "no-cache": False, "data-dir": 'C:\\data "x"',
              "set": {"lstm": {"max_epochs": 20, "dense": [8, 4]}}, "input": {"lstm": "logmel_frames"},
              "analysis": {"win_ms": 32.5}, "jobs": None}
    expected = {k: v for k, v in values.items() if v is not None}
    assert tomllib.loads(to_toml(values, header="a\nb")) == expected


def _manifest(tmp_path: Path, small_corpus_dir: Path) -> Path:
    """The small built-in corpus as a manifest: a corpus that, unlike the built-in one, --seed does not change."""
    rows = []
    for wav in sorted(small_corpus_dir.glob("*.wav")):
        _, speaker, emotion, sentence, _ = wav.stem.split("_")
        rows.append({"path": str(wav), "emotion": emotion, "speaker": speaker, "text": sentence})
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _run_manifest(tmp_path, manifest, cache, out="orig") -> Path:
    flags = ["run", "--dataset", "manifest", "--data-dir", str(manifest), "--features", "mfcc,rms", "--models",
             "svm,xgboost", "--set", "xgboost.n_estimators=10", "--protocols", "speaker", "--folds", "3",
             "--no-ablation", "--no-report", "--quiet", "--jobs", "1", "--backend", "serial", "--cache-dir",
             str(cache), "--out", str(tmp_path / out), "--repeats", "2"]
    assert main(flags) == 0
    (run_dir,) = (tmp_path / out).iterdir()
    return run_dir


def test_reproduce_on_the_same_machine_is_identical_and_an_edited_seed_is_different(tmp_path, small_corpus_dir,
                                                                                     cache, capsys):
    manifest = _manifest(tmp_path, small_corpus_dir)  # the session's clips by their paths: its features are hits
    run_dir = _run_manifest(tmp_path, manifest, cache)
    capsys.readouterr()
    # refitting everything on a fresh cache: the same machine computes the same numbers
    assert main(["reproduce", str(run_dir), "--out", str(tmp_path / "re"), "--cache-dir",
                 str(tmp_path / "cache2"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "IDENTICAL" in out and "library versions: the same" in out and "machine: the same" in out
    (again,) = (tmp_path / "re").iterdir()
    assert json.loads((again / "reproduce.json").read_text())["verdict"] == IDENTICAL
    run = json.loads((run_dir / "run.json").read_text())
    run["experiment"]["seed"] = 1
    (run_dir / "run.json").write_text(json.dumps(run))
    assert main(["reproduce", str(run_dir), "--out", str(tmp_path / "re1"), "--cache-dir", str(cache),
                 "--quiet"]) == 3
    out = capsys.readouterr().out
    assert "DIFFERENT" in out and "run.json changed since the run wrote them" in out


def test_reproduce_refuses_when_the_corpus_differs(tmp_path, small_corpus_dir, cache, capsys):
    manifest = _manifest(tmp_path, small_corpus_dir)
    run_dir = _run_manifest(tmp_path, manifest, cache)
    table = pd.read_csv(manifest)
    table.iloc[1:].to_csv(manifest, index=False)  # one file fewer
    capsys.readouterr()
    assert main(["reproduce", str(run_dir), "--out", str(tmp_path / "re"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not the run's (fingerprint" in err[0]
    assert not (tmp_path / "re").exists() or not any((tmp_path / "re").iterdir())


def test_cell_verdicts_use_twice_the_seed_sd():
    base = {"table": "leaderboard", "features": "all", "model": "dnn", "protocol": "speaker", "speaker_norm": False,
            "rank": 1, "vs_best": "best", "n_folds": 5, "n_failed": 0, "uar_mean": 0.50, "uar_std": 0.1,
            "wa_mean": 0.5, "f1_mean": 0.5, "uar_pooled": 0.5, "ci_low": 0.4, "ci_high": 0.6, "seed_sd": 0.02}
    verdicts = {c["field"]: c["verdict"] for c in compare_records([base], [{**base, "uar_mean": 0.53}])}
    assert verdicts["uar_mean"] == WITHIN and verdicts["wa_mean"] == IDENTICAL
    verdicts = {c["field"]: c["verdict"] for c in compare_records([base], [{**base, "uar_mean": 0.55}])}
    assert verdicts["uar_mean"] == DIFFERENT
    no_spread = {**base, "seed_sd": None}
    verdicts = {c["field"]: c["verdict"] for c in compare_records([no_spread], [{**no_spread, "uar_mean": 0.501}])}
    assert verdicts["uar_mean"] == DIFFERENT


def test_a_parameter_set_to_null_survives_the_experiment_file():
    """TOML has no null: ``--set svm.clip=null`` is kept as the flag's strings and reads back as None."""
    from benchmark.cli.common import parse_model_params
    from benchmark.cli.experiment import experiment_of, run_parser

    _, parser = run_parser()
    args = parser.parse_args(["--set", "svm.clip=null", "--set", "svm.C=3"])
    recorded = experiment_of(args)
    assert recorded["set"] == ["svm.clip=null", "svm.C=3"]
    assert parse_model_params(tomllib.loads(to_toml(recorded))["set"]) == {"svm": {"clip": None, "C": 3}}
