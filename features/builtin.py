"""The built-in feature sets, each a few lines over the shared clip analysis."""

from __future__ import annotations

from functools import lru_cache

import librosa
import numpy as np

from . import opensmile_sets  # noqa: F401  (registers the optional openSMILE sets)
from .analysis import Clip, safe_delta, zero_crossing_rate
from .registry import GROUPS, feature_set
from .rhythm import RHYTHM_NAMES, rhythm
from .spectral import (
    FORMANT_NAMES,
    N_BARK,
    SHAPE_NAMES,
    auditory_bands,
    formants,
    log_bands,
    rasta,
    spectral_shape,
)
from .stats import RICH_STATS, column_names, functionals, rich_functionals
from .voice import semitones, voice_track

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
    matrix = zero_crossing_rate(clip.y, frame_length=c.win_length, hop_length=c.hop_length)  # librosa's values
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


# --- the speech bank: broad descriptors, each with its delta, under the rich functionals ----------------------

RICH = ("sr", "win_length", "hop_length", "n_fft")
N_CEPSTRA = 20  # MFCC 1..19 (c0 duplicates the energy descriptors)
DELTA_WIDTH = 5


def _rich(clip: Clip, prefix: str, rows: list[str], matrix: np.ndarray, deltas: bool = True):
    """Rich functionals of ``matrix`` and (optionally) its delta; names ``prefix_row_stat``."""
    frame_rate = clip.sr / clip.config.hop_length
    if deltas:
        delta = safe_delta(matrix, width=DELTA_WIDTH) * frame_rate
        matrix = np.vstack([matrix, delta])
        rows = rows + [f"d_{r}" for r in rows]
    return rich_functionals(matrix, frame_rate), _rich_names(prefix, tuple(rows))


@lru_cache(maxsize=64)
def _rich_names(prefix: str, rows: tuple[str, ...]) -> list[str]:
    return column_names(prefix, rows, RICH_STATS)


@feature_set("cepstral", version=1, uses=MEL + ("n_mfcc",), _builtin=True,
             description="MFCC 1-19 and deltas under the rich functionals (percentiles, regression, peaks ...)")
def cepstral(clip: Clip):
    top = min(N_CEPSTRA, clip.config.n_mfcc)
    return _rich(clip, "cep", [f"{i:02d}" for i in range(1, top)], clip.mfcc[1:top])


@feature_set("spectral", version=1, uses=RICH, _builtin=True,
             description="26 Bark bands (log and RASTA), loudness, spectral shape and balance; rich functionals")
def spectral(clip: Clip):
    c = clip.config
    bands = auditory_bands(clip)
    logs = log_bands(bands)
    shape = spectral_shape(clip.power, c.sr, clip.y, c.hop_length, c.win_length, bands=bands,
                           magnitude=clip.magnitude)
    rows = ([f"bark{i:02d}" for i in range(N_BARK)] + [f"rasta{i:02d}" for i in range(N_BARK)]
            + list(SHAPE_NAMES))
    return _rich(clip, "spec", rows, np.vstack([logs, rasta(logs), shape]))


@feature_set("voice", version=1, uses=RICH, _builtin=True,
             description="F0 (semitones), HNR, jitter, shimmer, formants F1-F3 over voiced frames; voicing "
                         "probability over all frames; rich functionals")
def voice(clip: Clip):
    track = voice_track(clip)
    voiced = track.voiced
    formant_track = formants(clip.power[:, voiced], clip.sr) if voiced.any() else np.zeros((3, 0))
    voiced_rows = ["f0_st", "hnr", "jitter", "shimmer", "shimmer_db", *FORMANT_NAMES]
    voiced_matrix = np.vstack([semitones(track.f0[voiced]), track.hnr[voiced], track.jitter[voiced],
                               track.shimmer[voiced], track.shimmer_db[voiced], formant_track])
    a, names_a = _rich(clip, "voice", voiced_rows, voiced_matrix)
    b, names_b = _rich(clip, "voice", ["voicing", "hnr_all"], np.vstack([track.voicing, track.hnr]))
    return np.concatenate([a, b]), names_a + names_b


@feature_set("rhythm", version=1, uses=RICH, _builtin=True,
             description="voiced/unvoiced segment lengths, pauses, speech-rate proxy (syllable nuclei per second)")
def rhythm_set(clip: Clip):
    c = clip.config
    track = voice_track(clip)
    energy_db = 10.0 * np.log10(clip.power.sum(axis=0) + 1e-10)
    return rhythm(track.voiced, energy_db, c.sr / c.hop_length), [f"rhythm_{n}" for n in RHYTHM_NAMES]


GROUPS["classic"] = ("mfcc", "chroma", "contrast", "tonnetz", "zcr", "rms", "mel")
GROUPS["all"] = ("cepstral", "spectral", "voice", "rhythm")
