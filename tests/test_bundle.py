"""Bundles: safe persistence of every model, integrity checks, refusal of code-running files, prediction."""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.preprocessing import StandardScaler

from benchmark.apps.bundle import (
    MANIFEST,
    Bundle,
    BundleError,
    check_segment,
    segment_bounds,
)
from models.persistence import PersistenceError, load_estimator, save_estimator, trust_problem
from tests.helpers import (
    TINY,
    TONE_SPEAKERS,
    cli,
    cli_parser,
    make_tone_corpus,
    rewrite_zip,
    train_tiny,
    write_tone,
)
from tests.helpers import TONE_EMOTIONS as EMOTIONS

SPEAKERS = TONE_SPEAKERS


def _param_names(model: str) -> set[str]:
    from models import make_model

    return set(make_model(model).get_params(deep=False))




def forge_manifest(src: Path, dst: Path, edit) -> Path:
    """Edit the manifest and recompute its checksum (a forger's edit)."""
    return rewrite_zip(src, dst, edit_manifest=edit)


# ---------------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_tone_corpus(tmp_path_factory.mktemp("tones"))


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bundle-cache")


@pytest.fixture(scope="module")
def svm_bundle(corpus, module_cache, tmp_path_factory) -> tuple[Bundle, Path]:
    bundle = train_tiny(corpus, "svm", evaluate=True, cache_dir=module_cache)
    path = bundle.save(tmp_path_factory.mktemp("bundles") / "svm.zip")
    return bundle, path


@pytest.fixture
def clips(corpus) -> list[str]:
    return sorted(str(p) for p in (corpus.parent / "wav").glob("*.wav"))[::5]


# ---------------------------------------------------------------------------------------------------------------
# Persistence of every registered model


def _tiny_data(kind: str):
    rng = np.random.default_rng(0)
    y = np.array(["angry", "happy", "sad"])[np.arange(48) % 3]
    groups = np.array(SPEAKERS)[np.arange(48) % 4]
    if kind == "sequence":
        X = rng.normal(size=(48, 16, 6)).astype(np.float32) + (np.arange(48) % 3)[:, None, None]
        X[::3, 12:] = np.nan  # padding
    else:
        X = rng.normal(size=(48, 10)).astype(np.float32) + (np.arange(48) % 3)[:, None]
    return X, y, groups


def _registered_models() -> list:
    from models import MODELS

    return [pytest.param(name, marks=pytest.mark.neural) if spec.neural else name for name, spec in MODELS.items()]


@pytest.mark.parametrize("name", _registered_models())
def test_every_registered_model_round_trips_exactly(name):
    from models import MODELS, make_model

    spec = MODELS[name]
    params = {k: v for k, v in TINY.items() if k in _param_names(name)}
    X, y, groups = _tiny_data(spec.input_kind)
    model = make_model(name, random_state=0, **params).fit(X, y, groups=groups)
    members = save_estimator(model)
    assert not any(n.endswith((".pkl", ".pickle", ".joblib")) for n in members)
    loaded = load_estimator(members)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_linear_models_round_trip_when_present():
    linear = pytest.importorskip("models.linear")
    from sklearn.base import BaseEstimator

    from models.base import LabelledClassifier

    classes = [c for c in vars(linear).values() if isinstance(c, type) and issubclass(c, LabelledClassifier)
               and c.__module__ == linear.__name__ and issubclass(c, BaseEstimator)]
    if not classes:
        pytest.skip("models.linear defines no estimator yet")
    X, y, groups = _tiny_data("vector")
    for cls in classes:
        model = cls().fit(X, y, groups=groups)
        loaded = load_estimator(save_estimator(model))
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_unknown_attribute_type_is_a_clear_error_at_save_time():
    from models import make_model

    X, y, groups = _tiny_data("vector")
    model = make_model("xgboost", n_estimators=2).fit(X, y)
    model.extra_ = {1, 2}  # a set: no safe representation here, and no pickle fallback
    with pytest.raises(PersistenceError, match="extra_.*cannot be stored without pickle"):
        save_estimator(model)
    model.extra_ = lambda: 0
    with pytest.raises(PersistenceError, match="cannot be stored without pickle"):
        save_estimator(model)


def test_trust_policy_accepts_classes_only_from_safe_packages():
    assert trust_problem("sklearn.preprocessing._data.StandardScaler") is None
    assert trust_problem("models.classical.SVMClassifier") is None
    assert "not a class" in trust_problem("numpy.load")
    assert "not from scikit-learn" in trust_problem("builtins.exec")
    assert "not from scikit-learn" in trust_problem("os.system")
    assert "not from scikit-learn" in trust_problem("tests.test_bundle.Evil")
    assert "does not exist" in trust_problem("sklearn.no_such_module.Thing")


# ---------------------------------------------------------------------------------------------------------------
# The bundle: round trip, honest score, integrity


def test_bundle_round_trip_predicts_exactly_what_the_fitted_model_predicted(svm_bundle, clips):
    bundle, path = svm_bundle
    loaded = Bundle.load(path)
    before = bundle.predict(clips)
    after = loaded.predict(clips)
    pd.testing.assert_frame_equal(before, after)
    assert (after["error"] == "").all()
    p = after[[f"p_{label}" for label in loaded.labels]].to_numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert loaded.labels == sorted(EMOTIONS)
    # the same numbers the in-memory model gives on the features the benchmark extracts
    from features import extract

    feats = extract(pd.DataFrame({"path": clips}), ["mfcc", "rms"], use_cache=False, jobs=1)
    np.testing.assert_array_equal(bundle.model.predict_proba(feats.matrix(["mfcc", "rms"])[0]), p)


def test_bundle_records_features_corpus_versions_and_an_honest_score(svm_bundle):
    bundle, path = svm_bundle
    manifest = Bundle.load(path).manifest
    assert [s["name"] for s in manifest["features"]["sets"]] == ["mfcc", "rms"]
    assert all(len(s["key"]) == 20 and s["columns"] for s in manifest["features"]["sets"])
    assert manifest["features"]["analysis"]["sr"] == 16000
    assert len(manifest["corpus"]["fingerprint"]) >= 16 and manifest["corpus"]["speakers"] == 4
    assert {"scikit-learn", "numpy", "skops"} <= set(manifest["versions"])
    assert set(manifest["members"]) == {n for n in zipfile.ZipFile(path).namelist() if n != MANIFEST}
    score = bundle.score
    assert score is not None and score.source == "train" and score.n_speakers == 4 and score.n_folds == 4
    assert score.low <= score.uar <= score.high
    line = bundle.caution()
    assert line.startswith("expected UAR on unseen speakers: ") and "[" in line


def test_score_is_measured_speaker_independently_on_the_benchmark_protocol(corpus, module_cache):
    from benchmark.apps.training import speaker_score
    from benchmark.evaluation.protocols import make_folds

    # each speaker expresses the emotions in their own way (p and r one way round, q and s the other) and has
    # a voice of their own (one-hot). A model that heard the test speaker (a leaky split) scores ~100 %; on
    # unseen speakers nothing carries over, so an honest protocol scores chance or worse.
    names = ["p", "q", "r", "s"]
    speaker = np.tile(np.repeat(names, 2), 10)
    emotion = np.tile(["a", "b"], 40)
    style = np.isin(speaker, ["p", "r"])
    sign = np.where((emotion == "a") == style, 1.0, -1.0)
    voice = (speaker[:, None] == np.array(names)[None, :]).astype(float)
    X = np.column_stack([sign, voice]) + np.random.default_rng(0).normal(0, 0.05, (80, 5))
    X = X.astype(np.float32)
    table = pd.DataFrame({"emotion": emotion, "speaker": speaker, "text": None})
    y, speakers = emotion, speaker
    folds = make_folds("speaker", table, 5, 0, False, None)
    assert all(set(speakers[f.train]).isdisjoint(speakers[f.test]) for f in folds)
    score = speaker_score("svm", X, y, speakers, table, n_resamples=100)
    assert score.uar <= 0.5 + 1e-9 and score.n_folds == 4  # chance, not the ~100 % of a leaky split


def test_no_evaluate_bundle_says_so(corpus, module_cache):
    bundle = train_tiny(corpus, "xgboost", evaluate=False, cache_dir=module_cache)
    assert bundle.score is None
    assert "not measured" in bundle.caution()


def _refused(path: Path, match: str) -> str:
    with pytest.raises(BundleError, match=match) as info:
        Bundle.load(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_edited_member_is_refused(svm_bundle, tmp_path):
    _, path = svm_bundle

    def flip(name, data):
        if name.endswith("arrays.npz"):
            data = bytearray(data)
            data[-40] ^= 0xFF
            return bytes(data)
        return data

    _refused(rewrite_zip(path, tmp_path / "edited.zip", change=flip), "does not match its checksum")


def test_edited_manifest_is_refused(svm_bundle, tmp_path):
    _, path = svm_bundle
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    manifest = json.loads(members[MANIFEST])
    manifest["score"]["uar"] = 0.99  # a better-looking number, checksum left as it was
    members[MANIFEST] = json.dumps(manifest).encode()
    with zipfile.ZipFile(tmp_path / "boasted.zip", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    _refused(tmp_path / "boasted.zip", "bundle.json does not match its checksum")


@pytest.mark.parametrize("fraction", [0.3, 0.9, 0.99])
def test_truncated_bundle_is_refused(svm_bundle, tmp_path, fraction):
    _, path = svm_bundle
    data = path.read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[: int(len(data) * fraction)])
    _refused(cut, "truncated")


def test_missing_and_unlisted_members_are_refused(svm_bundle, tmp_path):
    _, path = svm_bundle
    member = next(n for n in zipfile.ZipFile(path).namelist() if n.endswith(".skops"))
    _refused(rewrite_zip(path, tmp_path / "missing.zip", drop=member), "missing")
    _refused(rewrite_zip(path, tmp_path / "extra.zip", add={"model/extra.bin": b"x"}), "not listed")


def test_incompatible_versions_are_refused(svm_bundle, tmp_path):
    _, path = svm_bundle
    newer = forge_manifest(path, tmp_path / "newer.zip", lambda m: m.update(format_version=99))
    _refused(newer, "format 99 was made by an incompatible version")
    old = forge_manifest(path, tmp_path / "old.zip", lambda m: m["versions"].update({"scikit-learn": "0.24.2"}))
    _refused(old, "made with scikit-learn 0.24.2")
    other = forge_manifest(path, tmp_path / "other.zip", lambda m: m.update(format="something-else"))
    _refused(other, "not a ser-benchmark-bundle")


def test_feature_set_that_gives_other_numbers_is_refused(svm_bundle, tmp_path):
    _, path = svm_bundle

    def other_key(manifest):
        manifest["features"]["sets"][0]["key"] = "0" * 20  # as if mfcc's code or librosa had changed

    # same numbers on the bundle's test signal: accepted, with a warning
    recoded = Bundle.load(forge_manifest(path, tmp_path / "recoded.zip", other_key))
    assert recoded.warnings and "same numbers" in recoded.warnings[0]
    # different numbers: refused
    with zipfile.ZipFile(tmp_path / "recoded.zip") as archive:
        probe = dict(np.load(io.BytesIO(archive.read("probe.npz"))))
    probe["mfcc"] = probe["mfcc"] * 1.01
    buffer = io.BytesIO()
    np.savez(buffer, **probe)
    drifted = rewrite_zip(tmp_path / "recoded.zip", tmp_path / "drifted.zip", rehash=True,
                          change=lambda n, d: buffer.getvalue() if n == "probe.npz" else d)
    _refused(drifted, "feature set 'mfcc' changed since the model was trained")
    # another version of the set: refused
    newer = forge_manifest(path, tmp_path / "version.zip",
                           lambda m: m["features"]["sets"][1].update(version=99))
    _refused(newer, "feature set 'rms' is version 1 here, the model was trained on version 99")


def test_not_a_file_or_not_a_zip_is_refused(tmp_path):
    with pytest.raises(BundleError, match="bundle not found"):
        Bundle.load(tmp_path / "nothing.zip")
    (tmp_path / "text.zip").write_text("hello")
    _refused(tmp_path / "text.zip", "not a readable zip")


# ---------------------------------------------------------------------------------------------------------------
# Loading never runs code


class Evil:
    """Unpickling this writes a marker file: what an attacker's model file would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


def test_pickle_payload_never_runs(svm_bundle, tmp_path):
    _, path = svm_bundle
    marker = tmp_path / "marker.txt"
    payload = pickle.dumps(Evil(marker))
    pickle.loads(payload)  # the payload works: unpickling it does write the marker ...
    assert marker.exists()
    marker.unlink()  # ... and from here on nothing may unpickle it

    # 1. the bundle file itself is a pickle
    (tmp_path / "a.zip").write_bytes(payload)
    _refused(tmp_path / "a.zip", "not a readable zip")
    # 2. an extra pickle member
    _refused(rewrite_zip(path, tmp_path / "b.zip", add={"model/model.pkl": payload}), "not listed")
    # 3. every member replaced by the pickle, checksums recomputed by the forger
    _refused(rewrite_zip(path, tmp_path / "c.zip", change=lambda n, d: payload, rehash=True), "refused")
    # 4. each member replaced in turn (checksums recomputed): skops, npz, JSON state
    names = [n for n in zipfile.ZipFile(path).namelist() if n != MANIFEST]
    for i, name in enumerate(names):
        forged = rewrite_zip(path, tmp_path / f"d{i}.zip", change=lambda n, d, name=name: payload if n == name else d,
                             rehash=True)
        _refused(forged, "refused")
    # 5. an npz whose array is a pickled object
    buffer = io.BytesIO()
    np.savez(buffer, a0=np.array([Evil(marker)], dtype=object))
    npz_name = next(n for n in names if n.endswith("arrays.npz"))
    forged = rewrite_zip(path, tmp_path / "e.zip", change=lambda n, d: buffer.getvalue() if n == npz_name else d,
                         rehash=True)
    _refused(forged, "allow_pickle|refused")
    assert not marker.exists()


class SneakyScaler(StandardScaler):
    """A scikit-learn-looking type from outside the trusted packages whose loading has a side effect."""

    def __setstate__(self, state):
        Path(state["marker"]).write_text("pwned")
        super().__setstate__(state)


def test_skops_member_with_an_untrusted_type_is_refused(svm_bundle, tmp_path):
    import skops.io as sio

    _, path = svm_bundle
    marker = tmp_path / "marker2.txt"
    sneaky = SneakyScaler().fit(np.ones((3, 2)))
    sneaky.marker = str(marker)
    data = sio.dumps(sneaky)
    assert sio.get_untrusted_types(data=data) == ["tests.test_bundle.SneakyScaler"]
    skops_name = next(n for n in zipfile.ZipFile(path).namelist() if n.endswith("encoder_.skops"))
    forged = rewrite_zip(path, tmp_path / "f.zip", change=lambda n, d: data if n == skops_name else d, rehash=True)
    message = _refused(forged, "tests.test_bundle.SneakyScaler is not from scikit-learn")
    assert "refused" in message
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------------------------
# Prediction


def test_predict_on_a_folder_with_bad_files_reports_them_and_carries_on(svm_bundle, tmp_path):
    bundle, _ = svm_bundle
    folder = tmp_path / "mixed"
    write_tone(folder / "good1.wav", freq=520)
    write_tone(folder / "good2.flac", freq=180, fmt="FLAC", sr=44100, channels=2)
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00not audio at all" * 10)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.txt").write_text("not audio")
    frame = bundle.predict([folder])
    by_name = {Path(r["input"]).name: r for r in frame.to_dict("records")}
    assert set(by_name) == {"good1.wav", "good2.flac", "broken.wav", "empty.wav"}
    assert by_name["good1.wav"]["error"] == "" and by_name["good1.wav"]["emotion"] in bundle.labels
    assert by_name["good2.flac"]["error"] == "" and by_name["good2.flac"]["emotion"] in bundle.labels
    assert "cannot be decoded" in by_name["broken.wav"]["error"]
    assert "empty" in by_name["empty.wav"]["error"]
    assert by_name["broken.wav"]["emotion"] is None


def test_predict_takes_arrays_at_any_rate_and_channel_count(svm_bundle, tmp_path):
    bundle, _ = svm_bundle
    path = write_tone(tmp_path / "t.wav", seconds=0.6, freq=330)
    y, sr = sf.read(path, dtype="float32")
    from_file = bundle.predict([str(path)])
    from_array = bundle.predict([y])  # at the analysis rate
    np.testing.assert_allclose(from_array.filter(like="p_").to_numpy(), from_file.filter(like="p_").to_numpy(),
                               atol=1e-6)
    import soxr

    stereo = np.stack([soxr.resample(y, 16000, 44100)] * 2, axis=1)
    frame = bundle.predict([(stereo, 44100)])
    assert frame["error"].iloc[0] == "" and frame["input"].iloc[0] == "array 0"


def test_segment_timeline_covers_the_whole_file(svm_bundle, tmp_path):
    bundle, _ = svm_bundle
    path = write_tone(tmp_path / "long.wav", seconds=2.35, sr=22050, freq=520)
    duration = 2.35
    frame = bundle.predict([str(path)], segment=1.0, hop=0.5)
    assert frame["start"].iloc[0] == 0.0
    assert frame["end"].iloc[-1] == pytest.approx(duration, abs=1e-3)
    assert (frame["start"].to_numpy()[1:] <= frame["end"].to_numpy()[:-1]).all()  # no gaps
    np.testing.assert_allclose(frame["end"] - frame["start"], 1.0, atol=1e-3)
    assert (frame["error"] == "").all() and frame["emotion"].isin(bundle.labels).all()
    short = bundle.predict([str(write_tone(tmp_path / "short.wav", seconds=0.4))], segment=3.0)
    assert len(short) == 1 and short["end"].iloc[0] == pytest.approx(0.4, abs=1e-3)


@pytest.mark.parametrize("n, win, hop", [(100, 30, 30), (100, 30, 7), (90, 30, 30), (10, 30, 30), (31, 30, 1)])
def test_segment_bounds_cover_without_gaps(n, win, hop):
    bounds = segment_bounds(n, 1, win, hop)
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(b[0] <= a[1] for a, b in zip(bounds, bounds[1:], strict=False))
    assert all(e - s == min(win, n) for s, e in bounds)


def test_segment_arguments_are_checked():
    assert check_segment(3, None) == (3.0, 3.0)
    with pytest.raises(BundleError, match="gaps"):
        check_segment(1.0, 2.0)
    with pytest.raises(BundleError, match="at least"):
        check_segment(0.0, None)


def test_speaker_normalised_bundle_needs_a_speaker_and_enough_recordings(corpus, module_cache, tmp_path):
    bundle = train_tiny(corpus, "svm", cache_dir=module_cache, speaker_norm=True)
    path = bundle.save(tmp_path / "norm.zip")
    loaded = Bundle.load(path)
    files = sorted(str(p) for p in (corpus.parent / "wav").glob("s1_*.wav"))
    with pytest.raises(BundleError, match="--speaker"):
        loaded.predict(files)
    with pytest.raises(BundleError, match="at least 10"):
        loaded.predict(files[:3], speakers="me")
    with pytest.raises(BundleError, match="has 9 usable"):
        loaded.predict(files, speakers="me")  # 9 recordings: one short
    more = files + [str(write_tone(tmp_path / "s1_extra.wav", freq=520))]
    frame = loaded.predict(more, speakers="me")
    assert (frame["error"] == "").all() and (frame["speaker"] == "me").all()


# ---------------------------------------------------------------------------------------------------------------
# Command line (parsers built here, as the lead wires them into benchmark/cli)




def test_cli_train_then_predict_json_csv_and_text(corpus, module_cache, tmp_path, capsys):
    out = tmp_path / "cli.zip"
    code = cli(["train", "--dataset", "manifest", "--data-dir", str(corpus), "--model", "xgboost",
                 "--features", "rms,zcr", "--set", "n_estimators=5", "--resamples", "50", "--jobs", "1",
                 "--cache-dir", str(module_cache), "--out", str(out), "--quiet"])
    assert code == 0 and out.is_file()
    assert capsys.readouterr().out.strip() == str(out)
    folder = tmp_path / "in"
    write_tone(folder / "a.wav", freq=520)
    (folder / "bad.wav").write_bytes(b"garbage" * 20)
    assert cli(["predict", str(out), str(folder), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["caution"].startswith("expected UAR on unseen speakers")
    assert len(answer["predictions"]) == 1 and set(answer["predictions"][0]["probabilities"]) == set(EMOTIONS)
    assert answer["skipped"][0]["input"].endswith("bad.wav")
    assert cli(["predict", str(out), str(folder / "a.wav"), "--csv"]) == 0
    captured = capsys.readouterr()
    assert "expected UAR" in captured.err and captured.out.startswith("input,start,end,emotion")
    assert cli(["predict", str(out), str(folder)]) == 0
    text = capsys.readouterr().out
    assert text.count("expected UAR on unseen speakers") == 1 and "skipped" in text and "bad.wav" in text
    long = write_tone(tmp_path / "long.wav", seconds=2.2, freq=180)
    assert cli(["predict", str(out), str(long), "--segment", "1", "--hop", "0.5"]) == 0
    assert "0.0-1.0" in capsys.readouterr().out
    with pytest.raises(BundleError, match="none of the 1 input"):
        cli(["predict", str(out), str(folder / "bad.wav")])


def test_cli_train_from_run_takes_settings_and_score_from_the_run(corpus, module_cache, svm_bundle, tmp_path,
                                                                  capsys):
    bundle, _ = svm_bundle
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = {"dataset": "manifest", "data_dir": str(corpus), "features": ["mfcc", "rms"], "seed": 0,
              "speaker_norm": False, "folds": 5, "profile": "default", "model_params": {}, "plugins": []}
    run = {"dataset": "manifest", "seed": 0, "config": config, "analysis": bundle.manifest["features"]["analysis"],
           "corpus": {"fingerprint": bundle.manifest["corpus"]["fingerprint"]}}
    (run_dir / "run.json").write_text(json.dumps(run))
    (run_dir / "leaderboard.json").write_text(json.dumps([
        {"table": "leaderboard", "features": "mfcc+rms", "model": "svm", "protocol": "speaker",
         "speaker_norm": False, "uar_mean": 0.61, "uar_std": 0.05, "n_folds": 4, "chance_uar": 1 / 3}]))
    rng = np.random.default_rng(0)
    labels = np.array(sorted(EMOTIONS))[rng.integers(0, 3, 60)]
    pd.DataFrame({"table": "leaderboard", "features": "mfcc+rms", "model": "svm", "protocol": "speaker",
                  "speaker_norm": False, "fold": 0, "row": range(60), "speaker": np.repeat(SPEAKERS, 15),
                  "emotion": labels, "predicted": np.where(rng.random(60) < 0.6, labels, "sad")}
                 ).to_csv(run_dir / "predictions.csv", index=False)
    out = tmp_path / "from-run.zip"
    assert cli(["train", "--from-run", str(run_dir), "--model", "svm", "--cache-dir", str(module_cache),
                 "--jobs", "1", "--out", str(out), "--quiet"]) == 0
    loaded = Bundle.load(out)
    score = loaded.score
    assert score.source == f"run:{run_dir}" and score.fold_mean == pytest.approx(0.61)
    assert score.low is not None and score.low <= score.uar <= score.high and score.n_speakers == 4
    assert loaded.features.label == "mfcc+rms"
    with pytest.raises(BundleError, match="no speaker-protocol score for xgboost"):
        cli(["train", "--from-run", str(run_dir), "--model", "xgboost", "--out", str(tmp_path / "x.zip")])
    run["corpus"]["fingerprint"] = "0" * 64
    (run_dir / "run.json").write_text(json.dumps(run))
    with pytest.raises(BundleError, match="fingerprint differs"):
        cli(["train", "--from-run", str(run_dir), "--model", "svm", "--cache-dir", str(module_cache),
              "--out", str(tmp_path / "y.zip")])


def test_cli_ui_without_streamlit_says_how_to_install(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "streamlit" else real(name, *a))
    assert cli(["ui"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and 'pip install ".[ui]"' in err


def test_no_pickle_anywhere_in_the_persistence_code():
    for module in ("models/persistence.py", "benchmark/apps/bundle.py", "benchmark/apps/training.py"):
        source = (Path(__file__).resolve().parents[1] / module).read_text()
        assert "import pickle" not in source and "joblib" not in source and "allow_pickle=True" not in source
        assert "trusted=True)" not in source and "trusted=True," not in source


def test_cli_argv_attribute_is_not_required():
    parser, _ = cli_parser()
    args = parser.parse_args(["predict", "b.zip", "x.wav", "--segment", "2"])
    assert isinstance(args, argparse.Namespace) and args.segment == 2.0 and args.hop is None
    assert os.fspath(args.bundle) == "b.zip"
