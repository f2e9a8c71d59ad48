"""The leakage decomposition: from the honest speaker-independent UAR, leak by leak, to all leaks together.

Read from a run folder's ``leakage.csv`` (written by ``run --leaks``). Each leak row's inflation is measured
against its reference (the honest row, or the same tool done inside the training fold, or speaker+text folds
for ``sentences``) on the same test utterances, with the paired permutation test over speakers. The waterfall
adds the printed inflations to the printed honest UAR; what they do not explain of the printed "all together"
UAR is the interaction row, so the column adds up exactly as printed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

LEAKAGE_CSV = "leakage.csv"
MARK = "LEAK"  # every leaky row carries it: these rows never rank


def read_leakage(run_dir: str | Path) -> pd.DataFrame | None:
    path = Path(run_dir) / LEAKAGE_CSV
    if not path.is_file():
        return None
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def _fmt(value: float, sign: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return ""
    return f"{value:+.1f}" if sign else f"{value:.1f}"


def waterfall(rows: pd.DataFrame) -> list[tuple[str, float]]:
    """(step, points) from honest to all leaks together for one model, in printed (0.1-point) units.

    The steps are the honest UAR, each single leak's inflation that lies on the path from the honest row
    (``sentences`` is already inside the honest row's folds and ``n/a`` rows are skipped), the interaction
    (what the printed figures leave unexplained) and the all-together UAR. Without an all-together row the
    interaction is omitted and the last step is the sum.
    """
    by = rows.set_index("row")
    honest = round(float(by.loc["honest", "uar"]), 1)
    steps = [("honest", honest)]
    for _, r in rows.iterrows():
        if r["kind"] == "leak" and "+" not in str(r["leaks"]) and r["row"] != "all together" \
                and r["row"] != "sentences" and r["status"] == "ok" and np.isfinite(r["inflation"]):
            steps.append((str(r["row"]), round(float(r["inflation"]), 1)))
    total = round(sum(v for _, v in steps), 1)
    if "all together" in by.index and by.loc["all together", "status"] == "ok":
        together = round(float(by.loc["all together", "uar"]), 1)
        steps.append(("interaction", round(together - total, 1)))
        steps.append(("all together", together))
    else:
        steps.append(("sum", total))
    return steps


def decomposition_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The printed table: one line per model and row, figures in % and points, leaky rows marked."""
    out = []
    for _, r in frame.iterrows():
        ci = f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]" if np.isfinite(r["ci_low"]) else ""
        out.append({"model": r["model"], "features": r["features"],
                    "row": f"{r['row']} ({MARK})" if bool(r["leaky"]) else r["row"],
                    "UAR %": _fmt(r["uar"]) if r["status"] == "ok" else r["status"], "95 % CI": ci,
                    "against": r["reference"] if isinstance(r["reference"], str) else "",
                    "its UAR %": _fmt(r["reference_uar"]), "inflation (pts)": _fmt(r["inflation"], sign=True),
                    "p": "" if not np.isfinite(r["p_value"]) else f"{r['p_value']:.3g}",
                    "note": r["error"] if isinstance(r["error"], str) and r["error"] else ""})
    return pd.DataFrame(out)


def render(run_dir: str | Path, fmt: str = "md") -> str:
    """The decomposition table and each model's waterfall, as Markdown (``md``), ``console`` or ``csv``."""
    frame = read_leakage(run_dir)
    if frame is None:
        return ""
    table = decomposition_table(frame)
    if fmt == "csv":
        return table.to_csv(index=False)
    tablefmt = "github" if fmt == "md" else "simple"
    parts = ["Leakage decomposition (rows marked LEAK are deliberately leaky pipelines; they never rank)", "",
             table.to_markdown(index=False, tablefmt=tablefmt), ""]
    for (model, features), rows in frame.groupby(["model", "features"], sort=False):
        if "honest" not in set(rows["row"]) or not (rows["kind"] == "leak").any():
            continue
        steps = waterfall(rows)
        text = f"honest {_fmt(steps[0][1])}"
        for name, value in steps[1:-1]:
            text += f" {'+' if value >= 0 else '-'} {name} {abs(value):.1f}"
        text += f" = {steps[-1][0]} {_fmt(steps[-1][1])}"
        parts.append(f"{model} on {features}: {text}")
    return "\n".join(parts).rstrip() + "\n"


def plot_waterfall(run_dir: str | Path, out: str | Path | None = None) -> list[Path]:
    """A waterfall plot per model (``leakage_<model>.png``): honest bar, each leak's step, interaction, total."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = read_leakage(run_dir)
    written = []
    if frame is None:
        return written
    folder = Path(out) if out is not None else Path(run_dir)  # the report rewrites plots/; these stay beside
    folder.mkdir(parents=True, exist_ok=True)
    for (model, features), rows in frame.groupby(["model", "features"], sort=False):
        if "honest" not in set(rows["row"]) or not (rows["kind"] == "leak").any():
            continue
        steps = waterfall(rows)
        fig, ax = plt.subplots(figsize=(1.1 * len(steps) + 2, 4))
        level = 0.0
        for i, (name, value) in enumerate(steps):
            if i == 0 or name in ("all together", "sum"):
                ax.bar(i, value, color="#4c72b0" if i == 0 else "#c44e52")
                level = value
                ax.text(i, value + 0.5, _fmt(value), ha="center", fontsize=8)
            else:
                ax.bar(i, value, bottom=level, color="#dd8452" if value >= 0 else "#55a868")
                ax.text(i, max(level, level + value) + 0.5, _fmt(value, True), ha="center", fontsize=8)
                level += value
        ax.set_xticks(range(len(steps)), [n for n, _ in steps], rotation=35, ha="right", fontsize=8)
        ax.set_ylabel("UAR %")
        ax.set_title(f"Leakage decomposition: {model} on {features} (leaky steps marked, never ranked)", fontsize=9)
        fig.tight_layout()
        path = folder / f"leakage_{model}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
