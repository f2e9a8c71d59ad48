"""Recording conditions of a clip, estimated cheaply from its waveform, and how far an input is from training's.

Three numbers per clip, all on the mono waveform at the bundle's analysis rate (what the model's features see),
each from one pass over it (frame powers, or one Welch spectrum):

- **level** (dBFS): the power of the louder half of the 25 ms frames (hop 10 ms), relative to a full-scale
  square wave (0 dBFS). The louder half is the speech when speech is active at least half of the time, so the
  level does not fall with the length of the pauses. A clip whose level is below ``SILENT_DBFS`` is silent.
- **SNR** (dB): the noise floor is the 10th percentile of the frame powers (the quietest frames hold only the
  background); the SNR is ``(mean power - floor) / floor`` over the whole clip, as the robustness conditions
  define it (:func:`features.degrade.add_noise`: speech power over noise power, both over every sample).
  Measured on EmoDB clips with white noise added at 0-10 dB the estimate is within 1 dB (median, worst case
  -2.5 dB); for pink noise it reads high, by 0.7-2.7 dB (median; at most 4.5 dB), because its frame powers
  fluctuate more and the 10th percentile lies under their mean. Clips without pauses read low (speech frames count as floor). Clipped to ``[-20, 60]`` dB.
- **bandwidth** (Hz): the highest frequency at which the long-term spectrum (Welch, 512-sample segments) is
  within ``BANDWIDTH_DROP_DB`` (50 dB) of its maximum. Clean EmoDB clips at 16 kHz read 7.1-7.7 kHz; their
  telephone copies (300-3400 Hz, G.711) read 3.4-3.5 kHz.

At training time :func:`distribution` keeps percentiles of the three numbers (and of the durations) over the
training clips; at prediction time :func:`outside` names what lies beyond them by more than a margin.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np

FRAME_S, HOP_S = 0.025, 0.010
NOISE_PERCENTILE = 10.0
SNR_RANGE = (-20.0, 60.0)
LEVEL_FLOOR_DBFS = -120.0
SILENT_DBFS = -80.0
BANDWIDTH_DROP_DB = 50.0
WELCH_SEGMENT = 512
QUANTILES = (0.5, 5.0, 50.0, 95.0, 99.5)
# How far beyond the training range (its 0.5th-99.5th percentiles) an input must lie to be flagged: a level
# 10 dB beyond is a gain no training clip had; 6 dB of SNR roughly halves or doubles the noise's amplitude; a
# bandwidth under 80 % of the narrowest training clip's has lost a band the model may rely on.
LEVEL_MARGIN_DB = 10.0
SNR_MARGIN_DB = 6.0
BANDWIDTH_FACTOR = 0.8
STATS = ("level_dbfs", "snr_db", "bandwidth_hz")
MIN_ESTIMATE_S = 0.25  # shorter clips have too few frames for a noise floor, too few samples for a spectrum
FULL_SCALE_POWER = 1.0  # a full-scale square wave: samples of +-1


def frame_powers(y: np.ndarray, sr: int) -> np.ndarray:
    """Mean power of each 25 ms frame (hop 10 ms); a clip shorter than a frame is one frame."""
    y = np.asarray(y, dtype=np.float64)
    n, hop = max(1, int(FRAME_S * sr)), max(1, int(HOP_S * sr))
    if len(y) <= n:
        return np.array([np.mean(y ** 2)])
    frames = np.lib.stride_tricks.sliding_window_view(y, n)[::hop]
    return np.mean(frames ** 2, axis=1)


def estimate(y: np.ndarray, sr: int) -> dict[str, float]:
    """Level (dBFS), SNR (dB) and bandwidth (Hz) of a mono waveform, as described in the module's docstring.

    Parameters
    ----------
    y : mono waveform, float, full scale at +-1.
    sr : its rate in Hz.

    Returns
    -------
    dict
        ``level_dbfs``, ``snr_db``, ``bandwidth_hz`` (finite floats) and ``silent`` (bool).
    """
    y = np.asarray(y, dtype=np.float64)
    powers = frame_powers(y, sr)
    loud = powers[powers >= np.median(powers)]
    level = 10 * math.log10(max(float(np.mean(loud)) / FULL_SCALE_POWER, 10 ** (LEVEL_FLOOR_DBFS / 10)))
    silent = level < SILENT_DBFS
    total = float(np.mean(y ** 2))
    floor = float(np.percentile(powers, NOISE_PERCENTILE))
    if silent:
        snr = SNR_RANGE[0]
    elif floor <= 0:
        snr = SNR_RANGE[1]  # digital silence between words: no measurable noise
    else:
        snr = 10 * math.log10(max(total - floor, 1e-30) / floor)
    snr = float(min(max(snr, SNR_RANGE[0]), SNR_RANGE[1]))
    return {"level_dbfs": round(level, 2), "snr_db": round(snr, 2), "bandwidth_hz": round(bandwidth(y, sr), 1),
            "silent": bool(silent), "seconds": len(y) / sr}


def bandwidth(y: np.ndarray, sr: int) -> float:
    """The highest frequency where the long-term spectrum is within ``BANDWIDTH_DROP_DB`` of its maximum (Hz)."""
    from scipy.signal import welch

    y = np.asarray(y, dtype=np.float64)
    if len(y) < 8 or not np.any(y):
        return 0.0
    segment = min(WELCH_SEGMENT, len(y))
    freqs, power = welch(y, sr, nperseg=segment, noverlap=segment // 2)
    level = 10 * np.log10(np.maximum(power, 1e-300))
    above = np.flatnonzero(level > level.max() - BANDWIDTH_DROP_DB)
    return float(freqs[above[-1]])


def distribution(stats: Sequence[dict[str, float]], durations: Sequence[float] | None) -> dict:
    """What the bundle keeps of its training clips: percentiles of each estimate and of the durations.

    Silent clips are left out of the level, SNR and bandwidth percentiles (they have none), clips shorter than
    ``MIN_ESTIMATE_S`` out of the SNR and bandwidth ones.
    """
    out: dict = {"n_clips": len(stats), "quantiles": list(QUANTILES),
                 "method": "benchmark.apps.recording (level: louder half of 25 ms frames; SNR: 10th-percentile "
                           "frame power as noise floor, whole clip; bandwidth: -50 dB edge of the Welch spectrum)"}
    voiced = [s for s in stats if not s.get("silent")]
    out["n_silent"] = len(stats) - len(voiced)
    long_enough = [s for s in voiced if s.get("seconds", math.inf) >= MIN_ESTIMATE_S] or voiced
    for name in STATS:
        pool = voiced if name == "level_dbfs" else long_enough  # SNR and bandwidth need a clip of some length
        values = np.array([s[name] for s in pool], dtype=np.float64)
        out[name] = _summary(values)
    finite = np.array([d for d in (durations or []) if d is not None and math.isfinite(d)], dtype=np.float64)
    out["duration_s"] = _summary(finite)
    return out


def _summary(values: np.ndarray) -> dict | None:
    if not len(values):
        return None
    q = np.percentile(values, QUANTILES)
    return {"min": float(values.min()), "max": float(values.max()),
            "percentiles": [round(float(v), 3) for v in q]}


def _range(summary: dict | None) -> tuple[float, float] | None:
    """The 0.5th and 99.5th percentiles of a summary (the training range the checks use)."""
    if not summary:
        return None
    q = summary["percentiles"]
    return float(q[0]), float(q[-1])


def outside(profile: dict, stats: dict[str, float], duration: float | None = None) -> list[str]:
    """What of an input's recording lies beyond the training clips' (one phrase each; empty when nothing).

    Parameters
    ----------
    profile : :func:`distribution` of the training clips.
    stats : :func:`estimate` of the input.
    duration : seconds, checked only when given (bundles whose feature profile checks durations pass None).
    """
    parts = []
    if stats.get("silent"):
        return [f"silent (level {stats['level_dbfs']:.0f} dBFS, under {SILENT_DBFS:.0f})"]
    level = _range(profile.get("level_dbfs"))
    if level and not level[0] - LEVEL_MARGIN_DB <= stats["level_dbfs"] <= level[1] + LEVEL_MARGIN_DB:
        word = "quieter" if stats["level_dbfs"] < level[0] else "louder"
        parts.append(f"level {stats['level_dbfs']:.0f} dBFS, {word} than training's {level[0]:.0f} to "
                     f"{level[1]:.0f} dBFS")
    short = stats.get("seconds", math.inf) < MIN_ESTIMATE_S  # its SNR and bandwidth are not estimates
    snr = _range(profile.get("snr_db"))
    if snr and not short and not snr[0] - SNR_MARGIN_DB <= stats["snr_db"] <= snr[1] + SNR_MARGIN_DB:
        word = "noisier" if stats["snr_db"] < snr[0] else "cleaner"
        parts.append(f"estimated SNR {stats['snr_db']:.0f} dB, {word} than training's {snr[0]:.0f} to "
                     f"{snr[1]:.0f} dB")
    band = _range(profile.get("bandwidth_hz"))
    if band and not short and stats["bandwidth_hz"] < BANDWIDTH_FACTOR * band[0]:
        parts.append(f"estimated bandwidth {stats['bandwidth_hz'] / 1000:.1f} kHz, narrower than training's "
                     f"{band[0] / 1000:.1f} kHz and up")
    span = _range(profile.get("duration_s"))
    if duration is not None and span:
        lo, hi = profile["duration_s"]["min"], profile["duration_s"]["max"]
        margin = 0.5 * (hi - lo) + 0.1
        if duration > hi + margin or duration < max(lo - margin, 0) or duration < 0.1:
            parts.append(f"duration {duration:.2f} s outside training's {lo:.2f}-{hi:.2f} s")
    return parts


def long_input(profile_durations: tuple[float, float] | None, duration: float) -> bool:
    """Whether ``duration`` is beyond what the duration check accepts (so predict windows it by default)."""
    if profile_durations is None:
        return False
    lo, hi = profile_durations
    return duration > hi + 0.5 * (hi - lo) + 0.1


def to_bytes(profile: dict) -> bytes:
    return json.dumps(profile, indent=1, sort_keys=True, allow_nan=False).encode()


def from_bytes(data: bytes) -> dict:
    """A profile read back; anything but a JSON object of the expected shape is a ValueError."""
    profile = json.loads(data)
    if not isinstance(profile, dict):
        raise ValueError("not a JSON object")
    for name in (*STATS, "duration_s"):
        summary = profile.get(name)
        if summary is None:
            continue
        if not isinstance(summary, dict) or len(summary.get("percentiles", [])) != len(QUANTILES) or not all(
                isinstance(v, int | float) for v in [summary.get("min"), summary.get("max"),
                                                     *summary["percentiles"]]):
            raise ValueError(f"{name}: malformed")
    return profile
