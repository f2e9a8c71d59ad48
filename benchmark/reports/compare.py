"""Several runs side by side: each run's leaderboard with its intervals, and, where two runs share their folds
(the same utterances in the same test folds, from splits.csv), a paired test of each model against the first run.

Typical uses: two feature sets, two corpora, before and after a change. Rendered for the console and as md,
csv, latex or a self-contained html page.

Where the runs scored degraded copies of their test folds (``run --robustness``), a second table puts each
model's UAR under each condition side by side, with the same paired test: ``compare`` of a run with
``--robustness`` and the same run with ``--augment robustness`` shows what training on degraded audio buys, per
condition, on the same utterances.
"""

from __future__ import annotations

import html
import io
import math
import string
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from benchmark.reports.ranking import Leaderboard, build, short_name
from benchmark.reports.rundir import (
    RunFolderError,
    is_speaker_protocol,
    is_verified,
    open_run_folder,
    run_names,
)
from benchmark.reports.statistics import ALPHA, PairedTest, paired_speaker_test, pairing_keys

COMPARE_FORMATS = ("console", "md", "csv", "latex", "html")


@dataclass
class Comparison:
    boards: list[Leaderboard]
    labels: list[str]  # A, B, C ...
    shared: list[bool]  # run k shares its folds with run A (always True for A itself)
    rows: list[tuple[str, str, bool]]  # (features, model, speaker_norm) in A's order, then the others'
    tests: dict[tuple[int, tuple], PairedTest] = field(default_factory=dict)  # (run k, row key) -> B vs A
    notes: list[str] = field(default_factory=list)
    # under --robustness: (features, model, condition) rows in A's order, each run's UAR, and B vs A tests
    robust_rows: list[tuple[str, str, str]] = field(default_factory=list)
    robust_uar: dict[tuple[int, tuple], float] = field(default_factory=dict)
    robust_tests: dict[tuple[int, tuple], PairedTest] = field(default_factory=dict)


def _fold_signature(board: Leaderboard) -> pd.DataFrame | None:
    splits = board.folder.splits
    column = f"test_fold_{board.rank_by}"
    if splits is None or column not in splits:
        return None
    return splits[["speaker", "emotion", column]].rename(columns={column: "fold"}).reset_index(drop=True)


def shares_folds(a: Leaderboard, b: Leaderboard) -> bool:
    """Same utterances (speaker and emotion, in order) in the same test folds of the ranking protocol.

    Paths are not compared, so the same corpus in another place (or cache) still counts as the same folds."""
    if a.rank_by != b.rank_by:
        return False
    sa, sb = _fold_signature(a), _fold_signature(b)
    return sa is not None and sb is not None and sa.astype(str).equals(sb.astype(str))


def _predictions(board: Leaderboard, key: tuple[str, str, bool]) -> pd.DataFrame | None:
    p = board.folder.predictions
    if p is None:
        return None
    g = p[(p["table"] == "leaderboard") & (p["features"] == key[0]) & (p["model"] == key[1])
          & (p["speaker_norm"] == key[2]) & (p["protocol"] == board.rank_by)]
    return None if g.empty else g


def compare(run_dirs: list[str | Path]) -> Comparison:
    """Load and line up several run folders (at least two)."""
    if len(run_dirs) < 2:
        raise RunFolderError("compare needs at least two run folders")
    for d in run_dirs:  # the files as the run wrote them (its checksums), where the folder has checksums
        open_run_folder(Path(d), unverified=True)
    boards = [build(d) for d in run_dirs]
    labels = list(string.ascii_uppercase[:len(boards)]) if len(boards) <= 26 else [str(i + 1) for i in
                                                                                   range(len(boards))]
    keys = []
    for board in boards:
        for r in board.rows:
            key = (r["features"], r["model"], r["speaker_norm"])
            if key not in keys:
                keys.append(key)
    shared = [True] + [shares_folds(boards[0], b) for b in boards[1:]]
    result = Comparison(boards=boards, labels=labels, shared=shared, rows=keys)
    for k, board in enumerate(boards[1:], start=1):
        if not shared[k]:
            result.notes.append(f"{labels[k]} does not share its folds with A (different utterances, folds or "
                                "ranking protocol): no paired tests between them.")
            continue
        if not is_speaker_protocol(board.rank_by):
            continue
        for key in keys:
            a, b = _predictions(boards[0], key), _predictions(board, key)
            if a is None or b is None:
                continue
            pair = a.merge(b, on=pairing_keys(a, b), suffixes=("_a", "_b"))
            if pair.empty:
                continue
            result.tests[(k, key)] = paired_speaker_test(pair["emotion_a"], pair["predicted_b"],
                                                         pair["predicted_a"], pair["speaker_a"],
                                                         seed=boards[0].folder.seed)
    if any(b.folder.predictions is None for b in boards):
        result.notes.append("Runs without predictions.csv have no intervals and no paired tests.")
    _compare_robustness(result)
    return result


ROBUST_KEY = ["features", "model", "condition"]


def _robust_predictions(board: Leaderboard) -> pd.DataFrame | None:
    """A run's predictions of degraded copies (``robustness/predictions.csv``), or None without them."""
    path = Path(board.folder.path) / "robustness" / "predictions.csv"
    if not path.is_file() or not is_verified(board.folder.path, "robustness/predictions.csv"):
        return None  # (a folder from before its checksum was kept: never read unverified)
    frame = pd.read_csv(path, dtype={"speaker": str, "emotion": str, "predicted": str})
    return frame[frame["protocol"] == board.rank_by]


def _compare_robustness(result: Comparison) -> None:
    """Fill the degraded-conditions table: each run's pooled UAR per (features, model, condition) and, where a
    run shares its folds with A, the paired test over speakers on the same degraded utterances."""
    from benchmark.evaluation.metrics import fold_scores

    frames = [_robust_predictions(b) for b in result.boards]
    if sum(f is not None for f in frames) < 2:
        return
    for k, frame in enumerate(frames):
        if frame is None:
            continue
        for key, group in frame.groupby(ROBUST_KEY, sort=False):
            if key not in result.robust_rows:
                result.robust_rows.append(key)
            labels = sorted(set(group["emotion"]))  # pooled, over the classes present, as the paired test counts
            result.robust_uar[(k, key)] = float(fold_scores(group["emotion"], group["predicted"], labels)["uar"])
    base = frames[0]
    if base is None:
        result.notes.append("Run A scored no degraded copies: the conditions' table has no paired tests.")
        return
    groups_a = dict(iter(base.groupby(ROBUST_KEY, sort=False)))
    for k, frame in enumerate(frames[1:], start=1):
        if frame is None or not result.shared[k]:
            continue
        for key, b in frame.groupby(ROBUST_KEY, sort=False):
            a = groups_a.get(key)
            if a is None:
                continue
            pair = a.merge(b, on=["fold", "row"], suffixes=("_a", "_b"))
            if not pair.empty:
                result.robust_tests[(k, key)] = paired_speaker_test(
                    pair["emotion_a"], pair["predicted_b"], pair["predicted_a"], pair["speaker_a"],
                    seed=result.boards[0].folder.seed)


def robust_cells(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    """Headers and body of the degraded-conditions table (empty without two runs that scored conditions)."""
    if not comparison.robust_rows:
        return [], []
    headers = ["features", "model", "condition"]
    tested = {k for k, _ in comparison.robust_tests}
    for k, label in enumerate(comparison.labels):
        headers.append(f"{label} UAR")
        if k in tested:
            headers.append(f"{label}-A")
    body = []
    for key in comparison.robust_rows:
        line = list(key)
        for k in range(len(comparison.boards)):
            value = comparison.robust_uar.get((k, key))
            line.append("" if value is None else f"{100 * value:.1f}")
            if k in tested:
                line.append(_test_cell(comparison.robust_tests.get((k, key))))
        body.append(line)
    return headers, body


def _cell(board: Leaderboard, key, with_ci: bool) -> tuple[str, str]:
    row = next((r for r in board.rows if (r["features"], r["model"], r["speaker_norm"]) == key), None)
    if row is None:
        return "", ""
    entry = row["by_protocol"].get(board.rank_by)
    if not entry or entry["n_folds"] == 0 or math.isnan(entry["uar_mean"]):
        return "failed", ""
    mean = f"{100 * entry['uar_mean']:.1f} ± {100 * entry['uar_std']:.1f}"
    ci = row.get("ci", {}).get(board.rank_by)
    return mean, (f"[{100 * ci[1]:.1f}, {100 * ci[2]:.1f}]" if ci and with_ci else "")


def _test_cell(test: PairedTest | None) -> str:
    if test is None:
        return ""
    from benchmark.reports.tables import format_p

    verdict = "tie" if not test.significant or test.diff == 0 else "better" if test.diff > 0 else "worse"
    return f"{100 * test.diff:+.1f} {verdict} {format_p(test.p_value)}"


def cells(comparison: Comparison, compact: bool = False) -> tuple[list[str], list[list[str]]]:
    """Headers and body of the side-by-side table (``compact``: no intervals, for the console)."""
    with_ci = not compact and any(b.has_ci for b in comparison.boards)
    headers = ["features", "model"]
    for k, (label, board) in enumerate(zip(comparison.labels, comparison.boards, strict=True)):
        headers.append(f"{label} {short_name(board.rank_by)} UAR")
        if with_ci:
            headers.append(f"{label} 95% CI")
        if k and any(kk == k for kk, _ in comparison.tests):
            headers.append(f"{label}-A")
    body = []
    for key in comparison.rows:
        line = [key[0], key[1] + (" spk-norm" if key[2] else "")]
        for k, board in enumerate(comparison.boards):
            mean, ci = _cell(board, key, with_ci)
            line.append(mean)
            if with_ci:
                line.append(ci)
            if k and any(kk == k for kk, _ in comparison.tests):
                line.append(_test_cell(comparison.tests.get((k, key))))
        body.append(line)
    return headers, body


def legend(comparison: Comparison) -> list[str]:
    names = run_names([b.folder.path for b in comparison.boards])
    lines = [f"{label}: {name} ({b.folder.dataset}; {b.folder.run.get('corpus', {}).get('summary_line', '')})"
             for label, name, b in zip(comparison.labels, names, comparison.boards, strict=True)]
    lines.append("UAR: mean ± std over folds, %, under each run's ranking protocol. 95% CI: bootstrap over test "
                 "speakers. X-A: difference of pooled UAR from run A on the same utterances, in points, with a "
                 f"paired permutation test over speakers (tie = not significant at {100 * ALPHA:g}%).")
    return lines + comparison.notes


def render_compare(comparison: Comparison, fmt: str = "console") -> str:
    """The side-by-side table in ``fmt``: console, md, csv, latex or html."""
    if fmt not in COMPARE_FORMATS:
        raise RunFolderError(f"unknown format {fmt!r}; choose from: {', '.join(COMPARE_FORMATS)}")
    headers, body = cells(comparison, compact=fmt == "console")
    r_headers, r_body = robust_cells(comparison)
    notes = legend(comparison)
    if r_body:
        notes.append(ROBUST_LEGEND)
    if fmt == "console":
        wrapped = [w for n in notes for w in textwrap.wrap(n, 100, subsequent_indent="   ")]
        extra = ["Under degraded conditions (UAR, %)",
                 tabulate(r_body, r_headers, tablefmt="simple", disable_numparse=True), ""] if r_body else []
        return "\n".join(["Comparison of runs (UAR, %)",
                          tabulate(body, headers, tablefmt="simple", disable_numparse=True), ""] + extra
                         + wrapped) + "\n"
    if fmt == "md":
        extra = ["## Under degraded conditions", "", tabulate(r_body, r_headers, tablefmt="github",
                                                               disable_numparse=True), ""] if r_body else []
        return "\n".join(["# Comparison of runs", "", tabulate(body, headers, tablefmt="github",
                                                               disable_numparse=True), ""]
                         + extra + [f"- {n}" for n in notes]) + "\n"
    if fmt == "csv":
        return _csv(comparison)
    if fmt == "latex":
        from benchmark.reports.tables import _latex_table

        text = _latex_table(headers, body, "Comparison of runs, UAR (\\%). " + " ".join(notes[:len(
            comparison.boards)]), "tab:compare")
        if r_body:
            text += "\n" + _latex_table(r_headers, r_body, "UAR (\\%) under degraded conditions. " + ROBUST_LEGEND,
                                        "tab:compare-conditions")
        return text
    from benchmark.reports.html import CSS, table_html

    extra = ["<h2>Under degraded conditions</h2>", table_html(r_headers, r_body, cls="compare")] if r_body else []
    return "\n".join(["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                      "<title>SER benchmark: comparison of runs</title>", f"<style>{CSS}</style></head>",
                      "<body><main><h1>Comparison of runs</h1>", table_html(headers, body, cls="compare"),
                      *extra, "".join(f'<p class="legend">{html.escape(n)}</p>' for n in notes),
                      "</main></body></html>"]) + "\n"


ROBUST_LEGEND = ("Under degraded conditions: each model, fitted on the run's training folds, predicting degraded "
                 "copies of its test folds (run --robustness); UAR pooled over the copies, X-A as above on the "
                 "same degraded utterances. A run with --augment robustness against the same run without it: "
                 "what training on degraded audio buys under each condition.")


def _csv(comparison: Comparison) -> str:
    """Long form: one line per (run, features, model, speaker_norm)."""
    records = []
    names = run_names([b.folder.path for b in comparison.boards])
    for k, (label, board) in enumerate(zip(comparison.labels, comparison.boards, strict=True)):
        for r in board.rows:
            key = (r["features"], r["model"], r["speaker_norm"])
            entry = r["by_protocol"].get(board.rank_by, {})
            ci = r.get("ci", {}).get(board.rank_by)
            test = comparison.tests.get((k, key))
            records.append({"run": label, "run_dir": names[k], "dataset": board.folder.dataset,
                            "protocol": board.rank_by, "rank": r["rank"], "features": key[0], "model": key[1],
                            "speaker_norm": key[2], "uar_mean": _round(entry.get("uar_mean")),
                            "uar_std": _round(entry.get("uar_std")), "ci_low": _round(ci[1]) if ci else None,
                            "ci_high": _round(ci[2]) if ci else None,
                            "diff_vs_A": _round(test.diff) if test else None,
                            "p_vs_A": _round(test.p_value) if test else None,
                            "shares_folds_with_A": comparison.shared[k]})
    for key in comparison.robust_rows:  # degraded conditions: one line per (run, features, model, condition)
        for k, label in enumerate(comparison.labels):
            value = comparison.robust_uar.get((k, key))
            if value is None:
                continue
            test = comparison.robust_tests.get((k, key))
            board = comparison.boards[k]
            records.append({"run": label, "run_dir": names[k], "dataset": board.folder.dataset,
                            "protocol": board.rank_by, "features": key[0], "model": key[1], "condition": key[2],
                            "uar_mean": _round(value), "diff_vs_A": _round(test.diff) if test else None,
                            "p_vs_A": _round(test.p_value) if test else None,
                            "shares_folds_with_A": comparison.shared[k]})
    buffer = io.StringIO()
    pd.DataFrame(records).to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def _round(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 6)
