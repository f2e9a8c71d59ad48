"""Spectral descriptors on the shared power spectrum: auditory bands, shape, balance, formants.

Everything is computed for all frames at once from ``clip.power`` (the shared STFT), with the definitions of
the openSMILE/GeMAPS literature (Eyben et al. 2016; Schuller et al. 2013) written afresh:

- auditory bands: triangular filters equally spaced on the Bark scale, their log energies, and the same after
  RASTA band-pass filtering over time (Hermansky & Morgan 1994);
- loudness: the sum of band intensities raised to 0.3 (Stevens' power law on the auditory spectrum);
- spectral shape: centroid, spread, skewness, kurtosis, entropy, flatness, flux, slope, roll-off points,
  harmonicity (mean level of spectral peaks over valleys);
- spectral balance: alpha ratio (50-1000 Hz over 1-5 kHz), Hammarberg index (strongest peak 0-2 kHz over
  2-5 kHz), energies in 250-650 Hz and 1-4 kHz, slopes 0-500 Hz and 500-1500 Hz;
- formants F1-F3 as the first three peaks of a 12th-order LPC envelope of the 0-5.5 kHz band.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft

from .derived import derived

N_BARK = 26
RASTA_B = 0.1 * np.array([2.0, 1.0, 0.0, -1.0, -2.0])
RASTA_A = np.array([1.0, -0.94])
ROLLOFFS = (0.25, 0.5, 0.75, 0.9)
LPC_ORDER = 12
FORMANT_BAND = 5500.0
EPS = 1e-10

SHAPE_NAMES = (
    "loudness", "log_energy", "zcr", "centroid", "spread", "skewness", "kurtosis", "entropy", "flatness",
    "flux", "slope", *(f"rolloff{int(q * 100)}" for q in ROLLOFFS), "harmonicity", "alpha_ratio",
    "hammarberg", "energy_250_650", "energy_1k_4k", "slope_0_500", "slope_500_1500",
)
FORMANT_NAMES = ("F1", "F2", "F3")


def hz_to_bark(f: np.ndarray) -> np.ndarray:
    """Traunmüller's Bark scale."""
    return 26.81 * np.asarray(f, dtype=np.float64) / (1960.0 + np.asarray(f, dtype=np.float64)) - 0.53


def bark_to_hz(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    return 1960.0 * (z + 0.53) / (26.28 - z)


@lru_cache(maxsize=16)
def bark_filters(sr: int, n_fft: int, n_bands: int = N_BARK, fmin: float = 20.0,
                 fmax: float | None = None) -> np.ndarray:
    """Triangular filters equally spaced on the Bark scale, shape (n_bands, 1 + n_fft // 2), peak 1.

    Each band's filter rises from the previous band's centre to its own and falls to the next one's; a band
    narrower than a frequency bin still holds the nearest bin, so no band is empty.
    """
    fmax = sr / 2.0 if fmax is None else fmax
    edges = bark_to_hz(np.linspace(hz_to_bark(fmin), hz_to_bark(fmax), n_bands + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    nearest = np.abs(freqs[None, :] - centre).argmin(axis=1)
    empty = weights.sum(axis=1) == 0
    weights[np.flatnonzero(empty), nearest[empty]] = 1.0
    return weights.astype(np.float32)


def band_centres(sr: int, n_bands: int = N_BARK, fmin: float = 20.0, fmax: float | None = None) -> np.ndarray:
    fmax = sr / 2.0 if fmax is None else fmax
    return bark_to_hz(np.linspace(hz_to_bark(fmin), hz_to_bark(fmax), n_bands + 2))[1:-1]


def auditory_bands(clip) -> np.ndarray:
    """Bark band energies (power), shape (26, frames), computed once per clip."""
    c = clip.config
    return derived(clip, "bark", lambda: bark_filters(c.sr, c.n_fft) @ clip.power)


def log_bands(bands: np.ndarray) -> np.ndarray:
    return np.log(bands + EPS)


def rasta(log_bands_: np.ndarray) -> np.ndarray:
    """RASTA band-pass filter along time (rows are bands), started from rest."""
    import scipy.signal  # deferred: seconds of import a run on cached features never needs
    return scipy.signal.lfilter(RASTA_B, RASTA_A, log_bands_, axis=1)


def loudness(bands: np.ndarray) -> np.ndarray:
    """Sum over bands of band intensity to the power 0.3."""
    return np.sum(np.power(np.maximum(bands, 0.0), 0.3), axis=0)


def spectral_shape(power: np.ndarray, sr: int, y: np.ndarray | None = None, hop: int | None = None,
                   win: int | None = None, bands: np.ndarray | None = None,
                   magnitude: np.ndarray | None = None) -> np.ndarray:
    """The descriptors of :data:`SHAPE_NAMES`, shape (len(SHAPE_NAMES), frames).

    Parameters
    ----------
    power : power spectrogram (1 + n_fft // 2, frames).
    sr : sample rate.
    y, hop, win : waveform and framing for the zero-crossing rate (0 without them).
    bands : auditory band energies for loudness (computed from ``power`` when omitted).
    magnitude : ``sqrt(power)`` when already at hand.
    """
    n_bins, n_frames = power.shape
    freqs = np.linspace(0.0, sr / 2.0, n_bins)
    if bands is None:
        bands = bark_filters(sr, 2 * (n_bins - 1)) @ power
    if magnitude is None:
        magnitude = np.sqrt(power)
    total = power.sum(axis=0, dtype=np.float64)
    safe_total = np.maximum(total, EPS)
    kHz = freqs / 1000.0
    raw = (np.vstack([kHz, kHz ** 2, kHz ** 3, kHz ** 4]) @ power) / safe_total  # raw moments m1..m4
    m1, m2, m3, m4 = raw
    var = np.maximum(m2 - m1 ** 2, 0.0)
    spread = np.sqrt(var)
    safe_var = np.where(var > 1e-9, var, np.inf)
    skew = (m3 - 3 * m1 * m2 + 2 * m1 ** 3) / safe_var ** 1.5
    kurt = np.where(np.isfinite(safe_var), (m4 - 4 * m1 * m3 + 6 * m1 ** 2 * m2 - 3 * m1 ** 4) / safe_var ** 2, 0.0)
    log_power = np.log(power + np.float32(EPS))
    weighted_log = np.einsum("ft,ft->t", power, log_power, dtype=np.float64)
    entropy = (np.log(safe_total) - weighted_log / safe_total) / np.log(n_bins)  # -sum p log p, p = power / total
    mean_log = log_power.mean(axis=0, dtype=np.float64)
    flatness = np.exp(mean_log) / np.maximum(total / n_bins, EPS)
    norms = np.sqrt(total)
    flux = np.zeros(n_frames)
    if n_frames > 1:
        unit = magnitude / np.maximum(norms, EPS).astype(np.float32)
        flux[1:] = np.sum((unit[:, 1:] - unit[:, :-1]) ** 2, axis=0)
    db = log_power * np.float32(10.0 / np.log(10.0))
    slope = _band_slope(db, kHz, 0.0, sr / 2000.0)
    cumulative = np.cumsum(power, axis=0) / safe_total.astype(np.float32)
    rolloffs = [freqs[np.minimum((cumulative < q).sum(axis=0), n_bins - 1)] for q in ROLLOFFS]
    harmonicity = _harmonicity(db)
    alpha = 10.0 * np.log10(_band_sum(power, freqs, 50, 1000) / _band_sum(power, freqs, 1000, 5000))
    hammarberg = _band_max(db, freqs, 0, 2000) - _band_max(db, freqs, 2000, 5000)
    e_low = 10.0 * np.log10(_band_sum(power, freqs, 250, 650))
    e_high = 10.0 * np.log10(_band_sum(power, freqs, 1000, 4000))
    slope_low = _band_slope(db, kHz, 0.0, 0.5)
    slope_mid = _band_slope(db, kHz, 0.5, 1.5)
    zcr = _zcr(y, hop, win, n_frames) if y is not None else np.zeros(n_frames)
    rows = [loudness(bands), np.log(safe_total), zcr, m1, spread, skew, kurt, entropy, flatness, flux, slope,
            *rolloffs, harmonicity, alpha, hammarberg, e_low, e_high, slope_low, slope_mid]
    return np.vstack(rows)


def formants(power: np.ndarray, sr: int, order: int = LPC_ORDER, band: float = FORMANT_BAND) -> np.ndarray:
    """F1-F3 in Hz per frame from the peaks of an LPC envelope of the 0-``band`` Hz part of the spectrum.

    The autocorrelation is the inverse DFT of the pre-emphasised power spectrum restricted to the band (as if
    the frame had been resampled to ``2 * band``); Levinson-Durbin runs on all frames at once. Frames with
    fewer than three peaks repeat the highest one found (0 when none).

    Returns
    -------
    shape (3, frames).
    """
    power = np.asarray(power, dtype=np.float64)
    n_bins, n_frames = power.shape
    freqs = np.linspace(0.0, sr / 2.0, n_bins)
    keep = int(np.count_nonzero(freqs <= band))
    top = freqs[keep - 1]
    acf = np.ascontiguousarray((_lpc_cosines(keep, order) @ power[:keep]).T)  # irfft of the pre-emphasised band, lags 0..order
    coefficients = _levinson(acf, order)
    envelope = np.abs(scipy.fft.rfft(coefficients, 256, axis=1))
    envelope = -np.log(envelope + EPS)  # log of 1/|A|
    peak = (envelope[:, 1:-1] > envelope[:, :-2]) & (envelope[:, 1:-1] >= envelope[:, 2:])
    grid = np.linspace(0.0, top, envelope.shape[1])[1:-1]
    rank = np.cumsum(peak, axis=1)
    out = np.zeros((3, n_frames))
    for k in range(3):
        hit = peak & (rank == k + 1)
        has = hit.any(axis=1)
        out[k] = np.where(has, grid[hit.argmax(axis=1)], out[k - 1] if k else 0.0)
    return out


@lru_cache(maxsize=16)
def _lpc_cosines(n_bins: int, order: int) -> np.ndarray:
    """Rows k = 0..order: the inverse real DFT's cosines for lag k, times a pre-emphasis (0.97) weighting, so
    that ``matrix @ power`` is the autocorrelation of the pre-emphasised band-limited frame (up to scale)."""
    omega = np.pi * np.arange(n_bins) / (n_bins - 1)
    emphasis = 1.0 + 0.97 ** 2 - 2.0 * 0.97 * np.cos(omega)
    weights = np.full(n_bins, 2.0)
    weights[[0, -1]] = 1.0
    return (np.cos(np.outer(np.arange(order + 1), omega)) * (weights * emphasis)).astype(np.float32)


def _levinson(acf: np.ndarray, order: int) -> np.ndarray:
    """LPC polynomials (frames, order + 1), a[0] = 1, from autocorrelations (frames, >= order + 1)."""
    n = acf.shape[0]
    a = np.zeros((n, order + 1))
    a[:, 0] = 1.0
    error = acf[:, 0] * (1.0 + 1e-9) + EPS
    for i in range(1, order + 1):
        k = -(a[:, :i] * acf[:, i:0:-1]).sum(axis=1) / error
        a[:, 1: i + 1] = a[:, 1: i + 1] + k[:, None] * a[:, i - 1:: -1][:, :i]
        error = error * (1.0 - k * k)
        error = np.maximum(error, EPS)
    return a


def _band_sum(power: np.ndarray, freqs: np.ndarray, lo: float, hi: float) -> np.ndarray:
    rows = (freqs >= lo) & (freqs < hi)
    return power[rows].sum(axis=0, dtype=np.float64) + EPS


def _band_max(db: np.ndarray, freqs: np.ndarray, lo: float, hi: float) -> np.ndarray:
    rows = (freqs >= lo) & (freqs < hi)
    return db[rows].max(axis=0)


def _band_slope(db: np.ndarray, kHz: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Least-squares slope of the dB spectrum over [lo, hi] kHz, in dB per kHz."""
    rows = (kHz >= lo) & (kHz <= hi)
    f = kHz[rows] - kHz[rows].mean()
    if f.size < 2:
        return np.zeros(db.shape[1])
    return (f / (f @ f)).astype(np.float32) @ db[rows]


def _harmonicity(db: np.ndarray) -> np.ndarray:
    """Mean dB level of local spectral maxima minus that of local minima, per frame."""
    middle = db[1:-1]
    peaks = (middle > db[:-2]) & (middle >= db[2:])
    valleys = (middle < db[:-2]) & (middle <= db[2:])
    n_peaks, n_valleys = peaks.sum(axis=0), valleys.sum(axis=0)
    level_peaks = np.where(n_peaks > 0, (middle * peaks).sum(axis=0) / np.maximum(n_peaks, 1), 0.0)
    level_valleys = np.where(n_valleys > 0, (middle * valleys).sum(axis=0) / np.maximum(n_valleys, 1), 0.0)
    return np.where((n_peaks > 0) & (n_valleys > 0), level_peaks - level_valleys, 0.0)


def _zcr(y: np.ndarray, hop: int, win: int, n_frames: int) -> np.ndarray:
    """Zero crossings per sample in frames of ``win`` centred at ``t * hop``."""
    crossings = sign_changes(y)
    centre = np.arange(n_frames) * hop
    lo = np.clip(centre - win // 2, 0, max(len(crossings) - 1, 0))
    hi = np.clip(centre + win // 2, 0, max(len(crossings) - 1, 0))
    return (crossings[hi] - crossings[lo]) / float(win) if len(crossings) else np.zeros(n_frames)


def sign_changes(y: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Cumulative count of sign-bit changes: element ``i`` counts the changes between consecutive samples up to
    sample ``i`` (element 0 is 0), so a window's crossings are a difference of two elements.

    ``threshold``: magnitudes up to it count as positive zero first (librosa's ``zero_crossings``); None keeps
    every sign bit as it is (``-0.0`` negative).
    """
    y = np.asarray(y)
    if threshold is not None:
        y = np.where(np.abs(y) <= np.float64(threshold), 0.0, y)
    negative = np.signbit(y)
    return np.concatenate([[0], np.cumsum(negative[1:] != negative[:-1])])
