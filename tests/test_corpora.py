import json

import pytest

from benchmark.corpora import CorpusError, load_corpus
from tests.conftest import write_tone


def rows(corpus):
    return {r["path"].split("/")[-1]: r for r in corpus.table.to_dict("records")}


def reasons(corpus):
    return {s.path.split("/")[-1]: s.reason for s in corpus.skipped}


def test_tess_layout(tmp_path):
    write_tone(tmp_path / "OAF_angry" / "OAF_back_angry.wav")
    write_tone(tmp_path / "YAF_pleasant_surprised" / "YAF_bite_ps.wav")
    write_tone(tmp_path / "OAF_Pleasant_surprise" / "OAF_chalk_pleasant_surprise.WAV")
    write_tone(tmp_path / "YAF_sad" / "OAF_dog_sad.wav")  # prefix disagrees with its folder
    write_tone(tmp_path / "OAF_happy" / "OAF_back_giddy.wav")  # misnamed: the folder gives the emotion
    write_tone(tmp_path / "OAF_misc" / "OAF_back_giddy.wav")
    corpus = load_corpus("tess", tmp_path)
    r = rows(corpus)
    assert r["OAF_back_angry.wav"]["emotion"] == "angry" and r["OAF_back_angry.wav"]["text"] == "back"
    assert r["YAF_bite_ps.wav"]["emotion"] == "surprise" and r["YAF_bite_ps.wav"]["speaker"] == "YAF"
    assert r["OAF_chalk_pleasant_surprise.WAV"]["emotion"] == "surprise"
    assert r["OAF_dog_sad.wav"]["speaker"] == "YAF"
    assert set(corpus.table["gender"]) == {"F"}
    assert corpus.table.loc[corpus.table["path"].str.contains("OAF_happy"), "emotion"].tolist() == ["happy"]
    assert [(s.path.split("/")[-2], s.reason) for s in corpus.skipped] == [("OAF_misc", "unknown label 'giddy'")]


def test_ravdess_layout(tmp_path):
    actor = tmp_path / "Actor_12"
    write_tone(actor / "03-01-05-01-02-01-12.wav")
    write_tone(tmp_path / "Actor_01" / "03-01-08-02-01-02-01.wav")
    write_tone(actor / "03-02-03-01-01-01-12.wav")  # song
    (actor / "01-01-05-01-02-01-12.mp4").write_bytes(b"\x00" * 64)  # video
    write_tone(actor / "03-01-05-01-02.wav")
    corpus = load_corpus("ravdess", tmp_path)
    r = rows(corpus)
    first = r["03-01-05-01-02-01-12.wav"]
    assert (first["emotion"], first["speaker"], first["gender"], first["text"], first["intensity"]) == \
        ("angry", "12", "F", "s02", "normal")
    second = r["03-01-08-02-01-02-01.wav"]
    assert (second["emotion"], second["gender"], second["intensity"]) == ("surprise", "M", "strong")
    why = reasons(corpus)
    assert why["03-02-03-01-01-01-12.wav"].startswith("song file")
    assert why["01-01-05-01-02-01-12.mp4"].startswith("modality 01")
    assert why["03-01-05-01-02.wav"].startswith("name does not parse")
    with_song = load_corpus("ravdess", tmp_path, include_song=True)
    assert rows(with_song)["03-02-03-01-01-01-12.wav"]["emotion"] == "happy"


def test_cremad_layout_with_demographics(tmp_path):
    audio = tmp_path / "AudioWAV"
    write_tone(audio / "1001_DFA_ANG_XX.wav")
    write_tone(audio / "1002_IEO_SAD_HI.wav")
    write_tone(audio / "1003_XYZ_SAD_HI.wav")
    write_tone(audio / "1003_IEO_BOR_HI.wav")
    (tmp_path / "VideoDemographics.csv").write_text("ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,C,N\n"
                                                    "1002,21,Female,C,N\n")
    corpus = load_corpus("cremad", audio)
    r = rows(corpus)
    assert (r["1001_DFA_ANG_XX.wav"]["emotion"], r["1001_DFA_ANG_XX.wav"]["gender"]) == ("angry", "M")
    assert r["1002_IEO_SAD_HI.wav"]["text"] == "IEO" and r["1002_IEO_SAD_HI.wav"]["intensity"] == "high"
    assert r["1002_IEO_SAD_HI.wav"]["gender"] == "F"
    why = reasons(corpus)
    assert "unknown sentence" in why["1003_XYZ_SAD_HI.wav"]
    assert why["1003_IEO_BOR_HI.wav"] == "unknown label 'BOR'"


@pytest.mark.parametrize("nested", [False, True])
def test_savee_layouts(tmp_path, nested):
    names = [("DC", "a01"), ("JE", "sa03"), ("KL", "su15"), ("JK", "n30")]
    for speaker, code in names:
        write_tone(tmp_path / speaker / f"{code}.wav" if nested else tmp_path / f"{speaker}_{code}.wav")
    corpus = load_corpus("savee", tmp_path)
    got = {(r["speaker"], r["emotion"]) for r in corpus.table.to_dict("records")}
    assert got == {("DC", "angry"), ("JE", "sad"), ("KL", "surprise"), ("JK", "neutral")}
    assert not corpus.skipped and set(corpus.table["gender"]) == {"M"}


def test_emodb_layout(tmp_path):
    write_tone(tmp_path / "wav" / "03a01Fa.wav")
    write_tone(tmp_path / "wav" / "16b10Lb.wav")
    write_tone(tmp_path / "wav" / "09a02Xa.wav")
    corpus = load_corpus("emodb", tmp_path)
    r = rows(corpus)
    assert (r["03a01Fa.wav"]["emotion"], r["03a01Fa.wav"]["speaker"], r["03a01Fa.wav"]["text"],
            r["03a01Fa.wav"]["gender"]) == ("happy", "03", "a01", "M")
    assert (r["16b10Lb.wav"]["emotion"], r["16b10Lb.wav"]["gender"]) == ("boredom", "F")
    assert reasons(corpus) == {"09a02Xa.wav": "unknown label 'X'"}


def test_manifest_relative_paths_and_custom_labels(tmp_path):
    write_tone(tmp_path / "clips" / "one.wav")
    write_tone(tmp_path / "clips" / "two.flac", fmt="FLAC")
    write_tone(tmp_path / "clips" / "three.wav")
    (tmp_path / "manifest.csv").write_text(
        "path,emotion,speaker,text\nclips/one.wav,Anger,s1,t1\nclips/two.flac,frustrated,s2,\n"
        "clips/three.wav,,s3,t1\nclips/missing.wav,sad,s4,t2\n")
    corpus = load_corpus("manifest", tmp_path / "manifest.csv")
    r = rows(corpus)
    assert r["one.wav"]["emotion"] == "angry" and r["one.wav"]["label"] == "Anger"
    assert r["two.flac"]["emotion"] == "frustrated" and r["two.flac"]["text"] is None
    why = reasons(corpus)
    assert why["three.wav"] == "manifest line 4: empty emotion" and why["missing.wav"] == "file not found"
    assert load_corpus(None, tmp_path / "manifest.csv").name == "manifest"  # a .csv implies the manifest


def test_manifest_missing_columns_is_a_clear_error(tmp_path):
    (tmp_path / "manifest.csv").write_text("file,label\na.wav,sad\n")
    with pytest.raises(CorpusError, match="missing column.*emotion, speaker"):
        load_corpus("manifest", tmp_path)


def test_bad_files_are_skipped_with_reasons_and_mixed_formats_load(tmp_path):
    wav = tmp_path / "wav"
    write_tone(wav / "03a01Wa.wav", sr=16000)
    write_tone(wav / "03a01Wb.wav", sr=22050, channels=2)  # stereo, odd rate
    write_tone(wav / "03a02Wa.wav", fmt="FLAC")  # FLAC named .wav
    write_tone(wav / "03a02Wb.wav", fmt="AIFF")  # AIFF named .wav
    (wav / "03a04Wa.wav").write_bytes(b"")  # zero bytes
    (wav / "03a04Wb.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")  # truncated header
    (wav / "03a05Wa.wav").write_text("not audio at all\n" * 10)  # text named .wav
    write_tone(wav / "readme_take.wav")  # name does not parse
    corpus = load_corpus("emodb", tmp_path)
    assert sorted(rows(corpus)) == ["03a01Wa.wav", "03a01Wb.wav", "03a02Wa.wav", "03a02Wb.wav"]
    assert set(corpus.table["sample_rate"]) == {16000, 22050}
    why = reasons(corpus)
    assert why["03a04Wa.wav"] == "empty: zero-byte file"
    assert why["03a04Wb.wav"].startswith("cannot be decoded")
    assert why["03a05Wa.wav"].startswith("cannot be decoded")
    assert why["readme_take.wav"].startswith("name does not parse as EmoDB")
    with pytest.raises(CorpusError, match="4 file\\(s\\) skipped and --strict is on"):
        load_corpus("emodb", tmp_path, strict=True)


@pytest.mark.parametrize("dataset,make,message", [
    ("nosuch", None, "unknown dataset 'nosuch'"),
    ("emodb", "missing", "data directory not found"),
    ("emodb", "empty", "no usable utterances"),
    ("emodb", None, "needs --data-dir"),
])
def test_corpus_errors(tmp_path, dataset, make, message):
    data_dir = None
    if make == "missing":
        data_dir = tmp_path / "does-not-exist"
    elif make == "empty":
        data_dir = tmp_path
    with pytest.raises(CorpusError, match=message):
        load_corpus(dataset, data_dir)


def test_summary_counts(tmp_path):
    for name in ("03a01Fa", "03a02Fa", "08a01Wa"):
        write_tone(tmp_path / f"{name}.wav", seconds=0.5)
    summary = load_corpus("emodb", tmp_path).summary()
    assert summary["utterances"] == 3 and summary["speakers"] == 2
    assert summary["emotions"] == {"angry": 1, "happy": 2}
    assert summary["per_speaker"] == {"03": {"happy": 2}, "08": {"angry": 1}}
    assert summary["total_duration_s"] == pytest.approx(1.5)
    json.dumps(summary)


def test_emodb_integration(emodb_dir):
    corpus = load_corpus("emodb", emodb_dir)
    table = corpus.table
    assert len(table) == 535 and not corpus.skipped
    assert table["speaker"].nunique() == 10
    letters = table["label"].value_counts().to_dict()
    assert letters == {"W": 127, "L": 81, "N": 79, "F": 71, "A": 69, "T": 62, "E": 46}
    per_speaker = table.groupby("speaker").size()
    assert per_speaker.sum() == 535 and per_speaker.min() >= 35
    assert table.groupby("speaker")["gender"].first().value_counts().to_dict() == {"M": 5, "F": 5}
    angry_by_speaker = table[table["emotion"] == "angry"].groupby("speaker").size()
    assert angry_by_speaker.sum() == 127 and len(angry_by_speaker) == 10
