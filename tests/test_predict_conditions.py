"""Predictions on audio the model cannot judge (issue 20, class 9) and recording conditions (issue 22).

The estimates of level, SNR and bandwidth are checked on generated signals whose values are known; a bundle
trained on speech-like clips flags silence, a 10 ms clip, very quiet and very loud clips, noise and a telephone
band, in its frame and in the JSON and CSV; long recordings are windowed by default; a robustness profile from a
run travels in the bundle, checksummed and bounded, and gives the expected UAR of the nearest condition.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from benchmark.apps import recording
from benchmark.apps.bundle import MANIFEST, RECORDING_MEMBER, ROBUSTNESS_MEMBER, Bundle, BundleError
from features import degrade

SR = 16000
EMOTIONS = {"angry": 260.0, "sad": 110.0, "happy": 180.0}
SPEAKERS = ("s1", "s2", "s3", "s4")


def voice(f0: float, seconds: float = 1.0, sr: int = SR, seed: int = 0, pause: float = 0.3) -> np.ndarray:
    """A speech-like clip: a harmonic voice (every harmonic to Nyquist, amplitude 1/k) with a syllable rhythm,
    a pause of ``pause`` of its length in the middle, and a faint noise floor (60 dB under the voice)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 4 * t))) / sr
    harmonics = int((sr / 2) / (f0 * 1.06))
    y = sum(np.sin(k * phase) / k for k in range(1, harmonics + 1)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t) ** 2)
    y = 0.1 * y / np.sqrt(np.mean(y ** 2))
    middle = np.abs(t - seconds / 2) < pause * seconds / 2
    y[middle] = 0.0
    return (y + 1e-4 * rng.normal(size=t.size)).astype(np.float32)


def brickwall(y: np.ndarray, cutoff: float, sr: int = SR) -> np.ndarray:
    spectrum = np.fft.rfft(y)
    spectrum[np.fft.rfftfreq(len(y), 1 / sr) > cutoff] = 0
    return np.fft.irfft(spectrum, len(y)).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
# The estimates, on signals whose level, SNR and bandwidth are known


@pytest.mark.parametrize("amplitude", [1.0, 0.1, 0.001])
def test_level_of_a_sine_is_its_rms_in_dbfs_and_pauses_do_not_lower_it(amplitude):
    t = np.arange(SR) / SR
    y = amplitude * np.sin(2 * np.pi * 440 * t)
    expected = 20 * np.log10(amplitude / np.sqrt(2))
    assert recording.estimate(y, SR)["level_dbfs"] == pytest.approx(expected, abs=0.1)
    paused = y.copy()
    paused[SR // 4: SR // 2] = 0  # a quarter of silence: the louder half is still the sine
    assert recording.estimate(paused, SR)["level_dbfs"] == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize("snr", [20.0, 10.0, 5.0, 0.0])
@pytest.mark.parametrize("kind, tolerance", [("white", 1.0), ("pink", 4.0)])  # pink reads high: see recording
def test_snr_estimate_is_within_tolerance_of_the_added_noise(snr, kind, tolerance):
    rng = np.random.default_rng(int(snr) + 7)
    clean = voice(150.0, seconds=2.0, seed=1)
    noise = degrade.white_noise(len(clean), rng) if kind == "white" else degrade.pink_noise(len(clean), rng)
    noisy = degrade.add_noise(clean, noise, snr)
    assert degrade.snr_db(clean, noisy) == pytest.approx(snr, abs=0.01)  # the definition the estimate targets
    estimated = recording.estimate(noisy, SR)["snr_db"]
    assert abs(estimated - snr) <= tolerance, (kind, snr, estimated)


def test_snr_of_a_clean_clip_is_high_and_of_silence_is_the_floor():
    assert recording.estimate(voice(150.0), SR)["snr_db"] > 40
    silent = recording.estimate(np.zeros(SR), SR)
    assert silent["silent"] and silent["snr_db"] == recording.SNR_RANGE[0]
    assert not recording.estimate(voice(150.0), SR)["silent"]


@pytest.mark.parametrize("cutoff", [2000.0, 3400.0, 5000.0, 7000.0])
def test_bandwidth_estimate_finds_a_brickwall_cutoff(cutoff):
    rng = np.random.default_rng(int(cutoff))
    for y in (brickwall(rng.normal(size=2 * SR), cutoff), brickwall(voice(120.0, seconds=2.0), cutoff)):
        assert recording.bandwidth(y, SR) == pytest.approx(cutoff, abs=100)


def test_bandwidth_of_wideband_speech_and_of_its_telephone_copy():
    y = voice(150.0, seconds=2.0)
    assert recording.bandwidth(y, SR) > 7000
    phone = degrade.telephone(y, SR)
    assert 3000 <= recording.bandwidth(phone, SR) <= 3700  # the channel's 3400 Hz edge


def test_distribution_keeps_percentiles_and_leaves_silent_clips_out():
    stats = [recording.estimate(voice(150.0, seed=k) * (k + 1), SR) for k in range(5)]
    stats.append(recording.estimate(np.zeros(SR), SR))
    profile = recording.distribution(stats, [1.0] * 6)
    assert profile["n_clips"] == 6 and profile["n_silent"] == 1
    levels = [s["level_dbfs"] for s in stats[:5]]
    assert profile["level_dbfs"]["min"] == pytest.approx(min(levels))
    assert profile["level_dbfs"]["percentiles"][2] == pytest.approx(np.median(levels), abs=1e-3)
    assert recording.from_bytes(recording.to_bytes(profile)) == profile
    with pytest.raises(ValueError, match="malformed"):
        recording.from_bytes(json.dumps({**profile, "snr_db": {"min": "x"}}).encode())


# ---------------------------------------------------------------------------------------------------------------
# A bundle trained on speech-like clips


def make_voice_corpus(root: Path, clips: int = 3) -> Path:
    rows = []
    for s, speaker in enumerate(SPEAKERS):
        for emotion, f0 in EMOTIONS.items():
            for k in range(clips):
                path = root / "wav" / f"{speaker}_{emotion}_{k}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                gain = 10 ** ((3 * s - 4 * k) / 20)  # training levels spread over about 17 dB
                sf.write(path, gain * voice(f0 * (1 + 0.03 * s) + 5 * k, seed=10 * s + k), SR, subtype="FLOAT")
                rows.append({"path": f"wav/{path.name}", "emotion": emotion, "speaker": speaker})
    manifest = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


@pytest.fixture(scope="module")
def voice_corpus(tmp_path_factory) -> Path:
    return make_voice_corpus(tmp_path_factory.mktemp("voices"))


@pytest.fixture(scope="module")
def voice_bundle(voice_corpus, tmp_path_factory) -> tuple[Bundle, Path]:
    from tests.helpers import train_tiny

    folder = tmp_path_factory.mktemp("voice-bundle")
    path = train_tiny(voice_corpus, "svm", cache_dir=folder / "cache").save(folder / "svm.zip")
    return Bundle.load(path), path


def _clip(emotion: str, k: int = 0, speaker: int = 0) -> np.ndarray:
    gain = 10 ** ((3 * speaker - 4 * k) / 20)
    return gain * voice(EMOTIONS[emotion] * (1 + 0.03 * speaker) + 5 * k, seed=10 * speaker + k)


def test_bundle_records_its_training_clips_recording_conditions(voice_bundle):
    bundle, path = voice_bundle
    profile = bundle.recording
    assert profile["n_clips"] == 36 and profile["duration_s"]["min"] == pytest.approx(1.0)
    assert profile["snr_db"]["percentiles"][0] > 40 and profile["bandwidth_hz"]["percentiles"][0] > 7000
    assert profile["level_dbfs"]["max"] - profile["level_dbfs"]["min"] == pytest.approx(17, abs=1.5)
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read(MANIFEST))
    assert RECORDING_MEMBER in manifest["members"]  # checksummed like every member
    assert ROBUSTNESS_MEMBER not in manifest["members"] and bundle.robustness is None


def test_silence_10_ms_quiet_loud_noisy_and_telephone_inputs_are_flagged_and_training_like_ones_are_not(
        voice_bundle):
    bundle, _ = voice_bundle
    clip = _clip("sad", k=1, speaker=2)
    rng = np.random.default_rng(0)
    inputs = {
        "inside": clip,
        "other take": _clip("angry", k=2, speaker=1),
        "silence": np.zeros(SR, dtype=np.float32),
        "10 ms": clip[: SR // 100],
        "quiet": clip * 10 ** (-45 / 20),
        "loud": clip * 10 ** (30 / 20),
        "noisy": degrade.add_noise(clip, degrade.white_noise(len(clip), rng), 0.0),
        "telephone": degrade.telephone(clip, SR),
    }
    frame = bundle.predict(list(inputs.values()))
    notes = dict(zip(inputs, frame["outside_training"], strict=True))
    assert notes["inside"] == "" and notes["other take"] == ""
    assert "silent" in notes["silence"]
    assert "duration 0.01 s" in notes["10 ms"] and "SNR" not in notes["10 ms"]  # too short to estimate SNR
    assert "quieter" in notes["quiet"] and "louder" in notes["loud"]
    assert "noisier" in notes["noisy"] and "narrower" in notes["telephone"]
    assert "noisier" not in notes["telephone"] and "level" not in notes["noisy"]
    assert (frame["error"] == "").all()
    estimates = frame.set_axis(list(inputs)).loc["noisy", ["snr_db", "bandwidth_hz", "level_dbfs"]]
    assert abs(estimates["snr_db"]) <= 1.5 and estimates["bandwidth_hz"] > 7000


def test_long_recordings_are_windowed_by_default_and_their_predictions_follow_their_content(voice_bundle):
    bundle, _ = voice_bundle
    assert bundle.window_seconds() == pytest.approx(1.0)
    takes = {e: _clip(e, k=1, speaker=3) for e in EMOTIONS}
    short = bundle.predict(list(takes.values()))
    assert short["emotion"].nunique() == 3  # the model tells the clips apart
    long = bundle.predict([np.tile(y, 60) for y in takes.values()])  # 60 s each
    assert (long["windows"] == 60).all() and (long["window_s"] == 1.0).all()
    assert long["emotion"].tolist() == short["emotion"].tolist()  # not one constant: each its clip's emotion
    np.testing.assert_allclose(long.filter(like="p_").to_numpy(), short.filter(like="p_").to_numpy(), atol=1e-6)
    assert (long["outside_training"] == "").all()  # each window is inside the training durations
    assert long["end"].tolist() == [60.0] * 3 and long["start"].tolist() == [0.0] * 3
    whole = bundle.predict([np.tile(takes["sad"], 60)], window=False)
    assert whole["windows"].iloc[0] == 1 and "duration 60.00 s" in whole["outside_training"].iloc[0]
    # a mixed recording: its windows vote; the row's probabilities are their mean
    mixed = np.concatenate([np.tile(takes["angry"], 3), takes["sad"]])
    row = bundle.predict([mixed]).iloc[0]
    expected = (3 * short.filter(like="p_").iloc[0].to_numpy() + short.filter(like="p_").iloc[1].to_numpy()) / 4
    np.testing.assert_allclose(row.filter(like="p_").to_numpy(dtype=float), expected, atol=1e-6)
    # the timeline still gives a row per window, and --segment auto is the training clips' duration
    timeline = bundle.predict([mixed], segment="auto")
    assert len(timeline) == 4 and timeline["emotion"].tolist()[-1] == short["emotion"].iloc[1]


def _parser_cli(argv: list[str]) -> int:
    from tests.helpers import cli as _cli

    return _cli(argv)


def test_cli_json_and_csv_carry_every_warning_and_the_windowing(voice_bundle, tmp_path, capsys):
    bundle, path = voice_bundle
    files = {}
    for name, y in {"ok": _clip("happy"), "silence": np.zeros(SR, dtype=np.float32),
                    "short": _clip("happy")[: SR // 100], "quiet": _clip("happy") * 10 ** (-45 / 20),
                    "long": np.tile(_clip("angry"), 30)}.items():
        files[name] = tmp_path / f"{name}.wav"
        sf.write(files[name], y, SR, subtype="FLOAT")
    argv = ["predict", str(path), *map(str, files.values())]
    assert _parser_cli([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    answer = {Path(p["input"]).stem: p for p in json.loads(captured.out)["predictions"]}
    assert answer["ok"]["outside_training"] is None and answer["ok"]["windows"] == 1
    assert "silent" in answer["silence"]["outside_training"]
    assert "duration" in answer["short"]["outside_training"] and "quieter" in answer["quiet"]["outside_training"]
    assert answer["long"]["windows"] == 30 and answer["long"]["window_s"] == 1.0
    assert set(answer["ok"]["recording"]) == {"level_dbfs", "snr_db", "bandwidth_hz"}
    assert "30 windows of 1 s" in captured.err and captured.err.count("warning:") == 3
    assert _parser_cli([*argv, "--csv"]) == 0
    csv = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out), keep_default_na=False)
    csv["name"] = csv["input"].map(lambda p: Path(p).stem)
    by = csv.set_index("name")
    assert by.loc["long", "windows"] == 30 and by.loc["ok", "outside_training"] == ""
    assert "silent" in by.loc["silence", "outside_training"] and "quieter" in by.loc["quiet", "outside_training"]
    assert _parser_cli([*argv]) == 0
    text = capsys.readouterr().out
    assert "30 x 1 s" in text and "--no-window" in text
    assert _parser_cli([*argv, "--no-window", "--json"]) == 0
    whole = {Path(p["input"]).stem: p for p in json.loads(capsys.readouterr().out)["predictions"]}
    assert whole["long"]["windows"] == 1 and "duration" in whole["long"]["outside_training"]
    from benchmark.cli.common import UsageError

    with pytest.raises(UsageError, match="--no-window"):
        _parser_cli([*argv, "--no-window", "--segment", "1"])


# ---------------------------------------------------------------------------------------------------------------
# The robustness profile


def fake_robust_run(run_dir: Path, bundle: Bundle, corpus: Path) -> Path:
    """A finished run folder with a leaderboard and robustness results for svm on mfcc+rms (as the run writes)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {"dataset": "manifest", "data_dir": str(corpus), "features": ["mfcc", "rms"], "seed": 0,
              "speaker_norm": False, "folds": 4, "profile": "default", "model_params": {}, "plugins": []}
    conditions = {"white@20": {"kind": "white", "snr_db": 20.0}, "white@0": {"kind": "white", "snr_db": 0.0},
                  "pink@0": {"kind": "pink", "snr_db": 0.0}, "telephone": {"kind": "telephone"},
                  "level@-20": {"kind": "level", "gain_db": -20.0}}
    run = {"dataset": "manifest", "seed": 0, "config": config, "analysis": bundle.manifest["features"]["analysis"],
           "corpus": {"fingerprint": bundle.manifest["corpus"]["fingerprint"]},
           "robustness": {"conditions": conditions}}
    (run_dir / "run.json").write_text(json.dumps(run))
    (run_dir / "leaderboard.json").write_text(json.dumps([
        {"table": "leaderboard", "features": "mfcc+rms", "model": "svm", "protocol": "speaker",
         "speaker_norm": False, "uar_mean": 0.9, "uar_std": 0.05, "n_folds": 4, "chance_uar": 1 / 3}]))
    uars = {"white@20": 0.8, "white@0": 0.45, "pink@0": 0.4, "telephone": 0.5, "level@-20": 0.7}
    (run_dir / "robustness").mkdir()
    pd.DataFrame([{"features": "mfcc+rms", "model": "svm", "protocol": "speaker", "condition": name,
                   "kind": c["kind"], "snr_db": c.get("snr_db", ""), "uar": uars[name], "ci_low": uars[name] - 0.1,
                   "ci_high": uars[name] + 0.1, "clean_uar": 0.9, "delta": uars[name] - 0.9, "p_value": 0.01,
                   "verdict": "worse", "n_utterances": 36, "n_failed_clips": 0} for name, c in conditions.items()]
                 ).to_csv(run_dir / "robustness" / "table.csv", index=False)
    return run_dir


@pytest.fixture(scope="module")
def robust_bundle(voice_bundle, voice_corpus, tmp_path_factory) -> tuple[Bundle, Path, Path]:
    bundle, _ = voice_bundle
    folder = tmp_path_factory.mktemp("robust")
    run_dir = fake_robust_run(folder / "run", bundle, voice_corpus)
    out = folder / "robust.zip"
    assert _parser_cli(["train", "--from-run", str(run_dir), "--model", "svm", "--cache-dir",
                        str(folder / "cache"), "--jobs", "1", "--out", str(out), "--quiet"]) == 0
    return Bundle.load(out), out, run_dir


def test_train_from_a_robustness_run_carries_the_profile_checksummed(robust_bundle):
    bundle, path, run_dir = robust_bundle
    profile = bundle.robustness
    assert profile["source"] == f"run:{run_dir}" and profile["clean_uar"] == pytest.approx(0.9)
    by_name = {c["name"]: c for c in profile["conditions"]}
    assert set(by_name) == {"white@20", "white@0", "pink@0", "telephone", "level@-20"}
    assert by_name["pink@0"]["uar"] == pytest.approx(0.4) and by_name["level@-20"]["params"]["gain_db"] == -20
    assert "robustness profile: 5 condition(s)" in bundle.describe()
    with zipfile.ZipFile(path) as archive:
        assert ROBUSTNESS_MEMBER in json.loads(archive.read(MANIFEST))["members"]
    from tests.helpers import rewrite_zip

    def edit(name, data):
        return data.replace(b"0.4", b"0.9") if name == ROBUSTNESS_MEMBER else data

    with pytest.raises(BundleError, match=f"member {ROBUSTNESS_MEMBER} does not match its checksum"):
        Bundle.load(rewrite_zip(path, path.parent / "edited.zip", change=edit))
    forged = rewrite_zip(path, path.parent / "forged.zip", rehash=True,
                         change=lambda n, d: b'{"conditions": "x"}' if n == ROBUSTNESS_MEMBER else d)
    with pytest.raises(BundleError, match=f"{ROBUSTNESS_MEMBER} is malformed"):
        Bundle.load(forged)
    big = rewrite_zip(path, path.parent / "big.zip", rehash=True,
                      change=lambda n, d: d + b" " * (2 ** 20 + 1) if n == ROBUSTNESS_MEMBER else d)
    with pytest.raises(BundleError, match=f"member {ROBUSTNESS_MEMBER} expands to 1.0 MB, over the 1 MB a JSON"):
        Bundle.load(big)


def test_predict_gives_the_expected_uar_of_the_nearest_measured_condition(robust_bundle, voice_bundle, tmp_path,
                                                                          capsys):
    bundle, path, _ = robust_bundle
    clip = _clip("sad", k=1, speaker=2)
    rng = np.random.default_rng(3)
    inputs = [clip, degrade.add_noise(clip, degrade.white_noise(len(clip), rng), 1.0), degrade.telephone(clip, SR),
              clip * 10 ** (-30 / 20), np.zeros(SR, dtype=np.float32)]
    frame = bundle.predict(inputs)
    assert frame["nearest_condition"].tolist() == ["clean", "pink@0", "telephone", "level@-20", None]
    # at 0 dB the lower of white and pink (the estimate cannot tell them apart)
    np.testing.assert_allclose(frame["expected_uar"].iloc[:4], [0.9, 0.4, 0.5, 0.7])
    from benchmark.cli.predict import as_json

    items = as_json(bundle, frame)["predictions"]
    assert items[1]["nearest_condition"] == "pink@0" and items[1]["expected_uar"] == pytest.approx(0.4)
    assert items[4]["expected_uar"] is None
    summary = as_json(bundle, frame)["robustness"]
    assert summary["conditions"]["telephone"]["uar"] == pytest.approx(0.5) and summary["clean_uar"] == 0.9
    sf.write(tmp_path / "noisy.wav", inputs[1], SR, subtype="FLOAT")
    assert _parser_cli(["predict", str(path), str(tmp_path / "noisy.wav")]) == 0
    captured = capsys.readouterr()
    assert "nearest to the measured condition pink@0: expected UAR there 40 %" in captured.err
    assert "robustness profile: 5 condition(s) measured" in captured.out
    plain, _ = voice_bundle  # no profile: no such columns, and the JSON says so
    assert "nearest_condition" not in plain.predict([clip]) and as_json(plain, plain.predict([clip]))["robustness"] \
        is None


def test_from_run_without_results_for_the_model_is_one_line(robust_bundle, tmp_path):
    _, _, run_dir = robust_bundle
    table = pd.read_csv(run_dir / "robustness" / "table.csv")
    other = tmp_path / "run"
    other.mkdir()
    for name in ("run.json", "leaderboard.json"):
        (other / name).write_text((run_dir / name).read_text())
    (other / "robustness").mkdir()
    table.assign(model="xgboost").to_csv(other / "robustness" / "table.csv", index=False)
    with pytest.raises(BundleError, match="no robustness results for svm on mfcc\\+rms; it has: xgboost"):
        _parser_cli(["train", "--from-run", str(other), "--model", "svm", "--out", str(tmp_path / "x.zip")])


def test_train_robustness_measures_the_profile_on_the_evaluation_folds_without_refitting(voice_corpus, tmp_path,
                                                                                         monkeypatch):
    import features.robust
    from benchmark.evaluation.protocols import make_folds
    from tests.helpers import train_tiny

    cache = tmp_path / "cache"
    plain = train_tiny(voice_corpus, "svm", evaluate=True, cache_dir=cache, folds=2)  # 2 test speakers a fold
    seen = []
    real = features.robust.extract_degraded

    def spy(tasks, *args, **kwargs):
        seen.extend(tasks)
        return real(tasks, *args, **kwargs)

    monkeypatch.setattr(features.robust, "extract_degraded", spy)
    bundle = train_tiny(voice_corpus, "svm", evaluate=True, cache_dir=cache, folds=2,
                        robustness=("white@0", "telephone", "babble@0"))
    # babble is made of training-fold clips of other speakers: never of a speaker the clip's fold tests
    table = pd.read_csv(voice_corpus)
    speaker_of = {Path(p).name: s for p, s in zip(table["path"], table["speaker"], strict=True)}
    folds = make_folds("speaker", table, 2, 0, False, None)
    assert all(len(set(table["speaker"][f.test])) == 2 for f in folds)
    tested_with = {Path(table["path"][r]).name: {table["speaker"][i] for i in f.test} for f in folds for r in f.test}
    babble = [t for t in seen if t.condition.kind == "babble"]
    assert len(babble) == 36 and all(len(t.sources) == 4 for t in babble)
    for task in babble:
        assert not {speaker_of[Path(p).name] for p in task.sources} & tested_with[Path(task.path).name]
    assert bundle.score == plain.score  # the clean score is unchanged by measuring robustness
    profile = bundle.robustness
    assert profile["source"] == "train" and profile["model"] == "svm" and profile["features"] == "mfcc+rms"
    assert profile["clean_uar"] == pytest.approx(plain.score.uar)
    by_name = {c["name"]: c for c in profile["conditions"]}
    assert set(by_name) == {"white@0", "telephone", "babble@0"}
    for c in by_name.values():
        assert 0 <= c["ci_low"] <= c["uar"] <= c["ci_high"] <= 1 and c["n_utterances"] == 36
        assert c["delta"] == pytest.approx(c["uar"] - profile["clean_uar"])
    assert by_name["white@0"]["params"]["snr_db"] == 0.0 and by_name["white@0"]["snr_db"] == 0.0
    loaded = Bundle.load(bundle.save(tmp_path / "robust.zip"))
    assert loaded.robustness == json.loads(json.dumps(profile))
    clip = _clip("sad", k=1, speaker=2)
    noisy = degrade.add_noise(clip, degrade.white_noise(len(clip), np.random.default_rng(1)), 0.0)
    row = loaded.predict([noisy]).iloc[0]
    worst = min((by_name["white@0"], by_name["babble@0"]), key=lambda c: c["uar"])
    assert row["nearest_condition"] == worst["name"] and row["expected_uar"] == pytest.approx(worst["uar"])
    with pytest.raises(BundleError, match="drop --no-evaluate"):
        train_tiny(voice_corpus, "svm", evaluate=False, cache_dir=cache, robustness=("white@0",))


def test_train_robustness_flags_are_checked(voice_bundle, tmp_path):
    from benchmark.cli.common import UsageError

    with pytest.raises(UsageError, match="profile comes from the run"):
        _parser_cli(["train", "--from-run", str(tmp_path), "--model", "svm", "--robustness", "--out",
                     str(tmp_path / "x.zip")])
    from features.degrade import ConditionError

    with pytest.raises(ConditionError, match="--robustness white@x"):
        _parser_cli(["train", "--dataset", "manifest", "--data-dir", str(tmp_path / "none.csv"), "--model", "svm",
                     "--robustness", "white@x", "--out", str(tmp_path / "x.zip")])
