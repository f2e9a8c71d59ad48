"""Figures of a run, drawn from the run folder alone with matplotlib's Agg renderer (no display, no pyplot state).

Every figure is readable in greyscale print (sequential colour maps with monotonic lightness, markers and
hatches besides colours), uses the Okabe–Ito colour-blind-safe palette, labels its axes with units, and is saved
as PNG and SVG byte-identically for the same run folder (no dates, fixed SVG hash salt, no PNG software tag).

:func:`figures` lists what the run folder allows; a figure that needs a file the folder lacks comes back as a
:class:`Plot` with a ``note`` saying so instead of an image.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from benchmark.reports.ranking import RANK_ORDER, Leaderboard, short_name
from benchmark.reports.rundir import is_speaker_protocol
from benchmark.reports.statistics import speaker_bootstrap_ci

# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
HATCHES = ["", "//", "..", "xx", "\\\\", "++", "oo", "--"]
SEQUENTIAL = "cividis"  # colour-blind safe, lightness rises monotonically: greyscale keeps the order
DPI = 110
STYLE = {
    "svg.hashsalt": "ser-benchmark",
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "hatch.linewidth": 0.6,
    "path.simplify": True,
}
PNG_METADATA = {"Software": None}
SVG_METADATA = {"Date": None, "Creator": None}


@dataclass
class Plot:
    """One figure of the report: drawn (``figure``) or not drawable from this run folder (``note``)."""

    name: str
    title: str
    caption: str
    figure: Figure | None = None
    note: str = ""
    files: dict[str, Path] = field(default_factory=dict)  # format -> path, once saved


def safe_name(*parts: str) -> str:
    """A file name from parts: letters, digits, '-', '_' and '.' kept, anything else becomes '-'."""
    text = "__".join(str(p) for p in parts)
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text)


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _text_colour(cmap, value: float) -> str:
    r, g, b, _ = cmap(value)
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def _heatmap(ax, values: np.ndarray, rows: list[str], cols: list[str], text: list[list[str]], vmax: float = 1.0,
             fontsize: float = 7.0):
    cmap = matplotlib.colormaps[SEQUENTIAL]
    shown = np.nan_to_num(values, nan=0.0)
    image = ax.imshow(shown, cmap=cmap, vmin=0, vmax=vmax, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(len(rows)), rows)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if text[i][j]:
                ax.text(j, i, text[i][j], ha="center", va="center", fontsize=fontsize, linespacing=1.0,
                        color=_text_colour(cmap, shown[i, j] / vmax if vmax else 0.0))
    return image


def _label(row: dict, rows: list[dict]) -> str:
    from benchmark.reports.tables import row_label

    return row_label(row, rows)


def _protocols(board: Leaderboard) -> list[str]:
    present = {p for r in board.rows for p in r["by_protocol"]}
    return [p for p in RANK_ORDER if p in present] + sorted(present - set(RANK_ORDER))


# --- results --------------------------------------------------------------------------------------------------

def confusion_plots(board: Leaderboard) -> Iterator[Plot]:
    """Row-normalised confusion matrices, one figure per leaderboard row, a panel per protocol."""
    confusions = board.folder.confusions
    protocols = _protocols(board)
    if not confusions:
        yield Plot("confusion", "Confusion matrices", "", note="No confusion matrices: the run folder has neither "
                   "predictions.csv nor confusion/*.csv.")
        return
    for row in board.rows:
        panels = [(p, confusions[(row["features"], row["model"], p, row["speaker_norm"])]) for p in protocols
                  if (row["features"], row["model"], p, row["speaker_norm"]) in confusions]
        if not panels:
            continue
        n = max(len(m) for _, m in panels)
        side = max(3.2, 0.42 * n + 1.3)
        fig = _figure(side * len(panels) + 0.8, side + 0.3)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        image = None
        for ax, (protocol, matrix) in zip(axes, panels, strict=True):
            counts = matrix.to_numpy(dtype=float)
            totals = counts.sum(axis=1, keepdims=True)
            share = np.divide(counts, totals, out=np.full_like(counts, np.nan), where=totals > 0)
            text = [[f"{100 * share[i, j]:.0f}\n({int(counts[i, j])})" if totals[i, 0] else ""
                     for j in range(counts.shape[1])] for i in range(counts.shape[0])]
            labels = [str(x) for x in matrix.index]
            image = _heatmap(ax, share, labels, [str(x) for x in matrix.columns], text,
                             fontsize=7 if n <= 8 else 6)
            uar = np.nanmean(np.diag(share)) if totals.any() else math.nan
            ax.set_title(f"{protocol}: UAR {100 * uar:.1f}%")
            ax.set_xlabel("predicted emotion")
            ax.set_ylabel("true emotion")
        fig.colorbar(image, ax=list(axes), shrink=0.8, label="share of the true emotion (%)",
                     format=matplotlib.ticker.FuncFormatter(lambda v, _: f"{100 * v:.0f}"))
        name = safe_name("confusion", row["features"], row["model"], *(["spknorm"] if row["speaker_norm"] else []))
        label = _label(row, board.rows)
        yield Plot(name, f"Confusion matrices: {label}",
                   "Rows: true emotion, normalised to 100 %; each cell shows the row percentage and, in brackets, "
                   "the count of test utterances, summed over folds.", fig)


def _interval(board: Leaderboard, row: dict, protocol: str) -> tuple[float, float, float] | None:
    if protocol in row.get("ci", {}):
        return row["ci"][protocol]
    predictions = board.folder.predictions
    if predictions is None:
        return None
    g = predictions[(predictions["table"] == "leaderboard") & (predictions["features"] == row["features"])
                    & (predictions["model"] == row["model"]) & (predictions["protocol"] == protocol)
                    & (predictions["speaker_norm"] == row["speaker_norm"])]
    if g.empty:
        return None
    ci = speaker_bootstrap_ci(g["emotion"], g["predicted"], g["speaker"], board.folder.n_resamples,
                              board.folder.seed)
    row.setdefault("ci", {})[protocol] = ci
    return ci


def gap_plot(board: Leaderboard) -> Plot:
    """Dumbbell chart: stratified against speaker-independent UAR per model, with intervals."""
    title = "Leakage gap: stratified vs speaker-independent UAR"
    protocols = _protocols(board)
    si = next((p for p in protocols if is_speaker_protocol(p)), None)
    if "stratified" not in protocols or si is None:
        return Plot("gap", title, "", note="The gap needs both the stratified and a speaker-independent protocol; "
                    f"this run has {', '.join(protocols) or 'none'}.")
    rows = board.rows
    fig = _figure(7.5, 0.42 * len(rows) + 1.5)
    ax = fig.subplots()
    has_ci = board.folder.predictions is not None
    for i, row in enumerate(rows):
        y = len(rows) - 1 - i
        points, right = [], 0.0
        for protocol, marker, face in (("stratified", "o", "white"), (si, "s", PALETTE[0])):
            entry = row["by_protocol"].get(protocol)
            if not entry or entry["n_folds"] == 0:
                continue
            ci = _interval(board, row, protocol) if has_ci else None
            mean = 100 * entry["uar_mean"]
            if ci is not None:
                err = [[max(mean - 100 * ci[1], 0)], [max(100 * ci[2] - mean, 0)]]
            else:
                err = [[100 * entry["uar_std"]], [100 * entry["uar_std"]]]
            offset = 0.12 if protocol == "stratified" else -0.12
            ax.errorbar(mean, y + offset, xerr=err, fmt=marker, color=PALETTE[0] if protocol != "stratified"
                        else PALETTE[5], mfc=face, mec="black", ms=7, capsize=3, lw=1, zorder=3,
                        label=(f"{short_name(protocol)} ({protocol})" if i == 0 else None))
            points.append((mean, y + offset))
            right = max(right, mean + err[1][0])
        if len(points) == 2:
            ax.plot([points[0][0], points[1][0]], [points[0][1], points[1][1]], color="0.55", lw=2, zorder=1)
            gap = points[0][0] - points[1][0]
            ax.annotate(f"gap {gap:+.1f}", xy=(right, y), xytext=(6, 0), textcoords="offset points", va="center",
                        fontsize=8, color="0.2")
    chance = [r["by_protocol"][p]["chance_uar"] for r in rows for p in r["by_protocol"]
              if not math.isnan(r["by_protocol"][p]["chance_uar"])]
    if chance:
        ax.axvline(100 * float(np.mean(chance)), color="0.4", ls=":", lw=1, label="chance")
    ax.set_yticks(range(len(rows)), [_label(r, rows) for r in reversed(rows)])
    ax.set_xlabel("UAR (%)")
    ax.set_xlim(0, 112)
    ax.set_xticks(range(0, 101, 20))
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.grid(axis="x", color="0.9", lw=0.6)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    what = ("95 % bootstrap intervals over test speakers" if has_ci else
            "± one standard deviation over folds (this run folder has no predictions.csv, so no intervals)")
    return Plot("gap", title, f"Open circles: stratified (speakers shared by training and test); filled squares: "
                f"{si}. Bars: {what}. Numbers: the gap in points of UAR.", fig)


def recall_plot(board: Leaderboard) -> Plot:
    """Per-emotion recall of every model under the ranking protocol (mean over folds)."""
    folds = board.folder.folds
    labels = board.folder.labels
    title = f"Recall per emotion ({board.rank_by})"
    if not labels or not board.rows:
        return Plot("recall", title, "", note="folds.csv has no recall_<emotion> columns.")
    ok = folds[(folds["table"] == "leaderboard") & (folds["status"] == "ok") & (folds["protocol"] == board.rank_by)]
    values = np.full((len(board.rows), len(labels)), np.nan)
    for i, row in enumerate(board.rows):
        g = ok[(ok["features"] == row["features"]) & (ok["model"] == row["model"])
               & (ok["speaker_norm"] == row["speaker_norm"])]
        if len(g):
            values[i] = g[[f"recall_{x}" for x in labels]].astype(float).mean(axis=0, skipna=True).to_numpy()
    fig = _figure(max(5.0, 0.75 * len(labels) + 2.6), 0.42 * len(board.rows) + 1.6)
    ax = fig.subplots()
    text = [["" if math.isnan(v) else f"{100 * v:.0f}" for v in line] for line in values]
    image = _heatmap(ax, values, [_label(r, board.rows) for r in board.rows], labels, text, fontsize=8)
    ax.set_xlabel("true emotion")
    ax.set_ylabel("model (ranked)")
    fig.colorbar(image, ax=ax, label="recall (%)", shrink=0.9,
                 format=matplotlib.ticker.FuncFormatter(lambda v, _: f"{100 * v:.0f}"))
    return Plot("recall", title, "Recall of each emotion (%), mean over folds; models in leaderboard order.", fig)


def per_speaker_plot(board: Leaderboard) -> Plot:
    """UAR of every model on each test speaker: one dot per speaker, the pooled UAR as a bar."""
    title = f"UAR per test speaker ({board.rank_by})"
    table = board.per_speaker
    if table is None:
        return Plot("per_speaker", title, "", note="Per-speaker UAR needs predictions.csv, which this run folder "
                    "(written before predictions were kept) does not have.")
    table = table[table["protocol"] == board.rank_by]
    if table.empty:
        return Plot("per_speaker", title, "", note=f"No per-speaker results: {board.rank_by} is not a "
                    "speaker-independent protocol.")
    rows = board.rows
    speakers = sorted(set(table["speaker"]))
    fig = _figure(7.5, 0.5 * len(rows) + 1.6)
    ax = fig.subplots()
    offsets = np.linspace(-0.28, 0.28, len(speakers)) if len(speakers) > 1 else np.zeros(1)
    offset = dict(zip(speakers, offsets, strict=True))
    for i, row in enumerate(rows):
        y = len(rows) - 1 - i
        g = table[(table["features"] == row["features"]) & (table["model"] == row["model"])
                  & (table["speaker_norm"] == row["speaker_norm"])]
        if g.empty:
            continue
        ys = [y + offset[s] for s in g["speaker"]]
        ax.scatter(100 * g["uar"], ys, s=16, marker="o", facecolor=PALETTE[0], edgecolor="black", lw=0.4,
                   zorder=3, label="one test speaker" if i == 0 else None)
        pooled = row.get("ci", {}).get(board.rank_by)
        if pooled is not None:
            ax.plot([100 * pooled[0]] * 2, [y - 0.38, y + 0.38], color=PALETTE[5], lw=2.5, zorder=4,
                    label="all test speakers pooled" if i == 0 else None)
        worst = g.loc[g["uar"].idxmin()]
        ax.annotate(str(worst["speaker"]), xy=(100 * worst["uar"], y + offset[worst["speaker"]]), xytext=(-4, 0),
                    textcoords="offset points", ha="right", va="center", fontsize=7, color="0.25")
    ax.set_yticks(range(len(rows)), [_label(r, rows) for r in reversed(rows)])
    ax.set_xlabel("UAR on one speaker's test utterances (%)")
    ax.set_xlim(-8, 105)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    for y in range(len(rows) - 1):
        ax.axhline(y + 0.5, color="0.88", lw=0.6)
    ax.grid(axis="x", color="0.92", lw=0.6)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    return Plot("per_speaker", title, f"Each dot is one of {len(speakers)} test speakers (spread vertically so that "
                "none hides another); the bar is the UAR of all test utterances pooled. The weakest speaker is "
                "named. A score carried by one or two speakers shows as a wide spread.", fig)


def ablation_plot(board: Leaderboard) -> Plot:
    """Feature-group ablation: UAR of each feature group alone (and all together) per model."""
    summary = board.summary
    title = "Feature-group ablation"
    ablation = summary[summary["table"] == "ablation"] if not summary.empty else summary
    if ablation.empty:
        return Plot("ablation", title, "", note="This run has no ablation table (run without --no-ablation).")
    from benchmark.reports.ranking import ranking_protocol

    protocol = ranking_protocol(ablation["protocol"].unique())
    ablation = ablation[ablation["protocol"] == protocol]
    groups = list(dict.fromkeys(ablation["features"]))
    models = list(dict.fromkeys(ablation["model"]))
    height = 0.8 / len(models)
    fig = _figure(7.5, 0.32 * len(groups) * max(1, len(models) / 1.5) + 1.5)
    ax = fig.subplots()
    for j, model in enumerate(models):
        g = ablation[ablation["model"] == model].set_index("features")
        ys = [len(groups) - 1 - k + 0.4 - height * (j + 0.5) for k in range(len(groups))]
        means = [100 * g.loc[x, "uar_mean"] if x in g.index else np.nan for x in groups]
        stds = [100 * g.loc[x, "uar_std"] if x in g.index else np.nan for x in groups]
        ax.barh(ys, means, height=height * 0.92, xerr=stds, color=PALETTE[j % len(PALETTE)],
                hatch=HATCHES[j % len(HATCHES)], edgecolor="black", lw=0.5, label=model,
                error_kw={"elinewidth": 0.8, "capsize": 2})
    chance = ablation["chance_uar"].dropna()
    if len(chance):
        ax.axvline(100 * float(chance.mean()), color="0.3", ls=":", lw=1, label="chance")
    ax.set_yticks(range(len(groups)), list(reversed(groups)))
    ax.set_xlabel(f"{protocol} UAR (%), mean ± std over folds")
    ax.set_ylabel("feature group")
    ax.set_xlim(0, 100)
    ax.grid(axis="x", color="0.9", lw=0.6)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(models) + 1, frameon=False)
    return Plot("ablation", f"{title} ({protocol})", "Each feature group alone and all together; error bars: one "
                "standard deviation over folds.", fig)


def curve_plots(board: Leaderboard) -> Iterator[Plot]:
    """Training curves of the neural models: mean over folds with the min–max band, training and validation."""
    curves = board.folder.curves
    if curves is None or curves.empty:
        why = ("this run folder has no curves.csv (written before curves were kept)" if curves is None
               else "no model in this run records training curves")
        yield Plot("curves", "Training curves", "", note=f"No training curves: {why}.")
        return
    curves = curves[curves["table"] == "leaderboard"]
    protocol = board.rank_by if board.rank_by in set(curves["protocol"]) else sorted(set(curves["protocol"]))[0]
    curves = curves[curves["protocol"] == protocol]
    for (features, model, norm), g in curves.groupby(["features", "model", "speaker_norm"], sort=False):
        fig = _figure(8.0, 3.0)
        axes = fig.subplots(1, 2)
        n_folds = g["fold"].nunique()
        for ax, metric, unit in ((axes[0], "loss", "loss (cross-entropy)"), (axes[1], "accuracy", "accuracy (%)")):
            scale = 100.0 if metric == "accuracy" else 1.0
            for k, (column, style, colour, marker) in enumerate(((metric, "-", PALETTE[0], "o"),
                                                                  (f"val_{metric}", "--", PALETTE[5], "s"))):
                if column not in g or g[column].isna().all():
                    continue
                stats = g.groupby("epoch")[column].agg(["mean", "min", "max", "count"]).sort_index()
                x = stats.index.to_numpy()
                ax.fill_between(x, scale * stats["min"], scale * stats["max"], color=colour, alpha=0.18, lw=0)
                every = max(1, len(x) // 8)
                ax.plot(x, scale * stats["mean"], ls=style, color=colour, marker=marker, markevery=every, ms=4,
                        label="training" if k == 0 else "validation")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            ax.set_ylabel(unit)
            ax.grid(color="0.92", lw=0.6)
            ax.legend(frameon=False)
        fig.suptitle(f"{model} on {features}{' (spk-norm)' if norm else ''}, {protocol}: {n_folds} folds", size=10)
        yield Plot(safe_name("curves", features, model, *(["spknorm"] if norm else [])), f"Training curves: {model}",
                   "Lines: mean over folds; bands: the range over folds (folds that stopped early drop out). "
                   "Validation: the early-stopping split of the training fold.", fig)


# --- corpus ---------------------------------------------------------------------------------------------------

def _durations(splits: pd.DataFrame) -> pd.Series | None:
    if "duration" in splits and splits["duration"].notna().any():
        return splits["duration"].astype(float)
    from features.audio import probe
    from features.errors import UserInputError

    values = []
    for path in splits["path"]:
        try:
            values.append(probe(path).duration)
        except (OSError, UserInputError, RuntimeError):
            return None
    return pd.Series(values, index=splits.index, dtype=float)


def corpus_plot(board: Leaderboard) -> Plot:
    """Utterances per emotion and per speaker, and durations per emotion, from splits.csv."""
    splits = board.folder.splits
    title = "Corpus overview"
    if splits is None:
        return Plot("corpus", title, "", note="No corpus overview: the run folder has no splits.csv.")
    emotions = sorted(set(splits["emotion"]))
    speakers = sorted(set(splits["speaker"]))
    durations = _durations(splits)
    fig = _figure(11.0, 3.6)
    grid = fig.add_gridspec(1, 3, width_ratios=[1, 2.2, 1.3] if durations is not None else [1, 2.2, 0.01])
    ax1, ax2 = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    counts = splits["emotion"].value_counts().reindex(emotions, fill_value=0)
    ax1.barh(range(len(emotions))[::-1], counts.to_numpy(), color=PALETTE[0], edgecolor="black", lw=0.5)
    ax1.set_yticks(range(len(emotions))[::-1], emotions)
    ax1.set_xlabel("utterances")
    ax1.set_title("per emotion")
    per = splits["speaker"].value_counts().reindex(speakers, fill_value=0)
    ax2.bar(range(len(speakers)), per.to_numpy(), color=PALETTE[2], edgecolor="black", lw=0.5)
    ax2.set_xticks(range(len(speakers)), speakers, rotation=90 if len(speakers) > 10 else 0,
                   fontsize=8 if len(speakers) <= 24 else 6)
    ax2.set_xlabel("speaker")
    ax2.set_ylabel("utterances")
    ax2.set_title(f"per speaker ({len(speakers)})")
    caption = f"{len(splits)} utterances, {len(speakers)} speakers, {len(emotions)} emotions."
    if durations is not None:
        ax3 = fig.add_subplot(grid[2])
        data = [durations[splits["emotion"] == e].to_numpy() for e in emotions]
        parts = ax3.boxplot(data[::-1], orientation="horizontal", widths=0.6, patch_artist=True,
                            medianprops={"color": "black"}, flierprops={"markersize": 2})
        for box in parts["boxes"]:
            box.set_facecolor(PALETTE[4])
        ax3.set_yticks(range(1, len(emotions) + 1), emotions[::-1])
        ax3.set_xlabel("duration (s)")
        ax3.set_title("durations")
        caption += f" Total {durations.sum() / 60:.1f} min; median {durations.median():.2f} s per utterance."
    else:
        caption += " Durations: unknown (splits.csv has no duration column and the audio files are not readable)."
    return Plot("corpus", title, caption, fig)


def _example_rows(splits: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    """One utterance per emotion, from the speaker who has most emotions (first by name)."""
    by_speaker = splits.groupby("speaker")["emotion"].nunique()
    speaker = sorted(by_speaker[by_speaker == by_speaker.max()].index)[0]
    chosen = []
    for emotion in sorted(set(splits["emotion"])):
        pool = splits[(splits["emotion"] == emotion) & (splits["speaker"] == speaker)]
        if pool.empty:
            pool = splits[splits["emotion"] == emotion]
        chosen.append((emotion, pool.sort_values("row").iloc[0]))
    return chosen


def _envelope(y: np.ndarray, sr: int, bins: int = 1200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum and maximum of the waveform in ``bins`` equal stretches: what a plot at this size can show."""
    step = max(1, int(math.ceil(len(y) / bins)))
    padded = np.pad(y, (0, (-len(y)) % step), mode="edge").reshape(-1, step)
    t = (np.arange(padded.shape[0]) + 0.5) * step / sr
    return t, padded.min(axis=1), padded.max(axis=1)


def examples_plot(board: Leaderboard, max_seconds: float = 4.0) -> Plot:
    """A waveform and a log-mel spectrogram of one utterance per emotion."""
    import librosa

    from features.audio import read_audio
    from features.errors import UserInputError

    title = "Examples: one utterance per emotion"
    splits = board.folder.splits
    if splits is None:
        return Plot("examples", title, "", note="No examples: the run folder has no splits.csv.")
    chosen = _example_rows(splits)
    audio = []
    for emotion, row in chosen:
        try:
            y, sr = read_audio(row["path"], sr=16000)
        except (OSError, UserInputError, RuntimeError) as error:
            return Plot("examples", title, "", note=f"No examples: the audio files are no longer readable "
                        f"({Path(str(row['path'])).name}: {str(error).splitlines()[0][:120]}).")
        audio.append((emotion, row, y[: int(max_seconds * sr)], sr))
    longest = max(len(y) / sr for _, _, y, sr in audio)
    fig = _figure(10.0, 1.25 * len(audio) + 0.9)
    axes = fig.subplots(len(audio), 2, squeeze=False, gridspec_kw={"width_ratios": [1, 1.25]})
    image = None
    for i, (emotion, row, y, sr) in enumerate(audio):
        wave, spec = axes[i]
        t, low, high = _envelope(y, sr)
        wave.fill_between(t, low, high, color="black", lw=0.3, step="mid")
        wave.set_xlim(0, longest)
        peak = float(np.max(np.abs(y))) or 1.0
        wave.set_ylim(-1.05 * peak, 1.05 * peak)
        wave.set_ylabel(emotion, rotation=0, ha="right", va="center", fontsize=9)
        wave.set_yticks([])
        mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=400, hop_length=160, n_mels=64)
        db = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
        image = spec.imshow(db, origin="lower", aspect="auto", cmap=SEQUENTIAL, vmin=-80, vmax=0,
                            extent=(0, len(y) / sr, 0, 64), interpolation="nearest")
        spec.set_xlim(0, longest)
        spec.set_ylabel("mel band")
        spec.set_yticks([0, 32, 64])
        wave.text(0.0, 1.0, f"{row['speaker']} · {Path(str(row['path'])).name}", transform=wave.transAxes,
                  ha="left", va="top", fontsize=7, color="0.15",
                  bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1.0})
        if i < len(audio) - 1:
            wave.set_xticklabels([])
            spec.set_xticklabels([])
    axes[-1][0].set_xlabel("time (s)")
    axes[-1][1].set_xlabel("time (s)")
    axes[0][0].set_title("waveform (amplitude, scaled per clip)")
    axes[0][1].set_title("log-mel spectrogram (64 bands, 25 ms window, 10 ms hop)")
    fig.colorbar(image, ax=axes[:, 1].tolist(), label="level (dB re. clip maximum)", shrink=0.6)
    return Plot("examples", title, f"One utterance per emotion, first {max_seconds:g} s at most, read again from "
                "the corpus files named in splits.csv.", fig)


# --- all together ---------------------------------------------------------------------------------------------

def figures(board: Leaderboard) -> list[Plot]:
    """Every figure the report shows, in order (the corpus first, then the results)."""
    with matplotlib.rc_context(STYLE):
        plots = [corpus_plot(board), examples_plot(board), gap_plot(board), recall_plot(board),
                 per_speaker_plot(board), *confusion_plots(board), ablation_plot(board), *curve_plots(board)]
    return plots


def save(plot: Plot, out_dir: Path, formats: tuple[str, ...] = ("png", "svg")) -> Plot:
    """Save a drawn figure as ``out_dir/<name>.<fmt>`` (deterministic bytes) and record the paths."""
    if plot.figure is None:
        return plot
    out_dir.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(STYLE):
        for fmt in formats:
            path = out_dir / f"{plot.name}.{fmt}"
            metadata = PNG_METADATA if fmt == "png" else SVG_METADATA if fmt == "svg" else None
            plot.figure.savefig(path, format=fmt, dpi=DPI, metadata=metadata)
            plot.files[fmt] = path
    return plot
