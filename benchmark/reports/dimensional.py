"""The dimensional task's tables and plots: the leaderboard ranked by mean CCC on unseen speakers, with Pearson's
r and the error beside it, the speaker-bootstrap interval, the gap to the stratified split, the paired tests, and
predicted-versus-true plots per dimension."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.evaluation.regression import mean_ccc, paired_ccc_test, speaker_bootstrap_ccc

RANK_ORDER = ("speaker", "speaker+text", "holdout", "stratified")  # unseen speakers first


def rank_protocol(protocols: Sequence[str]) -> str:
    """The protocol the leaderboard is ranked on: the first speaker-independent one the run has."""
    return next(p for p in (*RANK_ORDER, *protocols) if p in protocols)


def leaderboard(folds: pd.DataFrame, predictions: pd.DataFrame, targets: Sequence[str], resamples: int = 1000,
                seed: int = 0) -> pd.DataFrame:
    """One row per model, input and protocol: mean over folds of CCC (per target and mean), r, RMSE, MAE; the
    pooled CCC with its speaker-bootstrap 95 % interval; the gap to the stratified split; the rank.

    Parameters
    ----------
    folds : pandas.DataFrame
        ``folds.csv`` of a dimensional run (``status``, ``ccc_<t>``, ``r_<t>``, ...).
    predictions : pandas.DataFrame
        ``predictions.csv`` (``true_<t>``, ``pred_<t>``, ``speaker`` per test row).
    targets : sequence of str
    resamples, seed : int
        The speaker bootstrap.

    Returns
    -------
    pandas.DataFrame
        Sorted: the ranking protocol first, by mean CCC descending.
    """
    rows = []
    keys = ["model", "features", "protocol"]
    for (model, features, protocol), group in folds.groupby(keys, sort=False):
        ok = group[group["status"] == "ok"]
        row = {"model": model, "features": features, "protocol": protocol, "folds": len(group),
               "failed": int((group["status"] != "ok").sum())}
        if len(ok):
            row["ccc_mean"] = float(ok["ccc_mean"].mean())
            row["ccc_std"] = float(ok["ccc_mean"].std(ddof=1)) if len(ok) > 1 else 0.0
            for t in targets:
                for metric in ("ccc", "r", "rmse", "mae"):
                    row[f"{metric}_{t}"] = float(ok[f"{metric}_{t}"].mean())
            pooled = predictions[(predictions["model"] == model) & (predictions["features"] == features)
                                 & (predictions["protocol"] == protocol)]
            true = pooled[[f"true_{t}" for t in targets]].to_numpy(float)
            pred = pooled[[f"pred_{t}" for t in targets]].to_numpy(float)
            point, low, high = speaker_bootstrap_ccc(true, pred, pooled["speaker"].to_numpy(), resamples, seed)
            row.update(ccc_pooled=point, ccc_low=low, ccc_high=high)
        rows.append(row)
    board = pd.DataFrame(rows)
    if board.empty:
        return board
    if "ccc_mean" not in board:
        board["ccc_mean"] = np.nan
    strat = board[board["protocol"] == "stratified"].set_index(["model", "features"])["ccc_mean"]
    board["gap_to_stratified"] = [
        float(strat.get((m, f), np.nan) - c) if p != "stratified" else np.nan
        for m, f, p, c in zip(board["model"], board["features"], board["protocol"], board["ccc_mean"], strict=True)]
    ranked = rank_protocol(board["protocol"].unique().tolist())
    board["order"] = [0 if p == ranked else 1 + RANK_ORDER.index(p) if p in RANK_ORDER else 9
                      for p in board["protocol"]]
    board = board.sort_values(["order", "ccc_mean"], ascending=[True, False], na_position="last")
    board["rank"] = ""
    mask = board["protocol"] == ranked
    board.loc[mask, "rank"] = [str(i) for i in range(1, int(mask.sum()) + 1)]
    return board.drop(columns="order").reset_index(drop=True)


def paired_tests(predictions: pd.DataFrame, targets: Sequence[str], board: pd.DataFrame, resamples: int = 1000,
                 seed: int = 0) -> pd.DataFrame:
    """The leader on the ranking protocol against every other system there: the paired speaker bootstrap of mean
    CCC on the test rows both predicted."""
    columns = ["protocol", "leader", "other", "difference", "low", "high", "p", "rows"]
    if board.empty or predictions.empty:
        return pd.DataFrame(columns=columns)
    ranked = board[board["rank"] != ""].dropna(subset=["ccc_mean"])
    if len(ranked) < 2:
        return pd.DataFrame(columns=columns)
    protocol = ranked["protocol"].iloc[0]
    here = predictions[predictions["protocol"] == protocol]

    def system(model, features):
        part = here[(here["model"] == model) & (here["features"] == features)]
        return part.drop_duplicates("row").set_index("row").sort_index()

    leader = system(ranked["model"].iloc[0], ranked["features"].iloc[0])
    rows = []
    for model, features in zip(ranked["model"].iloc[1:], ranked["features"].iloc[1:], strict=True):
        other = system(model, features)
        common = leader.index.intersection(other.index)
        a, b = leader.loc[common], other.loc[common]
        true = a[[f"true_{t}" for t in targets]].to_numpy(float)
        test = paired_ccc_test(true, a[[f"pred_{t}" for t in targets]].to_numpy(float),
                               b[[f"pred_{t}" for t in targets]].to_numpy(float), a["speaker"].to_numpy(),
                               resamples, seed)
        rows.append({"protocol": protocol, "leader": f"{ranked['model'].iloc[0]} ({ranked['features'].iloc[0]})",
                     "other": f"{model} ({features})", **test, "rows": len(common)})
    return pd.DataFrame(rows, columns=columns)


def render(board: pd.DataFrame, targets: Sequence[str], fmt: str = "console",
           paired: pd.DataFrame | None = None) -> str:
    """The leaderboard as text: ``console`` or ``md`` (with the paired tests), ``latex``, or ``csv``."""
    from tabulate import tabulate

    if fmt == "csv":
        return board.to_csv(index=False)
    headers = ["rank", "model", "features", "protocol", "CCC mean", "95% CI (speakers)",
               *[f"CCC {t[:3]}" for t in targets], *[f"r {t[:3]}" for t in targets],
               *[f"RMSE {t[:3]}" for t in targets], "gap to strat."]
    rows = []
    for r in board.to_dict("records"):
        def f(key, digits=3, r=r):
            value = r.get(key)
            return "" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"

        mean = f"{f('ccc_mean')} ± {f('ccc_std')}" if f("ccc_mean") else "failed"
        ci = f"[{f('ccc_low')}, {f('ccc_high')}]" if f("ccc_low") else ""
        rows.append([r["rank"], r["model"], r["features"], r["protocol"], mean, ci,
                     *[f(f"ccc_{t}") for t in targets], *[f(f"r_{t}") for t in targets],
                     *[f(f"rmse_{t}") for t in targets], f("gap_to_stratified")])
    table_format = {"console": "simple", "md": "github", "latex": "latex_booktabs"}[fmt]
    text = tabulate(rows, headers, tablefmt=table_format, disable_numparse=True)
    if fmt == "latex":
        return text
    title = ("Dimensional leaderboard: mean CCC over folds (± sd), ranked on unseen speakers; CI = speaker "
             "bootstrap of the pooled CCC; gap = stratified minus this protocol")
    out = [title, "", text]
    if paired is not None and len(paired):
        out += ["", "Paired speaker-bootstrap tests of mean CCC (leader minus other):", ""]
        out.append(tabulate([[r["leader"], r["other"], f"{r['difference']:+.3f}", f"[{r['low']:+.3f}, "
                              f"{r['high']:+.3f}]", f"{r['p']:.3g}", r["rows"]] for r in paired.to_dict("records")],
                            ["leader", "other", "ΔCCC", "95% CI", "p", "rows"],
                            tablefmt="github" if fmt == "md" else "simple", disable_numparse=True))
    return "\n".join(out)


def plot_predictions(run_dir: Path, predictions: pd.DataFrame, board: pd.DataFrame,
                     targets: Sequence[str]) -> list[Path]:
    """``plots/pred_vs_true__<model>__<protocol>.png``: one panel per dimension, the identity line, the CCC."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    if predictions.empty:
        return written
    (Path(run_dir) / "plots").mkdir(exist_ok=True)
    for (model, features, protocol), part in predictions.groupby(["model", "features", "protocol"], sort=False):
        fig, axes = plt.subplots(1, len(targets), figsize=(3.6 * len(targets), 3.4), squeeze=False)
        for ax, target in zip(axes[0], targets, strict=True):
            true, pred = part[f"true_{target}"].to_numpy(float), part[f"pred_{target}"].to_numpy(float)
            ax.scatter(true, pred, s=6, alpha=0.4)
            low, high = float(min(true.min(), pred.min())), float(max(true.max(), pred.max()))
            ax.plot([low, high], [low, high], color="grey", linewidth=1)
            value = mean_ccc(true[:, None], pred[:, None])
            ax.set_title(f"{target}: CCC {value:.3f}", fontsize=9)
            ax.set_xlabel("true")
            ax.set_ylabel("predicted")
        fig.suptitle(f"{model} on {features}, {protocol}", fontsize=10)
        fig.tight_layout()
        path = Path(run_dir) / "plots" / f"pred_vs_true__{model}__{protocol}.png".replace("+", "-")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written
