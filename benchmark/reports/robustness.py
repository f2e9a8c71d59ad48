"""Robustness and fairness tables and plots of a run, rendered from its files.

Files a run with ``--robustness`` writes (under ``robustness/``):

- ``folds.csv``: per (features, model, protocol, fold, condition) the scores on the degraded test fold;
- ``predictions.csv``: every degraded test prediction (row = the clip's row in splits.csv);
- ``table.md`` / ``table.csv``: UAR per model and condition, pooled over folds, with its speaker-bootstrap 95 %
  interval, the change against the same model's clean UAR and the paired permutation test over speakers of
  degraded against clean predictions of the same clips;
- ``ranking.md``: the models' ranks under each condition (does the clean winner stay the winner?);
- ``snr.png`` / ``snr.svg``: UAR against SNR per noise kind and model.

With ``--groups`` (files at the top of the run folder): ``fairness.csv`` (UAR per group with intervals),
``fairness_tests.csv`` (gap and permutation test), ``fairness_recall.csv`` (recall per emotion per group) and
``fairness.md``; the group balance of the corpus is in ``audit.json`` under ``groups``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from benchmark.evaluation.fairness import (
    FAIRNESS_FILE,
    FAIRNESS_RECALL_FILE,
    FAIRNESS_TESTS_FILE,
    format_balance,
    run_fairness,
)
from benchmark.reports.ranking import ranking_protocol
from benchmark.reports.rundir import SPEAKER_PROTOCOLS, is_speaker_protocol
from benchmark.reports.statistics import ALPHA, paired_speaker_test, speaker_bootstrap_ci

ROBUST_DIR = "robustness"
TABLE_COLUMNS = ["features", "model", "protocol", "condition", "kind", "snr_db", "uar", "ci_low", "ci_high",
                 "clean_uar", "delta", "p_value", "verdict", "n_utterances", "n_failed_clips"]


def write_robustness_and_fairness(writer, grid, table: pd.DataFrame, config) -> None:
    """Everything robustness and fairness write into the run folder being written (before it is sealed)."""
    root = Path(writer.path)
    if grid.robust is not None:
        folds, predictions = grid.robust.score(grid)
        writer.csv(f"{ROBUST_DIR}/folds.csv", folds)
        writer.csv(f"{ROBUST_DIR}/predictions.csv", predictions)
        frame = robustness_table(root, config.bootstrap_resamples, config.seed)
        writer.csv(f"{ROBUST_DIR}/table.csv", frame)
        writer.text(f"{ROBUST_DIR}/table.md", render_table(frame) + "\n")
        writer.text(f"{ROBUST_DIR}/ranking.md", render_ranking(frame) + "\n")
        if config.report:
            snr_plot(frame, root / ROBUST_DIR)
    if config.groups:
        clean = pd.read_csv(root / "predictions.csv", keep_default_na=False)
        clean["speaker"] = clean["speaker"].astype(str)
        uars, tests, recalls = run_fairness(clean, table, config.groups, config.bootstrap_resamples, config.seed,
                                            SPEAKER_PROTOCOLS)
        writer.csv(FAIRNESS_FILE, uars)
        writer.csv(FAIRNESS_TESTS_FILE, tests)
        writer.csv(FAIRNESS_RECALL_FILE, recalls)
        import json

        audit = json.loads((root / "audit.json").read_text())
        writer.text("fairness.md", render_fairness(uars, tests, audit.get("groups", {})) + "\n")


def _pooled(frame: pd.DataFrame) -> dict:
    return {k: g for k, g in frame.groupby(["features", "model", "protocol"], sort=False)}


def robustness_table(run_dir: Path, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """UAR per model and condition under the ranking protocol, against the same model's clean predictions."""
    run_dir = Path(run_dir)
    degraded = pd.read_csv(run_dir / ROBUST_DIR / "predictions.csv", keep_default_na=False)
    folds = pd.read_csv(run_dir / ROBUST_DIR / "folds.csv", keep_default_na=False)
    clean = pd.read_csv(run_dir / "predictions.csv", keep_default_na=False)
    clean = clean[(clean["table"] == "leaderboard") & (clean["speaker_norm"].astype(str) == "False")]
    for f in (degraded, clean):
        f["speaker"] = f["speaker"].astype(str)
    if degraded.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    protocol = ranking_protocol(degraded["protocol"].unique())
    degraded = degraded[degraded["protocol"] == protocol]
    clean = clean[clean["protocol"] == protocol]
    clean_of = _pooled(clean)
    speaker_stats = is_speaker_protocol(protocol)
    rows = []
    for (features, model, _, condition), group in degraded.groupby(["features", "model", "protocol", "condition"],
                                                                    sort=False):
        info = folds[(folds["features"] == features) & (folds["model"] == model) & (folds["protocol"] == protocol)
                     & (folds["condition"] == condition)]
        if speaker_stats:
            point, low, high = speaker_bootstrap_ci(group["emotion"], group["predicted"], group["speaker"],
                                                    n_resamples, seed)
        else:
            from benchmark.reports.statistics import uar

            point, low, high = uar(group["emotion"], group["predicted"]), math.nan, math.nan
        row = {"features": features, "model": model, "protocol": protocol, "condition": condition,
               "kind": info["kind"].iloc[0] if len(info) else "", "snr_db": info["snr_db"].iloc[0] if len(info) else "",
               "uar": point, "ci_low": low, "ci_high": high, "n_utterances": len(group),
               "n_failed_clips": int(pd.to_numeric(info["n_failed_clips"]).sum()) if len(info) else 0,
               "clean_uar": math.nan, "delta": math.nan, "p_value": math.nan, "verdict": ""}
        base = clean_of.get((features, model, protocol))
        if base is not None:
            pair = base.merge(group, on=["fold", "row"], suffixes=("_c", "_d"))
            if not pair.empty:
                test = paired_speaker_test(pair["emotion_c"], pair["predicted_d"], pair["predicted_c"],
                                           pair["speaker_c"], seed=seed)
                row.update(clean_uar=test.uar_b, delta=test.uar_a - test.uar_b, p_value=test.p_value,
                           verdict=("worse" if test.diff < 0 else "better") if test.significant and speaker_stats
                           else "tie" if speaker_stats else "")
        rows.append(row)
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _pct(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * float(v):.1f}"


def render_table(frame: pd.DataFrame) -> str:
    """Markdown: one row per model, one column per condition: UAR [95 % CI] and the change against clean."""
    if frame.empty:
        return "No degraded predictions."
    protocol = frame["protocol"].iloc[0]
    lines = [f"# Robustness: UAR under each recording condition ({protocol} protocol)", ""]
    body = []
    for _, r in frame.iterrows():
        ci = f"[{_pct(r['ci_low'])}, {_pct(r['ci_high'])}]" if not math.isnan(float(r["ci_low"])) else ""
        p = "" if math.isnan(float(r["p_value"])) else f"{r['verdict']} p={float(r['p_value']):.3f}"
        delta = "" if math.isnan(float(r["delta"])) else f"{100 * float(r['delta']):+.1f}"
        body.append([f"{r['features']}/{r['model']}", r["condition"], _pct(r["uar"]), ci, _pct(r["clean_uar"]),
                     delta, p, r["n_failed_clips"] or ""])
    lines.append(tabulate(body, headers=["model", "condition", "UAR", "95% CI", "clean UAR", "change", "vs clean",
                                         "failed clips"], tablefmt="github"))
    lines += ["", "UAR pooled over the test folds, in %. 95% CI: percentile bootstrap over test speakers. change: "
              "degraded minus clean UAR of the same model on the same clips, in points. vs clean: paired "
              f"permutation test over speakers of degraded against clean predictions (two-sided; tie = not "
              f"significant at {100 * ALPHA:g}%). The model is fitted once on clean training audio; nothing is "
              "refitted for a condition."]
    return "\n".join(lines)


def ranking_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Rank (1 = best UAR) of each model under each condition, with clean as the first column."""
    if frame.empty:
        return pd.DataFrame()
    frame = frame.assign(label=frame["features"] + "/" + frame["model"])
    wide = frame.pivot_table(index="label", columns="condition", values="uar", sort=False)
    clean = frame.groupby("label", sort=False)["clean_uar"].first()
    wide.insert(0, "clean", clean)
    return wide.rank(ascending=False, method="min").astype(int)


def render_ranking(frame: pd.DataFrame) -> str:
    ranks = ranking_frame(frame)
    if ranks.empty:
        return "No degraded predictions."
    winner = ranks.index[ranks["clean"] == 1].tolist()
    lines = ["# Ranking per recording condition (1 = best UAR)", "",
             tabulate(ranks.reset_index().values.tolist(), headers=["model", *ranks.columns], tablefmt="github"),
             ""]
    if winner:
        kept = [c for c in ranks.columns[1:] if (ranks.loc[winner, c] == 1).any()]
        lines.append(f"The clean winner ({', '.join(winner)}) stays first under {len(kept)} of "
                     f"{len(ranks.columns) - 1} conditions" + (f"; it loses first place under: "
                     f"{', '.join(c for c in ranks.columns[1:] if c not in kept)}." if len(kept) < len(ranks.columns) - 1
                     else "."))
    lines.append("Ranks are by point UAR; the intervals in table.md say which differences are within noise.")
    return "\n".join(lines)


def snr_plot(frame: pd.DataFrame, out_dir: Path) -> Path | None:
    """UAR against SNR, a panel per noise kind, a line per model, the clean UAR at the right (as +inf dB)."""
    noise = frame[frame["snr_db"].astype(str) != ""]
    if noise.empty:
        return None
    from matplotlib.figure import Figure

    kinds = sorted(noise["kind"].unique())
    fig = Figure(figsize=(4.2 * len(kinds), 3.4), layout="constrained")
    axes = fig.subplots(1, len(kinds), squeeze=False)[0]
    for ax, kind in zip(axes, kinds, strict=True):
        part = noise[noise["kind"] == kind]
        for (features, model), g in part.groupby(["features", "model"], sort=False):
            g = g.assign(snr=g["snr_db"].astype(float)).sort_values("snr")
            line = ax.plot(g["snr"], 100 * g["uar"], marker="o", label=f"{features}/{model}")[0]
            ax.fill_between(g["snr"], 100 * g["ci_low"].astype(float), 100 * g["ci_high"].astype(float),
                            color=line.get_color(), alpha=0.12, linewidth=0)
            clean = float(g["clean_uar"].iloc[0])
            if not math.isnan(clean):
                ax.axhline(100 * clean, color=line.get_color(), linestyle=":", linewidth=1)
        ax.set_title(f"{kind} noise")
        ax.set_xlabel("SNR (dB)")
        ax.set_ylabel("UAR (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "snr.png"
    fig.savefig(path, dpi=120)
    fig.savefig(out_dir / "snr.svg")
    return path


def render_fairness(uars: pd.DataFrame, tests: pd.DataFrame, balance: dict) -> str:
    """Markdown: group UARs with intervals, the gap and its test per model and column, and the corpus balance."""
    lines = ["# Fairness across groups of speakers", ""]
    if uars.empty:
        lines.append("No speaker-independent predictions to break down by group.")
    else:
        body = []
        for keys, g in uars.groupby(["features", "model", "protocol", "speaker_norm", "column"], sort=False):
            features, model, protocol, norm, column = keys
            cells = "; ".join(f"{r['group']} {_pct(r['uar'])} [{_pct(r['ci_low'])}, {_pct(r['ci_high'])}] "
                              f"({r['n_speakers']} spk)" for r in g.to_dict("records"))
            t = tests[(tests["features"] == features) & (tests["model"] == model) & (tests["protocol"] == protocol)
                      & (tests["column"] == column)] if not tests.empty else tests
            gap = (f"{100 * t['gap'].iloc[0]:.1f} ({t['best'].iloc[0]} > {t['worst'].iloc[0]}), "
                   f"p={t['p_value'].iloc[0]:.3f}{' *' if bool(t['significant'].iloc[0]) else ''}"
                   if len(t) else "")
            body.append([f"{features}/{model}{' spk-norm' if norm in (True, 'True') else ''}", protocol, column,
                         cells, gap])
        lines.append(tabulate(body, headers=["model", "protocol", "column", "UAR per group [95% CI]", "gap, test"],
                              tablefmt="github"))
        lines += ["", "UAR in %, pooled over the test folds; 95% CI: bootstrap over the group's test speakers. gap: "
                  "best minus worst group, in points; p: permutation test of the gap over speakers (group labels "
                  "shuffled among the test speakers, exact when few); * significant at "
                  f"{100 * ALPHA:g}% (the leaderboard flags it as group-gap). Recall per emotion per group: "
                  "fairness_recall.csv."]
    for b in balance.values():
        lines += ["", "```", format_balance(b), "```"]
    return "\n".join(lines)


def console_summary(run_dir: Path) -> str:
    """A few lines for the console after the leaderboard."""
    run_dir = Path(run_dir)
    out = []
    table = run_dir / ROBUST_DIR / "table.csv"
    if table.is_file():
        frame = pd.read_csv(table, keep_default_na=False)
        if not frame.empty:
            frame["uar"] = pd.to_numeric(frame["uar"])
            worst = frame.sort_values("uar").groupby(["features", "model"], sort=False).first().reset_index()
            out.append(f"robustness ({frame['protocol'].iloc[0]}): UAR under {frame['condition'].nunique()} "
                       "conditions; worst condition per model:")
            for r in worst.to_dict("records"):
                out.append(f"  {r['features']}/{r['model']}: {r['condition']} {_pct(r['uar'])} "
                           f"(clean {_pct(float(r['clean_uar']) if r['clean_uar'] != '' else math.nan)})")
            out.append(f"  tables: {run_dir / ROBUST_DIR / 'table.md'}, {run_dir / ROBUST_DIR / 'ranking.md'}")
    tests = run_dir / FAIRNESS_TESTS_FILE
    if tests.is_file():
        frame = pd.read_csv(tests, keep_default_na=False) if tests.stat().st_size > 1 else pd.DataFrame()
        n = int((frame["significant"].astype(str) == "True").sum()) if not frame.empty else 0
        out.append(f"fairness: {n} of {len(frame)} group gaps significant at {100 * ALPHA:g}%; "
                   f"{run_dir / 'fairness.md'}")
    return "\n".join(out)
