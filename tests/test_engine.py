"""The run engine: planned fits, backends that agree, a fit cache that never fits twice, crashes contained."""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.run.config import RunConfig
from benchmark.run.engine import RunInterrupted, run_benchmark
from benchmark.run.fitcache import fit_key, row_digests, rows_digest
from tests.helpers import FAST_XGBOOST as FAST
from tests.helpers import engine_config, link_cache

ROOT = Path(__file__).resolve().parents[1]


def config(tmp_path, corpus_dir, cache, **changes) -> RunConfig:
    return engine_config(tmp_path, corpus_dir, cache, **changes)


def leaderboard(run_dir: Path) -> bytes:
    return (run_dir / "leaderboard.json").read_bytes()


def test_serial_processes_and_dask_give_byte_identical_leaderboards(tmp_path, shared_cache, small_corpus_dir,
                                                                    shared_features):
    pytest.importorskip("distributed")
    runs = {}
    for backend in ("serial", "processes", "dask"):
        # each backend its own fit cache (every fit runs in it: fits_run == 6), the session's features
        own = link_cache(tmp_path / backend / "cache", shared_cache, shared_features)
        cfg = config(tmp_path / backend, small_corpus_dir, own, backend=backend, folds=2,
                     models=("svm", "xgboost", "dnn"), model_params={**FAST, "dnn": {"max_epochs": 2, "hidden": [8]}})
        result = run_benchmark(cfg)
        assert result.fits_run == 6 and result.fits_cached == 0
        runs[backend] = result.run_dir
    for backend in ("processes", "dask"):
        assert leaderboard(runs[backend]) == leaderboard(runs["serial"]), backend
        assert (runs[backend] / "predictions.csv").read_bytes() == (runs["serial"] / "predictions.csv").read_bytes()
    fits = json.loads((runs["processes"] / "run.json").read_text())["fits"]
    assert fits["backend"] == "processes" and fits["parallel"] * fits["threads_per_fit"] <= 2


def test_running_again_fits_nothing_and_prints_the_same_tables(tmp_path, small_corpus_dir, cache):
    first = run_benchmark(config(tmp_path / "a", small_corpus_dir, cache))
    second = run_benchmark(config(tmp_path / "b", small_corpus_dir, cache))
    assert (first.fits_run, first.fits_cached) == (6, 0)
    assert (second.fits_run, second.fits_cached) == (0, 6)
    for name in ("leaderboard.json", "leaderboard.md", "predictions.csv"):
        assert (first.run_dir / name).read_bytes() == (second.run_dir / name).read_bytes()


def test_adding_a_model_or_changing_a_parameter_fits_only_that(tmp_path, small_corpus_dir, cache):
    run_benchmark(config(tmp_path / "a", small_corpus_dir, cache, models=("svm",)))
    added = run_benchmark(config(tmp_path / "b", small_corpus_dir, cache))
    assert (added.fits_run, added.fits_cached) == (3, 3)  # xgboost's 3 folds are new, svm's come back
    changed = run_benchmark(config(tmp_path / "c", small_corpus_dir, cache,
                                   model_params={"xgboost": {"n_estimators": 15, "max_depth": 2}}))
    assert (changed.fits_run, changed.fits_cached) == (3, 3)


def test_adding_a_feature_set_fits_only_the_entries_that_use_it(tmp_path, small_corpus_dir, cache):
    run_benchmark(config(tmp_path / "a", small_corpus_dir, cache, models=("svm",), ablation=True))
    grown = run_benchmark(config(tmp_path / "b", small_corpus_dir, cache, models=("svm",), ablation=True,
                                 features=("mfcc", "rms", "zcr")))
    # cached: the ablation's mfcc-alone and rms-alone folds; new: zcr alone and the three-set bank
    assert (grown.fits_cached, grown.fits_run) == (6, 6)


COUNTING_PLUGIN = """
import os
from pathlib import Path
from models import register_model
from models.classical import SVMClassifier

class Interrupting(SVMClassifier):
    def fit(self, X, y, groups=None):
        marker = Path(os.environ["SER_TEST_MARKER"])
        fits = int(marker.read_text()) if marker.exists() else 0
        marker.write_text(str(fits + 1))
        if fits + 1 == int(os.environ.get("SER_TEST_STOP_AT", "0")):
            raise KeyboardInterrupt
        return super().fit(X, y, groups)

register_model("interrupting", Interrupting, description="an SVM that stops the run at the n-th fit")
"""


def test_an_interrupted_grid_resumes_without_refitting_finished_fits(tmp_path, small_corpus_dir, cache, monkeypatch):
    plugin = tmp_path / "interrupting.py"
    plugin.write_text(COUNTING_PLUGIN)
    marker = tmp_path / "fits.txt"
    monkeypatch.setenv("SER_TEST_MARKER", str(marker))
    monkeypatch.setenv("SER_TEST_STOP_AT", "3")
    cfg = config(tmp_path, small_corpus_dir, cache, models=("interrupting",), plugins=(str(plugin),),
                 protocols=("speaker", "stratified"), model_params={})
    with pytest.raises(RunInterrupted, match="2 of 6 fits finished and are cached"):
        run_benchmark(cfg)
    assert not any((tmp_path / "out").iterdir())  # no half-written run folder
    monkeypatch.setenv("SER_TEST_STOP_AT", "0")
    marker.write_text("0")
    resumed = run_benchmark(cfg)
    assert (resumed.fits_cached, resumed.fits_run) == (2, 4)
    assert marker.read_text() == "4"  # the model was fitted 4 more times, not 6


def test_the_fit_key_changes_with_everything_that_decides_a_fit():
    X = np.arange(24, dtype=np.float32).reshape(6, 4)
    d = row_digests(X)
    y = np.array(list("aabbab"))
    s = np.array(list("112233"))
    train, test = np.arange(4), np.arange(4, 6)
    base = dict(model="svm", params={"C": 10}, code="c1", seed=0, versions={"scikit-learn": "1"},
                train=rows_digest(d[train], y[train], s[train]), test=rows_digest(d[test]), dev=None)
    key = fit_key(**base)
    assert fit_key(**base) == key
    X2 = X.copy()
    X2[0, 0] += 1
    y2 = y.copy()
    y2[1] = "b"
    s2 = s.copy()
    s2[0] = "9"
    variants = [dict(model="xgboost"), dict(params={"C": 1}), dict(code="c2"), dict(seed=1),
                dict(versions={"scikit-learn": "2"}), dict(train=rows_digest(row_digests(X2)[train], y[train], s[train])),
                dict(train=rows_digest(d[train], y2[train], s[train])), dict(train=rows_digest(d[train], y[train], s2[train])),
                dict(test=rows_digest(d[[5, 4]])), dict(dev=rows_digest(d[:1], y[:1]))]
    keys = {fit_key(**{**base, **change}) for change in variants}
    assert key not in keys and len(keys) == len(variants)
    # a sequence is its real frames: the padding width (the corpus's longest clip) changes no key
    short = np.full((2, 5, 3), np.nan, dtype=np.float32)
    short[0, :2], short[1, :4] = 1.0, 2.0
    wide = np.full((2, 9, 3), np.nan, dtype=np.float32)
    wide[:, :5] = short
    assert list(row_digests(short)) == list(row_digests(wide))
    assert row_digests(short)[0] != row_digests(short)[1]
    # rows are identified by content, not position: the same rows in a reordered table give the same key
    perm = np.array([3, 2, 1, 0, 5, 4])
    dp = row_digests(X[perm])
    assert rows_digest(dp[[3, 2, 1, 0]], y[perm][[3, 2, 1, 0]], s[perm][[3, 2, 1, 0]]) == base["train"]


CRASHING_PLUGIN = """
import os
from pathlib import Path
from models import register_model
from models.classical import SVMClassifier

class Crashing(SVMClassifier):
    def fit(self, X, y, groups=None):
        marker = Path(MARKER)
        if ALWAYS or not marker.exists():
            marker.write_text("crashed")
            os._exit(9)  # as if killed: no exception, the worker process is gone
        return super().fit(X, y, groups)

register_model(NAME, Crashing, description="an SVM whose worker dies")
"""


@pytest.mark.parametrize("always", [False, True])
def test_a_dead_worker_is_retried_once_then_reported(tmp_path, small_corpus_dir, cache, always):
    plugin = tmp_path / "crashing.py"  # worker processes outlive a test: settings travel in the source
    name = f"crashing_{'always' if always else 'once'}"  # one registered name per plugin in this process
    plugin.write_text(f"MARKER = {str(tmp_path / 'crashed.txt')!r}\nALWAYS = {always}\nNAME = {name!r}\n"
                      + CRASHING_PLUGIN)
    # two folds: each dead worker is a new process to start, and two folds show the retry as well as three
    cfg = config(tmp_path, small_corpus_dir, cache, models=(name, "svm"), plugins=(str(plugin),),
                 backend="processes", model_params={}, folds=2)
    result = run_benchmark(cfg)  # svm still succeeds: the run finishes
    folds = result.folds.set_index("model")
    if always:
        assert set(folds.loc[name, "status"]) == {"failed"}
        assert all("worker died twice" in e for e in folds.loc[name, "error"])
    else:
        assert set(folds.loc[name, "status"]) == {"ok"}
    assert set(folds.loc["svm", "status"]) == {"ok"}


def test_features_imports_nothing_from_benchmark_or_models():
    offenders = []
    for path in (ROOT / "features").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("benchmark", "models")]
    assert offenders == []


BUGGY_PLUGIN = """
from models import register_model
from models.classical import SVMClassifier

class Buggy(SVMClassifier):
    def fit(self, X, y, groups=None):
        return {}["a key the author forgot"]

register_model("buggy", Buggy, description="raises inside fit")
"""


def test_a_bug_inside_a_model_exits_1_with_a_traceback_path(tmp_path, small_corpus_dir, cache, capsys):
    plugin = tmp_path / "buggy.py"
    plugin.write_text(BUGGY_PLUGIN)
    code = main(["run", "--dataset", "synthetic", "--data-dir", str(small_corpus_dir), "--models", "buggy",
                 "--plugin", str(plugin), "--features", "rms", "--folds", "2", "--protocols", "speaker",
                 "--cache-dir", str(cache), "--out", str(tmp_path / "o"), "--quiet", "--backend", "serial"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 1
    assert "every fit failed" in out[-1] and "failures.txt" in out[-1]
    (run_dir,) = (tmp_path / "o").iterdir()
    assert "KeyError" in (run_dir / "failures.txt").read_text() and (run_dir / "leaderboard.md").is_file()


def test_a_bug_in_our_code_exits_1_and_writes_the_traceback(monkeypatch, capsys):
    import benchmark.cli.corpus as corpus_command

    def broken(args):
        raise ZeroDivisionError("an internal slip")

    monkeypatch.setattr(corpus_command, "_list", broken)
    monkeypatch.delenv("SER_DEBUG", raising=False)
    assert main(["list"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error: ZeroDivisionError: an internal slip" in err[0]
    path = Path(err[0].split("full traceback in ")[1].split(";")[0])
    assert "ZeroDivisionError" in path.read_text()


def test_a_user_mistake_exits_2_with_one_line(tmp_path, capsys):
    assert main(["run", "--set", "svm.C=abc", "--models", "svm"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--set svm.C='abc': must be a number" in err[0]


def test_no_plugin_source_is_needed_on_a_worker_disk(tmp_path):
    from benchmark.run.fitting import load_plugin_sources
    from models.registry import MODELS

    source = textwrap.dedent("""
        from models import register_model
        from models.classical import SVMClassifier
        register_model("shipped", SVMClassifier, description="registered from shipped source")
    """).encode()
    load_plugin_sources((("shipped.py", source),))
    load_plugin_sources((("shipped.py", source),))  # once per process, however often it arrives
    assert "shipped" in MODELS
