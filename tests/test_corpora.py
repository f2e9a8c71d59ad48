import json

import pytest

from benchmark.corpora import CorpusError, load_corpus
from tests.helpers import write_tone


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


# --------------------------------------------------------------------------------------------------------------
# Symbolic links, Windows paths, single utterances; several corpora in one table


def test_symlinked_folders_are_followed_and_loops_reported(tmp_path):
    root, elsewhere = tmp_path / "emodb", tmp_path / "elsewhere"
    write_tone(root / "wav" / "03a01Fa.wav")
    write_tone(elsewhere / "08a01Wa.wav")
    (root / "more").symlink_to(elsewhere, target_is_directory=True)  # a symlinked sub-folder
    (root / "wav" / "again").symlink_to(root, target_is_directory=True)  # a loop back to the root
    (root / "wav" / "x1.wav").symlink_to(root / "wav" / "x2.wav")  # two links pointing at each other
    (root / "wav" / "x2.wav").symlink_to(root / "wav" / "x1.wav")
    (root / "wav" / "gone.wav").symlink_to(tmp_path / "nowhere.wav")  # broken
    corpus = load_corpus("emodb", root)
    assert sorted(rows(corpus)) == ["03a01Fa.wav", "08a01Wa.wav"]
    why = reasons(corpus)
    assert why["again"].startswith("symbolic link loop: leads back to") and why["again"].endswith("not followed")
    assert "loop" in why["x1.wav"] and "loop" in why["x2.wav"]
    assert why["gone.wav"].startswith("broken symbolic link")


def test_manifest_windows_paths_and_symlink_loops(tmp_path):
    write_tone(tmp_path / "clips" / "sub" / "one.wav")
    write_tone(tmp_path / "clips" / "two.wav")
    (tmp_path / "clips" / "loop.wav").symlink_to(tmp_path / "clips" / "loop.wav")
    (tmp_path / "manifest.csv").write_text(
        "path,emotion,speaker\nclips\\sub\\one.wav,sad,s1\n.\\clips\\two.wav,happy,s2\nclips\\loop.wav,sad,s3\n")
    corpus = load_corpus("manifest", tmp_path)
    assert sorted(rows(corpus)) == ["one.wav", "two.wav"]
    assert reasons(corpus) == {"loop.wav": f"manifest line 4: symbolic link loop at {tmp_path}/clips/loop.wav"}


def test_single_utterance_speakers_and_emotions_are_warned(tmp_path):
    for name in ("03a01Fa", "03a02Fa", "03a01Wa", "03a02Wa", "08a01Wa", "09a01Ta"):
        write_tone(tmp_path / f"{name}.wav")
    corpus = load_corpus("emodb", tmp_path)
    assert corpus.warnings == [
        "2 speaker(s) with a single utterance: 08, 09; a fold or class resting on one recording counts as much "
        "as a full one",
        "1 emotion(s) with a single utterance: sad; a fold or class resting on one recording counts as much as "
        "a full one"]
    assert corpus.summary()["warnings"] == corpus.warnings


def make_corpora(tmp_path):
    """Tiny EmoDB, RAVDESS and SAVEE folders; EmoDB and RAVDESS both have a speaker "03"."""
    emodb, ravdess, savee = tmp_path / "emodb", tmp_path / "ravdess", tmp_path / "savee"
    for i, name in enumerate(("03a01Wa", "03a02Fa", "03a04Ta", "03a05La", "08a01Wa", "08a02Fa", "08a04Ta")):
        write_tone(emodb / "wav" / f"{name}.wav", freq=200 + i)
    for i, (code, actor) in enumerate([("05", "03"), ("03", "03"), ("04", "03"), ("02", "03"), ("05", "04"),
                                       ("03", "04"), ("04", "04")]):
        write_tone(ravdess / f"Actor_{actor}" / f"03-01-{code}-01-01-01-{actor}.wav", freq=300 + i)
    for i, name in enumerate(("DC_a01", "DC_h01", "DC_sa01", "JE_a01", "JE_h01", "JE_sa01", "JE_n01")):
        write_tone(savee / f"{name}.wav", freq=400 + i)
    return emodb, ravdess, savee


def test_several_corpora_keep_speakers_apart_and_share_emotions(tmp_path):
    from benchmark.corpora import load_corpora, parse_corpus_specs

    emodb, ravdess, savee = make_corpora(tmp_path)
    specs = parse_corpus_specs(f"emodb:{emodb},ravdess:{ravdess},savee:{savee}")
    corpus = load_corpora(specs)
    table = corpus.table
    assert corpus.name == "emodb+ravdess+savee"
    assert sorted(table.speaker.unique()) == ["emodb:03", "emodb:08", "ravdess:03", "ravdess:04", "savee:DC",
                                              "savee:JE"]
    assert set(table.emotion) == {"angry", "happy", "sad"}  # boredom, calm, neutral are not in every corpus
    assert corpus.notes[0] == "emotions used (shared by every corpus): angry, happy, sad"
    assert corpus.notes[1].startswith("dropped 3 utterance(s) of other emotions: emodb boredom 1, ravdess calm 1")
    assert table.text.dropna().str.contains(":").all()
    assert corpus.parts == {"emodb": str(emodb), "ravdess": str(ravdess), "savee": str(savee)}
    asked = load_corpora(specs[:2], emotions=["angry", "sad", "calm"])
    assert set(asked.table.emotion) == {"angry", "sad", "calm"}
    assert any("emodb has no calm" in n for n in asked.notes)


def test_several_corpora_errors(tmp_path):
    from benchmark.corpora import load_corpora, parse_corpus_specs, parse_emotions

    emodb, ravdess, _ = make_corpora(tmp_path)
    assert parse_corpus_specs("emodb", data_dir=emodb) == [("emodb", emodb)]
    assert parse_corpus_specs(f"crema-d:{tmp_path},synthetic") == [("cremad", tmp_path), ("synthetic", None)]
    for text, message in [("emodb:a,emodb:b", "names emodb more than once"), ("emodb:a,,tess:b", "empty item"),
                          ("emodb:a,nosuch:b", "unknown dataset 'nosuch'"), ("emodb,tess:b", "emodb:DIR")]:
        with pytest.raises(CorpusError, match=message):
            parse_corpus_specs(text)
    assert parse_emotions("Anger, sadness,angry") == ["angry", "sad"]
    with pytest.raises(CorpusError, match="unknown emotion"):
        parse_emotions("angry,grumpy")
    with pytest.raises(CorpusError, match="surprise in no corpus"):
        load_corpora([("emodb", emodb), ("ravdess", ravdess)], emotions=["angry", "surprise"])


def test_manifest_with_a_corpus_column(tmp_path):
    from benchmark.corpora import load_corpora

    for name in ("a", "b", "c", "d"):
        write_tone(tmp_path / f"{name}.wav", freq=100 + ord(name))
    (tmp_path / "manifest.csv").write_text("path,emotion,speaker,corpus\na.wav,sad,03,one\nb.wav,angry,03,one\n"
                                           "c.wav,sad,03,two\nd.wav,angry,03,two\n")
    corpus = load_corpora([("manifest", tmp_path / "manifest.csv")])
    assert sorted(corpus.table.speaker) == ["one:03", "one:03", "two:03", "two:03"]
    assert corpus.name == "one+two" and set(corpus.table.corpus) == {"one", "two"}
