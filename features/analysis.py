"""One analysis per clip: waveform, STFT, spectra, mel and chroma computed lazily and at most once."""

from __future__ import annotations

from functools import cached_property, lru_cache

import librosa
import numpy as np

from .config import AnalysisConfig
from .spectral import sign_changes


@lru_cache(maxsize=32)
def mel_filters(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)


@lru_cache(maxsize=32)
def chroma_filters(sr: int, n_fft: int, tuning: float) -> np.ndarray:
    return librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning, n_chroma=12)


class Clip:
    """The shared analysis of one clip, handed to every feature set.

    Attributes are computed on first use and kept: a feature set that asks for ``clip.power`` after another
    did costs nothing more.

    Parameters
    ----------
    y : mono waveform, float32, at ``config.sr``.
    config : analysis settings.
    path : where the clip came from, for messages.
    """

    def __init__(self, y: np.ndarray, config: AnalysisConfig | None = None, path: str | None = None):
        self.config = config or AnalysisConfig()
        self.y = np.asarray(y, dtype=np.float32)
        self.sr = self.config.sr
        self.path = path
        self.warnings: list[str] = []
        if self.y.size < self.config.win_length:
            self.warnings.append(f"shorter than one analysis window ({self.y.size} samples)")
        if not np.any(np.abs(self.y) > 1e-7):
            self.warnings.append("silent clip")

    @property
    def duration(self) -> float:
        return self.y.size / self.sr

    @cached_property
    def stft(self) -> np.ndarray:
        c = self.config
        return librosa.stft(self.y, n_fft=c.n_fft, hop_length=c.hop_length, win_length=c.win_length,
                            window="hann", center=True, pad_mode="constant")

    @cached_property
    def magnitude(self) -> np.ndarray:
        return np.abs(self.stft)

    @cached_property
    def power(self) -> np.ndarray:
        return self.magnitude ** 2

    @property
    def n_frames(self) -> int:
        return self.stft.shape[1]

    @cached_property
    def mel(self) -> np.ndarray:
        """Mel power spectrogram, as ``librosa.feature.melspectrogram``."""
        c = self.config
        return mel_filters(c.sr, c.n_fft, c.n_mels, c.fmin, c.fmax) @ self.power

    @cached_property
    def log_mel(self) -> np.ndarray:
        return librosa.power_to_db(self.mel)

    @cached_property
    def mfcc(self) -> np.ndarray:
        return librosa.feature.mfcc(S=self.log_mel, n_mfcc=self.config.n_mfcc)

    @cached_property
    def mfcc_delta(self) -> np.ndarray:
        return safe_delta(self.mfcc)

    @cached_property
    def chroma(self) -> np.ndarray:
        """STFT chroma, as ``librosa.feature.chroma_stft`` with the configured tuning."""
        c = self.config
        raw = chroma_filters(c.sr, c.n_fft, c.chroma_tuning) @ self.power
        return librosa.util.normalize(raw, norm=np.inf, axis=-2)


def safe_delta(matrix: np.ndarray, width: int = 9) -> np.ndarray:
    """First-order deltas, equal to ``librosa.feature.delta(matrix, width=width)`` (mode ``interp``).

    Interior frames use the regression kernel directly, and the edge frames the slope of a straight line
    fitted to the first (last) ``width`` frames, which is what Savitzky-Golay ``interp`` mode computes for a
    first-order fit; this skips the per-call polynomial fits. Clips with fewer frames than ``width`` use a
    narrower window.
    """
    frames = matrix.shape[-1]
    if frames >= width:
        half = width // 2
        taps = np.arange(-half, half + 1, dtype=np.float64)
        weights = taps / (taps @ taps)
        windows = np.lib.stride_tricks.sliding_window_view(matrix, width, axis=-1)
        out = np.empty(matrix.shape, dtype=np.result_type(matrix.dtype, np.float32))
        out[..., half: frames - half] = windows @ weights
        out[..., :half] = (matrix[..., :width] @ weights)[..., None]
        out[..., frames - half:] = (matrix[..., -width:] @ weights)[..., None]
        return out
    usable = frames if frames % 2 else frames - 1
    if usable < 3:
        return np.zeros_like(matrix)
    return librosa.feature.delta(matrix, width=usable)


def zero_crossing_rate(y: np.ndarray, frame_length: int, hop_length: int, threshold: float = 1e-10) -> np.ndarray:
    """Zero-crossing rate per frame, equal to ``librosa.feature.zero_crossing_rate(y, frame_length=...,
    hop_length=..., center=True)`` (bit for bit), without librosa's numba kernel.

    librosa's ``zero_crossings`` is a ``guvectorize`` kernel that numba compiles when librosa's ``core.audio``
    is imported: 2.7 CPU-s in every fresh environment, the largest part of the bank's first clip. The same
    count is a cumulative sum: within each frame of the edge-padded signal, the steps at which the sign bit
    changes (values within ``threshold`` of zero count as positive zero), divided by ``frame_length``.

    Parameters
    ----------
    y : mono waveform.
    frame_length, hop_length : framing, in samples (frames centred at ``t * hop_length``).
    threshold : magnitudes up to this are zero (librosa's default).

    Returns
    -------
    np.ndarray
        Shape (1, frames), float64.

    Examples
    --------
    >>> import numpy as np
    >>> zero_crossing_rate(np.array([1.0, -1.0, 1.0, -1.0, 1.0, 1.0, 1.0, 1.0]), 4, 2).round(3).tolist()
    [[0.25, 0.75, 0.5, 0.0, 0.0]]
    """
    librosa.util.valid_audio(y)
    y = np.asarray(y)
    half = frame_length // 2
    padded = np.pad(y, (half, half), mode="edge")
    if len(padded) < frame_length:
        raise librosa.util.exceptions.ParameterError(
            f"Input is too short (n={len(padded):d}) for frame_length={frame_length:d}")
    n_frames = 1 + (len(padded) - frame_length) // hop_length
    changes = sign_changes(padded, threshold)
    start = np.arange(n_frames) * hop_length
    return ((changes[start + frame_length - 1] - changes[start]) / frame_length)[None, :]
