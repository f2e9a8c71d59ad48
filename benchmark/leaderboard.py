"""Leaderboards from per-fold scores: ranked by speaker-independent UAR, with the leakage gap beside it.

Every table is rendered from ``folds.csv``, ``audit.json`` and ``run.json`` alone, so that ``export`` rebuilds
exactly what the run wrote, without recomputing anything.
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

from .audit import FEW_SPEAKERS
from .metrics import mean_std

GAP_FLAG = 10.0  # points of UAR between stratified and speaker-independent that earn a flag
RANK_ORDER = ("speaker", "speaker+text", "stratified")  # the first protocol present ranks the table
KEYS = ["table", "features", "model", "protocol", "speaker_norm"]
FORMATS = {"md": "leaderboard.md", "csv": "leaderboard.csv", "latex": "leaderboard.tex", "json": "leaderboard.json"}


def read_folds(path: Path) -> pd.DataFrame:
    text = {c: str for c in ("dataset", "table", "features", "model", "protocol", "status", "error")}
    # Only empty cells are missing: a feature set named "NA" stays a name.
    folds = pd.read_csv(path, dtype=text, keep_default_na=False, na_values=[""])
    folds["error"] = folds["error"].fillna("")
    folds["speaker_norm"] = folds["speaker_norm"].astype(str).str.lower().eq("true")
    return folds


def summarise(folds: pd.DataFrame) -> pd.DataFrame:
    """One row per (table, features, model, protocol, speaker_norm): mean and std over the folds that ran."""
    rows = []
    for key, group in folds.groupby(KEYS, sort=False):
        ok = group[group["status"] == "ok"]
        row = dict(zip(KEYS, key, strict=True))
        for metric in ("uar", "wa", "f1"):
            row[f"{metric}_mean"], row[f"{metric}_std"] = mean_std(ok[metric]) if len(ok) else (math.nan, math.nan)
        row.update(n_folds=int(len(ok)), n_failed=int(len(group) - len(ok)),
                   chance_uar=float(ok["chance_uar"].mean()) if len(ok) else math.nan,
                   first_error=str(group.loc[group["status"] != "ok", "error"].iloc[0]) if len(ok) < len(group)
                   else "")
        rows.append(row)
    return pd.DataFrame(rows)


def ranking_protocol(protocols) -> str:
    return next((p for p in RANK_ORDER if p in set(protocols)), sorted(protocols)[0])


def wide_table(summary: pd.DataFrame, audit: dict) -> list[dict]:
    """The main leaderboard: a row per (features, model, speaker_norm), best speaker-independent UAR first."""
    main = summary[summary["table"] == "leaderboard"]
    if main.empty:
        return []
    rank_by = ranking_protocol(main["protocol"].unique())
    few = audit["corpus"]["speakers"] < FEW_SPEAKERS
    dup = bool(audit["corpus"]["duplicate_groups"]) or any(
        p["duplicates_across_train_test"] for p in audit["protocols"].values())
    rows = []
    for (features, model, norm), group in main.groupby(["features", "model", "speaker_norm"], sort=False):
        by = {r["protocol"]: r for r in group.to_dict("records")}
        ranked = by.get(rank_by)
        row = {"features": features, "model": model, "speaker_norm": bool(norm), "by_protocol": by,
               "score": ranked["uar_mean"] if ranked and ranked["n_folds"] else -math.inf}
        flags = []
        if "speaker" in by and "stratified" in by:
            gap = 100 * (by["stratified"]["uar_mean"] - by["speaker"]["uar_mean"])
            row["gap"] = gap
            if gap > GAP_FLAG:
                flags.append(f"gap>{GAP_FLAG:g}")
        if few and any(p in by for p in ("speaker", "speaker+text")):
            flags.append("few-spk")
        if dup:
            flags.append("dup")
        if norm:
            flags.append("spk-norm")
        failed = sum(r["n_failed"] for r in by.values())
        if failed:
            flags.append(f"failed {failed}/{failed + sum(r['n_folds'] for r in by.values())}")
        row["flags"] = " ".join(flags)
        rows.append(row)
    rows.sort(key=lambda r: (-r["score"] if not math.isnan(r["score"]) else math.inf, r["model"], r["features"]))
    for i, row in enumerate(rows, start=1):
        row["rank"] = i
        row["rank_by"] = rank_by
    return rows


def _pct(mean: float, std: float | None = None) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "failed"
    return f"{100 * mean:.1f}" if std is None else f"{100 * mean:.1f} ± {100 * std:.1f}"


def _main_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    if not rows:
        return [], []
    rank_by = rows[0]["rank_by"]
    protocols = {p for r in rows for p in r["by_protocol"]}
    short = {"speaker": "SI", "speaker+text": "SI+T", "stratified": "strat"}
    headers = ["#", "features", "model", f"{short[rank_by]} UAR", f"{short[rank_by]} WA", f"{short[rank_by]} F1"]
    extra = [p for p in RANK_ORDER if p in protocols and p != rank_by]
    headers += [f"{short[p]} UAR" for p in extra]
    has_gap = any("gap" in r for r in rows)
    if has_gap:
        headers.append("gap")
    headers.append("flags")
    body = []
    for r in rows:
        ranked = r["by_protocol"].get(rank_by, {})
        cells = [str(r["rank"]), r["features"], r["model"],
                 _pct(ranked.get("uar_mean", math.nan), ranked.get("uar_std")),
                 _pct(ranked.get("wa_mean", math.nan)), _pct(ranked.get("f1_mean", math.nan))]
        for p in extra:
            other = r["by_protocol"].get(p)
            cells.append(_pct(other["uar_mean"]) if other else "")
        if has_gap:
            cells.append(f"{r['gap']:+.1f}" if "gap" in r and not math.isnan(r["gap"]) else "")
        cells.append(r["flags"])
        body.append(cells)
    return headers, body


def _ablation_cells(summary: pd.DataFrame) -> tuple[list[str], list[list[str]], str]:
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


def emotion_labels(folds: pd.DataFrame) -> list[str]:
    return [c.removeprefix("recall_") for c in folds.columns if c.startswith("recall_")]


def _load(run_dir: Path) -> tuple[pd.DataFrame, dict, dict]:
    folds = read_folds(run_dir / "folds.csv")
    audit = json.loads((run_dir / "audit.json").read_text())
    run = json.loads((run_dir / "run.json").read_text())
    return folds, audit, run


def _legend(labels: list[str]) -> list[str]:
    chance = f"{100 / len(labels):.1f}%" if labels else "n/a"
    text = (f"Chance level: UAR {chance} (1 / number of emotions). UAR = unweighted average recall, "
            "mean ± std over folds; gap = stratified minus speaker-independent UAR, in points. Flags: "
            f"gap>{GAP_FLAG:g} (speaker leakage inflates the usual number), few-spk (fewer than {FEW_SPEAKERS} "
            "speakers), dup (exact-duplicate audio), spk-norm (speaker normalisation), failed (folds that did "
            "not run).")
    return textwrap.wrap(text, width=100)


def render(run_dir: str | Path, fmt: str) -> str:
    """The ``fmt`` table of a finished run, rebuilt from its files."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from: {', '.join(FORMATS)}")
    run_dir = Path(run_dir)
    folds, audit, run = _load(run_dir)
    summary = summarise(folds)
    dataset = run["dataset"]
    if fmt in ("csv", "json"):
        records = long_records(summary, audit, dataset)
        if fmt == "json":
            return json.dumps(records, indent=1, allow_nan=False) + "\n"
        buffer = io.StringIO()
        pd.DataFrame(records).to_csv(buffer, index=False, lineterminator="\n")
        return buffer.getvalue()
    rows = wide_table(summary, audit)
    headers, body = _main_cells(rows)
    a_headers, a_body, a_protocol = _ablation_cells(summary)
    rank_by = rows[0]["rank_by"] if rows else "speaker"
    if fmt == "md":
        out = [f"# Leaderboard: {dataset}", "", f"Ranked by {rank_by} UAR. {run['corpus']['summary_line']}", ""]
        out += [tabulate(body, headers, tablefmt="github", disable_numparse=True), ""]
        if a_body:
            out += [f"## Feature-group ablation ({a_protocol} UAR)", "",
                    tabulate(a_body, a_headers, tablefmt="github", disable_numparse=True), ""]
        out += _legend(emotion_labels(folds))
        return "\n".join(out) + "\n"
    out = [_latex_table(headers, body, f"Leaderboard on {dataset}, ranked by {rank_by} UAR (\\%).", "tab:leaderboard")]
    if a_body:
        out.append(_latex_table(a_headers, a_body, f"Feature-group ablation on {dataset}, {a_protocol} UAR (\\%).",
                                "tab:ablation"))
    return "\n".join(out)


def render_console(run_dir: str | Path) -> str:
    """What the run prints: the main table and the ablation, compact enough for a 100-column terminal."""
    folds, audit, run = _load(Path(run_dir))
    summary = summarise(folds)
    rows = wide_table(summary, audit)
    headers, body = _main_cells(rows)
    out = [f"Leaderboard: {run['dataset']} (ranked by {rows[0]['rank_by'] if rows else '-'} UAR, %)",
           tabulate(body, headers, tablefmt="simple", disable_numparse=True)]
    a_headers, a_body, a_protocol = _ablation_cells(summary)
    if a_body:
        out += ["", f"Feature-group ablation ({a_protocol} UAR, %)",
                tabulate(a_body, a_headers, tablefmt="simple", disable_numparse=True)]
    failures = summary[summary["n_failed"] > 0]
    for r in failures.to_dict("records"):
        out.append(f"failed: {r['model']} on {r['features']} / {r['protocol']}: {r['n_failed']} fold(s): "
                   f"{r['first_error']}")
    out += [""] + _legend(emotion_labels(folds))
    return "\n".join(out)


def long_records(summary: pd.DataFrame, audit: dict, dataset: str) -> list[dict]:
    """One object per (table, features, model, protocol, speaker_norm), for CSV and JSON."""
    ranks = {(r["features"], r["model"], r["speaker_norm"]): r["rank"] for r in wide_table(summary, audit)}
    records = []
    for r in summary.to_dict("records"):
        rank = ranks.get((r["features"], r["model"], r["speaker_norm"])) if r["table"] == "leaderboard" else None
        record = {"dataset": dataset, "table": r["table"], "rank": rank, "features": r["features"],
                  "model": r["model"], "protocol": r["protocol"], "speaker_norm": bool(r["speaker_norm"])}
        for k in ("uar_mean", "uar_std", "wa_mean", "wa_std", "f1_mean", "f1_std", "chance_uar"):
            record[k] = None if math.isnan(r[k]) else round(float(r[k]), 6)
        record.update(n_folds=int(r["n_folds"]), n_failed=int(r["n_failed"]))
        records.append(record)
    records.sort(key=lambda x: (x["table"] != "leaderboard", x["rank"] or np.inf, x["features"], x["model"],
                                x["protocol"], x["speaker_norm"]))
    return records


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
          "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$",
          ">": r"\textgreater{}", "<": r"\textless{}"}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


def _latex_table(headers: list[str], body: list[list[str]], caption: str, label: str) -> str:
    """A booktabs table (needs ``\\usepackage{booktabs}``)."""
    spec = "".join("l" if h in ("features", "model", "flags") else "r" for h in headers)
    lines = ["\\begin{table}[t]", "\\centering", f"\\caption{{{caption}}}", f"\\label{{{label}}}",
             f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
             " & ".join(_latex_escape(h) for h in headers) + " \\\\", "\\midrule"]
    lines += [" & ".join(_latex_escape(c) for c in row) + " \\\\" for row in body]
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)
