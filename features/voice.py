"""Prosody and voice quality on the shared frames: F0, voicing, harmonics-to-noise ratio, jitter, shimmer.

F0 follows Boersma's (1993) autocorrelation method, vectorised over all frames at once: each frame (40 ms,
centred on the shared 10 ms frame grid) is Hann-windowed, its autocorrelation (by FFT) is divided by the
window's own, and the strongest peak between the lags of ``fmax`` and ``fmin``, with a small cost per octave
so that the true period wins over its multiples, gives the period; parabolic interpolation refines it. The
peak's height is the voicing probability and gives the harmonics-to-noise ratio, ``10 log10(r / (1 - r))``.
A five-frame median over voiced runs removes isolated octave jumps.

Jitter and shimmer are measured on glottal pulses: peaks of the low-passed waveform, one per period, whose
spacing agrees with the frame's F0. Local jitter is the mean absolute difference of consecutive periods over
the mean period, local shimmer the same for the pulses' amplitudes (and in dB, the mean absolute log ratio).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

from .derived import derived

FMIN = 60.0
FMAX = 550.0
WINDOW_S = 0.04
OCTAVE_COST = 0.02  # per octave of lag above 1/fmax (Praat's default is 0.01)
VOICING_THRESHOLD = 0.45
SILENCE_DB = -45.0  # frames this far below the clip's loudest frame are unvoiced
PITCH_RATE = 8000  # the pitch search runs on a 2x decimated waveform at 16 kHz
PULSE_CUTOFF = 900.0  # Hz: glottal pulses are found on the waveform low-passed to here


@dataclass(frozen=True)
class VoiceTrack:
    """Per-frame prosody on the clip's frame grid (``clip.n_frames`` frames).

    Attributes
    ----------
    f0 : Hz, 0 where unvoiced.
    voicing : autocorrelation peak height in [0, 1], every frame.
    voiced : boolean mask.
    hnr : harmonics-to-noise ratio in dB, every frame (from ``voicing``).
    jitter, shimmer, shimmer_db : local jitter and shimmer (fractions) and shimmer in dB, per voiced frame;
        frames without two measurable periods hold the clip's mean (0 if none).
    """

    f0: np.ndarray
    voicing: np.ndarray
    voiced: np.ndarray
    hnr: np.ndarray
    jitter: np.ndarray
    shimmer: np.ndarray
    shimmer_db: np.ndarray


def voice_track(clip) -> VoiceTrack:
    """The clip's :class:`VoiceTrack`, computed once per clip."""
    c = clip.config
    return derived(clip, "voice_track", lambda: track_voice(clip.y, c.sr, c.hop_length, clip.n_frames))


def track_voice(y: np.ndarray, sr: int, hop: int, n_frames: int, fmin: float = FMIN,
                fmax: float = FMAX) -> VoiceTrack:
    """Pitch, voicing, HNR, jitter and shimmer of ``y`` on frames centred at ``t * hop``.

    Parameters
    ----------
    y : mono waveform.
    sr : its sample rate.
    hop : frame step in samples.
    n_frames : frames wanted (the STFT's ``1 + len(y) // hop``).
    fmin, fmax : pitch search range in Hz.
    """
    low, rate, step = decimate(np.asarray(y, dtype=np.float32), sr, hop)
    f0, strength, energy = _pitch(low, rate, step, n_frames, fmin, fmax)
    energy_db = 10.0 * np.log10(energy + 1e-12)
    loud_enough = energy_db > energy_db.max(initial=-200.0) + SILENCE_DB
    voiced = (strength >= VOICING_THRESHOLD) & loud_enough & (f0 > 0)
    f0 = np.where(voiced, _median_smooth(np.where(voiced, f0, np.nan)), 0.0)
    r = np.clip(strength, 1e-5, 1.0 - 1e-5)
    hnr = 10.0 * np.log10(r / (1.0 - r))
    jitter, shimmer, shimmer_db = perturbation(low, rate, step, f0, voiced)
    return VoiceTrack(f0, np.clip(strength, 0.0, 1.0), voiced, hnr, jitter, shimmer, shimmer_db)


def decimate(y: np.ndarray, sr: int, hop: float) -> tuple[np.ndarray, float, float]:
    """``y`` low-passed and decimated to about PITCH_RATE: (signal, rate, hop).

    By 2 (16 kHz): the kernel [1, 3, 3, 1] / 8 (a cubed cosine response, -60 dB near the old Nyquist frequency,
    so the high band does not alias onto the pulses); by other factors, block averages. Crude low-passes,
    but pitch and glottal pulses live far below the new Nyquist frequency.
    """
    factor = max(1, int(sr // PITCH_RATE))
    if factor == 2 and y.size >= 4:
        padded = np.concatenate([y[:1], y, y[-1:], y[-1:]])
        y = (padded[0:-3:2] + 3 * padded[1:-2:2] + 3 * padded[2:-1:2] + padded[3::2]) * np.float32(0.125)
    elif factor > 1:
        y = y[: y.size - y.size % factor].reshape(-1, factor).mean(axis=1, dtype=np.float32)
    return y, sr / factor, hop / factor


def _pitch(y: np.ndarray, rate: float, step: float, n_frames: int, fmin: float,
           fmax: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    win = int(round(WINDOW_S * rate))
    lag_min = max(2, int(np.floor(rate / fmax)))
    lag_max = min(win - 2, int(np.ceil(rate / fmin)))
    frames = _frames(y, win, step, n_frames)
    window, window_acf = _window_acf(win, lag_max + 2)
    n_fft = 1 << (win + lag_max + 1).bit_length()
    x = (frames - frames.mean(axis=1, keepdims=True)) * window
    spectrum = scipy.fft.rfft(x, n_fft, axis=1)
    acf = scipy.fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2, n_fft, axis=1)[:, : lag_max + 2]
    energy = acf[:, :1]
    r = np.where(energy > 1e-12, acf / np.maximum(energy, 1e-12), 0.0) / window_acf
    lags = np.arange(lag_min - 1, lag_max + 2)
    band = r[:, lags]
    peak = (band[:, 1:-1] > band[:, :-2]) & (band[:, 1:-1] >= band[:, 2:])
    inner = lags[1:-1].astype(np.float64)
    score = np.where(peak, band[:, 1:-1] - OCTAVE_COST * np.log2(inner * fmax / rate), -np.inf)
    best = np.argmax(score, axis=1)
    rows = np.arange(len(best))
    found = np.isfinite(score[rows, best])
    a, b, c = band[rows, best], band[rows, best + 1], band[rows, best + 2]
    curvature = a - 2.0 * b + c
    shift = np.where(curvature < 0, 0.5 * (a - c) / np.where(curvature < 0, curvature, -1.0), 0.0)
    shift = np.clip(shift, -0.5, 0.5)
    lag = inner[best] + shift
    height = b - 0.25 * (a - c) * shift
    f0 = np.where(found, rate / lag, 0.0)
    strength = np.where(found, np.minimum(height, 1.0), 0.0)
    return f0, strength, energy[:, 0].astype(np.float64)


def perturbation(y: np.ndarray, sr: float, hop: float, f0: np.ndarray,
                 voiced: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local jitter, local shimmer and shimmer in dB per frame, from glottal pulses of the waveform.

    Pulses are peaks of the (zero-phase) low-passed waveform at least 0.7 of the shortest voiced period apart; a period
    counts when its pulses lie in voiced frames and its length is within 25 % of the frame's F0 period.
    """
    n_frames = len(f0)
    empty = np.zeros(n_frames)
    if voiced.sum() < 2:
        return empty, empty.copy(), empty.copy()
    where = np.flatnonzero(voiced)
    first = max(0, int((where[0] - 3) * hop))  # the low-pass filter runs over the voiced span only
    z = lowpass(y[first: int((where[-1] + 3) * hop)], sr)
    if -z.min() > z.max():  # follow the polarity of the larger excursions
        z = -z
    shortest = sr / np.percentile(f0[voiced], 95)
    import scipy.signal  # deferred: seconds of import a run on cached features never needs
    peaks, _ = scipy.signal.find_peaks(z, height=0.01 * z.max(), distance=max(1, int(0.7 * shortest)))
    if peaks.size < 3:
        return empty, empty.copy(), empty.copy()
    inner = np.clip(peaks, 1, z.size - 2)
    left, mid, right = z[inner - 1], z[inner], z[inner + 1]
    curve = left - 2.0 * mid + right
    offset = np.where(curve < 0, 0.5 * (left - right) / np.where(curve < 0, curve, -1.0), 0.0)
    position = inner + np.clip(offset, -0.5, 0.5)
    amplitude = np.maximum(mid - 0.25 * (left - right) * offset, 1e-12)
    frame = np.clip(np.rint((position + first) / hop).astype(int), 0, n_frames - 1)
    period = np.diff(position)
    expected = np.where(voiced[frame[1:]], sr / np.maximum(f0[frame[1:]], 1e-6), np.inf)
    good = voiced[frame[:-1]] & voiced[frame[1:]] & (np.abs(period / expected - 1.0) < 0.25)
    pair = good[1:] & good[:-1]  # two consecutive good periods share a pulse
    owner = frame[1:-1][pair]
    d_period = np.abs(np.diff(period))[pair]
    mean_period = 0.5 * (period[1:] + period[:-1])[pair]
    amp_a, amp_b = amplitude[:-1][good], amplitude[1:][good]
    amp_owner = frame[1:][good]
    jitter = _frame_mean(owner, d_period / mean_period, n_frames)
    shimmer = _frame_mean(amp_owner, np.abs(amp_b - amp_a) / (0.5 * (amp_a + amp_b)), n_frames)
    shimmer_db = _frame_mean(amp_owner, np.abs(20.0 * np.log10(amp_b / amp_a)), n_frames)
    return tuple(_fill(v, voiced) for v in (jitter, shimmer, shimmer_db))


def semitones(f0: np.ndarray, reference: float = 27.5) -> np.ndarray:
    """F0 in semitones above ``reference`` Hz (GeMAPS convention); 0 where ``f0`` is 0."""
    return np.where(f0 > 0, 12.0 * np.log2(np.maximum(f0, 1e-6) / reference), 0.0)


def _frame_mean(owner: np.ndarray, values: np.ndarray, n_frames: int) -> np.ndarray:
    counts = np.bincount(owner, minlength=n_frames)
    sums = np.bincount(owner, weights=values, minlength=n_frames)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _fill(values: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    known = np.isfinite(values) & voiced
    fill = float(values[known].mean()) if known.any() else 0.0
    return np.where(voiced, np.where(known, values, fill), 0.0)


def _frames(y: np.ndarray, win: int, step: float, n_frames: int) -> np.ndarray:
    """Frames of ``win`` samples centred at ``round(t * step)``, zero-padded at the edges."""
    half = win // 2
    padded = np.zeros(y.size + 2 * half + win + int(np.ceil(step)) * 2, dtype=np.float32)
    padded[half: half + y.size] = y
    starts = np.rint(np.arange(n_frames) * step).astype(int)
    view = np.lib.stride_tricks.sliding_window_view(padded, win)
    return view[np.minimum(starts, view.shape[0] - 1)]


@lru_cache(maxsize=8)
def _window_acf(win: int, lags: int) -> tuple[np.ndarray, np.ndarray]:
    window = np.hanning(win + 2)[1:-1].astype(np.float32)
    full = np.correlate(window, window, "full")[win - 1:]
    acf = full[:lags] / full[0]
    return window, np.maximum(acf, 1e-3).astype(np.float32)


def lowpass(y: np.ndarray, sr: float, cutoff: float = PULSE_CUTOFF) -> np.ndarray:
    """Zero-phase low-pass by FFT with the magnitude of a 4th-order Butterworth filter applied forwards and
    backwards, ``1 / (1 + (f / cutoff) ** 8)``; zero-padded so that the ends do not wrap around."""
    n = scipy.fft.next_fast_len(y.size + 64, real=True)
    spectrum = scipy.fft.rfft(np.asarray(y, dtype=np.float64), n)
    spectrum *= _butterworth_gain(n, float(sr), float(cutoff))
    return scipy.fft.irfft(spectrum, n)[: y.size]


@lru_cache(maxsize=64)
def _butterworth_gain(n: int, sr: float, cutoff: float) -> np.ndarray:
    f = np.fft.rfftfreq(n, 1.0 / sr)
    return 1.0 / (1.0 + (f / min(cutoff, 0.45 * sr)) ** 8)


def _median_smooth(f0: np.ndarray, width: int = 5) -> np.ndarray:
    """Median over ``width`` frames ignoring NaN (unvoiced) frames; NaN frames stay NaN."""
    if f0.size == 0:
        return f0
    half = width // 2
    padded = np.pad(f0, half, constant_values=np.nan)
    ranked = np.sort(np.lib.stride_tricks.sliding_window_view(padded, width), axis=1)  # NaN sort last
    count = np.sum(~np.isnan(ranked), axis=1)
    rows = np.arange(f0.size)
    low = ranked[rows, np.maximum(count - 1, 0) // 2]
    high = ranked[rows, np.maximum(count, 1) // 2 - (count == 0)]
    smooth = np.sqrt(low * high)  # the geometric mean of the two middle values: a median in log F0
    return np.where(np.isnan(f0), np.nan, smooth)
