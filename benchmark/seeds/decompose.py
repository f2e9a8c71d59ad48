"""The claims decomposed: claim -> replication with all its leaks -> each leak removed -> honest SI number.

The leaks each seed's pipeline committed are data (``claims.csv``: ``leaks`` and ``leak_sources``, quoting the
README or notebook). ``seeds`` applies them together on the replication, removes each in turn, and runs the
honest speaker-independent protocol; this module prints the chain. What the replication with all its leaks
does not reach of the claim (only on the claim's own corpus) stays unexplained.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.reports.leakage import read_leakage

from .claims import _on_its_corpus, load_claims

WITH_LEAKS = "with its leaks"


def system_leaks(recipes) -> dict[str, tuple[str, ...]]:
    """recipe -> the leaks its seed's pipeline committed, from ``claims.csv`` (empty where none can be named)."""
    claims = load_claims().set_index("recipe")
    return {r: tuple(x for x in str(claims.loc[r, "leaks"]).split("+") if x) for r in recipes if r in claims.index}


def claims_leaks_table(run_dir: str | Path) -> pd.DataFrame:
    """One line per step of each replication's chain: accuracy and UAR (%), the change in accuracy points from
    the previous reference, and the paired test over speakers (on UAR) where one applies."""
    frame = read_leakage(run_dir)
    if frame is None:
        return pd.DataFrame()
    frame = frame[frame["kind"] == "system"]
    run = pd.read_json(Path(run_dir) / "run.json", typ="series") if (Path(run_dir) / "run.json").is_file() else {}
    corpus = str(run.get("dataset", "")) if len(run) else ""
    claims = load_claims().set_index("recipe")
    out = []
    for recipe, rows in frame.groupby("model", sort=False):
        by = rows.set_index("row")
        claim = claims.loc[recipe] if recipe in claims.index else None
        seed = claim["seed"] if claim is not None else ""
        own = claim is not None and _on_its_corpus(claim["corpus"], corpus)
        figure = float(claim["figure"]) if claim is not None and pd.notna(claim["figure"]) else np.nan
        if WITH_LEAKS not in by.index:
            continue
        leaky = by.loc[WITH_LEAKS]
        out.append(_line(seed, recipe, "claim", f"{claim['corpus'] or 'corpus not named'}, {claim['split']}"
                         if claim is not None else "", figure, np.nan, np.nan, np.nan))
        out.append(_line(seed, recipe, f"{WITH_LEAKS}: {leaky['leaks']}", str(claim["leak_sources"])
                         if claim is not None else "", leaky["acc"], leaky["uar"], np.nan, np.nan))
        for name, r in by.iterrows():
            if str(name).startswith("without "):
                out.append(_line(seed, recipe, f"- {str(name).removeprefix('without ')} (removed)",
                                 f"the other leaks kept: {r['leaks']}", r["acc"], r["uar"],
                                 r["acc"] - leaky["acc"], r["p_value"]))
        honest = by.loc["honest"] if "honest" in by.index else None
        if honest is not None:
            out.append(_line(seed, recipe, "honest SI", "speaker folds, no leak", honest["acc"], honest["uar"],
                             honest["acc"] - leaky["acc"], leaky["p_value"]))
        out.append(_line(seed, recipe, "unexplained (claim - with its leaks)",
                         "" if own else "the claim is on another corpus: not comparable",
                         figure - leaky["acc"] if own and np.isfinite(figure) else np.nan, np.nan, np.nan, np.nan))
    return pd.DataFrame(out, columns=["seed", "replication", "step", "source", "acc", "uar", "change", "p"])


def _line(seed, recipe, step, source, acc, uar, change, p) -> dict:
    return {"seed": seed, "replication": recipe, "step": step, "source": source, "acc": acc, "uar": uar,
            "change": change, "p": p}


def render_claims_leaks(table: pd.DataFrame) -> str:
    """The chain as Markdown (what the console prints)."""
    if table.empty:
        return ""

    def num(v, sign=False):
        return "" if v is None or not np.isfinite(v) else (f"{v:+.1f}" if sign else f"{v:.1f}")

    shown = pd.DataFrame({"seed": table["seed"], "replication": table["replication"], "step": table["step"],
                          "acc %": [num(v) for v in table["acc"]], "UAR %": [num(v) for v in table["uar"]],
                          "change (acc pts)": [num(v, True) for v in table["change"]],
                          "p": ["" if not np.isfinite(v) else f"{v:.3g}" for v in table["p"]],
                          "source": table["source"]})
    return ("Claims decomposed: each replication with the leaks its pipeline committed (marked LEAK rows of "
            "leakage.csv), each leak removed, then the honest speaker-independent number. 'unexplained' is the "
            "claim minus the replication with all its leaks, only on the claim's own corpus.\n\n"
            + shown.to_markdown(index=False, tablefmt="github") + "\n")


def write_claims_leaks(run_dir: str | Path) -> pd.DataFrame:
    """Write ``claims_leaks.md`` and ``claims_leaks.csv`` into the run folder; returns the table."""
    table = claims_leaks_table(run_dir)
    if not table.empty:
        (Path(run_dir) / "claims_leaks.md").write_text(render_claims_leaks(table))
        table.to_csv(Path(run_dir) / "claims_leaks.csv", index=False, lineterminator="\n")
    return table
