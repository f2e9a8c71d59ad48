import textwrap

import librosa
import numpy as np
import pandas as pd
import pytest

import features.bank as bank
from features import AnalysisConfig, Clip, FeatureError, extract, get_feature_set, pad_sequences
from features.plugins import PluginError
from features.sequences import sequence_lengths
from tests.helpers import write_tone

CONFIG = AnalysisConfig()
N_FFT, HOP, WIN = CONFIG.n_fft, CONFIG.hop_length, CONFIG.win_length


@pytest.fixture(scope="module")
def speechlike():
    rng = np.random.default_rng(1)
    t = np.arange(int(1.3 * 16000)) / 16000
    f0 = 140 + 30 * np.sin(2 * np.pi * 1.5 * t)
    y = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / 16000) / k for k in range(1, 12))
    return (0.1 * y * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.005 * rng.normal(size=t.size)).astype(np.float32)


def reference_matrices(y):
    """Each built-in set's frames computed by librosa's own functions from the waveform."""
    sr = 16000
    S = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP, win_length=WIN, pad_mode="constant"))
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40, n_fft=N_FFT, hop_length=HOP, win_length=WIN, n_mels=64,
                                pad_mode="constant")
    chroma = librosa.feature.chroma_stft(y=y, sr=sr, n_fft=N_FFT, hop_length=HOP, win_length=WIN, tuning=0.0,
                                         pad_mode="constant")
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=N_FFT, hop_length=HOP, win_length=WIN, n_mels=64,
                                         pad_mode="constant")
    return {
        "mfcc": np.vstack([mfcc, librosa.feature.delta(mfcc)]),
        "chroma": chroma,
        "contrast": librosa.feature.spectral_contrast(S=S, sr=sr, n_fft=N_FFT, hop_length=HOP, fmin=100.0),
        "tonnetz": librosa.feature.tonnetz(chroma=chroma, sr=sr),
        "zcr": librosa.feature.zero_crossing_rate(y, frame_length=WIN, hop_length=HOP),
        "rms": librosa.feature.rms(S=S, frame_length=N_FFT, hop_length=HOP),
        "mel": librosa.power_to_db(mel),
    }


@pytest.mark.parametrize("name", ["mfcc", "chroma", "contrast", "tonnetz", "zcr", "rms", "mel"])
def test_every_builtin_set_agrees_with_librosa(speechlike, name):
    values, columns = get_feature_set(name).func(Clip(speechlike, CONFIG))
    frames = reference_matrices(speechlike)[name]
    expected = np.concatenate([frames.mean(axis=1), frames.std(axis=1)])
    assert len(columns) == len(values) == len(expected) == 2 * frames.shape[0]
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(values, expected, rtol=1e-4, atol=1e-5 * scale)


def test_extra_functionals_and_names(speechlike):
    config = CONFIG.with_(stats=("mean", "std", "min", "max", "p10", "p50", "p90", "slope"))
    values, columns = get_feature_set("rms").func(Clip(speechlike, config))
    rms = librosa.feature.rms(S=np.abs(librosa.stft(speechlike, n_fft=N_FFT, hop_length=HOP, win_length=WIN,
                                                     pad_mode="constant")), frame_length=N_FFT, hop_length=HOP)[0]
    times = np.arange(rms.size) * HOP / 16000
    expected = [rms.mean(), rms.std(), rms.min(), rms.max(), *np.percentile(rms, [10, 50, 90]),
                np.polyfit(times, rms, 1)[0]]
    np.testing.assert_allclose(values, expected, rtol=1e-4, atol=1e-7)
    assert columns == ["rms_mean", "rms_std", "rms_min", "rms_max", "rms_p10", "rms_p50", "rms_p90", "rms_slope"]


def test_tonnetz_cqt_route_available(speechlike):
    values, _ = get_feature_set("tonnetz").func(Clip(speechlike, CONFIG.with_(tonnetz_source="cqt")))
    stft_values, _ = get_feature_set("tonnetz").func(Clip(speechlike, CONFIG))
    assert values.shape == stft_values.shape and not np.allclose(values, stft_values)


def test_clip_analysis_is_computed_once(speechlike, monkeypatch):
    calls = []
    original = librosa.stft
    monkeypatch.setattr(librosa, "stft", lambda *a, **k: calls.append(1) or original(*a, **k))
    clip = Clip(speechlike, CONFIG)
    for name in ("mfcc", "chroma", "contrast", "tonnetz", "rms", "mel"):
        get_feature_set(name).func(clip)
    assert len(calls) == 1


def _table(paths):
    return pd.DataFrame({"path": [str(p) for p in paths]})


SETS = ["mfcc", "chroma", "contrast", "tonnetz", "zcr", "rms", "mel"]


def test_silent_and_very_short_clips_give_finite_values_and_warnings(tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "silent.wav", np.zeros(16000), 16000)
    sf.write(tmp_path / "short.wav", 0.1 * np.random.default_rng(0).normal(size=200), 16000)
    feats = extract(_table([tmp_path / "silent.wav", tmp_path / "short.wav"]), SETS,
                    sequence_sets=["mfcc_frames"], use_cache=False, jobs=1)
    X, _ = feats.matrix(SETS)
    assert X.shape[0] == 2 and np.isfinite(X).all()
    assert all(np.isfinite(s).all() for s in feats.sequences["mfcc_frames"])
    warnings = " ".join(feats.report.warnings)
    assert "silent.wav: silent clip" in warnings and "short.wav: shorter than one analysis window" in warnings


def test_undecodable_file_is_skipped_and_reported(tmp_path):
    good = write_tone(tmp_path / "good.wav")
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    feats = extract(_table([good, bad]), ["rms"], use_cache=False, jobs=1)
    assert feats.table["path"].tolist() == [str(good)]
    assert feats.report.failed == [(str(bad), feats.report.failed[0][1])]
    assert feats.report.failed[0][1].startswith("cannot be decoded")


def test_user_feature_set_from_a_plugin_file(tmp_path, isolated_cache):
    plugin = tmp_path / "my_features.py"
    plugin.write_text(textwrap.dedent('''
        import numpy as np
        from features import feature_set

        @feature_set("loudness_test", version=1)
        def loudness(clip):
            return {"peak": float(np.abs(clip.y).max()), "energy": float(clip.power.sum())}
    '''))
    clips = [write_tone(tmp_path / f"{i}.wav", freq=200 + 50 * i) for i in range(3)]
    feats = extract(_table(clips), ["loudness_test", "rms"], plugins=[plugin], cache_dir=isolated_cache, jobs=1)
    X, columns = feats.matrix(["loudness_test", "rms"])
    assert columns[:2] == ["loudness_test_peak", "loudness_test_energy"]
    assert X.shape == (3, 4) and np.all(X[:, 0] > 0.25)


def test_plugin_errors_are_clear(tmp_path):
    with pytest.raises(FeatureError, match="plugin file not found"):
        extract(_table([]), ["rms"], plugins=[tmp_path / "nope.py"], use_cache=False)
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(PluginError, match="broken.py failed to load: RuntimeError: boom"):  # its bug: exit 1
        extract(_table([]), ["rms"], plugins=[broken], use_cache=False)


@pytest.fixture
def clips(tmp_path):
    return [write_tone(tmp_path / f"clip{i}.wav", freq=150 + 40 * i, seed=i) for i in range(6)]


def _count_decodes(monkeypatch):
    decoded = []
    original = bank.read_native
    monkeypatch.setattr(bank, "read_native", lambda path: decoded.append(path) or original(path))
    return decoded


def test_warm_cache_does_no_audio_work(clips, isolated_cache, monkeypatch):
    first = extract(_table(clips), SETS, sequence_sets=["mfcc_frames"], cache_dir=isolated_cache, jobs=1)
    decoded = _count_decodes(monkeypatch)
    second = extract(_table(clips), SETS, sequence_sets=["mfcc_frames"], cache_dir=isolated_cache, jobs=1)
    assert decoded == [] and second.report.cache_hits == 6 and second.report.computed == 0
    np.testing.assert_array_equal(first.matrix(SETS)[0], second.matrix(SETS)[0])
    for a, b in zip(first.sequences["mfcc_frames"], second.sequences["mfcc_frames"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_changed_file_and_new_set_recompute_only_what_changed(clips, isolated_cache, monkeypatch):
    extract(_table(clips), ["mfcc", "rms"], cache_dir=isolated_cache, jobs=1)
    write_tone(clips[2], freq=600, seconds=0.6)
    decoded = _count_decodes(monkeypatch)
    feats = extract(_table(clips), ["mfcc", "rms"], cache_dir=isolated_cache, jobs=1)
    assert decoded == [str(clips[2])] and feats.report.computed == 1

    computed_sets = []
    original = bank._compute_clip
    monkeypatch.setattr(bank, "_compute_clip",
                        lambda path, needed, config: computed_sets.append(needed) or original(path, needed, config))
    extract(_table(clips), ["mfcc", "rms", "chroma"], cache_dir=isolated_cache, jobs=1)
    assert computed_sets == [("chroma",)] * 6


def test_changed_parameters_change_the_cache_key(clips, isolated_cache, monkeypatch):
    extract(_table(clips), ["mfcc"], cache_dir=isolated_cache, jobs=1)
    decoded = _count_decodes(monkeypatch)
    feats = extract(_table(clips), ["mfcc"], AnalysisConfig(n_mfcc=13), cache_dir=isolated_cache, jobs=1)
    assert len(decoded) == 6 and feats.matrix(["mfcc"])[0].shape[1] == 13 * 2 * 2


def test_corrupt_or_truncated_cache_is_detected_and_recomputed(clips, isolated_cache):
    clean = extract(_table(clips), ["mfcc"], cache_dir=isolated_cache, jobs=1).matrix(["mfcc"])[0]
    packs = sorted((isolated_cache / "features" / "mfcc").rglob("pack-*.npz"))
    assert len(packs) == 1
    raw = bytearray(packs[0].read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # flip one byte inside the stored numbers
    packs[0].write_bytes(bytes(raw))
    feats = extract(_table(clips), ["mfcc"], cache_dir=isolated_cache, jobs=1)
    assert any("corrupt" in p for p in feats.report.cache_problems) and feats.report.computed == 6
    np.testing.assert_array_equal(feats.matrix(["mfcc"])[0], clean)

    pack = sorted((isolated_cache / "features" / "mfcc").rglob("pack-*.npz"))[0]
    pack.write_bytes(pack.read_bytes()[:100])  # truncated
    feats = extract(_table(clips), ["mfcc"], cache_dir=isolated_cache, jobs=1)
    assert feats.report.cache_problems and feats.report.computed == 6
    np.testing.assert_array_equal(feats.matrix(["mfcc"])[0], clean)


def test_interrupted_extraction_keeps_finished_chunks(tmp_path, isolated_cache, monkeypatch):
    many = [write_tone(tmp_path / f"m{i}.wav", seed=i, seconds=0.2) for i in range(20)]
    calls = []
    original = bank._compute_chunk

    def interrupt_on_second_chunk(tasks, config, plugin_paths):
        calls.append(len(tasks))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(tasks, config, plugin_paths)

    monkeypatch.setattr(bank, "_compute_chunk", interrupt_on_second_chunk)
    with pytest.raises(KeyboardInterrupt, match="interrupted: 8 of 20 files"):
        extract(_table(many), ["rms"], cache_dir=isolated_cache, jobs=1)
    monkeypatch.setattr(bank, "_compute_chunk", original)
    feats = extract(_table(many), ["rms"], cache_dir=isolated_cache, jobs=1)
    assert feats.report.cache_hits == 8 and feats.report.computed == 12


def test_a_clip_whose_set_names_other_columns_fails_alone_while_the_names_travel_once_per_chunk(
        tmp_path, isolated_cache, monkeypatch):
    """A worker sends a set's column names with the first clip of a chunk and then only when they change (the
    bank's 7,431 names cost more to pickle than its values); a clip whose names differ still fails, naming the
    set and the column, and the clips after it in the chunk keep the right columns and values."""
    from features.registry import REGISTRY, feature_set

    @feature_set("long_or_short", replace=True)
    def long_or_short(clip):  # names that depend on the clip: the short clip names another column
        return {"seconds": clip.y.size / clip.sr, "long" if clip.y.size > 0.35 * clip.sr else "short": 1.0}

    sent = []
    original = bank._compute_chunk

    def spy(tasks, config, plugin_paths):
        outcome = original(tasks, config, plugin_paths)
        sent.extend(results["long_or_short"][1] for results, _, _ in outcome)
        return outcome

    monkeypatch.setattr(bank, "_compute_chunk", spy)
    try:
        files = [write_tone(tmp_path / "a.wav", seed=1), write_tone(tmp_path / "b.wav", seconds=0.3, seed=2),
                 write_tone(tmp_path / "c.wav", seed=3), write_tone(tmp_path / "d.wav", seed=4)]
        feats = extract(_table(files), ["long_or_short"], cache_dir=isolated_cache, jobs=1)
    finally:
        REGISTRY.pop("long_or_short", None)
    long_names = ["long_or_short_seconds", "long_or_short_long"]
    assert sent[0] == long_names and sent[1] == ["long_or_short_seconds", "long_or_short_short"]
    assert sent[2] == long_names and sent[3] == bank.SAME_COLUMNS  # d repeats c's names: not sent again
    assert [p for p, _ in feats.report.failed] == [str(files[1])]
    assert "returned column 'long_or_short_short' where the others have 'long_or_short_long'" in \
        feats.report.failed[0][1]
    values, columns = feats.matrix(["long_or_short"])
    assert columns == long_names
    np.testing.assert_allclose(values, [[0.4, 1.0]] * 3)


def test_content_hash_survives_a_touch_and_a_move(clips, tmp_path, isolated_cache, monkeypatch):
    import os
    import shutil

    extract(_table(clips), ["rms"], cache_dir=isolated_cache, content_hash=True, jobs=1)
    moved = tmp_path / "moved"
    moved.mkdir()
    copies = [shutil.copy(c, moved / c.name) for c in clips]
    os.utime(copies[0], ns=(1, 1))
    decoded = _count_decodes(monkeypatch)
    feats = extract(_table(copies), ["rms"], cache_dir=isolated_cache, content_hash=True, jobs=1)
    assert decoded == [] and feats.report.cache_hits == len(clips)


def test_no_cache_writes_nothing(clips, isolated_cache):
    extract(_table(clips), ["rms"], cache_dir=isolated_cache, use_cache=False, jobs=1)
    assert not (isolated_cache / "features").exists()


def test_parallel_extraction_equals_serial(clips, tmp_path):
    serial = extract(_table(clips * 3), ["mfcc", "chroma"], cache_dir=tmp_path / "a", jobs=1)
    parallel = extract(_table(clips * 3), ["mfcc", "chroma"], cache_dir=tmp_path / "b", jobs=2)
    np.testing.assert_array_equal(serial.matrix(["mfcc", "chroma"])[0], parallel.matrix(["mfcc", "chroma"])[0])


def test_pad_sequences_keeps_true_lengths():
    seqs = [np.ones((3, 2)), np.ones((7, 2)), np.ones((5, 2))]
    X = pad_sequences(seqs, 5)
    assert X.shape == (3, 5, 2)
    assert sequence_lengths(X).tolist() == [3, 5, 5]
    assert np.isnan(X[0, 3:]).all() and not np.isnan(X[1]).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_crossing_rate_is_librosas_bit_for_bit(dtype):
    """The numpy count (no numba kernel to compile) against librosa's, on signals with exact zeros, negative
    zeros, values at and within the threshold, clips shorter than a frame and several framings."""
    from features.analysis import zero_crossing_rate

    rng = np.random.default_rng(7)
    for trial in range(60):
        n = int(rng.integers(1, 3000))
        y = (rng.normal(size=n) * rng.choice([1e-11, 1e-3, 1.0])).astype(dtype)
        y[rng.random(n) < 0.1] = 0.0
        y[rng.random(n) < 0.05] = -0.0
        y[rng.random(n) < 0.05] = 1e-10
        frame, hop = int(rng.choice([4, 400, 512])), int(rng.choice([1, 160, 256]))
        expected = librosa.feature.zero_crossing_rate(y, frame_length=frame, hop_length=hop, center=True)
        got = zero_crossing_rate(y, frame, hop)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        assert got.tobytes() == expected.tobytes(), (trial, n, frame, hop)
    with pytest.raises(librosa.util.exceptions.ParameterError):
        zero_crossing_rate(np.array([0.0, np.nan, 1.0]), 4, 2)  # librosa's own check on non-finite audio
