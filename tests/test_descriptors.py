"""The speech bank's descriptors against references on signals whose truth is known, and its functionals
against numpy/scipy on random data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import scipy.stats

from features import GROUPS, Clip, FeatureError, get_feature_set, resolve
from features.rhythm import RHYTHM_NAMES, rhythm, runs
from features.spectral import SHAPE_NAMES, band_centres, bark_filters, formants, spectral_shape
from features.stats import RICH_STATS, rich_functionals
from features.voice import track_voice

SR, HOP = 16000, 160


def harmonic_voice(f0: np.ndarray, n_harmonics: int = 15, top: float | None = None,
                   tilt: bool = True) -> np.ndarray:
    """A sum of harmonics (amplitude 1/k, or 1 without ``tilt``) following the per-sample F0 contour ``f0``."""
    phase = 2 * np.pi * np.cumsum(f0) / SR
    y = np.zeros_like(phase)
    for k in range(1, n_harmonics + 1):
        if top is None or k * f0.max() < top:
            y += np.sin(k * phase) / (k if tilt else 1)
    return y / np.abs(y).max()


def n_frames(y: np.ndarray) -> int:
    return 1 + y.size // HOP


# --- prosody and voice quality ----------------------------------------------------------------------------

def test_f0_follows_a_known_contour():
    t = np.arange(int(1.5 * SR)) / SR
    contour = 150 + 60 * np.sin(2 * np.pi * 0.8 * t)  # 90..210 Hz, a male-to-female range
    y = 0.5 * harmonic_voice(contour) + 0.005 * np.random.default_rng(0).normal(size=t.size)
    track = track_voice(y.astype(np.float32), SR, HOP, n_frames(y))
    truth = 150 + 60 * np.sin(2 * np.pi * 0.8 * np.arange(n_frames(y)) * HOP / SR)
    inner = slice(3, -3)  # the edge frames are half padding
    assert track.voiced[inner].mean() > 0.97
    error = np.abs(track.f0[inner] / truth[inner] - 1)[track.voiced[inner]]
    assert np.median(error) < 0.005 and np.percentile(error, 99) < 0.02


def test_noise_and_silence_are_unvoiced():
    rng = np.random.default_rng(1)
    y = np.concatenate([0.3 * rng.normal(size=SR // 2), np.zeros(SR // 2)]).astype(np.float32)
    track = track_voice(y, SR, HOP, n_frames(y))
    assert track.voiced.mean() < 0.05
    assert np.all(track.f0[~track.voiced] == 0)


def pulse_train(period: float, jitter: float, shimmer: float, seconds: float, seed: int):
    """Impulses whose periods are ``period * (1 + U(-jitter, jitter))`` and amplitudes ``1 + U(-shimmer, ...)``;
    returns the signal and the true local jitter and shimmer (mean absolute consecutive difference over the
    mean)."""
    rng = np.random.default_rng(seed)
    count = int(seconds * SR / period)
    periods = period * (1 + rng.uniform(-jitter, jitter, count))
    amplitudes = 1 + rng.uniform(-shimmer, shimmer, count + 1)
    times = np.concatenate([[400.0], 400.0 + np.cumsum(periods)])
    y = np.zeros(int(times[-1]) + 800)
    for time, amplitude in zip(times, amplitudes, strict=True):  # band-limited impulses at fractional times
        n = np.arange(int(time) - 40, int(time) + 41)
        y[n] += amplitude * np.sinc(n - time) * np.hanning(83)[1:-1]
    true_jitter = np.mean(np.abs(np.diff(periods))) / periods.mean()
    pairs = 0.5 * (amplitudes[1:] + amplitudes[:-1])
    true_shimmer = np.mean(np.abs(np.diff(amplitudes)) / pairs)
    return y.astype(np.float32), true_jitter, true_shimmer


@pytest.mark.parametrize("jitter,shimmer", [(0.01, 0.05), (0.02, 0.1), (0.03, 0.15)])
def test_jitter_and_shimmer_of_a_perturbed_pulse_train(jitter, shimmer):
    y, true_jitter, true_shimmer = pulse_train(125.0, jitter, shimmer, 1.5, seed=3)  # 128 Hz
    track = track_voice(y, SR, HOP, n_frames(y))
    assert track.voiced.mean() > 0.8
    measured_jitter = track.jitter[track.voiced].mean()
    measured_shimmer = track.shimmer[track.voiced].mean()
    assert measured_jitter == pytest.approx(true_jitter, rel=0.2)
    assert measured_shimmer == pytest.approx(true_shimmer, rel=0.2)


def test_a_regular_pulse_train_has_almost_no_jitter_or_shimmer():
    y, _, _ = pulse_train(125.0, 0.0, 0.0, 1.0, seed=0)
    track = track_voice(y, SR, HOP, n_frames(y))
    assert track.jitter[track.voiced].mean() < 0.002
    assert track.shimmer[track.voiced].mean() < 0.005


@pytest.mark.parametrize("snr_db", [5.0, 10.0, 20.0])
def test_hnr_of_a_harmonic_signal_with_known_added_noise(snr_db):
    rng = np.random.default_rng(int(snr_db))
    t = np.arange(SR) / SR
    # flat harmonics and noise in the same band: any filtering in the tracker treats both alike
    harmonic = harmonic_voice(np.full(t.size, 200.0), n_harmonics=12, top=2500, tilt=False)
    noise = scipy.signal.sosfiltfilt(scipy.signal.butter(8, 2500, fs=SR, output="sos"), rng.normal(size=t.size))
    noise *= np.sqrt(np.mean(harmonic ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))
    y = (0.3 * (harmonic + noise)).astype(np.float32)
    track = track_voice(y, SR, HOP, n_frames(y))
    assert np.median(track.hnr[5:-5]) == pytest.approx(snr_db, abs=2.0)


# --- spectral descriptors -------------------------------------------------------------------------------

def tone(freq: float, amplitude: float = 0.3, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("freq", [150.0, 440.0, 1000.0, 2500.0, 5000.0])
def test_band_energies_of_tones(freq):
    clip = Clip(tone(freq))
    bands = (bark_filters(SR, clip.config.n_fft) @ clip.power)[:, 5:-5].mean(axis=1)
    centres = band_centres(SR)
    nearest = np.argsort(np.abs(centres - freq))[:3]  # the lowest bands are narrower than the window's lobe
    assert np.argmax(bands) in nearest[:2]
    assert bands[nearest].sum() > 0.95 * bands.sum()


def test_loudness_grows_with_amplitude_and_spectral_shape_of_a_tone():
    names = list(SHAPE_NAMES)
    quiet, loud = (spectral_shape(Clip(tone(1000.0, a)).power, SR)[:, 5:-5].mean(axis=1) for a in (0.05, 0.5))
    assert loud[names.index("loudness")] > quiet[names.index("loudness")]
    assert quiet[names.index("centroid")] == pytest.approx(1.0, abs=0.03)  # kHz
    assert quiet[names.index("rolloff50")] == pytest.approx(1000.0, abs=40.0)
    high = spectral_shape(Clip(tone(2000.0)).power, SR)[:, 5:-5].mean(axis=1)
    assert high[names.index("alpha_ratio")] < -20  # all energy in 1-5 kHz ...
    low = spectral_shape(Clip(tone(500.0)).power, SR)[:, 5:-5].mean(axis=1)
    assert low[names.index("alpha_ratio")] > 20  # ... or in 50-1000 Hz
    assert high[names.index("hammarberg")] < 0 < low[names.index("hammarberg")]
    noise = Clip(np.random.default_rng(0).normal(size=SR // 2).astype(np.float32) * 0.1)
    white = spectral_shape(noise.power, SR)[:, 5:-5].mean(axis=1)
    assert white[names.index("flatness")] > 0.4 > quiet[names.index("flatness")]
    assert white[names.index("entropy")] > 0.9 > quiet[names.index("entropy")]
    assert white[names.index("centroid")] == pytest.approx(4.0, abs=0.2)


def test_formants_of_a_synthetic_vowel():
    y, _, _ = pulse_train(125.0, 0.0, 0.0, 0.6, seed=0)
    for freq, bandwidth in ((700.0, 80.0), (1200.0, 90.0), (2600.0, 120.0)):  # an /a/-like vowel
        r = np.exp(-np.pi * bandwidth / SR)
        theta = 2 * np.pi * freq / SR
        y = scipy.signal.lfilter([1.0], [1.0, -2 * r * np.cos(theta), r * r], y)
    clip = Clip((0.3 * y / np.abs(y).max()).astype(np.float32))
    found = np.median(formants(clip.power, SR)[:, 5:-5], axis=1)
    np.testing.assert_allclose(found, [700.0, 1200.0, 2600.0], rtol=0.1)


# --- rhythm -------------------------------------------------------------------------------------------

def test_runs_and_segment_lengths():
    voiced = np.zeros(100, bool)
    voiced[10:30] = voiced[50:60] = True
    starts, lengths = runs(voiced)
    assert starts.tolist() == [10, 50] and lengths.tolist() == [20, 10]
    energy = np.full(100, -20.0)
    energy[:5] = energy[35:45] = energy[95:] = -80.0  # a 10-frame pause inside, silence at the edges
    values = dict(zip(RHYTHM_NAMES, rhythm(voiced, energy, 100.0), strict=True))
    assert values["voiced_seg_mean"] == pytest.approx(0.15) and values["voiced_seg_max"] == pytest.approx(0.2)
    assert values["unvoiced_seg_mean"] == pytest.approx(0.2)
    assert values["speech_duration"] == pytest.approx(0.9)
    assert values["pause_ratio"] == pytest.approx(0.1 / 0.9)
    assert values["voiced_seg_rate"] == pytest.approx(2 / 0.9)


# --- functionals ----------------------------------------------------------------------------------------

def test_rich_functionals_agree_with_numpy_and_scipy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 157)).cumsum(axis=1)
    rate = 100.0
    values = rich_functionals(x, rate).reshape(len(RICH_STATS), -1)
    got = dict(zip(RICH_STATS, values, strict=True))
    t = np.arange(x.shape[1]) / rate
    for i, row in enumerate(x):
        assert got["mean"][i] == pytest.approx(row.mean())
        assert got["std"][i] == pytest.approx(row.std())
        assert got["skew"][i] == pytest.approx(scipy.stats.skew(row))
        assert got["kurtosis"][i] == pytest.approx(scipy.stats.kurtosis(row, fisher=False))
        assert got["range"][i] == pytest.approx(np.ptp(row))
        assert got["maxpos"][i] == pytest.approx(np.argmax(row) / (row.size - 1))
        for p in (1, 5, 25, 50, 75, 95, 99):
            assert got[f"p{p:02d}"][i] == pytest.approx(np.percentile(row, p))
        assert got["iqr1_3"][i] == pytest.approx(np.percentile(row, 75) - np.percentile(row, 25))
        slope, offset = np.polyfit(t, row, 1)
        assert got["slope"][i] == pytest.approx(slope) and got["offset"][i] == pytest.approx(offset)
        assert got["linerr"][i] == pytest.approx(np.sqrt(np.mean((row - (slope * t + offset)) ** 2)))
        assert got["curvature"][i] == pytest.approx(np.polyfit(t, row, 2)[0])
        assert got["up75"][i] == pytest.approx(np.mean(row > row.min() + 0.75 * np.ptp(row)))
        assert got["risetime"][i] == pytest.approx(np.mean(np.diff(row) > 0))
        peaks, _ = scipy.signal.find_peaks(row)
        assert got["peakrate"][i] == pytest.approx(peaks.size / (row.size / rate))
        assert got["peakmean_rel"][i] == pytest.approx(row[peaks].mean() - row.mean())
        assert got["peakdist_mean"][i] == pytest.approx(np.diff(peaks).mean() / rate)
        assert got["peakdist_std"][i] == pytest.approx(np.diff(peaks).std() / rate)


@pytest.mark.parametrize("frames", [0, 1, 2, 3])
def test_rich_functionals_on_tiny_and_constant_inputs_are_finite(frames):
    for x in (np.ones((3, frames)), np.random.default_rng(0).normal(size=(3, frames))):
        values = rich_functionals(x, 100.0)
        assert values.shape == (3 * len(RICH_STATS),) and np.isfinite(values).all()


# --- the sets -----------------------------------------------------------------------------------------

BANK = ("cepstral", "spectral", "voice", "rhythm")


def test_all_is_the_speech_bank_and_classic_keeps_the_design_card():
    assert resolve("all") == list(BANK)
    assert resolve("classic") == ["mfcc", "chroma", "contrast", "tonnetz", "zcr", "rms", "mel"]
    assert set(GROUPS["all"]).isdisjoint(GROUPS["classic"])


@pytest.mark.parametrize("name", BANK)
def test_bank_sets_are_finite_and_fixed_length_even_on_silent_or_tiny_clips(name):
    spec = get_feature_set(name)
    t = np.arange(SR) / SR
    voice = (0.3 * harmonic_voice(140 + 20 * t)).astype(np.float32)
    lengths = set()
    for y in (voice, np.zeros(SR // 2, np.float32), voice[:200], voice[:1]):
        values, columns = spec.func(Clip(y))
        assert len(values) == len(columns) == len(set(columns)) and np.isfinite(values).all()
        lengths.add(len(values))
    assert len(lengths) == 1


def test_voice_set_measures_pitch_of_a_voice():
    y = (0.3 * harmonic_voice(np.full(SR, 220.0))).astype(np.float32)
    values, columns = get_feature_set("voice").func(Clip(y))
    f0_semitones = values[columns.index("voice_f0_st_p50")]
    assert 27.5 * 2 ** (f0_semitones / 12) == pytest.approx(220.0, rel=0.01)


# --- the optional openSMILE sets ------------------------------------------------------------------------

def test_opensmile_sets_without_the_extra_say_how_to_install(monkeypatch):
    import importlib

    from features import opensmile_sets

    real_import = importlib.import_module

    def no_opensmile(name, *args, **kwargs):
        if name == "opensmile":
            raise ImportError("No module named 'opensmile'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", no_opensmile)
    opensmile_sets._smile.cache_clear()
    with pytest.raises(FeatureError, match=r'pip install "\.\[opensmile\]"'):
        opensmile_sets.require(["mfcc", "compare"])
    with pytest.raises(FeatureError, match="opensmile"):
        get_feature_set("egemaps").func(Clip(tone(200.0)))
    opensmile_sets.require(["mfcc", "cepstral"])  # other sets need nothing
    assert "commercial" in get_feature_set("compare").description


def test_opensmile_never_crashes_a_process_that_loaded_tensorflow():
    pytest.importorskip("opensmile")
    code = ("import tensorflow\nimport numpy as np\nfrom features import Clip, get_feature_set\n"
            "y = (0.3 * np.sin(2 * np.pi * 200 * np.arange(16000) / 16000)).astype(np.float32)\n"
            "values, columns = get_feature_set('egemaps').func(Clip(y))\nassert len(values) == 88\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr[-2000:]  # a segfault is -11


def test_opensmile_sets_with_the_extra():
    pytest.importorskip("opensmile")
    values, columns = get_feature_set("egemaps").func(Clip(tone(200.0, seconds=1.0)))
    assert len(values) == len(columns) == 88 and columns[0].startswith("egemaps_")
