"""Rhythm and timing from the voicing decision and the energy contour of one clip.

Voiced and unvoiced segment lengths (runs of voiced / unvoiced frames between the first and last voiced
frame), pauses (runs of frames more than ``PAUSE_DB`` below the clip's loud level), and a speech-rate proxy:
syllable nuclei counted as prominent peaks of the smoothed loudness inside voiced frames, per second of
speech.
"""

from __future__ import annotations

import numpy as np

PAUSE_DB = 30.0  # below the clip's 95th-percentile frame level
MIN_PAUSE_S = 0.05
NUCLEUS_PROMINENCE_DB = 2.0

RHYTHM_NAMES = (
    "voiced_fraction", "voiced_seg_mean", "voiced_seg_std", "voiced_seg_max", "voiced_seg_rate",
    "unvoiced_seg_mean", "unvoiced_seg_std", "unvoiced_seg_max",
    "pause_ratio", "pause_mean", "pause_rate", "speech_duration", "nuclei_rate", "nuclei_per_voiced_seg",
    "nucleus_interval_std",
)


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths of the runs of True in a boolean mask."""
    mask = np.asarray(mask, dtype=bool)
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return starts, ends - starts


def rhythm(voiced: np.ndarray, energy_db: np.ndarray, frame_rate: float) -> np.ndarray:
    """The values of :data:`RHYTHM_NAMES` (durations in seconds, rates per second of speech).

    Parameters
    ----------
    voiced : voicing decision per frame.
    energy_db : frame level in dB (any reference), same length.
    frame_rate : frames per second.
    """
    voiced = np.asarray(voiced, dtype=bool)
    energy_db = np.asarray(energy_db, dtype=np.float64)
    n = voiced.size
    out = dict.fromkeys(RHYTHM_NAMES, 0.0)
    if n == 0:
        return np.zeros(len(RHYTHM_NAMES))
    loud = np.percentile(energy_db, 95)
    silent = energy_db < loud - PAUSE_DB
    speech = np.flatnonzero(~silent)
    first, last = (speech[0], speech[-1]) if speech.size else (0, n - 1)
    span = slice(first, last + 1)
    speech_seconds = max((last - first + 1) / frame_rate, 1.0 / frame_rate)
    out["speech_duration"] = speech_seconds
    out["voiced_fraction"] = voiced[span].mean()
    _, v_len = runs(voiced[span])
    v_len = v_len / frame_rate
    if v_len.size:
        out["voiced_seg_mean"], out["voiced_seg_std"], out["voiced_seg_max"] = v_len.mean(), v_len.std(), v_len.max()
        out["voiced_seg_rate"] = v_len.size / speech_seconds
        v_frames = np.flatnonzero(voiced)
        inner = ~voiced[v_frames[0]: v_frames[-1] + 1]
        _, u_len = runs(inner)
        if u_len.size:
            u_len = u_len / frame_rate
            out["unvoiced_seg_mean"], out["unvoiced_seg_std"], out["unvoiced_seg_max"] = (
                u_len.mean(), u_len.std(), u_len.max())
    _, p_len = runs(silent[span])
    p_len = p_len[p_len >= MIN_PAUSE_S * frame_rate] / frame_rate
    out["pause_ratio"] = p_len.sum() / speech_seconds
    out["pause_mean"] = p_len.mean() if p_len.size else 0.0
    out["pause_rate"] = p_len.size / speech_seconds
    width = max(1, int(round(0.05 * frame_rate)))
    smooth = np.convolve(energy_db, np.ones(width) / width, mode="same")
    import scipy.signal  # deferred: seconds of import a run on cached features never needs
    peaks, _ = scipy.signal.find_peaks(smooth, prominence=NUCLEUS_PROMINENCE_DB,
                                       distance=max(1, int(0.1 * frame_rate)))
    peaks = peaks[voiced[peaks]]
    out["nuclei_rate"] = peaks.size / speech_seconds
    out["nuclei_per_voiced_seg"] = peaks.size / max(v_len.size, 1)
    out["nucleus_interval_std"] = float(np.std(np.diff(peaks) / frame_rate)) if peaks.size > 2 else 0.0
    return np.array([float(out[name]) for name in RHYTHM_NAMES])
