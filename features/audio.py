"""Reading audio: any decodable file, mono, at the analysis rate, or a clear error naming the file."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from .errors import UserInputError

DEFAULT_SR = 16000
# The suffixes a folder walk takes for audio (each file is then read by content, whatever its suffix says).
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".snd",
                              ".m4a", ".opus", ".wv", ".caf", ".w64", ".rf64"})


class AudioError(UserInputError):
    """A file that cannot be used as audio; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, read without decoding the samples."""

    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def probe(path: str | os.PathLike) -> AudioInfo:
    """Read a file's header: rate, channels, length and container format.

    Detection is by content, not by extension (a FLAC file named ``.wav`` is read as FLAC).

    Raises
    ------
    AudioError
        For a missing, empty, undecodable or zero-length file.
    """
    path = os.fspath(path)
    _check_size(path)
    try:
        info = sf.info(path)
    except Exception as sf_error:  # soundfile raises several types for unreadable input
        return _probe_audioread(path, sf_error)
    if info.frames <= 0:
        raise AudioError(path, "empty: the file holds no audio samples")
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames), str(info.format))


def read_audio(path: str | os.PathLike, sr: int | None = DEFAULT_SR) -> tuple[np.ndarray, int]:
    """Decode a file to a mono float32 waveform at rate ``sr``.

    Parameters
    ----------
    path : file to read; soundfile decodes it by content, audioread is the fallback.
    sr : target rate in Hz; ``None`` keeps the file's own rate.

    Returns
    -------
    y : np.ndarray, shape (n,), float32, mixed down to mono.
    sr : the rate of ``y``.
    """
    y, native_sr = read_native(path)
    if sr is not None and native_sr != sr:
        y = resample(y, native_sr, sr)
        native_sr = sr
    return y, native_sr


def read_native(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Decode a file to mono float32 at its own sample rate."""
    path = os.fspath(path)
    _check_size(path)
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as sf_error:
        data, rate = _read_audioread(path, sf_error)
    if data.shape[0] == 0:
        raise AudioError(path, "empty: the file holds no audio samples")
    y = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(y)):
        raise AudioError(path, "cannot be decoded: samples are not finite numbers")
    return np.ascontiguousarray(y, dtype=np.float32), int(rate)


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling (soxr, high quality), float32 in and out."""
    if orig_sr == target_sr:
        return y
    import soxr  # a librosa dependency; imported here to keep module import light

    return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def _check_size(path: str) -> None:
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        raise AudioError(path, "file not found") from None
    except OSError as error:
        raise AudioError(path, f"cannot be read: {error.strerror or error}") from None
    if size == 0:
        raise AudioError(path, "empty: zero-byte file")


def _describe_sf_error(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    # soundfile prefixes its messages with the path; keep only libsndfile's reason
    return text.split(": ", 1)[-1] if ": " in text else text


def _audioread_decode(path: str) -> tuple[np.ndarray, int, int]:
    import audioread

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with audioread.audio_open(path) as handle:
            rate, channels = handle.samplerate, handle.channels
            chunks = [np.frombuffer(block, dtype="<i2") for block in handle]
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype="<i2")
    return pcm, int(rate), int(channels)


def _read_audioread(path: str, sf_error: Exception) -> tuple[np.ndarray, int]:
    try:
        pcm, rate, channels = _audioread_decode(path)
    except Exception:
        raise AudioError(path, f"cannot be decoded ({_describe_sf_error(sf_error)})") from None
    if channels < 1 or pcm.size < channels:
        raise AudioError(path, "empty: the file holds no audio samples")
    frames = pcm.size // channels
    data = pcm[: frames * channels].reshape(frames, channels).astype(np.float32) / 32768.0
    return data, rate


def _probe_audioread(path: str, sf_error: Exception) -> AudioInfo:
    data, rate = _read_audioread(path, sf_error)
    return AudioInfo(rate, data.shape[1], data.shape[0], "audioread")
