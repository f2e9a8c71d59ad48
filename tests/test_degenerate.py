"""Silent failures caught: the SVM that answered one class for a whole shifted corpus, and the check that flags
a fold whose predictions collapse onto one class or whose probabilities do not vary."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import recall_score

from benchmark.evaluation.degenerate import degenerate_reason
from benchmark.reports.statistics import paired_speaker_test
from benchmark.run.config import RunConfig
from benchmark.run.engine import run_benchmark
from models import make_model
from models.scaling import ClippedStandardScaler

CLASSES = ("angry", "happy", "neutral", "sad")


def shifted_corpora(seed: int = 0, dims: int = 400, per_class: int = 40):
    """Two 'corpora' with the same four emotion clusters; the second recorded 'elsewhere': a few columns that
    are nearly constant in the first (a band energy's minimum on a corpus without digital silence) take values
    thousands of standard deviations away, and every column is offset a little (another channel)."""
    rng = np.random.default_rng(seed)
    centroids = rng.normal(scale=0.6, size=(len(CLASSES), dims))
    y = np.repeat(CLASSES, per_class)
    codes = np.repeat(np.arange(len(CLASSES)), per_class)

    def draw() -> np.ndarray:
        return centroids[codes] + rng.normal(size=(len(y), dims))

    source = draw()
    source[:, :5] = 1.0 + 1e-3 * rng.normal(size=(len(y), 5))  # nearly constant in training
    target = draw() + 0.5
    target[:, :5] = -40.0 + rng.normal(size=(len(y), 5))  # 40 / 1e-3 = 40000 training SDs away
    return source, target, y


def uar(y, predicted) -> float:
    return recall_score(y, predicted, average="macro")


def test_the_old_svm_collapses_on_a_shifted_corpus_and_the_fixed_one_does_not():
    source, target, y = shifted_corpora()
    old = make_model("svm", clip=None, length_norm=False).fit(source, y)
    new = make_model("svm").fit(source, y)
    old_pred, new_pred = old.predict(target), new.predict(target)
    # The mechanism, measured: with plain z-scores every RBF kernel value against the training rows is 0.
    z = old.pipeline_.named_steps["scale"].transform(target)
    gamma = old.gamma_
    from sklearn.metrics.pairwise import rbf_kernel

    assert rbf_kernel(z, old.pipeline_.named_steps["scale"].transform(source), gamma=gamma).max() == 0.0
    assert len(set(old_pred.tolist())) == 1 and uar(y, old_pred) == pytest.approx(1 / len(CLASSES))
    assert degenerate_reason(y, old_pred, old.predict_proba(target)) != ""
    assert uar(y, new_pred) > 0.8
    assert degenerate_reason(y, new_pred, new.predict_proba(target)) == ""


@pytest.mark.parametrize("model", ["logreg", "linsvm"])
def test_linear_models_are_not_decided_by_one_exploding_column(model):
    source, target, y = shifted_corpora(seed=1)
    old = make_model(model, clip=None).fit(source, y)
    new = make_model(model).fit(source, y)
    assert uar(y, new.predict(target)) > uar(y, old.predict(target)) + 0.2
    assert degenerate_reason(y, new.predict(target)) == ""


def test_the_clipped_scaler_is_fitted_on_training_rows_only_and_clips():
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(50, 3)), 1e6 * rng.normal(size=(7, 3))
    scaler = ClippedStandardScaler(clip=4.0).fit(train)
    np.testing.assert_allclose(scaler.mean_, train.mean(axis=0))
    np.testing.assert_allclose(scaler.scale_, train.std(axis=0))
    out = scaler.transform(test)
    assert np.abs(out).max() == 4.0
    inside = (train[:3] - train.mean(0)) / train.std(0)
    np.testing.assert_allclose(scaler.transform(train[:3]), np.clip(inside, -4, 4))
    with pytest.raises(ValueError, match="clip"):
        ClippedStandardScaler(clip=0).fit(train)


def test_degenerate_reason_flags_one_class_and_constant_probabilities_but_not_a_good_model():
    rng = np.random.default_rng(0)
    y = np.repeat(CLASSES, 10)
    assert "predicts sad for 100%" in degenerate_reason(y, ["sad"] * len(y))
    nearly = np.array(["sad"] * 38 + ["angry", "happy"])
    assert "95%" in degenerate_reason(y, nearly)
    constant = np.tile([0.4, 0.3, 0.2, 0.1], (len(y), 1)) + 1e-4 * rng.random((len(y), 4))
    varied_predictions = rng.permutation(y)  # labels that vary, probabilities that do not
    assert "probabilities barely vary" in degenerate_reason(y, varied_predictions, constant)
    good = np.eye(4)[np.repeat(np.arange(4), 10)] * 0.7 + 0.075
    assert degenerate_reason(y, y, good) == ""
    # a test fold that truly is mostly one class, predicted so, is not a collapse
    skewed = np.array(["neutral"] * 36 + ["angry"] * 4)
    assert degenerate_reason(skewed, ["neutral"] * 40) == ""


CONSTANT_PLUGIN = textwrap.dedent('''
    import numpy as np
    from sklearn.base import BaseEstimator, ClassifierMixin
    from models import register_model

    class Constant(ClassifierMixin, BaseEstimator):
        """Answers the first training label for every clip: what a collapsed SVM does."""
        def __init__(self, random_state=0, n_jobs=1):
            self.random_state, self.n_jobs = random_state, n_jobs
        def fit(self, X, y):
            self.classes_ = np.unique(y)
            return self
        def predict(self, X):
            return np.repeat(self.classes_[0], len(X))
        def predict_proba(self, X):
            return np.tile(np.eye(len(self.classes_))[0], (len(X), 1))

    register_model("constant", Constant, description="one class for everything")
''')


def test_a_run_flags_the_degenerate_model_in_every_table_and_not_the_good_one(tmp_path, shared_cache,
                                                                               small_corpus_dir):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "synthetic").symlink_to(shared_cache / "synthetic", target_is_directory=True)
    plugin = tmp_path / "constant.py"
    plugin.write_text(CONSTANT_PLUGIN)
    lines: list[str] = []
    cfg = RunConfig(profile="small", features=("mfcc", "rms"), models=("svm", "constant"), protocols=("speaker",),
                    folds=3, ablation=False, report=True, quiet=False, cache_dir=str(cache),
                    out=str(tmp_path / "out"), plugins=(str(plugin),), jobs=1, backend="serial")
    result = run_benchmark(cfg, log=lines.append)
    folds = pd.read_csv(result.run_dir / "folds.csv", keep_default_na=False)
    assert (folds.loc[folds["model"] == "constant", "degenerate"] != "").all()
    assert (folds.loc[folds["model"] == "svm", "degenerate"] == "").all()
    board = {r["model"]: r for r in json.loads((result.run_dir / "leaderboard.json").read_text())}
    assert board["constant"]["n_degenerate"] == 3 and board["svm"]["n_degenerate"] == 0
    console = "\n".join(lines)
    assert "degenerate 3/3" in console and "degenerate: constant on mfcc+rms / speaker: 3 of 3" in console
    md = (result.run_dir / "leaderboard.md").read_text()
    row = next(line for line in md.splitlines() if "| constant" in line)
    assert "degenerate 3/3" in row
    assert "degenerate" not in next(line for line in md.splitlines() if "| svm" in line)
    assert "Warning: degenerate: constant" in (result.run_dir / "report.html").read_text()


def test_in_corpus_scores_on_the_built_in_corpus_are_unchanged_within_the_paired_test(
        tmp_path, shared_cache, small_corpus_dir):
    """The fix (clipped z-scores and length normalisation) against the SVM as it was, on the same folds."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "synthetic").symlink_to(shared_cache / "synthetic", target_is_directory=True)
    runs = {}
    for name, params in (("old", {"clip": None, "length_norm": False}), ("new", {})):
        cfg = RunConfig(profile="small", features=("all",), models=("svm",), protocols=("speaker",), folds=3,
                        ablation=False, report=False, quiet=True, cache_dir=str(cache), out=str(tmp_path / name),
                        model_params={"svm": params} if params else {}, jobs=2, backend="serial")
        runs[name] = pd.read_csv(run_benchmark(cfg).run_dir / "predictions.csv", keep_default_na=False)
    old, new = (runs[k].sort_values("row").reset_index(drop=True) for k in ("old", "new"))
    assert (old["row"] == new["row"]).all()
    test = paired_speaker_test(old["emotion"], new["predicted"], old["predicted"], old["speaker"])
    assert test.p_value >= 0.05, (test.uar_a, test.uar_b, test.p_value)
    assert abs(test.uar_a - test.uar_b) < 0.1


def test_old_run_folders_without_the_column_read_as_not_degenerate(tmp_path):
    from benchmark.reports.rundir import read_folds

    path = Path(tmp_path / "folds.csv")
    pd.DataFrame([{"table": "leaderboard", "features": "all", "model": "svm", "protocol": "speaker",
                   "speaker_norm": False, "fold": 0, "status": "ok", "uar": 0.5, "wa": 0.5, "f1": 0.5}]
                 ).to_csv(path, index=False)
    assert read_folds(path)["degenerate"].tolist() == [""]
