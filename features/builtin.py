"""The built-in feature sets, each a few lines over the shared clip analysis."""

from __future__ import annotations

import librosa
import numpy as np

from .analysis import Clip
from .registry import GROUPS, feature_set
from .stats import column_names, functionals

FRAME = ("sr", "win_length", "hop_length", "n_fft", "stats")
MEL = FRAME + ("n_mels", "fmin", "fmax")


def _summarise(clip: Clip, prefix: str, rows: list[str], matrix: np.ndarray):
    stats = clip.config.stats
    frame_rate = clip.sr / clip.config.hop_length
    return functionals(matrix, stats, frame_rate), column_names(prefix, rows, stats)


@feature_set("mfcc", version=1, uses=MEL + ("n_mfcc", "deltas"), _builtin=True,
             description="MFCC statistics (40 coefficients and their deltas by default)")
def mfcc(clip: Clip):
    n = clip.config.n_mfcc
    rows = [f"{i:02d}" for i in range(n)]
    matrix = clip.mfcc
    if clip.config.deltas:
        rows += [f"d{i:02d}" for i in range(n)]
        matrix = np.vstack([clip.mfcc, clip.mfcc_delta])
    return _summarise(clip, "mfcc", rows, matrix)


@feature_set("chroma", version=1, uses=FRAME + ("chroma_tuning",), _builtin=True,
             description="12 chroma bins from the STFT")
def chroma(clip: Clip):
    names = ["C", "Cs", "D", "Ds", "E", "F", "Fs", "G", "Gs", "A", "As", "B"]
    return _summarise(clip, "chroma", names, clip.chroma)


@feature_set("contrast", version=1, uses=FRAME + ("contrast_fmin", "contrast_bands"), _builtin=True,
             description="spectral contrast, 7 bands")
def contrast(clip: Clip):
    c = clip.config
    matrix = librosa.feature.spectral_contrast(S=clip.magnitude, sr=c.sr, n_fft=c.n_fft, hop_length=c.hop_length,
                                               fmin=c.contrast_fmin, n_bands=c.contrast_bands)
    return _summarise(clip, "contrast", [f"b{i}" for i in range(matrix.shape[0])], matrix)


@feature_set("tonnetz", version=1, uses=FRAME + ("chroma_tuning", "tonnetz_source"), _builtin=True,
             description="6 tonal-centroid dimensions (from STFT chroma; tonnetz_source='cqt' for the slow route)")
def tonnetz(clip: Clip):
    c = clip.config
    if c.tonnetz_source == "cqt":
        harmonic = librosa.effects.harmonic(clip.y)
        matrix = librosa.feature.tonnetz(y=harmonic, sr=c.sr, hop_length=c.hop_length)
    else:
        matrix = librosa.feature.tonnetz(chroma=clip.chroma, sr=c.sr)
    return _summarise(clip, "tonnetz", [str(i) for i in range(6)], matrix)


@feature_set("zcr", version=1, uses=FRAME, _builtin=True, description="zero-crossing rate")
def zcr(clip: Clip):
    c = clip.config
    matrix = librosa.feature.zero_crossing_rate(clip.y, frame_length=c.win_length, hop_length=c.hop_length,
                                                center=True)
    return _summarise(clip, "zcr", [""], matrix)


@feature_set("rms", version=1, uses=FRAME, _builtin=True, description="RMS energy")
def rms(clip: Clip):
    c = clip.config
    matrix = librosa.feature.rms(S=clip.magnitude, frame_length=c.n_fft, hop_length=c.hop_length)
    return _summarise(clip, "rms", [""], matrix)


@feature_set("mel", version=1, uses=MEL, _builtin=True, description="log-mel band statistics")
def mel(clip: Clip):
    return _summarise(clip, "mel", [f"{i:02d}" for i in range(clip.config.n_mels)], clip.log_mel)


@feature_set("mfcc_frames", version=1, kind="sequence", uses=MEL + ("n_mfcc", "deltas", "seq_pool"),
             _builtin=True, description="frame-level MFCC with deltas, for sequence models")
def mfcc_frames(clip: Clip) -> np.ndarray:
    matrix = np.vstack([clip.mfcc, clip.mfcc_delta]) if clip.config.deltas else clip.mfcc
    return pool_frames(matrix.T, clip.config.seq_pool)


def pool_frames(frames: np.ndarray, pool: int) -> np.ndarray:
    """Average each run of ``pool`` frames: (T, d) -> (ceil(T / pool), d)."""
    if pool == 1:
        return frames
    steps = -(-frames.shape[0] // pool)
    padded = np.full((steps * pool, frames.shape[1]), np.nan)
    padded[: frames.shape[0]] = frames
    return np.nanmean(padded.reshape(steps, pool, -1), axis=1)


GROUPS["all"] = ("mfcc", "chroma", "contrast", "tonnetz", "zcr", "rms", "mel")
