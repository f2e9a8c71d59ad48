"""Frame-level and image inputs for the networks, and the inputs of the five reference systems.

``logmel_frames`` and ``spectrogram`` draw on the shared analysis like every set. The reference systems'
inputs (``ravdess2ch``, ``mfcc40_mean``, ``feature_means``) reproduce what those projects computed, with
their own frame settings, so they use the waveform (``clip.y``) rather than the shared spectra.
"""

from __future__ import annotations

import librosa
import numpy as np

from .analysis import Clip, zero_crossing_rate
from .builtin import pool_frames
from .registry import feature_set

MEL = ("sr", "win_length", "hop_length", "n_fft", "n_mels", "fmin", "fmax")
SEED_SR = 16000  # the reference systems' inputs are computed at 16 kHz whatever the analysis rate


@feature_set(
    "logmel_frames",
    version=1,
    kind="sequence",
    uses=MEL + ("seq_pool",),
    description="frame-level log-mel (64 bands, 10 ms hop, averaged over seq_pool frames)",
)
def logmel_frames(clip: Clip) -> np.ndarray:
    return pool_frames(clip.log_mel.T, clip.config.seq_pool)


@feature_set(
    "spectrogram",
    version=1,
    kind="sequence",
    uses=MEL,
    description="log-mel image frames for 2-D models (64 bands, 10 ms hop, unpooled)",
)
def spectrogram(clip: Clip) -> np.ndarray:
    return clip.log_mel.T


def fixed_duration(y: np.ndarray, sr: int, seconds: float, offset: float = 0.0) -> np.ndarray:
    """``y`` from ``offset`` s, trimmed or zero-padded to exactly ``seconds`` s."""
    start = min(int(round(offset * sr)), len(y))
    n = int(round(seconds * sr))
    out = np.zeros(n, dtype=np.float32)
    part = y[start : start + n]
    out[: len(part)] = part
    return out


def at_seed_rate(clip: Clip) -> np.ndarray:
    if clip.sr == SEED_SR:
        return clip.y
    return librosa.resample(clip.y, orig_sr=clip.sr, target_sr=SEED_SR).astype(np.float32)


def two_channel_image(y: np.ndarray, sr: int = SEED_SR) -> np.ndarray:
    """Seed 004's input, (frames, 64): 32-band dB mel, then MFCC 13 + chroma 12 + contrast 7 per frame.

    librosa's default frames (2048-sample FFT, 512-sample hop), so 3 s at 16 kHz gives 94 frames.
    Spectral contrast starts at 100 Hz (librosa's 200 Hz puts the sixth octave above the 8 kHz Nyquist).
    """
    power = np.abs(librosa.stft(y, n_fft=2048, hop_length=512)) ** 2
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr, n_mels=32), ref=np.max)
    mfcc = librosa.feature.mfcc(
        S=librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr)), n_mfcc=13
    )
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, tuning=0.0)
    contrast = librosa.feature.spectral_contrast(S=np.sqrt(power), sr=sr, fmin=100.0)
    stacked = np.vstack([mfcc, chroma, contrast])
    return np.nan_to_num(np.vstack([mel_db, stacked]).T.astype(np.float32))


@feature_set(
    "ravdess2ch",
    version=1,
    kind="sequence",
    uses=("sr",),
    description="seed 004: 3 s at 16 kHz; 32-band dB mel + (MFCC 13, chroma 12, contrast 7), 94 frames",
)
def ravdess2ch(clip: Clip) -> np.ndarray:
    return two_channel_image(fixed_duration(at_seed_rate(clip), SEED_SR, 3.0))


@feature_set(
    "mfcc40_mean",
    version=1,
    kind="sequence",
    uses=("sr",),
    description="seeds 000/001: mean of 40 MFCCs over 3 s from 0.5 s, as a 40-step sequence of 1 dim",
)
def mfcc40_mean(clip: Clip) -> np.ndarray:
    y = at_seed_rate(clip)
    start = int(0.5 * SEED_SR)
    part = (
        y[start : start + 3 * SEED_SR] if len(y) > start + 2048 else y
    )  # librosa.load(duration=3, offset=0.5)
    mfcc = librosa.feature.mfcc(y=part, sr=SEED_SR, n_mfcc=40)
    return np.nan_to_num(mfcc.mean(axis=1)[:, None].astype(np.float32))


FEATURE_MEANS = (
    [f"mfcc{i:02d}" for i in range(40)]
    + [f"chroma{i:02d}" for i in range(12)]
    + [f"contrast{i}" for i in range(7)]
    + [f"tonnetz{i}" for i in range(6)]
    + ["zcr", "rms"]
)


@feature_set(
    "feature_means",
    version=1,
    columns=FEATURE_MEANS,
    uses=(
        "sr",
        "win_length",
        "hop_length",
        "n_fft",
        "n_mels",
        "fmin",
        "fmax",
        "chroma_tuning",
        "contrast_fmin",
        "contrast_bands",
    ),
    description="seed 003: means of MFCC 40, chroma, contrast, tonnetz, ZCR, RMS (67 values)",
)
def feature_means(clip: Clip) -> np.ndarray:
    c = clip.config
    mfcc = librosa.feature.mfcc(S=clip.log_mel, n_mfcc=40)
    contrast = librosa.feature.spectral_contrast(
        S=clip.magnitude,
        sr=c.sr,
        n_fft=c.n_fft,
        hop_length=c.hop_length,
        fmin=c.contrast_fmin,
        n_bands=c.contrast_bands,
    )
    tonnetz = librosa.feature.tonnetz(chroma=clip.chroma, sr=c.sr)
    zcr = zero_crossing_rate(clip.y, frame_length=c.win_length, hop_length=c.hop_length)  # librosa's values
    rms = librosa.feature.rms(S=clip.magnitude, frame_length=c.n_fft, hop_length=c.hop_length)
    parts = [mfcc, clip.chroma, contrast[:7], tonnetz, zcr, rms]
    values = np.concatenate([p.mean(axis=1) for p in parts])
    if values.size != len(FEATURE_MEANS):  # contrast_bands set below 6 gives fewer rows
        values = np.concatenate([values, np.zeros(len(FEATURE_MEANS) - values.size)])[: len(FEATURE_MEANS)]
    return np.nan_to_num(values)
