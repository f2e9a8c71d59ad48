"""Each recording condition does what it says, measured on signals with known properties."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.run.robustness import DEFAULT_CONDITIONS, parse_conditions
from features import degrade as d
from features.degrade import Condition, ConditionError

SR = 16000


def speech_like(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """A harmonic tone with a syllable-rate envelope and a little noise: broadband, non-stationary."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 140 + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    y = sum(np.sin(k * phase) / k for k in range(1, 30))
    y *= 0.5 + 0.5 * np.abs(np.sin(2 * np.pi * 2.5 * t))
    return (0.2 * y / np.abs(y).max() + 0.002 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("kind", ["white", "pink", "babble"])
@pytest.mark.parametrize("target", [20.0, 5.0, 0.0, -5.0])
def test_noise_is_added_at_the_target_snr_within_half_a_db(kind, target):
    y = speech_like()
    sources = [speech_like(1.3, seed=s) for s in (1, 2, 3, 4)]
    c = Condition(kind, target).validate()
    noisy = d.apply(c, y, SR, d.condition_seed(0, c, "clip"), sources)
    assert noisy.shape == y.shape and noisy.dtype == np.float32
    assert abs(d.snr_db(y, noisy) - target) < 0.5


def test_pink_noise_falls_3_db_per_octave_and_white_is_flat():
    rng = np.random.default_rng(0)
    n = 2 ** 18
    for noise, slope in ((d.pink_noise(n, rng), -3.0), (d.white_noise(n, rng), 0.0)):
        power = np.abs(np.fft.rfft(noise)) ** 2
        f = np.fft.rfftfreq(n, 1 / SR)
        low = power[(f > 250) & (f < 500)].mean()
        high = power[(f > 2000) & (f < 4000)].mean()  # three octaves up
        assert abs(10 * np.log10(high / low) / 3 - slope) < 0.5


def test_the_telephone_copy_keeps_nothing_above_4_khz_and_little_below_300_hz():
    broadband = np.random.default_rng(1).standard_normal(2 * SR).astype(np.float32) * 0.1
    phone = d.telephone(broadband, SR)
    assert phone.shape == broadband.shape
    assert d.band_energy_db(phone, SR, 4000) < -40
    assert d.band_energy_db(broadband, SR, 4000) > -4  # the input had half its energy there
    spectrum = np.abs(np.fft.rfft(phone)) ** 2
    f = np.fft.rfftfreq(len(phone), 1 / SR)
    in_band = spectrum[(f > 500) & (f < 3000)].mean()
    assert spectrum[(f > 20) & (f < 150)].mean() < in_band * 1e-3


def test_mu_law_round_trip_is_8_bit_companding():
    x = np.linspace(-1, 1, 10001)
    out = d.mu_law_round_trip(x)
    levels = np.unique(np.round(out, 9))
    assert len(levels) <= 255
    # mu-law spends its codes on quiet samples: fine absolute steps there, a constant relative error above
    quiet, loud = np.abs(x) < 0.002, np.abs(x) > 0.01
    assert np.abs(out - x)[quiet].max() < 1.5e-4
    relative = np.abs(out - x)[loud] / np.abs(x[loud])
    assert 0.01 < relative.max() < 0.03


@pytest.mark.parametrize("rt60", [0.3, 0.6, 1.2])
def test_the_impulse_response_has_the_stated_rt60_within_10_percent(rt60):
    h = d.room_impulse_response(rt60, SR, np.random.default_rng(7))
    assert abs(d.rt60_schroeder(h, SR) - rt60) / rt60 < 0.10
    assert h[0] == 1.0


def test_reverberation_smears_a_click_over_the_rt60_and_keeps_the_level():
    y = np.zeros(SR, np.float32)
    y[100] = 1.0
    wet = d.reverberate(y, d.room_impulse_response(0.5, SR, np.random.default_rng(0)))
    assert np.sqrt(np.mean(wet.astype(float) ** 2)) == pytest.approx(np.sqrt(np.mean(y.astype(float) ** 2)),
                                                                     rel=1e-4)
    assert np.count_nonzero(np.abs(wet) > 1e-4) > 0.2 * SR  # a tail of hundreds of milliseconds


def test_clipping_cuts_every_sample_beyond_the_stated_share_of_the_peak():
    y = speech_like()
    peak = np.abs(y).max()
    out = d.hard_clip(y, 0.3)
    beyond = np.abs(y) > 0.3 * peak
    assert 0.01 < beyond.mean() < 0.9
    np.testing.assert_allclose(np.abs(out[beyond]), peak, rtol=1e-5)  # flat at the rail (scaled back to the peak)
    np.testing.assert_allclose(out[~beyond], y[~beyond] / 0.3, rtol=1e-5)  # the rest only scaled
    assert np.abs(out).max() == pytest.approx(peak, rel=1e-6)


def test_a_level_change_scales_the_rms_by_the_gain():
    y = speech_like()
    out = d.change_level(y, -20)
    assert 20 * np.log10(np.sqrt(np.mean(out.astype(float) ** 2)) / np.sqrt(np.mean(y.astype(float) ** 2))) == \
        pytest.approx(-20, abs=1e-3)


def test_each_codec_the_installed_libsndfile_writes_is_lossy_at_a_low_bitrate():
    codecs = d.available_codecs()
    print("codecs written by this libsndfile:", codecs)  # noqa: T201 - says which ran
    if not codecs:
        pytest.skip("the installed libsndfile writes no lossy codec")
    y = speech_like()
    for codec in codecs:
        out, kbps = d.codec_round_trip(y, SR, codec)
        assert out.shape == y.shape
        assert kbps < 64, codec
        snr = d.snr_db(y, out)
        assert 3 < snr < 60, (codec, snr)  # aligned (delay removed) and lossy


def test_the_same_seed_and_clip_give_the_same_copy_and_another_clip_another():
    y = speech_like()
    c = Condition("white", 10.0)
    a = d.apply(c, y, SR, d.condition_seed(3, c, "clip-a"))
    assert np.array_equal(a, d.apply(c, y, SR, d.condition_seed(3, c, "clip-a")))
    assert not np.array_equal(a, d.apply(c, y, SR, d.condition_seed(3, c, "clip-b")))
    assert not np.array_equal(a, d.apply(c, y, SR, d.condition_seed(4, c, "clip-a")))


def test_babble_is_made_of_the_given_sources_only():
    n = SR
    tones = [np.sin(2 * np.pi * f * np.arange(n) / SR) for f in (500.0, 1000.0)]
    out = d.babble_noise(tones, n, np.random.default_rng(0), talkers=4)
    spectrum = np.abs(np.fft.rfft(out))
    f = np.fft.rfftfreq(n, 1 / SR)
    assert spectrum[(np.abs(f - 500) < 3) | (np.abs(f - 1000) < 3)].sum() > 0.99 * spectrum.sum()
    with pytest.raises(ConditionError):
        d.babble_noise([np.zeros(10)], n, np.random.default_rng(0))


def test_condition_names_parse_and_bad_ones_are_one_line_errors():
    conditions, notes = parse_conditions(["white@10", "telephone", "reverb@0.6", "clip@0.3", "white@10"])
    assert [c.name for c in conditions] == ["white@10", "telephone", "reverb@0.6", "clip@0.3"]
    default, _ = parse_conditions(["default"])
    expected = [n for n in DEFAULT_CONDITIONS if n not in d.CODECS or n in d.available_codecs()]
    assert [c.name for c in default] == expected
    for bad, words in (("hiss@10", "unknown kind"), ("white", "give a parameter"), ("white@loud", "not a number"),
                       ("clip@1.5", "share of the peak"), ("reverb@0", "RT60"), ("telephone@3", "takes no parameter")):
        with pytest.raises(ConditionError, match=words):
            parse_conditions([bad])


def test_perf_degrade_reports_every_condition_against_the_clean_extraction(shared_cache, small_corpus_dir, capsys):
    from benchmark.perf.degrade import run_perf_degrade

    figures = run_perf_degrade(["white@10", "telephone"], dataset="synthetic", data_dir=str(small_corpus_dir),
                               n_files=3, features=("rms",), profile="small")
    assert figures["clips"] == 3 and set(figures["conditions"]) == {"white@10", "telephone"}
    assert all(c["share_of_clean"] >= 1.0 for c in figures["conditions"].values())  # degrading adds, never saves
    assert figures["robust_feature_multiple"] == pytest.approx(
        1 + sum(c["share_of_clean"] for c in figures["conditions"].values()))
    assert "telephone" in capsys.readouterr().out


def test_perf_degrade_times_the_sets_a_default_robustness_run_computes_per_copy():
    """The default models' inputs: the bank for the SVM and the DNN, XGBoost's classic sets, the LSTM's frames,
    each once, so that the estimate is the cost of that run's copies and not of the bank alone."""
    from benchmark.perf.degrade import run_sets
    from features import GROUPS
    from models.registry import get_model

    sets = run_sets()
    assert len(sets) == len(set(sets))
    assert set(GROUPS["all"]) <= set(sets) and set(GROUPS["classic"]) <= set(sets)
    assert get_model("lstm").default_input in sets
    assert run_sets(("svm",)) == list(GROUPS["all"])
    assert run_sets(("svm",), bank=("mfcc",)) == ["mfcc"]


def test_editing_the_copy_making_code_rekeys_the_copies_not_the_clean_features(monkeypatch, tmp_path):
    """degrade.py keys the degraded (and augmented) copies' caches; the clean sets' keys never read it, so an
    edit there recomputes no user's bank."""
    from pathlib import Path

    import features.registry as registry
    from features.robust import Task, task_key

    def digests():
        registry.module_digest.cache_clear()
        return registry._helpers_digest.__wrapped__(), registry.module_digest("degrade.py", "robust.py")

    clip = tmp_path / "a.wav"
    clip.write_bytes(b"RIFF")
    task = Task(str(clip), d.condition_from_name("white@10"), "a")
    clean, copies = digests()
    key = task_key(task, 0)
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes",
                        lambda self: original(self) + (b"\n# edited" if self.name == "degrade.py" else b""))
    try:
        edited_clean, edited_copies = digests()
        assert edited_clean == clean
        assert edited_copies != copies
        assert task_key(task, 0) != key
    finally:
        monkeypatch.undo()
        registry.module_digest.cache_clear()
    assert "degrade.py" in registry.NOT_FEATURE_CODE and "analysis.py" not in registry.NOT_FEATURE_CODE
