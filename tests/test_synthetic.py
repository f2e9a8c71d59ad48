import hashlib

import numpy as np

from benchmark.corpora import load_corpus
from benchmark.corpora.synthetic import (
    EMOTIONS,
    PROFILES,
    ensure_synthetic_corpus,
    generate_corpus,
    make_speakers,
)


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.wav"))}


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(tmp_path):
    first = digest(_make(tmp_path / "a", seed=3))
    assert first == digest(_make(tmp_path / "b", seed=3))
    other = digest(_make(tmp_path / "c", seed=4))
    assert other.keys() == first.keys() and other != first


def _make(folder, seed):
    generate_corpus(folder, seed=seed, profile="small")
    return folder


def test_default_profile_has_the_promised_shape():
    spec = PROFILES["default"]
    speakers = make_speakers(spec, np.random.default_rng(0))
    assert len(speakers) >= 8 and spec.sentences >= 6 and spec.takes >= 2
    assert {s.name[0] for s in speakers} == {"f", "m"}
    female_f0 = [s.f0 for s in speakers if s.name[0] == "f"]
    male_f0 = [s.f0 for s in speakers if s.name[0] == "m"]
    assert min(female_f0) > max(male_f0)  # distinct F0 ranges
    assert min(s.vtl for s in speakers if s.name[0] == "f") > max(s.vtl for s in speakers if s.name[0] == "m")
    assert set(EMOTIONS) == {"angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"}
    # each speaker renders an emotion their own way
    assert not np.allclose(speakers[0].renderings["angry"], speakers[1].renderings["angry"])


def test_generated_once_loaded_through_the_reader_and_time_printed(tmp_path, capsys):
    root = ensure_synthetic_corpus(cache_dir=tmp_path, seed=0, profile="small")
    assert "generated 252 files in" in capsys.readouterr().err
    mtimes = {p: p.stat().st_mtime_ns for p in root.glob("*.wav")}
    assert ensure_synthetic_corpus(cache_dir=tmp_path, seed=0, profile="small") == root
    assert capsys.readouterr().err == ""  # reused, not regenerated
    assert {p: p.stat().st_mtime_ns for p in root.glob("*.wav")} == mtimes
    corpus = load_corpus(None, None, cache_dir=tmp_path, profile="small")
    table = corpus.table
    assert len(table) == 252 and not corpus.skipped
    assert table["speaker"].nunique() == 6 and table["text"].nunique() == 3
    assert table.groupby("emotion").size().tolist() == [36] * 7
    assert set(table["sample_rate"]) == {16000} and table["duration"].between(0.8, 6).all()


def test_emotions_move_prosody_as_described(small_corpus_dir):
    import librosa
    import soundfile as sf

    def loudness_and_pitch(emotion):
        values = []
        for path in sorted(small_corpus_dir.glob(f"syn_m01_{emotion}_*.wav")):
            y, sr = sf.read(path)
            f0, voiced, _ = librosa.pyin(y, fmin=60, fmax=500, sr=sr, frame_length=1024)
            values.append((np.sqrt(np.mean(y ** 2)), np.nanmedian(f0[voiced]), len(y) / sr))
        return np.mean(values, axis=0)

    angry, sad, neutral = (loudness_and_pitch(e) for e in ("angry", "sad", "neutral"))
    assert angry[0] > neutral[0] > sad[0]  # louder / quieter
    assert angry[1] > neutral[1] > sad[1]  # higher / lower F0
    assert sad[2] > angry[2]  # slower
