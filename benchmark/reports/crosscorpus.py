"""The cross-corpus matrix: per model, UAR trained on one corpus (rows) and tested on another (columns).

Rendered from a run folder's ``folds.csv`` alone (rows of the ``cross-corpus`` protocol with their
``train_corpus`` and ``test_corpus`` columns): an off-diagonal cell is one fold (all of A trains, all of B tests);
a diagonal cell is the mean over A's own speaker-independent folds. The summary ranks models by the mean
off-diagonal (cross-corpus) UAR, with the in-corpus mean (the diagonal) beside it.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

from features.errors import UserInputError

PROTOCOL = "cross-corpus"
LOCO = "leave-one-corpus-out"
NEEDED = ("train_corpus", "test_corpus")
FORMATS = ("console", "md", "csv", "latex")
GROUP = ["features", "model", "speaker_norm"]


class CrossCorpusError(UserInputError):
    """A run folder without what the matrix needs; one line naming the file."""


def read_cross_folds(run_dir: str | Path | pd.DataFrame) -> pd.DataFrame:
    """The ``cross-corpus`` and ``leave-one-corpus-out`` rows of a run's ``folds.csv`` (leaderboard table)."""
    if isinstance(run_dir, pd.DataFrame):
        folds, where = run_dir.copy(), "folds table"
    else:
        path = Path(run_dir) / "folds.csv" if Path(run_dir).is_dir() else Path(run_dir)
        if not path.is_file():
            raise CrossCorpusError(f"{path}: not found; give a run folder")
        text = {c: str for c in ("table", "features", "model", "protocol", "status", "train_corpus",
                                 "test_corpus", "fold_name")}
        folds, where = pd.read_csv(path, dtype=text, keep_default_na=False, na_values=[""]), str(path)
    if "protocol" not in folds:
        raise CrossCorpusError(f"{where}: no protocol column")
    folds = folds[folds["protocol"].isin([PROTOCOL, LOCO])]
    if "table" in folds:
        folds = folds[folds["table"].fillna("leaderboard") == "leaderboard"]
    if folds.empty:
        return folds
    missing = [c for c in NEEDED if c not in folds]
    if missing:
        raise CrossCorpusError(f"{where}: cross-corpus rows but no {', '.join(missing)} column (a run folder "
                               "written before cross-corpus matrices); rerun to get the matrix")
    folds = folds.copy()
    folds["speaker_norm"] = folds["speaker_norm"].astype(str).str.lower().eq("true") \
        if "speaker_norm" in folds else False
    if "status" not in folds:
        folds["status"] = "ok"
    folds["uar"] = pd.to_numeric(folds.get("uar"), errors="coerce")
    return folds


def corpus_order(folds: pd.DataFrame) -> list[str]:
    """Corpora in order of first appearance as a training corpus, then as a test corpus."""
    names = [str(c) for c in folds["train_corpus"].tolist() + folds["test_corpus"].tolist()]
    return list(dict.fromkeys(n for n in names if "+" not in n))


def matrices(run_dir: str | Path | pd.DataFrame, metric: str = "uar") -> dict[tuple, pd.DataFrame]:
    """``{(features, model, speaker_norm): DataFrame}``, rows trained on, columns tested on, values in [0, 1].

    A cell is the mean of ``metric`` over the cell's folds that ran; NaN where every fold of the cell failed or
    the cell is missing.
    """
    folds = read_cross_folds(run_dir)
    folds = folds[folds["protocol"] == PROTOCOL]
    out: dict[tuple, pd.DataFrame] = {}
    if folds.empty:
        return out
    names = corpus_order(folds)
    for key, group in folds.groupby(GROUP, sort=False):
        cells = pd.DataFrame(np.nan, index=pd.Index(names, name="train \\ test"), columns=names)
        ok = group[group["status"] == "ok"]
        for (a, b), cell in ok.groupby(["train_corpus", "test_corpus"], sort=False):
            cells.loc[a, b] = float(pd.to_numeric(cell[metric], errors="coerce").mean())
        out[(key[0], key[1], bool(key[2]))] = cells
    return out


def degenerate_cells(run_dir: str | Path | pd.DataFrame) -> dict[tuple, set[tuple[str, str]]]:
    """``{(features, model, speaker_norm): {(train, test), ...}}``: the cells with a degenerate fold."""
    folds = read_cross_folds(run_dir)
    folds = folds[(folds["protocol"] == PROTOCOL) & (folds["status"] == "ok")]
    if folds.empty or "degenerate" not in folds:
        return {}
    hits = folds[folds["degenerate"].fillna("").astype(str) != ""]
    out: dict[tuple, set[tuple[str, str]]] = {}
    for row in hits.itertuples():
        out.setdefault((row.features, row.model, bool(row.speaker_norm)), set()).add(
            (str(row.train_corpus), str(row.test_corpus)))
    return out


def summary(run_dir: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Per (features, model, speaker_norm): the ranking numbers of a multi-corpus run.

    Columns: ``cross_uar`` (mean of the off-diagonal cells), ``cross_std`` (their sample std),
    ``in_corpus_uar`` (mean of the diagonal cells), ``drop`` (in-corpus minus cross, in UAR), ``pairs`` and
    ``pairs_ok`` (off-diagonal cells that ran), ``complete``, ``loco_uar`` (mean UAR over the corpora left out,
    when the run has the leave-one-corpus-out protocol). Sorted best cross-corpus UAR first, with ``rank``.
    """
    folds = read_cross_folds(run_dir)
    rows = []
    for key, cells in matrices(folds).items():
        values = cells.to_numpy()
        off = ~np.eye(len(cells), dtype=bool)
        cross = values[off]
        diag = np.diag(values)
        cross_ok = cross[~np.isnan(cross)]
        rows.append({
            "features": key[0], "model": key[1], "speaker_norm": key[2],
            "cross_uar": float(cross_ok.mean()) if len(cross_ok) else math.nan,
            "cross_std": float(cross_ok.std(ddof=1)) if len(cross_ok) > 1 else math.nan,
            "in_corpus_uar": float(np.nanmean(diag)) if (~np.isnan(diag)).any() else math.nan,
            "pairs": int(off.sum()), "pairs_ok": int(len(cross_ok)),
            "complete": bool(not np.isnan(values).any()),
        })
    frame = pd.DataFrame(rows, columns=["features", "model", "speaker_norm", "cross_uar", "cross_std",
                                        "in_corpus_uar", "pairs", "pairs_ok", "complete"])
    loco = folds[folds["protocol"] == LOCO] if not folds.empty else folds
    if not loco.empty:
        means = loco[loco["status"] == "ok"].groupby(GROUP, sort=False)["uar"].mean()
        loco_rows = {(f, m, bool(n)): float(v) for (f, m, n), v in means.items()}
        if frame.empty:
            frame = pd.DataFrame([{"features": f, "model": m, "speaker_norm": n} for f, m, n in loco_rows])
        frame["loco_uar"] = [loco_rows.get((r.features, r.model, bool(r.speaker_norm)), math.nan)
                             for r in frame.itertuples()]
    if frame.empty:
        return frame
    if "cross_uar" in frame:
        frame["drop"] = frame["in_corpus_uar"] - frame["cross_uar"]
        order = frame["cross_uar"].fillna(-math.inf)
    else:
        order = frame["loco_uar"].fillna(-math.inf)
    frame = frame.assign(_order=order).sort_values("_order", ascending=False, kind="stable").drop(columns="_order")
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame.reset_index(drop=True)


def _pct(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def _tex(text: str) -> str:
    """Escape LaTeX's special characters in a cell (brackets stay: they mark the diagonal)."""
    text = str(text).replace("\\", "$\\backslash$")
    for char in "&%$#_{}":
        if char == "$":
            continue
        text = text.replace(char, "\\" + char)
    return text.replace("±", "$\\pm$").replace("–", "--")


def _label(key: tuple) -> str:
    features, model, norm = key
    return f"{features} / {model}" + (" (spk-norm)" if norm else "")


def matrix_cells(cells: pd.DataFrame, degenerate: set[tuple[str, str]] | None = None
                 ) -> tuple[list[str], list[list[str]]]:
    """Headers and body of one matrix, with a row mean of the cross cells and a column mean below; a cell with a
    degenerate fold (``degenerate``: (train, test) pairs) is marked ``!``."""
    marked = degenerate or set()
    names = list(cells.columns)
    values = cells.to_numpy()
    off = ~np.eye(len(names), dtype=bool)
    headers = ["train \\ test", *names, "mean cross"]
    body = []
    for i, name in enumerate(names):
        row_cross = values[i][off[i]]
        row_cross = row_cross[~np.isnan(row_cross)]
        body.append([name, *[(f"[{_pct(v)}]" if i == j and not math.isnan(v) else _pct(v))
                             + ("!" if (name, names[j]) in marked else "") for j, v in enumerate(values[i])],
                     _pct(float(row_cross.mean())) if len(row_cross) else "–"])
    column_means = []
    for j in range(len(names)):
        col = values[:, j][off[:, j]]
        col = col[~np.isnan(col)]
        column_means.append(_pct(float(col.mean())) if len(col) else "–")
    body.append(["mean cross", *column_means, ""])
    return headers, body


LEGEND = ("UAR in %: rows trained on, columns tested on, on the emotions both corpora have; [diagonal] = "
          "in-corpus, speaker-independent (mean over that corpus's speaker folds); – = failed or missing; ! = "
          "degenerate: the model predicted (nearly) one class, or the same probabilities, for the test corpus "
          "(a silent failure scoring chance, not evidence that the corpora share nothing).")


def render(run_dir: str | Path | pd.DataFrame, fmt: str = "console") -> str:
    """The matrices and the ranking summary as ``console``, ``md``, ``csv`` (long form) or ``latex``."""
    if fmt not in FORMATS:
        raise CrossCorpusError(f"unknown format {fmt!r}; choose from: {', '.join(FORMATS)}")
    folds = read_cross_folds(run_dir)
    found = matrices(folds)
    flagged = degenerate_cells(folds)
    ranking = summary(folds)
    if fmt == "csv":
        records = []
        for key, cells in found.items():
            for a in cells.index:
                for b in cells.columns:
                    records.append({"features": key[0], "model": key[1], "speaker_norm": key[2],
                                    "train_corpus": a, "test_corpus": b, "in_corpus": a == b,
                                    "uar": round(float(cells.loc[a, b]), 6)
                                    if not math.isnan(cells.loc[a, b]) else "",
                                    "degenerate": (a, b) in flagged.get(key, set())})
        buffer = io.StringIO()
        pd.DataFrame(records, columns=["features", "model", "speaker_norm", "train_corpus", "test_corpus",
                                       "in_corpus", "uar", "degenerate"]).to_csv(buffer, index=False, lineterminator="\n")
        return buffer.getvalue()
    if not found and ranking.empty:
        return "No cross-corpus folds in this run (use --protocols cross-corpus with several corpora).\n"
    tablefmt = {"console": "simple", "md": "github", "latex": "latex_raw"}[fmt]
    out = []
    heading = {"console": lambda t: t, "md": lambda t: f"## {t}\n", "latex": lambda t: f"% {t}"}[fmt]
    if not ranking.empty:
        out.append(heading("Multi-corpus ranking (by mean cross-corpus UAR, %)"))
        headers = ["#", "features", "model"]
        columns = []
        if "cross_uar" in ranking:
            headers += ["cross UAR", "in-corpus UAR", "drop", "pairs"]
            columns += ["cross"]
        if "loco_uar" in ranking:
            headers.append("LOCO UAR")
        if fmt == "latex":
            headers = [_tex(h) for h in headers]
        body = []
        for r in ranking.to_dict("records"):
            cells = [str(r["rank"]), r["features"], r["model"] + (" (spk-norm)" if r["speaker_norm"] else "")]
            if columns:
                std = "" if math.isnan(r["cross_std"]) else f" ± {100 * r['cross_std']:.1f}"
                cells += [_pct(r["cross_uar"]) + std, _pct(r["in_corpus_uar"]),
                          "–" if math.isnan(r["drop"]) else f"{100 * r['drop']:+.1f}",
                          f"{r['pairs_ok']}/{r['pairs']}"]
            if "loco_uar" in ranking:
                cells.append(_pct(r["loco_uar"]))
            body.append([_tex(c) for c in cells] if fmt == "latex" else cells)
        out += [tabulate(body, headers, tablefmt=tablefmt, disable_numparse=True), ""]
    for key, cells in found.items():
        headers, body = matrix_cells(cells, flagged.get(key))
        out.append(heading(f"Cross-corpus UAR (%): {_label(key)}"))
        if fmt == "latex":
            body = [[_tex(c).replace("[", "\\textbf{").replace("]", "}") for c in row] for row in body]
            out.append(tabulate(body, [_tex(h) for h in headers], tablefmt=tablefmt, disable_numparse=True))
        else:
            out.append(tabulate(body, headers, tablefmt=tablefmt, disable_numparse=True))
        out.append("")
    out.append(("% " if fmt == "latex" else "") + LEGEND)
    return "\n".join(out) + "\n"
