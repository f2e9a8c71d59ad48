"""Reports: speaker statistics, per-speaker results, plots, the HTML report and run comparison.

Run folders are built here from constructed predictions in the schema the run engine writes
(``make_run``), so these tests need no model fits and no audio analysis.
"""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.reports.statistics import paired_speaker_test, per_speaker_uar, speaker_bootstrap_ci, uar
from tests.helpers import RUN_EMOTIONS as EMOTIONS
from tests.helpers import make_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- a run folder from constructed predictions ------------------------------------------------------------------

def _speakers_case(n_speakers: int, seed: int = 0, per: int = 14):
    rng = np.random.default_rng(seed)
    labels = np.array(EMOTIONS[:4])
    spk = np.repeat(np.arange(n_speakers), per)
    y = labels[np.tile(np.arange(per) % 4, n_speakers)]
    skill = rng.uniform(0.3, 0.9, n_speakers)[spk]
    pred = np.where(rng.random(len(y)) < skill, y, labels[(np.searchsorted(labels, y) + 1) % 4])
    return y, pred, spk


def test_interval_contains_the_point_and_narrows_as_speakers_are_added():
    widths = []
    for n in (5, 20, 80):
        y, pred, spk = _speakers_case(n)
        point, low, high = speaker_bootstrap_ci(y, pred, spk, n_resamples=500, seed=1)
        assert low <= point <= high and 0 <= low < high <= 1
        assert point == pytest.approx(uar(y, pred))
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    assert widths[0] > 2 * widths[2]


def test_interval_is_seeded_and_follows_the_level():
    y, pred, spk = _speakers_case(12)
    assert speaker_bootstrap_ci(y, pred, spk, seed=3) == speaker_bootstrap_ci(y, pred, spk, seed=3)
    _, low90, high90 = speaker_bootstrap_ci(y, pred, spk, seed=3, level=0.9)
    _, low99, high99 = speaker_bootstrap_ci(y, pred, spk, seed=3, level=0.99)
    assert high90 - low90 < high99 - low99
    # one speaker: nothing to resample, the interval is the point
    point, low, high = speaker_bootstrap_ci(["a", "b"], ["a", "a"], ["s1", "s1"])
    assert point == low == high == 0.5


def test_paired_test_calls_identical_predictions_a_tie_and_a_better_model_better():
    y, pred, spk = _speakers_case(12)
    same = paired_speaker_test(y, pred, pred, spk)
    assert same.diff == 0 and same.p_value == 1.0 and same.verdict == "tie" and same.exact
    rng = np.random.default_rng(5)
    perfect = np.where(rng.random(len(y)) < 0.95, y, pred)
    better = paired_speaker_test(y, perfect, pred, spk)
    assert better.diff > 0.2 and better.significant and better.verdict == "better"
    assert better.p_value == pytest.approx(2 / 2 ** 12)  # every speaker improves: only +-all reach it
    assert paired_speaker_test(y, pred, perfect, spk).verdict == "worse"
    # many speakers: sampled, still clear, and seeded
    y, pred, spk = _speakers_case(30)
    noisy = np.where(np.random.default_rng(2).random(len(y)) < 0.5, pred, y)
    sampled = paired_speaker_test(y, noisy, pred, spk, n_resamples=2000, seed=4)
    assert not sampled.exact and sampled.significant
    assert sampled == paired_speaker_test(y, noisy, pred, spk, n_resamples=2000, seed=4)


def test_paired_test_cannot_reach_significance_with_few_speakers():
    y, pred, spk = _speakers_case(4)
    test = paired_speaker_test(y, y, pred, spk)
    assert test.diff > 0 and test.min_p == pytest.approx(2 / 16) and test.verdict == "tie"


def test_per_speaker_uar_by_hand():
    y = ["a", "a", "b", "b", "a", "b", "b"]
    pred = ["a", "b", "b", "b", "a", "a", "a"]
    spk = ["s1", "s1", "s1", "s1", "s2", "s2", "s2"]
    result = per_speaker_uar(y, pred, spk)
    # s1: recall a = 1/2, recall b = 2/2 -> 0.75; s2: recall a = 1/1, recall b = 0/2 -> 0.5
    assert result == {"s1": (0.75, 4), "s2": (0.5, 3)}
    # s3 has one class only: its UAR is that class's recall
    assert per_speaker_uar(["a", "a"], ["a", "b"], ["s3", "s3"]) == {"s3": (0.5, 2)}


# --- tables with statistics ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("run") / "fixture-run", n_emotions=5, audio=True, claims=True)


@pytest.fixture(scope="module")
def report(run_dir, tmp_path_factory) -> Path:
    from benchmark.reports.html import write_report

    copy = tmp_path_factory.mktemp("report") / run_dir.name
    shutil.copytree(run_dir, copy)
    return write_report(copy)


def test_leaderboard_shows_intervals_and_the_paired_test(run_dir):
    from benchmark.reports.tables import render, render_console

    console = render_console(run_dir)
    assert "95% CI" in console and "vs #1" in console and "best" in console
    assert all(len(line) <= 100 for line in console.splitlines())
    records = json.loads(render(run_dir, "json"))
    si = {r["model"]: r for r in records if r["table"] == "leaderboard" and r["protocol"] == "speaker"}
    assert si["svm"]["rank"] == 1 and si["svm"]["vs_best"] == "best"
    for r in si.values():
        assert r["ci_low"] <= r["uar_pooled"] <= r["ci_high"]
    assert si["dnn"]["vs_best"] in ("worse", "tie") and 0 < si["dnn"]["p_vs_best"] <= 1
    md = " ".join(render(run_dir, "md").split())
    assert "UAR per test speaker (speaker)" in md and "percentile bootstrap over test speakers" in md
    assert "paired permutation test over speakers" in md
    tex = render(run_dir, "latex")
    assert "95\\% CI" in tex and "tab:per-speaker" in tex


def test_identical_models_are_named_a_tie(tmp_path):
    from benchmark.reports.tables import render

    folder = make_run(tmp_path / "r", models={"svm": 0.7, "twin": 0.7, "dnn": 0.2}, identical=("svm", "twin"),
                      n_speakers=9, curves=False, ablation=False)
    records = json.loads(render(folder, "json"))
    si = {r["model"]: r for r in records if r["table"] == "leaderboard" and r["protocol"] == "speaker"}
    ranked = sorted(si.values(), key=lambda r: r["rank"])
    assert {ranked[0]["model"], ranked[1]["model"]} == {"svm", "twin"}
    assert ranked[1]["vs_best"] == "tie" and ranked[1]["p_vs_best"] == 1.0
    assert si["dnn"]["vs_best"] == "worse" and si["dnn"]["p_vs_best"] < 0.05


def test_per_speaker_csv_matches_the_predictions(run_dir, tmp_path):
    from benchmark.reports.tables import write_per_speaker

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    path = write_per_speaker(copy)
    table = pd.read_csv(path, dtype={"speaker": str})
    assert set(table["protocol"]) == {"speaker"} and len(table) == 3 * 6
    predictions = pd.read_csv(copy / "predictions.csv")
    one = predictions[(predictions["table"] == "leaderboard") & (predictions["model"] == "svm")
                      & (predictions["protocol"] == "speaker") & (predictions["speaker"] == "s02")]
    expected = uar(one["emotion"], one["predicted"])
    got = table[(table["model"] == "svm") & (table["speaker"] == "s02")]
    assert got["uar"].item() == pytest.approx(expected, abs=1e-6) and got["n_utterances"].item() == 15


# --- plots and the report -----------------------------------------------------------------------------------------

def test_every_plot_is_a_valid_image(report):
    plots = report.parent / "plots"
    names = {p.stem for p in plots.iterdir()}
    for expected in ("corpus", "examples", "gap", "recall", "per_speaker", "ablation", "confusion__all__svm",
                     "curves__all__dnn"):
        assert expected in names
    for png in plots.glob("*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 2000
    for svg in plots.glob("*.svg"):
        assert ET.parse(svg).getroot().tag.endswith("svg")
    assert len(list(plots.glob("*.png"))) == len(list(plots.glob("*.svg")))


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _parse(path: Path) -> _Collect:
    parser = _Collect()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def test_report_is_self_contained_with_every_table(report):
    text = report.read_text(encoding="utf-8")
    parser = _parse(report)
    images = [a for t, a in parser.tags if t == "img"]
    assert len(images) == len(list((report.parent / "plots").glob("*.png")))
    assert all(a["src"].startswith("data:image/png;base64,") for a in images)
    for tag, attrs in parser.tags:
        for key in ("src", "href"):
            assert not re.match(r"\s*(https?:)?//", attrs.get(key) or ""), (tag, attrs)
    assert "@import" not in text and "url(" not in text
    ids = {a.get("id") for _, a in parser.tags}
    assert {"corpus", "audit", "leaderboard", "claims", "speakers", "confusion", "ablation", "curves",
            "config"} <= ids
    classes = [a.get("class") for t, a in parser.tags if t == "table"]
    assert {"leaderboard", "per-speaker", "ablation"} <= set(classes)
    assert "97% accuracy" in text  # the claims table
    assert "95% CI" in text and "vs #1" in text and "numpy" in text
    assert text.count("<table") == text.count("</table>")


def test_report_rerenders_byte_identically(report, tmp_path):
    from benchmark.reports.html import write_report

    first = report.read_bytes()
    plots = {p.name: p.read_bytes() for p in (report.parent / "plots").iterdir()}
    copy = tmp_path / report.parent.name
    shutil.copytree(report.parent, copy)
    again = write_report(copy)
    assert again.read_bytes() == first
    assert {p.name: p.read_bytes() for p in (copy / "plots").iterdir()} == plots


def test_the_plot_memo_ignores_where_fits_came_from_but_not_what_they_scored(tmp_path):
    from benchmark.reports.html import _plots_key

    folder = make_run(tmp_path / "run")
    folds = pd.read_csv(folder / "folds.csv", keep_default_na=False)
    cold = _plots_key(folder)
    folds.assign(cached=True).to_csv(folder / "folds.csv", index=False)
    assert _plots_key(folder) == cold  # a warm re-run reuses the cold run's plots
    folds.assign(cached=True, uar=folds["uar"] * 0.5).to_csv(folder / "folds.csv", index=False)
    assert _plots_key(folder) != cold


def test_old_run_folder_renders_its_tables_with_notes(tmp_path):
    from benchmark.reports.html import write_report
    from benchmark.reports.tables import FORMATS, render, render_console

    folder = make_run(tmp_path / "old", predictions=False, curves=False)
    (folder / "splits.csv").write_text(pd.read_csv(folder / "splits.csv").drop(columns=["row", "duration", "corpus"])
                                       .to_csv(index=False))
    console = render_console(folder)
    assert "no predictions.csv" in console and "95% CI" not in console and "svm" in console
    for fmt in FORMATS:
        assert "svm" in render(folder, fmt)
    report = write_report(folder)
    text = report.read_text()
    assert "Per-speaker UAR needs predictions.csv" in text
    assert "no curves.csv" in text
    assert "audio files are no longer readable" in text  # the fixture wrote no audio
    assert "Durations: unknown" in text
    assert not (folder / "per_speaker.csv").exists()
    names = {p.stem for p in (folder / "plots").glob("*.png")}
    assert {"gap", "recall", "confusion__all__svm", "corpus", "ablation"} <= names


def test_missing_run_folder_is_a_user_error(tmp_path):
    from benchmark.reports.rundir import RunFolderError, load_run

    with pytest.raises(RunFolderError, match="folds.csv"):
        (tmp_path / "empty").mkdir()
        load_run(tmp_path / "empty")


# --- compare ----------------------------------------------------------------------------------------------------

def test_compare_puts_runs_side_by_side_with_paired_tests(tmp_path, capsys):
    from benchmark.cli import main
    from benchmark.reports.compare import compare, render_compare

    a = make_run(tmp_path / "a", curves=False, ablation=False)
    # Same seed and speakers: the same folds; svm much better, xgboost drawn identically.
    b = make_run(tmp_path / "b", models={"svm": 0.95, "xgboost": 0.6, "dnn": 0.45}, curves=False, ablation=False)
    c = make_run(tmp_path / "c", n_speakers=5, curves=False, ablation=False)
    result = compare([a, b, c])
    assert result.shared == [True, True, False]
    svm, xgb = result.tests[(1, ("all", "svm", False))], result.tests[(1, ("all", "xgboost", False))]
    assert svm.diff > 0.1 and svm.significant
    assert xgb.diff == 0 and xgb.p_value == 1.0
    console = render_compare(result, "console")
    assert "B-A" in console and "tie p=1.00" in console and "better" in console
    assert "C does not share its folds with A" in console
    assert all(len(line) <= 100 for line in console.splitlines())
    table = pd.read_csv(__import__("io").StringIO(render_compare(result, "csv")))
    assert set(table["run"]) == {"A", "B", "C"} and table["diff_vs_A"].notna().sum() == 3
    assert "95% CI" in render_compare(result, "md") and "\\toprule" in render_compare(result, "latex")
    page = render_compare(result, "html")
    parser = _Collect()
    parser.feed(page)
    assert [t for t, _ in parser.tags].count("table") == 1 and "http" not in page
    assert main(["compare", str(a), str(b), "--format", "md"]) == 0
    assert "| all" in capsys.readouterr().out
    assert main(["compare", str(a)]) == 2
    assert main(["compare", str(a), str(tmp_path / "missing")]) == 2
