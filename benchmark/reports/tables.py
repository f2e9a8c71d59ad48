"""Leaderboards from a run folder: ranked by speaker-independent UAR, with the leakage gap, speaker-bootstrap
intervals and a paired test against the best model beside it; rendered for the console, md, csv, latex and json.

Every table is rendered from the run folder alone (``folds.csv``, ``audit.json``, ``run.json`` and, where the
run kept them, ``predictions.csv``), so that ``export`` rebuilds exactly what the run wrote, without recomputing.
"""

from __future__ import annotations

import io
import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

from benchmark.evaluation.audit import FEW_SPEAKERS
from benchmark.reports.ranking import (
    GAP_FLAG,
    KEYS,
    RANK_ORDER,
    Leaderboard,
    build,
    ranking_protocol,
    read_folds,
    short_name,
    summarise,
    wide_table,
)
from benchmark.reports.rundir import RunFolder
from benchmark.reports.statistics import ALPHA

FORMATS = {"md": "leaderboard.md", "csv": "leaderboard.csv", "latex": "leaderboard.tex", "json": "leaderboard.json"}
PER_SPEAKER = "per_speaker.csv"

__all__ = ["FORMATS", "GAP_FLAG", "KEYS", "RANK_ORDER", "PER_SPEAKER", "render", "render_console", "write_exports",
           "write_per_speaker", "summarise", "wide_table", "ranking_protocol", "read_folds", "long_records",
           "emotion_labels", "main_cells", "per_speaker_cells", "ablation_cells", "legend", "row_label"]


def _nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _pct(mean: float, std: float | None = None) -> str:
    if _nan(mean):
        return "failed"
    return f"{100 * mean:.1f}" if std is None else f"{100 * mean:.1f} ± {100 * std:.1f}"


def _ci(ci: tuple[float, float, float] | None) -> str:
    return "" if ci is None else f"[{100 * ci[1]:.1f}, {100 * ci[2]:.1f}]"


def format_p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}" if p < 0.01 else f"p={p:.2f}"


def versus_best(row: dict) -> str:
    """The cell comparing a row with row 1: ``best``, ``tie p=0.41``, ``worse p=0.003`` (or ``better``)."""
    if row["rank"] == 1:
        return "best"
    test = row.get("paired")
    if test is None:
        return ""
    if test.diff == 0 or not test.significant:
        return f"tie {format_p(test.p_value)}"
    return f"{'worse' if test.diff > 0 else 'better'} {format_p(test.p_value)}"


def repeat_cells(row: dict) -> list[str]:
    """The seed SD (points of UAR) and rank-stability cells of a leaderboard row under ``--repeats``."""
    sd, stability = row.get("seed_sd", math.nan), row.get("rank_stability", math.nan)
    return ["" if _nan(sd) else f"{sd:.1f}", "" if _nan(stability) else f"{100 * stability:.0f}%"]


def row_label(row: dict, rows: list[dict]) -> str:
    """A short name of a leaderboard row: the model, with its features when the run has several inputs."""
    several = len({r["features"] for r in rows}) > 1 or len({r["model"] for r in rows}) < len(rows)
    label = f"{row['features']}/{row['model']}" if several else row["model"]
    return label + (" spk-norm" if row["speaker_norm"] else "")


def main_cells(board: Leaderboard, compact: bool = False) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the main leaderboard (``compact`` leaves out WA and F1 for the console)."""
    rows = board.rows
    if not rows:
        return [], []
    rank_by = board.rank_by
    protocols = {p for r in rows for p in r["by_protocol"]}
    s = short_name(rank_by)
    headers = ["#", "features", "model", f"{s} UAR"]
    if board.has_ci:
        headers.append("95% CI")
    if board.has_paired:
        headers.append("vs #1")
    repeated = board.has_repeats
    if repeated:
        headers += ["seed SD", "rank stab."]
    if not compact:
        headers += [f"{s} WA", f"{s} F1"]
    extra = [p for p in RANK_ORDER if p in protocols and p != rank_by]
    extra += sorted(p for p in protocols if p not in RANK_ORDER and p != rank_by)
    headers += [f"{short_name(p)} UAR" for p in extra]
    has_gap = any("gap" in r for r in rows)
    if has_gap:
        headers.append("gap")
    headers.append("flags")
    body = []
    for r in rows:
        ranked = r["by_protocol"].get(rank_by, {})
        cells = [str(r["rank"]), r["features"], r["model"],
                 _pct(ranked.get("uar_mean", math.nan), ranked.get("uar_std"))]
        if board.has_ci:
            cells.append(_ci(r.get("ci", {}).get(rank_by)))
        if board.has_paired:
            cells.append(versus_best(r))
        if repeated:
            cells += repeat_cells(r)
        if not compact:
            cells += [_pct(ranked.get("wa_mean", math.nan)), _pct(ranked.get("f1_mean", math.nan))]
        for p in extra:
            other = r["by_protocol"].get(p)
            cells.append(_pct(other["uar_mean"]) if other else "")
        if has_gap:
            cells.append(f"{r['gap']:+.1f}" if "gap" in r and not math.isnan(r["gap"]) else "")
        cells.append(r["flags"])
        body.append(cells)
    return headers, body


def ablation_cells(summary: pd.DataFrame) -> tuple[list[str], list[list[str]], str]:
    if summary.empty:
        return [], [], ""
    ablation = summary[summary["table"] == "ablation"]
    if ablation.empty:
        return [], [], ""
    protocol = ranking_protocol(ablation["protocol"].unique())
    ablation = ablation[ablation["protocol"] == protocol]
    models = list(dict.fromkeys(ablation["model"]))
    headers = ["features"] + [f"{m} UAR" for m in models]
    body = []
    for features, group in ablation.groupby("features", sort=False):
        by_model = {r["model"]: r for r in group.to_dict("records")}
        body.append([features] + [_pct(by_model[m]["uar_mean"], by_model[m]["uar_std"]) if m in by_model else ""
                                  for m in models])
    return headers, body, protocol


def per_speaker_cells(board: Leaderboard) -> tuple[list[str], list[list[str]], str]:
    """Per-speaker UAR under the ranking protocol: a row per test speaker, a column per leaderboard row."""
    table = board.per_speaker
    rank_by = board.rank_by
    if table is None or table.empty or not board.rows:
        return [], [], rank_by
    table = table[table["protocol"] == rank_by]
    if table.empty:
        return [], [], rank_by
    columns = [r for r in board.rows]
    headers = ["speaker", "fold", "n"] + [row_label(r, board.rows) for r in columns]
    scores = {(r["features"], r["model"], bool(r["speaker_norm"]), r["speaker"]): r
              for r in table.to_dict("records")}
    speakers = table.drop_duplicates("speaker").sort_values(["fold", "speaker"])
    body = []
    for s in speakers.to_dict("records"):
        cells = [s["speaker"], str(s["fold"]), str(s["n_utterances"])]
        for r in columns:
            hit = scores.get((r["features"], r["model"], r["speaker_norm"], s["speaker"]))
            cells.append("" if hit is None else _pct(hit["uar"]))
        body.append(cells)
    return headers, body, rank_by


def emotion_labels(folds: pd.DataFrame) -> list[str]:
    return [c.removeprefix("recall_") for c in folds.columns if c.startswith("recall_")]


def legend(board: Leaderboard, width: int = 100) -> list[str]:
    labels = emotion_labels(board.folder.folds)
    chance = f"{100 / len(labels):.1f}%" if labels else "n/a"
    text = (f"Chance level: UAR {chance} (1 / number of emotions). UAR = unweighted average recall, "
            "mean ± std over folds; gap = stratified minus speaker-independent UAR, in points. Flags: "
            f"gap>{GAP_FLAG:g} (speaker leakage inflates the usual number), few-spk (fewer than {FEW_SPEAKERS} "
            "speakers), dup (exact-duplicate audio), spk-norm (speaker normalisation), failed (folds that did "
            "not run), degenerate (folds whose predictions collapse onto one class or whose probabilities do not "
            "vary: a silent failure that scores chance, not a finding).")
    if any("group-gap(" in r["flags"] for r in board.rows):
        text += (" group-gap(column): the gap in UAR between groups of speakers (e.g. gender) is significant at "
                 f"{100 * ALPHA:g}% by a permutation test over speakers (fairness.md).")
    if board.has_ci and not board.has_repeats:
        text += (f" 95% CI: percentile bootstrap over test speakers ({board.folder.n_resamples} resamples, seed "
                 f"{board.folder.seed}) of the UAR pooled over all test utterances.")
    if board.has_paired:
        text += (f" vs #1: paired permutation test over speakers of the pooled UAR against row 1 on the same "
                 f"utterances (two-sided); tie = not significant at {100 * ALPHA:g}%.")
        small = [r["paired"] for r in board.rows if "paired" in r and r["paired"].min_p >= ALPHA]
        if small:
            text += (f" With {small[0].n_speakers} test speakers no difference can reach significance "
                     f"(smallest possible p = {small[0].min_p:.3f}).")
    if board.has_repeats:
        text += repeat_legend(board)
    lines = textwrap.wrap(text, width=width, break_on_hyphens=False)  # "two-way", "spk-norm" stay whole
    if board.note:
        lines += textwrap.wrap("Note: " + board.note, width=width)
    return lines


def repeat_legend(board: Leaderboard) -> str:
    n = max(r.get("n_repeats", 1) for r in board.rows)
    redrawn = "; folds drawn anew each repeat" if (board.folder.run.get("config") or {}).get("repeat_folds") else ""
    text = (f" Repeats: {n} (training seeds derived from --seed{redrawn}); "
            "UAR = mean over repeats of the mean over folds, ± the SD over folds within a repeat; seed SD = SD "
            "of the per-repeat UAR, in points (0 for seed-free models, fitted once per fold); rank stab. = share "
            "of repeats in which the row holds its rank when every row is ranked by that repeat alone; "
            "seed-sensitive = seed SD larger than the distance to the nearer neighbour in the table.")
    if board.has_ci:
        text += (f" 95% CI: two-way percentile bootstrap ({board.folder.n_resamples} resamples, seed "
                 f"{board.folder.seed}) drawing test speakers and repeats with replacement, of the mean over the "
                 "drawn repeats of the UAR pooled over the drawn speakers: it covers which speakers are tested "
                 "and which seeds trained.")
    if board.has_paired:
        text += " vs #1 pairs each speaker's predictions in the same repeat and averages the seeds within speaker."
    return text


def _as_board(run_dir: str | Path | RunFolder | Leaderboard) -> Leaderboard:
    return run_dir if isinstance(run_dir, Leaderboard) else build(run_dir)


def render(run_dir: str | Path | RunFolder | Leaderboard, fmt: str) -> str:
    """The ``fmt`` table of a finished run, rebuilt from its files."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from: {', '.join(FORMATS)}")
    board = _as_board(run_dir)
    folder = board.folder
    dataset = folder.dataset
    if fmt in ("csv", "json"):
        records = long_records(board)
        if fmt == "json":
            return json.dumps(records, indent=1, allow_nan=False) + "\n"
        buffer = io.StringIO()
        pd.DataFrame(records).to_csv(buffer, index=False, lineterminator="\n")
        return buffer.getvalue()
    headers, body = main_cells(board)
    a_headers, a_body, a_protocol = ablation_cells(board.summary)
    p_headers, p_body, p_protocol = per_speaker_cells(board)
    rank_by = board.rank_by
    summary_line = (folder.run.get("corpus") or {}).get("summary_line", "")
    if fmt == "md":
        out = [f"# Leaderboard: {dataset}", "", f"Ranked by {rank_by} UAR. {summary_line}", ""]
        out += [tabulate(body, headers, tablefmt="github", disable_numparse=True), ""]
        if a_body:
            out += [f"## Feature-group ablation ({a_protocol} UAR)", "",
                    tabulate(a_body, a_headers, tablefmt="github", disable_numparse=True), ""]
        if p_body:
            out += [f"## UAR per test speaker ({p_protocol})", "",
                    tabulate(p_body, p_headers, tablefmt="github", disable_numparse=True), ""]
        out += legend(board)
        return "\n".join(out) + "\n"
    out = [_latex_table(headers, body, f"Leaderboard on {dataset}, ranked by {rank_by} UAR (\\%).",
                        "tab:leaderboard")]
    if a_body:
        out.append(_latex_table(a_headers, a_body, f"Feature-group ablation on {dataset}, {a_protocol} UAR (\\%).",
                                "tab:ablation"))
    if p_body:
        out.append(_latex_table(p_headers, p_body, f"UAR per test speaker on {dataset}, {p_protocol} (\\%).",
                                "tab:per-speaker"))
    return "\n".join(out)


def render_console(run_dir: str | Path | RunFolder | Leaderboard) -> str:
    """What the run prints: the main table and the ablation, compact enough for a 100-column terminal."""
    board = _as_board(run_dir)
    headers, body = main_cells(board, compact=board.has_ci or board.has_paired)
    out = [f"Leaderboard: {board.folder.dataset} (ranked by {board.rank_by if board.rows else '-'} UAR, %)",
           tabulate(body, headers, tablefmt="simple", disable_numparse=True)]
    a_headers, a_body, a_protocol = ablation_cells(board.summary)
    if a_body:
        out += ["", f"Feature-group ablation ({a_protocol} UAR, %)",
                tabulate(a_body, a_headers, tablefmt="simple", disable_numparse=True)]
    if not board.summary.empty:
        failures = board.summary[board.summary["n_failed"] > 0]
        for r in failures.to_dict("records"):
            out.append(f"failed: {r['model']} on {r['features']} / {r['protocol']}: {r['n_failed']} fold(s): "
                       f"{r['first_error']}")
    out += degenerate_lines(board)
    out += [""] + legend(board)
    return "\n".join(out)


def degenerate_lines(board: Leaderboard) -> list[str]:
    """A line per (model, input, protocol) with degenerate folds: the silent failures, said out loud."""
    if board.summary.empty or "n_degenerate" not in board.summary:
        return []
    hits = board.summary[board.summary["n_degenerate"] > 0]
    return [f"degenerate: {r['model']} on {r['features']} / {r['protocol']}: {r['n_degenerate']} of {r['n_folds']} "
            f"fold(s); first: {r['first_degenerate']}" for r in hits.to_dict("records")]


def long_records(board: Leaderboard) -> list[dict]:
    """One object per (table, features, model, protocol, speaker_norm), for CSV and JSON.

    Besides mean and std over folds: ``uar_pooled``, ``ci_low`` and ``ci_high`` (speaker bootstrap, speaker
    protocols) and, on the ranking protocol, ``p_vs_best`` and ``vs_best`` (best, tie, worse, better); null
    where the run folder cannot give them.
    """
    dataset = board.folder.dataset
    by_key = {(r["features"], r["model"], r["speaker_norm"]): r for r in board.rows}
    records = []
    for r in board.summary.to_dict("records"):
        row = by_key.get((r["features"], r["model"], bool(r["speaker_norm"]))) if r["table"] == "leaderboard" \
            else None
        record = {"dataset": dataset, "table": r["table"], "rank": row["rank"] if row else None,
                  "features": r["features"], "model": r["model"], "protocol": r["protocol"],
                  "speaker_norm": bool(r["speaker_norm"])}
        for k in ("uar_mean", "uar_std", "wa_mean", "wa_std", "f1_mean", "f1_std", "chance_uar"):
            record[k] = None if math.isnan(r[k]) else round(float(r[k]), 6)
        record.update(n_folds=int(r["n_folds"]), n_failed=int(r["n_failed"]),
                      n_degenerate=int(r.get("n_degenerate", 0)))
        seed_sd = r.get("uar_seed_sd")
        record.update(n_repeats=int(r["n_repeats"]),
                      seed_sd=None if _nan(seed_sd) else round(float(seed_sd), 6),
                      rank_stability=None)
        if row and r["protocol"] == board.rank_by and not _nan(row.get("rank_stability")):
            record["rank_stability"] = round(float(row["rank_stability"]), 6)
        ci = row.get("ci", {}).get(r["protocol"]) if row else None
        record.update(uar_pooled=None, ci_low=None, ci_high=None, p_vs_best=None, vs_best=None)
        if ci is not None and not any(math.isnan(x) for x in ci):
            record.update(uar_pooled=round(ci[0], 6), ci_low=round(ci[1], 6), ci_high=round(ci[2], 6))
        if row and board.has_paired and r["protocol"] == board.rank_by and (row["rank"] == 1 or "paired" in row):
            test = row.get("paired")
            record["vs_best"] = versus_best(row).split(" ")[0]
            record["p_vs_best"] = None if test is None else round(test.p_value, 6)
        records.append(record)
    records.sort(key=lambda x: (x["table"] != "leaderboard", x["rank"] or np.inf, x["features"], x["model"],
                                x["protocol"], x["speaker_norm"]))
    return records


def write_per_speaker(run_dir: str | Path | RunFolder | Leaderboard) -> Path | None:
    """Write ``per_speaker.csv`` into the run folder (None, and nothing written, without predictions)."""
    board = _as_board(run_dir)
    if board.per_speaker is None:
        return None
    path = board.folder.path / PER_SPEAKER
    board.per_speaker.to_csv(path, index=False, lineterminator="\n")
    return path


def write_exports(run_dir: str | Path | RunFolder | Leaderboard) -> list[Path]:
    """Write every table file of a run (leaderboard.{md,csv,tex,json} and per_speaker.csv), computed once."""
    board = _as_board(run_dir)
    written = []
    for fmt, filename in FORMATS.items():
        path = board.folder.path / filename
        path.write_text(render(board, fmt))
        written.append(path)
    per_speaker = write_per_speaker(board)
    return written + ([per_speaker] if per_speaker else [])


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
          "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$",
          ">": r"\textgreater{}", "<": r"\textless{}"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


def _latex_table(headers: list[str], body: list[list[str]], caption: str, label: str) -> str:
    """A booktabs table (needs ``\\usepackage{booktabs}``)."""
    spec = "".join("l" if h in ("features", "model", "flags", "speaker", "vs #1") else "r" for h in headers)
    lines = ["\\begin{table}[t]", "\\centering", f"\\caption{{{caption}}}", f"\\label{{{label}}}",
             f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
             " & ".join(_latex_escape(h) for h in headers) + " \\\\", "\\midrule"]
    lines += [" & ".join(_latex_escape(c) for c in row) + " \\\\" for row in body]
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)
