"""`run --robustness`: the clean fit predicts degraded copies of its test fold; nothing is refitted, clean scores
do not move, babble never holds a test speaker's audio, and degraded features are cached."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.evaluation.protocols import make_folds
from benchmark.run import fitting
from benchmark.run.engine import run_benchmark
from benchmark.run.robustness import babble_sources
from tests.helpers import engine_config as config
from tests.helpers import link_cache, write_tone

SCORES = ["features", "model", "protocol", "fold", "status", "uar", "wa", "f1"]


def _folds(run_dir):
    return pd.read_csv(run_dir / "folds.csv", keep_default_na=False)[SCORES]


def test_babble_sources_are_training_clips_of_other_speakers_never_test_speakers():
    speakers = np.repeat([f"s{i}" for i in range(6)], 5)
    table = pd.DataFrame({"speaker": speakers, "emotion": np.tile(list("abcde"), 6), "text": None,
                          "corpus": "c", "path": [f"{i}.wav" for i in range(30)]})
    rng = np.random.default_rng(0)
    for fold in make_folds("speaker", table, 3, 0):
        test_speakers = set(speakers[fold.test])
        for row in fold.test:
            chosen = babble_sources(fold, row, speakers, rng)
            assert len(chosen) == 4
            assert set(chosen) <= set(fold.train.tolist())
            assert not set(speakers[chosen]) & test_speakers
            assert len(set(speakers[chosen])) == 4  # four distinct talkers (4 training speakers exist)


def test_a_robustness_run_refits_nothing_and_leaves_the_clean_scores_as_they_were(tmp_path, small_corpus_dir, cache,
                                                                                 monkeypatch):
    clean = run_benchmark(config(tmp_path, small_corpus_dir, cache))
    fits = []
    real = fitting.fit_model

    def counting(model, X, y, groups, train, dev=None):
        fits.append((type(model).__name__, np.asarray(X[train]).copy()))
        return real(model, X, y, groups, train, dev)

    monkeypatch.setattr(fitting, "fit_model", counting)
    other = tmp_path / "fresh-cache"  # no fit cache: every fit runs, and is counted (clean features shared)
    other.mkdir()
    (other / "features").symlink_to(cache / "features", target_is_directory=True)
    robust = run_benchmark(config(tmp_path, small_corpus_dir, other, robustness=("level@0", "white@5", "babble@5")))
    planned = json.loads((robust.run_dir / "run.json").read_text())["fits"]["planned"]
    assert len(fits) == planned == clean.fits_run  # one fit per clean fold, none for any condition
    clean_inputs = {X.tobytes() for _, X in fits}
    assert len(clean_inputs) == planned  # each fit on its own fold's clean training rows
    pd.testing.assert_frame_equal(_folds(clean.run_dir), _folds(robust.run_dir))
    # the clean leaderboard is byte-identical
    assert (clean.run_dir / "leaderboard.md").read_text().split("\n", 3)[3] == \
        (robust.run_dir / "leaderboard.md").read_text().split("\n", 3)[3]

    degraded = pd.read_csv(robust.run_dir / "robustness" / "predictions.csv", keep_default_na=False)
    preds = pd.read_csv(robust.run_dir / "predictions.csv", keep_default_na=False)
    same = degraded[degraded["condition"] == "level@0"].merge(preds, on=["model", "fold", "row"])
    # a condition that changes nothing gives exactly the clean predictions: rows and folds line up
    assert len(same) == len(preds) and (same["predicted_x"] == same["predicted_y"]).all()
    noisy = degraded[degraded["condition"] == "white@5"].merge(preds, on=["model", "fold", "row"])
    assert (noisy["predicted_x"] != noisy["predicted_y"]).any()

    table = pd.read_csv(robust.run_dir / "robustness" / "table.csv")
    level = table[table["condition"] == "level@0"]
    assert (level["delta"] == 0).all() and (level["p_value"] == 1).all()
    assert table[table["condition"] == "white@5"]["ci_low"].notna().all()
    info = json.loads((robust.run_dir / "run.json").read_text())["robustness"]
    assert info["conditions"]["babble@5"]["snr_db"] == 5.0 and info["conditions"]["white@5"]["kind"] == "white"
    # babble of every test clip came from its fold's training speakers
    splits = pd.read_csv(robust.run_dir / "splits.csv", keep_default_na=False)
    splits["speaker"] = splits["speaker"].astype(str)
    fold_of = splits["test_fold_speaker"].to_numpy()
    for key, rows in info["babble_source_rows"].items():
        protocol, row = key.split(":")
        assert protocol == "speaker"
        test_speakers = set(splits["speaker"][fold_of == fold_of[int(row)]])
        assert not set(splits["speaker"][rows]) & test_speakers


def test_a_warm_robustness_run_decodes_and_fits_nothing(tmp_path, small_corpus_dir, cache):
    cfg = config(tmp_path, small_corpus_dir, cache, robustness=("white@10",))
    first = run_benchmark(cfg)
    second = run_benchmark(cfg)
    assert first.fits_run > 0 and second.fits_run == 0
    extraction = json.loads((second.run_dir / "run.json").read_text())["robustness"]["extraction"]
    assert extraction["computed"] == 0 and extraction["cache_hits"] == extraction["tasks"] > 0
    a = pd.read_csv(first.run_dir / "robustness" / "table.csv")
    b = pd.read_csv(second.run_dir / "robustness" / "table.csv")
    pd.testing.assert_frame_equal(a, b)


def test_the_degraded_cache_key_holds_clip_condition_seed_and_babble_sources(tmp_path):
    from features.degrade import Condition
    from features.robust import Task, task_key

    a, b, c = (write_tone(tmp_path / f"{n}.wav", seed=i) for i, n in enumerate("abc"))
    base = Task(str(a), Condition("babble", 5.0), "id", (str(b),))
    key = task_key(base, 0)
    assert len(key) == 40 and key == task_key(Task(str(a), Condition("babble", 5.0), "id", (str(b),)), 0)
    others = [task_key(base, 1), task_key(Task(str(c), base.condition, "id", base.sources), 0),
              task_key(Task(str(a), Condition("babble", 10.0), "id", base.sources), 0),
              task_key(Task(str(a), base.condition, "id", (str(c),)), 0)]
    assert key not in others and len(set(others)) == 4


@pytest.fixture(scope="module")
def report_run(tmp_path_factory, shared_cache, small_corpus_dir, shared_features):
    """One run with two degraded conditions, gender groups and the report, read by the tests that only read it."""
    root = tmp_path_factory.mktemp("report-run")
    cache = link_cache(root / "cache", shared_cache, shared_features)
    return run_benchmark(config(root, small_corpus_dir, cache, robustness=("white@5", "white@20"),
                                groups=("gender",), report=True))


def test_groups_write_fairness_tables_and_the_balance_in_the_audit(report_run):
    result = report_run
    tests = pd.read_csv(result.run_dir / "fairness_tests.csv")
    assert set(tests["model"]) == {"svm", "xgboost"} and (tests["column"] == "gender").all()
    assert np.allclose(tests["min_p"], 2 / 20)  # 3 + 3 speakers: never significant
    uars = pd.read_csv(result.run_dir / "fairness.csv")
    assert set(uars["group"]) == {"F", "M"} and (uars["n_speakers"] == 3).all()
    audit = json.loads((result.run_dir / "audit.json").read_text())
    assert audit["groups"]["gender"]["speakers"] == {"F": 3, "M": 3}
    assert "group-gap" not in (result.run_dir / "leaderboard.md").read_text()


@pytest.mark.parametrize("argv, words", [
    (["--groups", "height"], "--groups height: the corpus has no such column"),
    (["--robustness", "hiss@3"], "unknown kind"),
])
def test_bad_flags_are_one_line_errors(tmp_path, capsys, shared_cache, small_corpus_dir, argv, words):
    code = main(["run", "--profile", "small", "--models", "svm", "--out", str(tmp_path), "--quiet",
                 "--cache-dir", str(shared_cache), *argv])
    err = capsys.readouterr().err
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1


def test_a_manifest_column_such_as_age_band_is_kept_for_groups(tmp_path):
    from benchmark.corpora import load_corpus
    from benchmark.evaluation.fairness import check_group_columns

    for name in ("a", "b", "c"):
        write_tone(tmp_path / f"{name}.wav")
    (tmp_path / "manifest.csv").write_text("path,emotion,speaker,gender,age_band,duration\n"
                                           "a.wav,angry,s1,f,20-39,99\nb.wav,sad,s1,f,20-39,99\n"
                                           "c.wav,sad,s2,m,,99\n")
    table = load_corpus("manifest", tmp_path / "manifest.csv").table.set_index("speaker")
    assert table.loc["s1", "age_band"].tolist() == ["20-39", "20-39"] and pd.isna(table.loc["s2", "age_band"])
    assert (table["duration"] < 1).all()  # a column we set ourselves is never taken from the manifest
    check_group_columns(table.reset_index(), ["age_band", "gender"])


def test_the_report_shows_the_robustness_table_ranking_snr_curve_and_fairness_tables(report_run):
    import base64
    import re

    result = report_run
    page = (result.run_dir / "report.html").read_text()
    robust = re.search(r'<section id="robustness">(.*?)</section>', page, re.S).group(1)
    table = pd.read_csv(result.run_dir / "robustness" / "table.csv")
    # every (model, condition) row of table.csv is in the page with its UAR
    for r in table.to_dict("records"):
        assert f"<td>{100 * r['uar']:.1f}</td>" in robust
        assert f"<td class=\"l\">{r['condition']}</td>" in robust
    assert "Rank per condition" in robust
    png = (result.run_dir / "robustness" / "snr.png").read_bytes()
    assert base64.b64encode(png).decode("ascii") in robust  # the SNR curve, embedded
    fair = re.search(r'<section id="fairness">(.*?)</section>', page, re.S).group(1)
    uars = pd.read_csv(result.run_dir / "fairness.csv")
    assert fair.count("<tr>") >= len(uars) + 1
    assert "Gap between the best and worst group" in fair and "gender" in fair
    assert '<a href="#robustness">' in page and '<a href="#fairness">' in page


def test_a_run_without_robustness_or_groups_has_neither_section(tmp_path, small_corpus_dir, cache):
    result = run_benchmark(config(tmp_path, small_corpus_dir, cache, report=True))
    page = (result.run_dir / "report.html").read_text()
    assert 'id="robustness"' not in page and 'id="fairness"' not in page


def test_each_clip_is_decoded_once_for_all_its_conditions(tmp_path, monkeypatch):
    from features import AnalysisConfig, robust
    from features.degrade import Condition
    from features.robust import Task, extract_degraded

    clips = [str(write_tone(tmp_path / f"{i}.wav", seed=i)) for i in range(3)]
    conditions = [Condition("white", 10.0), Condition("white", 20.0), Condition("level", 0.0)]
    # condition-major, as the run builds them: the same clip comes back once per condition
    tasks = [Task(c, cond, f"id{i}", ()) for cond in conditions for i, c in enumerate(clips)]
    reads = []
    real = robust.read_native
    monkeypatch.setattr(robust, "read_native", lambda path: reads.append(path) or real(path))
    # a memo of one clip: only a clip-major order avoids decoding a clip again for each condition
    from functools import lru_cache

    monkeypatch.setattr(robust, "_decoded", lru_cache(maxsize=1)(robust._decoded.__wrapped__))
    out = extract_degraded(tasks, ["rms"], AnalysisConfig(), 0, cache_dir=tmp_path / "cache", jobs=1)
    assert out.computed == len(tasks) and not out.failed
    assert sorted(reads) == sorted(clips)  # one decode per clip, not one per (clip, condition)


def test_a_copy_whose_set_names_other_columns_fails_alone_while_the_names_travel_once_per_chunk(tmp_path):
    """Workers send a set's column names with the first copy of a chunk only; a copy whose names differ still
    fails with its reason, and the copies after it in the chunk keep the right columns and values."""
    from features import AnalysisConfig
    from features.degrade import Condition
    from features.registry import REGISTRY, feature_set
    from features.robust import Task, extract_degraded

    @feature_set("loud_or_quiet", replace=True)
    def loud_or_quiet(clip):  # names that depend on the audio: quiet copies name another column
        level = float(np.sqrt(np.mean(clip.y.astype(np.float64) ** 2)))
        return {"loud": level} if level > 0.01 else {"quiet": level}

    try:
        clip = str(write_tone(tmp_path / "a.wav"))
        conditions = [Condition("white", 20.0), Condition("level", -60.0), Condition("white", 10.0),
                      Condition("level", 0.0)]
        tasks = [Task(clip, c, "a", ()) for c in conditions]
        out = extract_degraded(tasks, ["loud_or_quiet"], AnalysisConfig(), 0, cache_dir=tmp_path / "cache", jobs=1)
        assert sorted(out.failed) == [1] and "other columns" in out.failed[1]
        values = out.vectors["loud_or_quiet"][:, 0]
        assert values[1] == 0.0 and np.all(values[[0, 2, 3]] > 0.01)
        assert out.computed == 3
    finally:
        REGISTRY.pop("loud_or_quiet", None)


def test_a_copy_failed_by_one_set_still_hands_the_next_copy_its_other_sets_columns(tmp_path):
    """Two sets whose names depend on the level: a copy that the first set fails still records the second set's
    new names, so the next copy (whose second set the worker sends as 'same as before') is checked against
    them, not against an older copy's."""
    import soundfile as sf

    from features import AnalysisConfig
    from features.degrade import Condition
    from features.registry import REGISTRY, feature_set
    from features.robust import Task, extract_degraded

    clip = str(write_tone(tmp_path / "a.wav"))
    y, _ = sf.read(clip, dtype="float64")
    base = float(np.sqrt(np.mean(y ** 2)))

    def level(c):
        return float(np.sqrt(np.mean(c.y.astype(np.float64) ** 2)))

    @feature_set("first_band", replace=True)
    def first_band(c):  # other names only between -40 and -20 dB
        return {"in_band" if base * 0.01 < level(c) < base * 0.1 else "outside": level(c)}

    @feature_set("second_quiet", replace=True)
    def second_quiet(c):  # other names below -20 dB
        return {"quiet" if level(c) < base * 0.1 else "loud": level(c)}

    try:
        conditions = [Condition("level", 0.0), Condition("level", -30.0), Condition("level", -60.0)]
        tasks = [Task(clip, c, "a", ()) for c in conditions]
        out = extract_degraded(tasks, ["first_band", "second_quiet"], AnalysisConfig(), 0,
                               cache_dir=tmp_path / "cache", jobs=1)
        assert "'first_band'" in out.failed[1]
        assert "'second_quiet'" in out.failed[2]  # its names are 'quiet', where the clean copy's were 'loud'
        assert sorted(out.failed) == [1, 2] and out.computed == 1
    finally:
        REGISTRY.pop("first_band", None)
        REGISTRY.pop("second_quiet", None)
