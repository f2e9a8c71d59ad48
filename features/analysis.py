"""One analysis per clip: waveform, STFT, spectra, mel and chroma computed lazily and at most once."""

from __future__ import annotations

from functools import cached_property, lru_cache

import librosa
import numpy as np

from .config import AnalysisConfig


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
