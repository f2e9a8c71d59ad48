"""The dimensional task's tables and plots: the leaderboard ranked by mean CCC on unseen speakers, with Pearson's
r and the error beside it, the speaker-bootstrap interval, the gap to the stratified split, the paired tests, and
predicted-versus-true plots per dimension."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.evaluation.regression import mean_ccc, paired_ccc_test, speaker_bootstrap_ccc
from benchmark.reports.rundir import run_names

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


def _number(value, digits: int = 3) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def _board_cells(board: pd.DataFrame, targets: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """The leaderboard's headers and text cells, shared by every format."""
    headers = ["rank", "model", "features", "protocol", "CCC mean", "95% CI (speakers)",
               *[f"CCC {t[:3]}" for t in targets], *[f"r {t[:3]}" for t in targets],
               *[f"RMSE {t[:3]}" for t in targets], "gap to strat."]
    rows = []
    for r in board.to_dict("records"):
        mean = f"{_number(r.get('ccc_mean'))} ± {_number(r.get('ccc_std'))}" if _number(r.get("ccc_mean")) else \
            "failed"
        ci = f"[{_number(r.get('ccc_low'))}, {_number(r.get('ccc_high'))}]" if _number(r.get("ccc_low")) else ""
        rows.append([str(r.get("rank") or ""), r["model"], r["features"], r["protocol"], mean, ci,
                     *[_number(r.get(f"ccc_{t}")) for t in targets], *[_number(r.get(f"r_{t}")) for t in targets],
                     *[_number(r.get(f"rmse_{t}")) for t in targets], _number(r.get("gap_to_stratified"))])
    return headers, rows


def target_cells(board: pd.DataFrame, target: str) -> tuple[list[str], list[list[str]]]:
    """One target's table: every system on the ranking protocol ranked by that target's CCC, with its r, RMSE and
    MAE (a system can lead on arousal and trail on valence, which the mean hides)."""
    headers = ["rank", "model", "features", "protocol", f"CCC {target}", f"r {target}", f"RMSE {target}",
               f"MAE {target}"]
    if board.empty or f"ccc_{target}" not in board:
        return headers, []
    ranked = board[board["rank"] != ""].sort_values(f"ccc_{target}", ascending=False, na_position="last",
                                                    kind="stable")
    rows = [[str(i), r["model"], r["features"], r["protocol"],
             *[_number(r.get(f"{m}_{target}")) for m in ("ccc", "r", "rmse", "mae")]]
            for i, r in enumerate(ranked.to_dict("records"), start=1)]
    return headers, rows


def render(board: pd.DataFrame, targets: Sequence[str], fmt: str = "console",
           paired: pd.DataFrame | None = None) -> str:
    """The leaderboard as text: ``console`` or ``md`` (with the paired tests and, in ``md``, one table per target
    ranked by its own CCC), ``latex``, or ``csv``."""
    from tabulate import tabulate

    if fmt == "csv":
        return board.to_csv(index=False)
    headers, rows = _board_cells(board, targets)
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
    if fmt == "md" and len(targets) > 1:
        for target in targets:
            t_headers, t_rows = target_cells(board, target)
            if t_rows:
                out += ["", f"{target.capitalize()} alone (fold means on the ranking protocol, ranked by its CCC):",
                        "", tabulate(t_rows, t_headers, tablefmt="github", disable_numparse=True)]
    return "\n".join(out)


def plot_predictions(run_dir: Path, predictions: pd.DataFrame, board: pd.DataFrame,
                     targets: Sequence[str]) -> list[Path]:
    """``plots/pred_vs_true__<model>__<protocol>[__<normalisation>].png``: one panel per dimension, the identity
    line, the CCC."""
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
        variant = f"__{features.split('@', 1)[1]}" if "@" in features else ""  # spk-norm, corpus-norm rows
        path = Path(run_dir) / "plots" / f"pred_vs_true__{model}__{protocol}{variant}.png".replace("+", "-")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def is_dimensional_run(run_dir: Path) -> bool:
    """True when ``run_dir`` is a dimensional run folder (its ``run.json`` says ``"task": "dimensional"``)."""
    import json

    path = Path(run_dir) / "run.json"
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("task") == "dimensional"
    except (OSError, ValueError):
        return False


def load_run(run_dir: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame, dict]:
    """``(run.json, leaderboard, paired tests, audit)`` of a dimensional run folder, read from its files."""
    import json

    run_dir = Path(run_dir)
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    board = pd.read_csv(run_dir / "leaderboard.csv", keep_default_na=True, dtype={"rank": str}).fillna({"rank": ""})
    paired_path = run_dir / "paired.csv"
    paired = pd.read_csv(paired_path) if paired_path.is_file() and paired_path.stat().st_size else pd.DataFrame()
    audit_path = run_dir / "audit.json"
    audit = json.loads(audit_path.read_text(encoding="utf-8")) if audit_path.is_file() else {}
    return run, board, paired, audit


def export(run_dir: Path, fmt: str) -> str:
    """A dimensional run's leaderboard re-rendered from its files: ``md``, ``csv``, ``latex`` or ``json``."""
    import json

    run, board, paired, _ = load_run(run_dir)
    targets = run["targets"]
    if fmt == "json":
        return json.dumps({"task": "dimensional", "dataset": run.get("dataset"), "targets": targets,
                           "leaderboard": json.loads(board.to_json(orient="records")),
                           "paired": json.loads(paired.to_json(orient="records")) if len(paired) else []},
                          indent=2) + "\n"
    return render(board, targets, fmt, paired if fmt == "md" else None) + "\n"


def write_html_report(run_dir: Path) -> Path:
    """``report.html`` of a dimensional run: the leaderboard by mean CCC with intervals, per-target CCC/r/RMSE, the
    gap to stratified, the paired tests, the predicted-versus-true plots (embedded) and the leakage audit."""
    import base64
    import html as htmllib

    from benchmark.reports.html import CSS, _audit_html, table_html

    run_dir = Path(run_dir)
    run, board, paired, audit = load_run(run_dir)
    targets = run["targets"]

    def f(value, digits=3):
        return "" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"

    headers = ["rank", "model", "features", "protocol", "CCC mean ± sd", "95% CI (speakers)",
               *[f"CCC {t}" for t in targets], *[f"r {t}" for t in targets], *[f"RMSE {t}" for t in targets],
               "gap to stratified", "failed folds"]
    body = []
    for r in board.to_dict("records"):
        mean = f"{f(r.get('ccc_mean'))} ± {f(r.get('ccc_std'))}" if f(r.get("ccc_mean")) else "failed"
        ci = f"[{f(r.get('ccc_low'))}, {f(r.get('ccc_high'))}]" if f(r.get("ccc_low")) else ""
        body.append([str(r.get("rank") or ""), r["model"], r["features"], r["protocol"], mean, ci,
                     *[f(r.get(f"ccc_{t}")) for t in targets], *[f(r.get(f"r_{t}")) for t in targets],
                     *[f(r.get(f"rmse_{t}")) for t in targets], f(r.get("gap_to_stratified")),
                     str(r.get("failed", ""))])
    e = htmllib.escape
    out = ["<!doctype html><html><head><meta charset='utf-8'>",
           f"<title>{e(str(run.get('dataset')))}: dimensional benchmark</title><style>{CSS}</style></head><body>",
           f"<h1>{e(str(run.get('dataset')))}: dimensional emotion ({e(', '.join(targets))})</h1>",
           f"<p><code>{e(str(run.get('command', '')))}</code></p>",
           "<h2>Leaderboard</h2><p>Mean CCC over folds (± sd), ranked on unseen speakers; the interval is the speaker "
           "bootstrap of the pooled CCC; gap = stratified minus this protocol (positive: the stratified split "
           "flatters).</p>", table_html(headers, body, left=("model", "features", "protocol"))]
    if len(targets) > 1:
        for target in targets:
            t_headers, t_rows = target_cells(board, target)
            if t_rows:
                out += [f"<h3>{e(target.capitalize())} alone</h3><p>The ranking protocol's systems ranked by the CCC "
                        f"of {e(target)} (fold means).</p>", table_html(t_headers, t_rows,
                                                                          left=("model", "features", "protocol"))]
    if len(paired):
        out.append("<h2>Paired tests</h2><p>Paired speaker bootstrap of mean CCC, leader minus other, on the test "
                   "rows both predicted.</p>")
        out.append(table_html(["leader", "other", "ΔCCC", "95% CI", "p", "rows"],
                              [[r["leader"], r["other"], f"{r['difference']:+.3f}",
                                f"[{r['low']:+.3f}, {r['high']:+.3f}]", f"{r['p']:.3g}", str(r["rows"])]
                               for r in paired.to_dict("records")], left=("other",)))
    plots = sorted((run_dir / "plots").glob("pred_vs_true__*.png")) if (run_dir / "plots").is_dir() else []
    out.append("<h2>Predicted versus true</h2>")
    if not plots:
        out.append("<p class='note'>No plots in this run (run without --no-report to draw them).</p>")
    for plot in plots:
        data = base64.b64encode(plot.read_bytes()).decode("ascii")
        out.append(f"<figure><img alt='{e(plot.stem)}' src='data:image/png;base64,{data}'>"
                   f"<figcaption>{e(plot.name)}: one panel per dimension, the identity line in grey.</figcaption>"
                   "</figure>")
    out += ["<h2>Leakage audit</h2>", _audit_html(audit), "</body></html>"]
    path = run_dir / "report.html"
    path.write_text("".join(out), encoding="utf-8")
    return path


COMPARE_HEADERS = ["first", "other", "ΔCCC", "95% CI", "p", "rows"]


def compare_tests(run_dirs: Sequence[Path]) -> list[dict]:
    """The paired speaker bootstrap of mean CCC between the first run's leader and each other run's leader on the
    ranking protocol, on the test rows both predicted; a row says why when there is nothing to test."""
    runs = [(Path(d), *load_run(Path(d))) for d in run_dirs]
    names = run_names(run_dirs)
    targets = runs[0][1]["targets"]
    base_path, _, base_board, _, _ = runs[0]
    base_pred = pd.read_csv(base_path / "predictions.csv")
    out = []
    for name, (path, run, board, _, _) in zip(names[1:], runs[1:], strict=True):
        row = {"first": names[0], "other": name, "difference": np.nan, "low": np.nan, "high": np.nan,
               "p": np.nan, "rows": 0, "note": ""}
        lead_a, lead_b = base_board[base_board["rank"] == "1"], board[board["rank"] == "1"]
        if run["targets"] != targets:
            out.append({**row, "note": "different targets: no test"})
            continue
        if lead_a.empty or lead_b.empty or lead_a["protocol"].iloc[0] != lead_b["protocol"].iloc[0]:
            out.append({**row, "note": "no common ranking protocol"})
            continue
        protocol = lead_a["protocol"].iloc[0]
        other = pd.read_csv(path / "predictions.csv")

        def pick(frame, lead, protocol=protocol):
            part = frame[(frame["model"] == lead["model"].iloc[0]) & (frame["features"] == lead["features"].iloc[0])
                         & (frame["protocol"] == protocol)]
            return part.drop_duplicates("row").set_index("row").sort_index()

        a, b = pick(base_pred, lead_a), pick(other, lead_b)
        common = a.index.intersection(b.index)
        same = len(common) and np.allclose(a.loc[common, [f"true_{t}" for t in targets]].to_numpy(float),
                                           b.loc[common, [f"true_{t}" for t in targets]].to_numpy(float))
        if not same:
            out.append({**row, "note": "no shared test rows"})
            continue
        test = paired_ccc_test(a.loc[common, [f"true_{t}" for t in targets]].to_numpy(float),
                               a.loc[common, [f"pred_{t}" for t in targets]].to_numpy(float),
                               b.loc[common, [f"pred_{t}" for t in targets]].to_numpy(float),
                               a.loc[common, "speaker"].astype(str).to_numpy(), 1000, 0)
        out.append({**row, "first": f"{names[0]}: {lead_a['model'].iloc[0]}",
                    "other": f"{name}: {lead_b['model'].iloc[0]}", **test, "rows": int(len(common))})
    return out


def _test_cells(test: dict) -> list[str]:
    if test["note"]:
        return [test["first"], test["other"], test["note"], "", "", ""]
    return [test["first"], test["other"], f"{test['difference']:+.3f}", f"[{test['low']:+.3f}, {test['high']:+.3f}]",
            f"{test['p']:.3g}", str(test["rows"])]


def render_compare(run_dirs: Sequence[Path], fmt: str = "console") -> str:
    """Dimensional runs side by side (their leaderboards) and :func:`compare_tests`, as ``console``, ``md``,
    ``csv`` (long form: one line per run and leaderboard row, the test against the first run on its leader's
    line), ``latex`` or ``html``."""
    from tabulate import tabulate

    runs = [(Path(d), *load_run(Path(d))) for d in run_dirs]
    names = run_names(run_dirs)
    tests = compare_tests(run_dirs)
    caption = "Paired speaker-bootstrap tests of mean CCC, leaders on the ranking protocol (first run minus other)"
    if fmt == "csv":
        frames = []
        for k, (name, (_path, run, board, _, _)) in enumerate(zip(names, runs, strict=True)):
            frame = board.copy()
            frame.insert(0, "run_dir", name)
            frame.insert(1, "dataset", run.get("dataset"))
            frame["diff_vs_first"], frame["p_vs_first"], frame["note_vs_first"] = np.nan, np.nan, ""
            if k:
                leader = frame["rank"] == "1"
                frame.loc[leader, "diff_vs_first"] = tests[k - 1]["difference"]
                frame.loc[leader, "p_vs_first"] = tests[k - 1]["p"]
                frame.loc[leader, "note_vs_first"] = tests[k - 1]["note"]
            frames.append(frame)
        return pd.concat(frames, ignore_index=True).to_csv(index=False, lineterminator="\n")
    if fmt == "latex":
        out = []
        for name, (_path, run, board, _, _) in zip(names, runs, strict=True):
            out += [f"% {name} ({', '.join(run['targets'])})", render(board, run["targets"], "latex"), ""]
        out += [f"% {caption}", tabulate([_test_cells(t) for t in tests], COMPARE_HEADERS, tablefmt="latex_booktabs",
                                         disable_numparse=True)]
        return "\n".join(out) + "\n"
    if fmt == "html":
        import html as htmllib

        from benchmark.reports.html import CSS, table_html

        out = ["<!doctype html><html><head><meta charset='utf-8'><title>Dimensional runs compared</title>",
               f"<style>{CSS}</style></head><body><h1>Dimensional runs compared</h1>"]
        for name, (_path, run, board, _, _) in zip(names, runs, strict=True):
            headers, body = _board_cells(board, run["targets"])
            out += [f"<h2>{htmllib.escape(name)} ({htmllib.escape(', '.join(run['targets']))})</h2>",
                    table_html(headers, body, left=("model", "features", "protocol"))]
        out += [f"<h2>Paired tests</h2><p>{htmllib.escape(caption)}.</p>",
                table_html(COMPARE_HEADERS, [_test_cells(t) for t in tests], left=("other",)), "</body></html>"]
        return "".join(out) + "\n"
    out = []
    for name, (_path, run, board, _, _) in zip(names, runs, strict=True):
        out += [f"## {name} ({', '.join(run['targets'])})" if fmt == "md" else f"{name}", "",
                render(board, run["targets"], fmt), ""]
    out += [f"{caption}:", "", tabulate([_test_cells(t) for t in tests], COMPARE_HEADERS,
                                        tablefmt="github" if fmt == "md" else "simple", disable_numparse=True)]
    return "\n".join(out) + "\n"
