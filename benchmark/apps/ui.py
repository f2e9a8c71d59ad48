"""What the web app shows, as plain functions (testable without Streamlit): figures and run-folder browsing.

The page script is :mod:`benchmark.apps.streamlit_app`; it only lays these out.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

LONG_CLIP_S = 8.0  # longer recordings are shown as a timeline by default
EMOTION_COLOURS = {"angry": "#d62728", "calm": "#17becf", "disgust": "#8c564b", "fear": "#9467bd",
                   "happy": "#ffbf00", "neutral": "#7f7f7f", "sad": "#1f77b4", "surprise": "#2ca02c",
                   "boredom": "#bcbd22"}


def colour(label: str, index: int = 0) -> str:
    palette = ["#e377c2", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5"]
    return EMOTION_COLOURS.get(label, palette[index % len(palette)])


# ---------------------------------------------------------------------------------------------------------------
# Figures


def audio_figure(y: np.ndarray, sr: int, n_mels: int = 64, hop_ms: float = 10.0, win_ms: float = 25.0):
    """Waveform above its log-mel spectrogram (dB), on one time axis."""
    import librosa
    from matplotlib.figure import Figure

    hop = max(1, int(round(sr * hop_ms / 1000)))
    win = max(1, int(round(sr * win_ms / 1000)))
    n_fft = 1 << (win - 1).bit_length()
    duration = len(y) / sr
    fig = Figure(figsize=(8, 4.2), layout="constrained")
    wave_ax, mel_ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1.6])
    step = max(1, len(y) // 20000)  # plotting every sample of a long file is slow and invisible
    wave_ax.plot(np.arange(0, len(y), step) / sr, y[::step], linewidth=0.5, color="#1f77b4")
    wave_ax.set_ylabel("amplitude")
    wave_ax.set_xlim(0, duration)
    mel = librosa.feature.melspectrogram(y=y.astype(np.float32), sr=sr, n_fft=n_fft, hop_length=hop,
                                         win_length=win, n_mels=n_mels)
    db = librosa.power_to_db(mel, ref=np.max(mel) if mel.max() > 0 else 1.0)
    image = mel_ax.imshow(db, origin="lower", aspect="auto", extent=(0, duration, 0, n_mels), cmap="magma")
    mel_ax.set_ylabel("mel band")
    mel_ax.set_xlabel("seconds")
    fig.colorbar(image, ax=mel_ax, label="dB", pad=0.01)
    return fig


def probability_figure(probabilities: dict[str, float]):
    """Horizontal bars, one per emotion, in percent; the most likely on top."""
    from matplotlib.figure import Figure

    items = sorted(probabilities.items(), key=lambda kv: kv[1])
    fig = Figure(figsize=(5, 0.45 * len(items) + 0.8), layout="constrained")
    ax = fig.subplots()
    labels = [k for k, _ in items]
    values = [100 * v for _, v in items]
    ax.barh(labels, values, color=[colour(k, i) for i, k in enumerate(labels)])
    for i, v in enumerate(values):
        ax.text(v + 1, i, f"{v:.0f} %", va="center", fontsize=9)
    ax.set_xlim(0, 110)
    ax.set_xlabel("probability (%)")
    return fig


def timeline_figure(frame: pd.DataFrame, labels: list[str]):
    """Probabilities of every emotion over time (stacked), and the predicted emotion per window below."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.2), layout="constrained")
    area_ax, strip_ax = fig.subplots(2, 1, sharex=True, height_ratios=[4, 1])
    centres = ((frame["start"] + frame["end"]) / 2).to_numpy()
    stacks = [frame[f"p_{label}"].to_numpy() for label in labels]
    if len(frame) == 1:
        centres = np.array([frame["start"].iloc[0], frame["end"].iloc[0]])
        stacks = [np.repeat(s, 2) for s in stacks]
    area_ax.stackplot(centres, *stacks, labels=labels, colors=[colour(k, i) for i, k in enumerate(labels)])
    area_ax.set_ylim(0, 1)
    area_ax.set_ylabel("probability")
    area_ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    for row in frame.to_dict("records"):
        strip_ax.axvspan(row["start"], row["end"], color=colour(row["emotion"], labels.index(row["emotion"])),
                         alpha=0.6)
    strip_ax.set_yticks([])
    strip_ax.set_xlabel("seconds")
    strip_ax.set_xlim(float(frame["start"].min()), float(frame["end"].max()))
    return fig


# ---------------------------------------------------------------------------------------------------------------
# Run folders


def list_runs(root: str | os.PathLike) -> list[Path]:
    """Finished run folders below ``root`` (a ``run.json`` and a ``leaderboard.json``), newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [p.parent for p in root.glob("*/run.json") if (p.parent / "leaderboard.json").is_file()]
    if (root / "run.json").is_file() and (root / "leaderboard.json").is_file():
        runs.append(root)
    return sorted(runs, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)


def run_summary(run_dir: Path) -> dict:
    run = _read_json(run_dir / "run.json") or {}
    corpus = run.get("corpus", {})
    return {"dataset": run.get("dataset", "?"), "command": run.get("command", ""),
            "finished": run.get("finished", ""), "corpus": corpus.get("summary_line", ""),
            "seed": run.get("seed")}


def leaderboard_markdown(run_dir: Path) -> str | None:
    path = run_dir / "leaderboard.md"
    return path.read_text() if path.is_file() else None


def audit_summary(run_dir: Path) -> tuple[list[str], dict | None]:
    """The audit's warnings (one line each) and the whole audit."""
    audit = _read_json(run_dir / "audit.json")
    if audit is None:
        return [], None
    warnings = [str(w) for w in audit.get("warnings", [])]
    return warnings, audit


def plot_files(run_dir: Path) -> list[Path]:
    folder = run_dir / "plots"
    return sorted(folder.glob("*.png")) if folder.is_dir() else []


def claims_table(run_dir: Path) -> pd.DataFrame | None:
    path = run_dir / "claims.csv"
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def compare_runs(run_dirs: list[Path], protocol: str = "speaker") -> pd.DataFrame:
    """The leaderboard rows of several runs under one protocol, side by side, best UAR first."""
    rows = []
    for run_dir in run_dirs:
        board = _read_json(run_dir / "leaderboard.json") or []
        for r in board:
            if r.get("table") != "leaderboard" or r.get("protocol") != protocol or r.get("uar_mean") is None:
                continue
            rows.append({"run": run_dir.name, "dataset": r.get("dataset", ""), "features": r.get("features"),
                         "model": r.get("model"), "spk-norm": bool(r.get("speaker_norm")),
                         "UAR %": round(100 * r["uar_mean"], 1),
                         "± std": round(100 * r["uar_std"], 1) if r.get("uar_std") is not None else None,
                         "folds": r.get("n_folds")})
    frame = pd.DataFrame(rows, columns=["run", "dataset", "features", "model", "spk-norm", "UAR %", "± std",
                                        "folds"])
    return frame.sort_values("UAR %", ascending=False, kind="stable").reset_index(drop=True)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def example_files(folder: str | os.PathLike | None) -> list[Path]:
    """Audio files offered as examples (``--examples DIR``)."""
    from features.audio import AUDIO_EXTENSIONS

    if not folder or not Path(folder).is_dir():
        return []
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
