"""The fault suite (issue 9): bad input and faults tried as a hostile user would, one class at a time.

Every case asserts the exit code, the one-line message naming the culprit (file, flag or feature set), and that
nothing finished was lost (the feature and fit caches keep what was done; a rerun reports cache hits).

1. No two processes compile the same numba function into a shared cache at once (numba issue 10128).
2. Everything a run needs is checked before any audio is decoded.
3. A model cannot corrupt the scores.
4. No traceback for a user's input, no silent drop.
5. What is written can be trusted, what is read is checked.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from benchmark.cli import main
from features.config import AnalysisConfig
from features.errors import UserInputError
from tests.helpers import (
    extract_args,
    nothing_decoded,
    one_line,
    read_rows,
    run_args,
    run_json,
    write_manifest,
    write_tone,
)

ROOT = Path(__file__).resolve().parents[1]
SPEAKERS = 4  # the session's ``mini`` manifest (conftest.py): 4 speakers x 3 emotions x 3 clips
N_CLIPS = 36


# --------------------------------------------------------------------------------------------------------------
# 1. numba's on-disk cache: compiled by one process (a worker of the run's pool) before any other uses it


def test_the_warm_up_compiles_the_chosen_sets_before_any_extraction_task_is_submitted(tmp_path, monkeypatch):
    from features import bank, pool

    clips = [write_tone(tmp_path / f"c{i}.wav", seconds=0.2, seed=i) for i in range(18)]
    order = []

    class Stop(Exception):
        pass

    class NoWorkers:  # the order is all this test needs: no process is started
        def submit(self, *args, **kwargs):
            order.append(("task", None))
            raise Stop

    pending = []

    def recording_start(function, *args, workers=2):
        order.append(("warm-up started", tuple(args[0])))
        pending.append(True)

    def recording_wait():
        order.append(("warm-up joined", None))
        pending.clear()
        return True

    monkeypatch.setattr(bank, "_warmed", set())
    monkeypatch.setattr(pool, "start_warm_up", recording_start)
    monkeypatch.setattr(pool, "wait_for_warm_up", recording_wait)
    monkeypatch.setattr(pool, "warm_up_pending", lambda: bool(pending))
    monkeypatch.setattr(pool, "shared_pool", lambda *args, **kwargs: NoWorkers())
    table = pd.DataFrame({"path": [str(c) for c in clips]})
    cqt = AnalysisConfig(tonnetz_source="cqt")  # librosa's constant-Q route compiles; zcr and chroma do not
    with pytest.raises(Stop):
        bank.extract(table, ["zcr", "chroma", "tonnetz"], cqt, cache_dir=tmp_path / "cache", jobs=2)
    steps = [step for step, _ in order]
    assert steps.index("warm-up started") < steps.index("warm-up joined") < steps.index("task")
    assert order[0][1] == ("tonnetz",)  # only the set that can compile is warmed up
    order.clear()
    with pytest.raises(Stop):  # sets that compile nothing: the tasks go to the workers at once
        bank.extract(table, ["zcr", "chroma", "tonnetz"], cache_dir=tmp_path / "cache2", jobs=2)
    assert [step for step, _ in order] == ["task"]


FRESH_PROCESS = """
import sys
import numpy as np
import librosa
import pandas as pd
from features import extract

y = np.random.default_rng(1).normal(scale=0.1, size=16000).astype(np.float32)
librosa.feature.tonnetz(y=y, sr=16000)            # estimate_tuning -> piptrack: the gufunc that crashed
librosa.feature.zero_crossing_rate(y)
table = pd.DataFrame({"path": sys.argv[1:3]})
feats = extract(table, ["tonnetz", "chroma", "zcr"], use_cache=False, jobs=1)
assert not feats.report.failed, feats.report.failed
print("fresh process ok")
"""


# The built-in sets compile no numba kernel any more (features/lazy_kernels.py); a plugin set still may, and
# then the workers compile librosa's deferred kernels (under the file lock) and write the cache.
KERNEL_PLUGIN = """
import librosa
import numpy as np
from features import feature_set


@feature_set("librosa_kernels")
def librosa_kernels(clip):
    pitches, _ = librosa.piptrack(y=clip.y, sr=clip.sr)  # the gufunc that crashed
    crossings = librosa.zero_crossings(clip.y)
    peaks = librosa.util.localmax(clip.y)
    return {"pitch": float(pitches.max()), "crossings": float(crossings.mean()), "peaks": float(peaks.mean())}
"""


def test_a_fresh_process_loads_what_parallel_workers_left_in_an_empty_numba_cache(mini, tmp_path):
    numba_cache = tmp_path / "numba"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(numba_cache), "PYTHONPATH": str(ROOT)}
    env.pop("SER_DEBUG", None)
    rows = read_rows(mini)[1:19]  # 18 clips: three chunks, so two workers really start
    manifest = write_manifest(tmp_path / "m.csv", rows)
    plugin = tmp_path / "kernels.py"
    plugin.write_text(KERNEL_PLUGIN)
    first = subprocess.run([sys.executable, str(ROOT / "run_benchmark.py"), "extract", "--dataset", "manifest",
                            "--data-dir", str(manifest), "--features", "tonnetz,chroma,zcr,librosa_kernels",
                            "--plugin", str(plugin), "--jobs", "2", "--cache-dir", str(tmp_path / "cache")],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "18 computed, 0 failed" in first.stdout
    gufuncs = list(numba_cache.rglob("guf-*.nbi"))
    assert gufuncs, "the workers left no numba cache: the test would prove nothing"
    fresh = subprocess.run([sys.executable, "-c", FRESH_PROCESS, rows[0][0], rows[1][0]], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=600)
    assert fresh.returncode == 0, f"exit {fresh.returncode} (-11 or 139 is the segfault): {fresh.stderr[-2000:]}"
    assert "fresh process ok" in fresh.stdout


NUMBA_PROBE = """
import sys, warnings
import numpy as np
from features.analysis import Clip
from features.bank import NUMBA_FREE
from features.config import AnalysisConfig
from features.registry import get_feature_set

warnings.simplefilter("ignore")
if sys.argv[1] == "control":  # a jitted librosa function: it must leave files, or the probe proves nothing
    import librosa
    librosa.util.localmax(np.arange(10.0))
else:
    config = AnalysisConfig()
    rng = np.random.default_rng(0)
    clips = [rng.normal(scale=0.1, size=3 * config.sr), rng.normal(size=800),  # long; fewer frames than a delta
             np.zeros(config.sr), np.clip(rng.normal(size=config.sr), -0.3, 0.3)]  # silent; clipped
    for y in clips:
        clip = Clip(y.astype(np.float32), config)
        for name in sorted(NUMBA_FREE):
            get_feature_set(name).func(clip)
print("probe ok")
"""


def test_the_sets_computed_without_a_warm_up_compile_no_numba_function(tmp_path):
    """The sets of features.bank.NUMBA_FREE skip the numba warm-up; each computed in a fresh process must
    leave an empty numba cache (a set that starts compiling, after a librosa update, say, fails this)."""
    from features.bank import NUMBA_FREE, compiles_numba
    from features.config import AnalysisConfig

    written = {}
    for mode in ("sets", "control"):
        cache = tmp_path / mode
        env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-c", NUMBA_PROBE, mode], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=600)
        assert done.returncode == 0 and "probe ok" in done.stdout, done.stderr[-2000:]
        written[mode] = sorted(p.name for p in cache.rglob("*") if p.is_file())
    assert written["control"], "a jitted function left no cache file: the probe cannot see compilation"
    assert written["sets"] == [], f"compiled by a set that skips the warm-up: {written['sets'][:5]}"
    assert not any(compiles_numba(n, AnalysisConfig()) for n in NUMBA_FREE)
    assert compiles_numba("tonnetz", AnalysisConfig(tonnetz_source="cqt"))  # the constant-Q route is jitted


# --------------------------------------------------------------------------------------------------------------
# 2. Everything checked before any audio is decoded


@pytest.mark.parametrize("flags,culprit", [
    (["--analysis", "win_ms=0.01"], "win_ms=0.01"),
    (["--analysis", "contrast_bands=9"], "contrast_bands=9"),
    (["--analysis", "n_mfcc=12.5"], "n_mfcc=12.5"),
    (["--analysis", "n_mels=20.5"], "n_mels=20.5"),
    (["--sr", "100"], "sr=100"),
    (["--sr", "10000000"], "sr=10000000"),
    (["--analysis", "hop_ms=40"], "hop_ms=40"),
    (["--analysis", "fmax=12000"], "fmax=12000"),
    (["--analysis", "fmin=-5"], "fmin=-5"),
    (["--analysis", "seq_pool=x"], "seq_pool='x'"),
    (["--analysis", "seq_pool=2.5"], "seq_pool=2.5"),
    (["--sr", "8000"], "contrast_bands=6"),  # six octaves from 100 Hz do not fit under 4 kHz
])
def test_analysis_settings_out_of_range_are_one_line_naming_setting_and_range(mini, tmp_path, capsys, flags,
                                                                              culprit):
    cache = tmp_path / "cache"
    assert main(run_args(mini, cache, tmp_path / "out", *flags)) == 2
    line = one_line(capsys)
    flag = "--sr" if culprit.startswith("sr=") else "--analysis"  # the flag the setting was given with
    assert line.startswith(f"run_benchmark.py: error: {flag}: {culprit}:"), line
    assert any(word in line for word in ("between", "at least", "at most", "above", "whole number")), line
    assert nothing_decoded(cache) and not (tmp_path / "out").exists()


SETTING_VALUES = st.one_of(st.integers(-10, 300_000), st.floats(allow_nan=True, allow_infinity=True),
                           st.sampled_from(["", "x", "stft", "cqt", "mean"]), st.booleans(), st.none(),
                           st.lists(st.sampled_from(["mean", "std", "max", "bogus"]), max_size=3))
SETTINGS = st.dictionaries(st.sampled_from(["sr", "win_ms", "hop_ms", "n_mels", "fmin", "fmax", "n_mfcc", "deltas",
                                            "stats", "chroma_tuning", "contrast_fmin", "contrast_bands",
                                            "tonnetz_source", "seq_pool", "seq_max_len"]), SETTING_VALUES,
                           max_size=4)


@settings(max_examples=300, deadline=None, database=None)
@given(SETTINGS)
def test_any_analysis_settings_give_a_config_or_one_line_naming_a_setting(changes):
    from dataclasses import asdict

    from features import AnalysisConfig
    from features.config import CONFIG_FIELDS

    try:
        config = AnalysisConfig(**changes)
    except UserInputError as error:
        message = str(error)
        assert "\n" not in message
        assert message.split("=")[0] in CONFIG_FIELDS or message.startswith("unknown statistic"), message
        return
    hash(config)  # a cache key: hashable, JSON-able, rebuilt equal from its own fields
    json.dumps(config.subset(None), sort_keys=True)
    assert AnalysisConfig(**asdict(config)) == config
    assert config.win_length >= 16 and 1 <= config.hop_length <= config.win_length <= config.n_fft
    assert 1 <= config.n_mfcc <= config.n_mels <= config.n_fft // 2 + 1


VALID_SETTINGS = st.fixed_dictionaries({
    "sr": st.sampled_from([8000, 11025, 16000, 22050, 44100]),
    "win_ms": st.floats(2.0, 80.0), "hop_ratio": st.floats(0.05, 1.0),
    "n_mels": st.integers(2, 96), "n_mfcc": st.integers(2, 40),
    "fmin": st.floats(0.0, 400.0), "fmax": st.none() | st.floats(1000.0, 4000.0),
    "contrast_bands": st.integers(1, 6), "contrast_fmin": st.floats(20.0, 400.0),
    "stats": st.sampled_from([("mean",), ("mean", "std"), ("p10", "p50", "slope")]),
    "seq_pool": st.integers(1, 8), "chroma_tuning": st.floats(-0.5, 0.5),
})


@settings(max_examples=6, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(VALID_SETTINGS)
def test_every_accepted_analysis_config_runs_every_builtin_set(changes):
    """The converse: what the validation lets through must not crash a built-in set (short clip included)."""
    import warnings

    from features import AnalysisConfig, Clip
    from features.registry import REGISTRY, as_sequence, as_vector

    changes = dict(changes)
    changes["hop_ms"] = changes["win_ms"] * changes.pop("hop_ratio")
    try:
        config = AnalysisConfig(**changes)
    except UserInputError:
        config = None  # refused with a message: the other property covers that
    # an example the validation refuses runs nothing: it must not count as one that passed (if every example
    # were refused, Hypothesis fails the test as unsatisfiable instead of passing it)
    assume(config is not None)
    y = np.random.default_rng(0).normal(scale=0.1, size=int(0.3 * config.sr)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, spec in REGISTRY.items():
            if not spec.builtin or name.startswith(("opensmile", "egemaps", "compare")):
                continue
            result = spec.func(Clip(y, config, "probe"))
            values = as_sequence(result, spec) if spec.kind == "sequence" else as_vector(result, spec)[0]
            assert np.size(values) > 0, name


@pytest.mark.parametrize("flags,culprit", [
    (["--set", "svn.C=1"], "unknown model 'svn'"),
    (["--set", "svm.Cee=1"], "--set svm.Cee"),
    (["--set", "svm.C=high"], "--set svm.C='high': must be a number >= 1e-30"),
    (["--set", "svm.C=-1"], "--set svm.C=-1: must be a number >= 1e-30"),
    (["--set", "dnn.dropout=1.5"], "--set dnn.dropout=1.5: must be a number >= 0 and < 1"),
    (["--set", "dnn.hidden=[64,0]"], "--set dnn.hidden=[64, 0]: must be a list of at least one whole number(s), each at least 1"),
    (["--set", "xgboost.n_estimators=0"], "--set xgboost.n_estimators=0: must be a whole number >= 1"),
    (["--seed", "-1"], "--seed -1"),
    (["--jobs", "0"], "--jobs 0"),
    (["--folds", "1"], "--folds 1"),
    (["--folds", "1000"], "--folds 1000"),
    (["--protocols", "stratified", "--folds", "13"], "--folds 13: too many for the stratified protocol"),
])
def test_bad_run_settings_fail_before_any_audio_is_decoded(mini, tmp_path, capsys, flags, culprit):
    cache = tmp_path / "cache"
    assert main(run_args(mini, cache, tmp_path / "out", *flags)) == 2
    line = one_line(capsys)
    assert culprit in line, line
    assert nothing_decoded(cache)


def test_stratified_folds_are_never_reduced_silently(mini, tmp_path, capsys):
    cache = tmp_path / "cache"
    assert main(run_args(mini, cache, tmp_path / "out", "--protocols", "stratified", "--folds", "13")) == 2
    assert "allowed: --folds 2 to 12" in one_line(capsys)  # each emotion has 12 clips
    assert nothing_decoded(cache)


def test_speaker_folds_beyond_the_speakers_fall_back_to_loso_and_say_so(mini, warm, tmp_path, capsys):
    assert main(run_args(mini, warm, tmp_path / "out", "--folds", "10", quiet=False)) == 0
    out = capsys.readouterr().out
    assert f"--folds 10: the corpus has {SPEAKERS} speakers" in out
    assert f"one speaker out per fold ({SPEAKERS} folds)" in out
    folds = pd.read_csv(next((tmp_path / "out").iterdir()) / "folds.csv")
    assert len(folds) == SPEAKERS


@pytest.mark.parametrize("kind", ["a file", "below a file"])
def test_an_unwritable_out_fails_before_any_audio_is_decoded(mini, tmp_path, capsys, kind):
    blocker = tmp_path / "results.txt"
    blocker.write_text("not a folder")
    out = blocker if kind == "a file" else blocker / "runs"
    cache = tmp_path / "cache"
    assert main(run_args(mini, cache, out)) == 2
    line = one_line(capsys)
    assert f"--out {out}" in line
    assert nothing_decoded(cache)


@pytest.mark.parametrize("rows,culprit", [
    ([("f01", "0"), ("", "1")], "line 3: empty speaker cell"),
    ([("f01", "0"), ("f01", "1")], "speaker 'f01' listed twice"),
    ([("f01", "0"), ("nobody", "1")], "not in the corpus"),
    ([("f01", "0"), ("f02", "one")], "is not an integer"),
])
def test_bad_fold_files_fail_before_any_audio_is_decoded(mini, tmp_path, capsys, rows, culprit):
    fold_file = tmp_path / "folds.csv"
    write_manifest(fold_file, rows, header=("speaker", "fold"))
    cache = tmp_path / "cache"
    assert main(run_args(mini, cache, tmp_path / "out", "--fold-file", str(fold_file))) == 2
    line = one_line(capsys)
    assert str(fold_file) in line and culprit in line, line
    assert nothing_decoded(cache)


FOLD_CELLS = st.sampled_from(["", " ", "f01", "f02", "m01", "m02", "01", "f01 ", "ghost", "0", "1", "2", "-1",
                              "1.5", "x", "train", "test", "dev", "TEST", "valid", '"', "é"])


@settings(max_examples=150, deadline=None, database=None)
@given(header=st.sampled_from([["speaker", "fold"], ["speaker", "fold", "part"], ["Speaker", " fold "],
                               ["fold", "speaker"], ["speaker"], []]),
       rows=st.lists(st.lists(FOLD_CELLS, min_size=0, max_size=4), max_size=8),
       bom=st.booleans())
def test_any_fold_file_is_a_usable_plan_or_one_line_naming_the_file(header, rows, bom):
    from benchmark.evaluation.protocols import ProtocolError, validate_fold_file

    corpus_speakers = ["f01", "f02", "m01", "m02"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "folds.csv"
        with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as handle:
            csv.writer(handle).writerows([header, *rows])
        try:
            parsed = validate_fold_file(path, corpus_speakers)
        except ProtocolError as error:
            message = str(error)
            assert "\n" not in message and str(path) in message, message
            return
        for plan in parsed.plan(corpus_speakers):
            assert set(plan) == set(corpus_speakers)
            assert "train" in plan.values() and "test" in plan.values()


# --------------------------------------------------------------------------------------------------------------
# 3. A model cannot corrupt the scores

LIARS = """
import numpy as np
from models import register_model
from models.classical import SVMClassifier


class Short(SVMClassifier):
    def predict(self, X):
        return super().predict(X)[:-1]


class Stranger(SVMClassifier):
    def predict(self, X):
        labels = super().predict(X).astype(object)
        labels[::2] = "bored"  # half the rows get a label never trained on: they must not drop out of the UAR
        return labels


class Unnormalised(SVMClassifier):
    def predict_proba(self, X):
        return super().predict_proba(X) * 2.0


class NaNs(SVMClassifier):
    def predict_proba(self, X):
        proba = super().predict_proba(X)
        proba[0, 0] = np.nan
        return proba


register_model("short", Short, description="one prediction too few")
register_model("stranger", Stranger, description="predicts a label it was not trained on")
register_model("unnormalised", Unnormalised, description="probabilities summing to 2")
register_model("nans", NaNs, description="a NaN probability")
"""


@pytest.fixture(scope="module")
def liars(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("liars") / "liars.py"
    path.write_text(LIARS)
    return path


def test_bad_predictions_fail_their_fold_with_the_reason_and_the_rest_is_scored(mini, warm, liars, tmp_path):
    out = tmp_path / "out"
    args = run_args(mini, warm, out, "--models", "svm,short,stranger,unnormalised,nans", "--plugin", str(liars))
    assert main(args) == 0
    (run_dir,) = out.iterdir()
    folds = pd.read_csv(run_dir / "folds.csv", keep_default_na=False).set_index("model")
    assert set(folds.loc["svm", "status"]) == {"ok"}
    reasons = {"short": f"expected {N_CLIPS // 2} labels", "stranger": "label(s) bored never seen in training",
               "unnormalised": "bad probabilities", "nans": "bad probabilities"}
    for model, reason in reasons.items():
        assert set(folds.loc[model, "status"]) == {"failed"}, model
        assert all(reason in error for error in folds.loc[model, "error"]), (model, folds.loc[model, "error"])
    assert "stranger" in (run_dir / "failures.txt").read_text()
    board = json.loads((run_dir / "leaderboard.json").read_text())
    assert "bored" not in json.dumps(board)
    # nothing finished was lost: a rerun fits nothing
    assert main(args) == 0
    rerun = json.loads(sorted(p for p in out.iterdir() if p != run_dir)[0].joinpath("run.json").read_text())
    assert rerun["fits"]["run"] == 0 and rerun["fits"]["cached"] == rerun["fits"]["planned"] == 10


def test_a_run_whose_every_fit_failed_exits_1_after_writing_its_tables(mini, warm, liars, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(run_args(mini, warm, out, "--models", "stranger", "--plugin", str(liars))) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "every fit failed" in last and "never seen in training" in last and "failures.txt" in last
    (run_dir,) = out.iterdir()
    for name in ("folds.csv", "leaderboard.md", "failures.txt", "checksums.json"):
        assert (run_dir / name).is_file(), name
    assert main(["export", str(run_dir)]) == 0  # the tables of a failed run are a valid run folder


def test_check_fit_refuses_every_bad_shape():
    from benchmark.run.engine import check_fit
    from benchmark.run.fitting import FitRecord

    labels = np.array(["a", "b", "a"])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    classes = np.array(["a", "b"])
    good = FitRecord("ok", "", labels, proba, classes)
    assert check_fit(good, 3, {"a", "b"}) is None
    bad = {
        "expected 3 labels": FitRecord("ok", "", labels[:2], None, None),
        "expected 3 labels, got shape (3, 1)": FitRecord("ok", "", labels[:, None], None, None),
        "got none": FitRecord("ok", "", None, None, None),
        "never seen in training": FitRecord("ok", "", np.array(["a", "b", "c"]), None, None),
        "bad probabilities: shape": FitRecord("ok", "", labels, proba[:2], classes),
        "bad probabilities: not finite": FitRecord("ok", "", labels, np.where(proba > 0.85, np.inf, proba),
                                                   classes),
        "bad probabilities": FitRecord("ok", "", labels, proba - 0.5, classes),
    }
    for reason, record in bad.items():
        problem = check_fit(record, 3, {"a", "b"})
        assert problem is not None and reason in problem, (reason, problem)
        assert "\n" not in problem


# --------------------------------------------------------------------------------------------------------------
# 4. No traceback for a user's input, no silent drop

BAD_RETURNS = {
    "a_string": ("'oops'", "returned a str 'oops'"),
    "a_dict_of_strings": ("{'loud': 'very'}", "a dict whose value for 'loud' is a str 'very'"),
    "a_matrix": ("np.ones((2, 3))", "returned an array of shape (2, 3)"),
    "nothing": ("None", "returned None"),
    "a_ragged_list": ("[[1.0], [2.0, 3.0]]", "ragged nested list"),
    "a_raise": ("1 / 0", "ZeroDivisionError: division by zero"),
}


@pytest.mark.parametrize("kind", list(BAD_RETURNS))
def test_a_feature_set_failing_on_every_file_names_the_set_and_the_first_reason(mini, warm, tmp_path, capsys,
                                                                                  kind):
    code, reason = BAD_RETURNS[kind]
    name = f"broken_{kind}"
    plugin = tmp_path / f"{name}.py"
    plugin.write_text(f"import numpy as np\nfrom features import feature_set\n\n\n@feature_set({name!r})\n"
                      f"def {name}(clip):\n    return {code}\n")
    assert main(extract_args(mini, warm)) == 0  # rms is in the cache before the broken set comes along
    capsys.readouterr()
    rms_before = sorted((warm / "features" / "rms").rglob("pack-*.npz"))
    assert rms_before  # the extraction above cached rms: the check at the end compares real packs
    out = tmp_path / "out"
    assert main(run_args(mini, warm, out, "--features", f"rms,{name}", "--plugin", str(plugin))) == 2
    line = one_line(capsys)
    assert f"error: feature set {name!r} failed on every file ({N_CLIPS}); first: " in line, line
    assert reason in line, line
    assert not out.exists() or not any(out.iterdir())
    # the sets that worked stay cached: a run without the broken set decodes nothing
    assert main(extract_args(mini, warm)) == 0
    assert f"{N_CLIPS} cache hits, 0 computed" in capsys.readouterr().out
    assert sorted((warm / "features" / "rms").rglob("pack-*.npz")) == rms_before


def test_the_failure_line_blames_the_set_only_when_it_failed_on_everything_it_was_given():
    from features.bank import ExtractionReport

    def report(failures, files):
        r = ExtractionReport(files=files)
        for path, reason, culprit in failures:
            r.failed.append((path, reason))
            if culprit:
                r.failed_by_set[culprit] = r.failed_by_set.get(culprit, 0) + 1
                r.first_failure_of_set.setdefault(culprit, (path, reason))
        return r.failure_line()

    boom = "feature set 'x' failed: RuntimeError: boom"
    assert report([], 3) is None
    assert report([("a", boom, "x"), ("b", boom, "x")], 2) == \
        "feature set 'x' failed on every file (2); first: a: RuntimeError: boom"
    assert report([("a", "cannot be decoded (junk)", None), ("b", boom, "x")], 2) == \
        ("feature set 'x' failed on every file it was given (1; the other 1 could not be decoded); first: b: "
         "RuntimeError: boom")
    assert report([("a", boom, "x")], 2) == f"1 of 2 file(s) could not be analysed; first: a: {boom}"
    assert report([("a", boom, "x"), ("b", "feature set 'y' failed: E: e", "y")], 2).startswith("2 of 2 file(s)")


ODD_RESULTS = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats() | st.text(max_size=4)
    | st.builds(lambda shape: np.ones(shape), st.lists(st.integers(0, 3), max_size=3).map(tuple)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    | st.tuples(inner, inner),
    max_leaves=8)


@settings(max_examples=300, deadline=None, database=None)
@given(ODD_RESULTS)
def test_whatever_a_plugin_set_returns_is_a_vector_or_one_line_naming_the_set(result):
    from features.registry import FeatureError, FeatureSet, as_vector

    spec = FeatureSet("plug", lambda clip: result, 1, "vector", None, None, "", False)
    try:
        values, names = as_vector(result, spec)
    except FeatureError as error:
        message = str(error)
        assert message.startswith("feature set 'plug' returned ") and "\n" not in message, message
        return
    assert values.dtype == np.float64 and values.ndim == 1 and values.size == len(names) > 0
    assert all(n.startswith("plug_") for n in names)


def test_manifest_loops_backslashes_and_symlinked_folders(tmp_path, capsys):
    clips = tmp_path / "clips"
    real = tmp_path / "elsewhere"
    for i in range(4):
        write_tone(real / f"{i}.wav", seed=i)
    clips.mkdir()
    (clips / "linked").symlink_to(real, target_is_directory=True)
    (clips / "loop.wav").symlink_to(clips / "loop.wav")
    rows = [(r"clips\linked\0.wav", "angry", "a"), ("clips/linked/1.wav", "sad", "a"),
            (r"clips\linked\2.wav", "angry", "b"), ("clips/linked/3.wav", "sad", "b"),
            ("clips/loop.wav", "happy", "b")]
    manifest = write_manifest(tmp_path / "manifest.csv", rows)
    assert main(["describe", "--dataset", "manifest", "--data-dir", str(manifest), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["utterances"] == 4 and summary["emotions"] == {"angry": 2, "sad": 2}
    (skip,) = summary["skipped"]
    assert "loop" in skip["path"] and "symbolic link loop" in skip["reason"]


def test_a_folder_corpus_follows_symlinked_folders_and_reports_loops(tmp_path, capsys):
    wav = tmp_path / "emodb" / "wav"
    other = tmp_path / "more"
    write_tone(wav / "03a01Fa.wav")
    write_tone(other / "08a01Wa.wav")
    write_tone(other / "08a02Wa.wav", seed=1)
    (wav / "more").symlink_to(other, target_is_directory=True)
    (other / "back").symlink_to(wav, target_is_directory=True)  # a loop through the linked folder
    assert main(["describe", "--dataset", "emodb", "--data-dir", str(tmp_path / "emodb"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["utterances"] == 3 and summary["speakers"] == 2
    assert any("loop" in s["reason"] for s in summary["skipped"])


def test_single_utterance_speakers_and_emotions_warn(tmp_path):
    from benchmark.corpora import load_corpus

    rows = []
    for i, (emotion, speaker) in enumerate([("angry", "a"), ("angry", "a"), ("sad", "a"), ("sad", "b"),
                                            ("angry", "b"), ("fear", "b"), ("sad", "c")]):
        rows.append((str(write_tone(tmp_path / f"{i}.wav", seed=i)), emotion, speaker))
    corpus = load_corpus("manifest", str(write_manifest(tmp_path / "m.csv", rows)))
    text = " ".join(corpus.warnings)
    assert "1 speaker(s) with a single utterance: c" in text
    assert "1 emotion(s) with a single utterance: fear" in text


MANIFEST_PATHS = st.sampled_from(["a.wav", "sub/b.wav", r"sub\b.wav", "missing.wav", "loop.wav", "", " ",
                                  "junk.wav", "../outside.wav", "a.wav ", "dir"])
MANIFEST_LABELS = st.sampled_from(["angry", "Sad", "neu", "", " ", "x,y", "é", "calm"])


@pytest.fixture(scope="module")
def manifest_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    write_tone(root / "a.wav")
    write_tone(root / "sub" / "b.wav", seed=1)
    (root / "junk.wav").write_bytes(b"RIFF not really")
    (root / "loop.wav").symlink_to(root / "loop.wav")
    (root / "dir").mkdir()
    return root


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(MANIFEST_PATHS, MANIFEST_LABELS, MANIFEST_LABELS), max_size=6))
def test_any_manifest_loads_with_reasons_or_fails_in_one_line(manifest_tree, rows):
    from benchmark.corpora import load_corpus

    with tempfile.NamedTemporaryFile("w", suffix=".csv", dir=manifest_tree, delete=False, newline="") as handle:
        csv.writer(handle).writerows([("path", "emotion", "speaker"), *rows])
    try:
        corpus = load_corpus("manifest", handle.name)
    except UserInputError as error:
        assert "\n" not in str(error)
        return
    finally:
        os.unlink(handle.name)
    # every row is either an utterance or a skip with a reason: nothing vanishes
    assert len(corpus.table) + len(corpus.skipped) == len(rows)
    assert all(skip.reason for skip in corpus.skipped)


# --------------------------------------------------------------------------------------------------------------
# 5. What is written can be trusted, what is read is checked


def _fill_the_disk_while_exporting(monkeypatch):
    import benchmark.run.engine as engine

    def disk_full(run_dir):  # what a write on a full disk raises: an errno, no file name
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(engine, "write_exports", disk_full)
    monkeypatch.delenv("SER_DEBUG", raising=False)


def test_a_full_disk_while_writing_the_run_folder_leaves_nothing_half_written(mini, warm, tmp_path, capsys,
                                                                              monkeypatch):
    out = tmp_path / "out"
    _fill_the_disk_while_exporting(monkeypatch)
    assert main(run_args(mini, warm, out)) == 1
    line = one_line(capsys)
    assert line.startswith("run_benchmark.py: error: cannot write ") and "No space left on device" in line, line
    assert list(out.iterdir()) == []  # no half-written run folder, no hidden temporary folder
    monkeypatch.undo()
    assert main(run_args(mini, warm, out)) == 0  # the fits were cached before the disk filled up
    fits = run_json(out)["fits"]
    assert fits["run"] == 0 and fits["cached"] == fits["planned"]


def test_a_full_disk_while_writing_the_run_folder_names_the_folder(mini, warm, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    _fill_the_disk_while_exporting(monkeypatch)
    assert main(run_args(mini, warm, out)) == 1
    assert str(out) in one_line(capsys)


def test_a_full_disk_in_the_feature_cache_names_the_folder_and_leaves_no_temporary_file(mini, tmp_path, capsys,
                                                                                      monkeypatch):
    import features.cache as cache_module

    cache = tmp_path / "cache"
    real_savez = np.savez
    calls = []

    def savez_until_full(handle, **arrays):
        calls.append(1)
        if len(calls) == 3:
            handle.write(b"half a pack")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_savez(handle, **arrays)

    monkeypatch.setattr(cache_module.np, "savez", savez_until_full)
    monkeypatch.delenv("SER_DEBUG", raising=False)
    assert main(extract_args(mini, cache)) == 1
    line = one_line(capsys)
    assert "No space left on device" in line and f"cannot write {cache / 'features'}" in line, line
    assert list(cache.rglob("*.tmp")) == []
    monkeypatch.undo()
    assert main(extract_args(mini, cache)) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "8 cache hits, 28 computed, 0 failed" in summary  # the chunk written before the fault (8 files) is kept


@pytest.mark.parametrize("edit", ["rename", "drop", "garbage"])
def test_an_edited_columns_file_is_detected_and_the_set_recomputed(mini, tmp_path, capsys, edit):
    cache = tmp_path / "cache"
    assert main(extract_args(mini, cache)) == 0
    capsys.readouterr()
    (columns_file,) = (cache / "features" / "rms").rglob("columns.json")
    columns = json.loads(columns_file.read_text())
    original = list(columns)
    if edit == "rename":
        columns[0] = "rms_loudness"
        columns_file.write_text(json.dumps(columns))
    elif edit == "drop":
        columns_file.write_text(json.dumps(columns[1:]))
    else:
        columns_file.write_text('{"valid": "json, wrong shape"}')
    assert main(extract_args(mini, cache)) == 0
    out = capsys.readouterr().out
    assert f"cache: {columns_file}" in out and "recomputed" in out
    assert out.strip().splitlines()[-1].endswith(f"{N_CLIPS} computed, 0 failed")
    assert json.loads(columns_file.read_text()) == original
    assert main(extract_args(mini, cache)) == 0  # healed for good: every file from the cache
    out = capsys.readouterr().out
    assert "cache:" not in out and f"{N_CLIPS} cache hits, 0 computed, 0 failed" in out


@pytest.mark.parametrize("damage", ["delete a row", "truncate", "edit a score"])
def test_export_refuses_a_run_folder_whose_files_changed(mini, warm, tmp_path, capsys, damage):
    out = tmp_path / "out"
    assert main(run_args(mini, warm, out)) == 0
    (run_dir,) = out.iterdir()
    capsys.readouterr()
    folds = run_dir / "folds.csv"
    lines = folds.read_text().splitlines(keepends=True)
    if damage == "delete a row":
        folds.write_text("".join(lines[:-1]))
    elif damage == "truncate":
        folds.write_text("".join(lines)[: len("".join(lines)) // 2])
    else:
        folds.write_text("".join(lines).replace(",0.", ",9.", 1))
    assert main(["export", str(run_dir)]) == 2
    line = one_line(capsys)
    assert str(folds) in line and "changed since the run wrote it" in line


def test_export_of_an_old_folder_without_checksums_still_checks_its_columns(mini, warm, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(run_args(mini, warm, out)) == 0
    (run_dir,) = out.iterdir()
    capsys.readouterr()
    (run_dir / "checksums.json").unlink()  # as written before checksums existed
    folds = run_dir / "folds.csv"
    pd.read_csv(folds, keep_default_na=False).drop(columns=["uar"]).to_csv(folds, index=False)
    assert main(["export", str(run_dir), "--unverified"]) == 2
    line = one_line(capsys)
    assert str(folds) in line and "missing column(s) uar" in line


def test_an_interrupted_extraction_counts_what_was_cached_and_resumes(mini, tmp_path, capsys, monkeypatch):
    from features import bank

    first = read_rows(mini)[1][0]
    picky = tmp_path / "picky.py"  # fails on one file of the first chunk: that file is not cached
    picky.write_text(f"from features import feature_set\n\n\n@feature_set('picky')\ndef picky(clip):\n"
                     f"    if clip.path == {first!r}:\n        raise ValueError('not this one')\n"
                     f"    return {{'peak': float(abs(clip.y).max())}}\n")
    args = extract_args(mini, tmp_path / "cache", "--features", "rms,picky", "--plugin", str(picky))
    calls = []
    original = bank._compute_chunk

    def interrupt_on_third_chunk(tasks, config, plugin_paths):
        calls.append(len(tasks))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(tasks, config, plugin_paths)

    monkeypatch.setattr(bank, "_compute_chunk", interrupt_on_third_chunk)
    assert main(args) == 130
    line = one_line(capsys)
    done = calls[0] + calls[1] - 1
    assert f"interrupted: {done} of {N_CLIPS} files' features were cached in {tmp_path / 'cache'}" in line, line
    monkeypatch.undo()
    assert main(args) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"{done} cache hits, {N_CLIPS - done - 1} computed, 1 failed" in summary


def test_an_unexpected_error_exits_1_with_a_traceback_file(mini, tmp_path, capsys, monkeypatch):
    from features import bank

    def slip(*args, **kwargs):
        raise ZeroDivisionError("a slip in the bank")

    monkeypatch.setattr(bank, "_assemble", slip)
    monkeypatch.delenv("SER_DEBUG", raising=False)
    assert main(run_args(mini, tmp_path / "cache", tmp_path / "out")) == 1
    line = one_line(capsys)
    assert "internal error: ZeroDivisionError: a slip in the bank" in line
    trace = Path(line.split("full traceback in ")[1].split(";")[0])
    assert "ZeroDivisionError" in trace.read_text()
    trace.unlink()
    assert list((tmp_path / "cache" / "features" / "rms").rglob("pack-*.npz"))  # the features were cached first

