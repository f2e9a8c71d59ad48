"""Published splits: each shipped split loads and holds out what its provenance says."""

import json

import numpy as np
import pandas as pd
import pytest

from benchmark.evaluation.audit import audit, format_audit
from benchmark.evaluation.protocols import ProtocolError, make_folds, read_fold_file
from benchmark.evaluation.splits import format_splits, list_splits, resolve_split

RAVDESS_EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fear", "disgust", "surprise")
EMOBOX_RAVDESS = {1: {"01", "11", "20", "21"}, 2: {"04", "10", "12", "14"}, 3: {"08", "09", "19", "23"},
                  4: {"03", "05", "07", "24"}, 5: {"02", "15", "16", "18"}, 6: {"06", "13", "17", "22"}}


def full_ravdess() -> pd.DataFrame:
    """The 1440 audio-only speech files of RAVDESS as a table (no audio needed to make folds)."""
    rows = []
    for actor in range(1, 25):
        for code, emotion in enumerate(RAVDESS_EMOTIONS, start=1):
            for intensity in ((1,) if emotion == "neutral" else (1, 2)):
                for statement in (1, 2):
                    for repetition in (1, 2):
                        name = f"03-01-{code:02d}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor:02d}"
                        rows.append({"path": f"Actor_{actor:02d}/{name}.wav", "speaker": f"{actor:02d}",
                                     "emotion": emotion, "text": f"s{statement:02d}", "corpus": "ravdess",
                                     "digest": name})
    return pd.DataFrame(rows)


def speaker_table(speakers, per_speaker=12, emotions=("angry", "happy", "sad"), texts=3, corpus="x"):
    rows = [{"path": f"{s}_{i}.wav", "speaker": s, "emotion": emotions[i % len(emotions)],
             "text": f"t{i % texts}", "corpus": corpus, "digest": f"{s}-{i}"}
            for s in speakers for i in range(per_speaker)]
    return pd.DataFrame(rows)


def test_full_ravdess_table_is_the_release():
    table = full_ravdess()
    assert len(table) == 1440 and table["speaker"].nunique() == 24
    assert table.groupby("speaker").size().eq(60).all()


def test_emobox_ravdess_six_folds_of_four_actors_240_test_utterances():
    table = full_ravdess()
    split = resolve_split("emobox", "ravdess")
    folds = make_folds("speaker", table, 5, seed=0, fold_file=split.path)
    assert len(folds) == 6 == split.folds
    for fold, (number, actors) in zip(folds, sorted(EMOBOX_RAVDESS.items()), strict=True):
        assert set(table.speaker[fold.test]) == actors, number
        assert len(fold.test) == 240 and len(fold.train) == 1200 and fold.dev is None
        assert set(table.speaker[fold.train]).isdisjoint(actors)
    assert sorted(np.concatenate([f.test for f in folds]).tolist()) == list(range(1440))
    report = audit(table, {"speaker": folds}, split=split)
    section = report["split"]
    assert section["speaker_independent"] and section["speaker_independent_measured"] is True
    assert section["text_independent"] is False and section["text_independent_measured"] is False
    assert section["published"]["scores"] == {"wav2vec2-base": 54.3, "HuBERT-large": 70.0, "WavLM-large": 72.0,
                                              "Whisper-large-v3": 75.3}
    assert "Speaker-independent: yes (measured: yes)" in format_audit(report).replace("\n", " ")
    json.dumps(report)


def test_emobox_savee_leaves_one_speaker_out():
    table = speaker_table(["DC", "JE", "JK", "KL"], per_speaker=120)
    folds = make_folds("speaker", table, 5, fold_file=resolve_split("emobox", "savee").path)
    # EmoBox's own fold order (data/savee/fold_1..fold_4), so per-fold numbers compare
    assert [sorted(set(table.speaker[f.test])) for f in folds] == [["JE"], ["KL"], ["DC"], ["JK"]]
    assert all(len(f.test) == 120 and len(f.train) == 360 for f in folds)


def test_audb_emodb_fixed_train_and_test_speakers():
    speakers = ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]
    table = speaker_table(speakers)
    split = resolve_split("audb", "emodb")
    (fold,) = make_folds("speaker", table, 5, fold_file=split.path)
    assert sorted(set(table.speaker[fold.train])) == ["03", "08", "09", "10", "11", "13"]
    assert sorted(set(table.speaker[fold.test])) == ["12", "14", "15", "16"]
    assert fold.dev is None and split.version == "emodb 1.2.0"


def test_nkululeko_ravdess_has_a_development_part_that_is_never_tested():
    table = full_ravdess()
    split = resolve_split("nkululeko", "ravdess")
    assert split.has_dev
    (fold,) = make_folds("speaker", table, 5, fold_file=split.path)
    train, dev, test = (set(table.speaker[rows]) for rows in (fold.train, fold.dev, fold.test))
    assert train == {f"{a:02d}" for a in [*range(1, 16), 18]}
    assert dev == {"16", "17", "19", "20"} and test == {"21", "22", "23", "24"}
    assert (len(fold.train), len(fold.dev), len(fold.test)) == (960, 240, 240)
    assert set(fold.dev.tolist()).isdisjoint(fold.test.tolist()) and set(fold.dev.tolist()).isdisjoint(fold.train)
    assert fold.columns()["n_dev"] == 240
    report = audit(table, {"speaker": [fold]}, split=split)
    assert report["protocols"]["speaker"]["dev_leaks"] == 0
    assert report["protocols"]["speaker"]["folds"][0]["dev_speakers"] == ["16", "17", "19", "20"]
    # speaker+text on the same split: the test sentence is unseen by training and by the development part
    (st,) = make_folds("speaker+text", table, 5, fold_file=split.path)
    test_texts = set(table.text[st.test])
    assert test_texts.isdisjoint(table.text[st.train]) and test_texts.isdisjoint(table.text[st.dev])
    assert set(table.speaker[st.test]) == test and set(table.speaker[st.dev]) == dev


@pytest.mark.parametrize("split", list_splits(), ids=lambda s: f"{s.corpus}-{s.name}")
def test_every_shipped_split_matches_its_provenance(split):
    if split.partition:  # a per-utterance split (MSP-Podcast's partitions): tests/test_more_corpora.py
        assert split.fold_file is None and split.has_dev and split.provenance()["partition"]
        return
    parsed = read_fold_file(split.path)
    assert len(parsed.folds) == split.folds
    info = split.provenance()
    assert {"source", "version", "url", "holds_out", "speaker_independent", "text_independent"} <= set(info)
    json.dumps(info)
    for parts in parsed.plan(parsed.speakers):  # declared speaker-independent: no speaker tests and trains
        test = {s for s, p in parts.items() if p == "test"}
        train = {s for s, p in parts.items() if p == "train"}
        assert test and train and test.isdisjoint(train)
    assert split.speaker_independent


def test_list_and_resolution_errors():
    listing = format_splits()
    for split in list_splits():
        assert split.name in listing and split.corpus in listing
    with pytest.raises(ProtocolError, match="no such split for emodb.*audb.*'emobox' exists for cafe, emovo, esd, iemocap, ravdess, savee, subesco"):
        resolve_split("emobox", "emodb")
    with pytest.raises(ProtocolError, match="splits for tess: none"):
        resolve_split("emobox", "tess")


def test_a_partial_corpus_is_not_the_published_split():
    table = full_ravdess()
    table = table[table.speaker != "05"].reset_index(drop=True)
    with pytest.raises(ProtocolError, match=r"ravdess-emobox\.csv: speaker\(s\) 05 not in the corpus"):
        make_folds("speaker", table, 5, fold_file=resolve_split("emobox", "ravdess").path)
