import numpy as np
import pytest
import soundfile as sf

from features.audio import AudioError, probe, read_audio
from tests.helpers import write_tone


def test_reads_wav_at_analysis_rate(tmp_path):
    path = write_tone(tmp_path / "a.wav", seconds=0.5, sr=16000)
    y, sr = read_audio(path)
    assert sr == 16000 and y.dtype == np.float32 and y.shape == (8000,)


def test_resamples_odd_rate_to_16k(tmp_path):
    path = write_tone(tmp_path / "odd.wav", seconds=1.0, sr=11025, freq=440)
    y, sr = read_audio(path, sr=16000)
    assert sr == 16000 and abs(len(y) - 16000) <= 2
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * 16000 / len(y) - 440) < 3  # the tone survives resampling in place


def test_stereo_is_mixed_to_mono(tmp_path):
    path = write_tone(tmp_path / "st.wav", channels=2)
    left, _ = sf.read(path, always_2d=True)
    y, _ = read_audio(path)
    assert y.ndim == 1
    np.testing.assert_allclose(y, left.mean(axis=1), atol=1e-4)


@pytest.mark.parametrize("fmt", ["FLAC", "AIFF"])
def test_other_format_behind_wav_extension_is_read_by_content(tmp_path, fmt):
    path = write_tone(tmp_path / "disguised.wav", fmt=fmt, subtype="PCM_16")
    info = probe(path)
    assert info.format == fmt and info.frames > 0
    y, _ = read_audio(path)
    assert y.size == info.frames


@pytest.mark.parametrize("content,reason", [
    (b"", "empty: zero-byte file"),
    (b"this is a text file, not audio\n" * 20, "cannot be decoded"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "cannot be decoded"),  # header cut short
])
def test_bad_files_raise_clear_errors_naming_the_file(tmp_path, content, reason):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError) as error:
        read_audio(path)
    assert str(path) in str(error.value) and error.value.reason.startswith(reason)
    with pytest.raises(AudioError):
        probe(path)


def test_wav_with_no_samples_is_empty(tmp_path):
    path = tmp_path / "nothing.wav"
    sf.write(path, np.zeros(0), 16000)
    with pytest.raises(AudioError, match="empty"):
        probe(path)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="file not found"):
        read_audio(tmp_path / "nope.wav")
