"""Ranking: per-fold scores summarised, ranked by speaker-independent UAR, with the leakage gap, flags and the
speaker statistics (bootstrap intervals, paired test against the best model).

Everything here is computed from a run folder alone (see :mod:`benchmark.reports.rundir`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark.evaluation.audit import FEW_SPEAKERS
from benchmark.evaluation.fairness import group_flags
from benchmark.evaluation.metrics import mean_std
from benchmark.reports.repeats import annotate_repeats, n_repeats, summarise_repeats
from benchmark.reports.rundir import KEYS, RunFolder, load_run, read_folds
from benchmark.reports.statistics import annotate_rows, per_speaker_table

GAP_FLAG = 10.0  # points of UAR between stratified and speaker-independent that earn a flag
# The first protocol present ranks the table; a multi-corpus run ranks by the mean cross-corpus UAR.
RANK_ORDER = ("cross-corpus", "leave-one-corpus-out", "speaker", "speaker+text", "stratified")
SHORT = {"speaker": "SI", "speaker+text": "SI+T", "stratified": "strat", "holdout": "hold",
         "cross-corpus": "XC", "leave-one-corpus-out": "LOCO"}

__all__ = ["GAP_FLAG", "RANK_ORDER", "KEYS", "Leaderboard", "build", "read_folds", "summarise", "ranking_protocol",
           "wide_table", "short_name"]


def short_name(protocol: str) -> str:
    return SHORT.get(protocol, protocol)


def summarise(folds: pd.DataFrame) -> pd.DataFrame:
    """One row per (table, features, model, protocol, speaker_norm): mean and std over the folds that ran."""
    if "train_corpus" in folds and "test_corpus" in folds:
        # the diagonal of the cross-corpus matrix is in-corpus: it is shown in the matrix, never ranked as "cross"
        diagonal = (folds["protocol"] == "cross-corpus") & (folds["train_corpus"] == folds["test_corpus"])
        folds = folds[~diagonal]
    rows = []
    for key, group in folds.groupby(KEYS, sort=False):
        ok = group[group["status"] == "ok"]
        row = dict(zip(KEYS, key, strict=True))
        if n_repeats(ok) > 1:  # --repeats: mean over repeats, SD over folds within a repeat, seed SD beside it
            row.update(summarise_repeats(ok))
        else:
            for metric in ("uar", "wa", "f1"):
                row[f"{metric}_mean"], row[f"{metric}_std"] = mean_std(ok[metric]) if len(ok) else (math.nan,
                                                                                                   math.nan)
            row.update(n_repeats=1, uar_seed_sd=math.nan)  # one repeat: the seed spread is not measured
        degenerate = ok["degenerate"][ok["degenerate"] != ""] if "degenerate" in ok else ok["status"].iloc[:0]
        row.update(n_folds=int(len(ok)), n_failed=int(len(group) - len(ok)), n_degenerate=int(len(degenerate)),
                   first_degenerate=str(degenerate.iloc[0]) if len(degenerate) else "",
                   chance_uar=float(ok["chance_uar"].mean()) if len(ok) else math.nan,
                   first_error=str(group.loc[group["status"] != "ok", "error"].iloc[0]) if len(ok) < len(group)
                   else "")
        rows.append(row)
    return pd.DataFrame(rows)


def ranking_protocol(protocols) -> str:
    """Never a speaker-dependent protocol while a speaker-independent one is there (``holdout`` ranks nothing)."""
    return next((p for p in RANK_ORDER if p in set(protocols)), sorted(protocols)[0])


def wide_table(summary: pd.DataFrame, audit: dict) -> list[dict]:
    """The main leaderboard: a row per (features, model, speaker_norm), best speaker-independent UAR first."""
    if summary.empty:
        return []
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
        degenerate = sum(r["n_degenerate"] for r in by.values())
        if degenerate:
            flags.append(f"degenerate {degenerate}/{sum(r['n_folds'] for r in by.values())}")
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


@dataclass
class Leaderboard:
    """A run's tables and statistics, computed once and shared by every renderer."""

    folder: RunFolder
    summary: pd.DataFrame
    rows: list[dict]
    note: str  # what the statistics could not use ("" when they are complete)
    per_speaker: pd.DataFrame | None

    @property
    def rank_by(self) -> str:
        return self.rows[0]["rank_by"] if self.rows else "speaker"

    @property
    def has_ci(self) -> bool:
        return any(r.get("ci") for r in self.rows)

    @property
    def has_repeats(self) -> bool:
        return any(r.get("n_repeats", 1) > 1 for r in self.rows)

    @property
    def has_paired(self) -> bool:
        return any("paired" in r for r in self.rows)


def build(run_dir: str | Path | RunFolder) -> Leaderboard:
    """Load (if needed) a run folder and compute its leaderboard rows with their statistics."""
    folder = run_dir if isinstance(run_dir, RunFolder) else load_run(run_dir)
    summary = summarise(folder.folds)
    rows = wide_table(summary, folder.audit)
    note = annotate_rows(rows, folder)
    annotate_repeats(rows, folder.folds)
    group_flags(rows, folder.path)  # --groups: a significant gap between groups of speakers
    return Leaderboard(folder=folder, summary=summary, rows=rows, note=note, per_speaker=per_speaker_table(folder))
