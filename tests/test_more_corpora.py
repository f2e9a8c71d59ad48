"""IEMOCAP, MSP-Podcast and the open corpora on generated trees of their releases' layouts, names and label files."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.corpora import CorpusError, load_corpus
from benchmark.evaluation.protocols import make_folds
from benchmark.evaluation.splits import partition_folds, resolve_split
from tests.helpers import make_msppodcast, write_tone

# --------------------------------------------------------------------------------------------------------------
# IEMOCAP


def _iemocap_block(utt: str, code: str, vad=(2.5, 3.0, 3.5), start=1.0) -> str:
    v, a, d = vad
    return (f"[{start:.4f} - {start + 2:.4f}]\t{utt}\t{code}\t[{v:.4f}, {a:.4f}, {d:.4f}]\n"
            "C-E2:\tNeutral;\t()\nC-E3:\tNeutral;\t()\nA-E3:\tval 3; act 2; dom  2;\t()\n\n")


def make_iemocap(root, per_speaker=None):
    """Five sessions, two speakers each; improvised and scripted dialogs; every category including xxx and oth.

    Returns the expected (utterance -> code) map of the files written.
    """
    codes = per_speaker or ["neu", "hap", "exc", "ang", "sad", "fru", "xxx", "oth"]
    written = {}
    for s in range(1, 6):
        session = root / f"Session{s}"
        lead = "F" if s % 2 else "M"  # the dialog's name carries the session's lead, not the utterance's speaker
        for dialog in (f"Ses0{s}{lead}_impro01", f"Ses0{s}{lead}_script01_1b"):
            lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"]
            for sex in "FM":
                for i, code in enumerate(codes):
                    utt = f"{dialog}_{sex}{i:03d}"
                    write_tone(session / "sentences" / "wav" / dialog / f"{utt}.wav", seconds=0.1,
                               seed=len(written))
                    lines.append(_iemocap_block(utt, code, start=float(i)))
                    written[utt] = code
            (session / "dialog" / "EmoEvaluation").mkdir(parents=True, exist_ok=True)
            (session / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text("".join(lines))
        # the release's per-evaluator subfolders and a macOS fork are not label files
        (session / "dialog" / "EmoEvaluation" / "Categorical").mkdir(exist_ok=True)
        (session / "dialog" / "EmoEvaluation" / "Categorical" / f"Ses0{s}{lead}_impro01_e2_cat.txt").write_text(
            f"Ses0{s}{lead}_impro01_F000 :Anger; ()\n")
        (session / "dialog" / "EmoEvaluation" / "._x.txt").write_bytes(b"\x00\x05")
    # a whole-dialog recording is not an utterance
    write_tone(root / "Session1" / "dialog" / "wav" / "Ses01F_impro01.wav", seconds=0.1)
    # an utterance with no consensus line at all
    write_tone(root / "Session1" / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F099.wav", seconds=0.1)
    return written


def test_iemocap_four_class_task(tmp_path):
    written = make_iemocap(tmp_path)
    corpus = load_corpus("iemocap", tmp_path)
    table = corpus.table
    # 5 sessions x 2 dialogs x 2 speakers x (neu, hap, exc, ang, sad)
    assert len(table) == 5 * 2 * 2 * 5
    assert table["emotion"].value_counts().to_dict() == {"happy": 40, "neutral": 20, "angry": 20, "sad": 20}
    assert set(table.loc[table["label"] == "exc", "emotion"]) == {"happy"}  # excited merged into happy
    assert sorted(table["speaker"].unique()) == [f"Ses0{s}{g}" for s in range(1, 6) for g in "FM"]
    # the speaker's sex comes from the utterance's turn letter, not the dialog's lead
    row = table[table["path"].str.endswith("Ses02M_impro01_F001.wav")].iloc[0]
    assert (row["speaker"], row["gender"], row["session"], row["kind"]) == ("Ses02F", "F", "Ses02", "improvised")
    assert set(table["kind"]) == {"improvised", "scripted"}
    assert row["valence"] == 2.5 and row["arousal"] == 3.0 and row["dominance"] == 3.5
    why = {s.path.rsplit("/", 1)[-1]: s.reason for s in corpus.skipped}
    xxx = [u for u, c in written.items() if c == "xxx"]
    assert all(why[f"{u}.wav"].startswith("label xxx") for u in xxx) and len(xxx) == 20
    assert all("outside the 4-class task" in why[f"{u}.wav"] for u, c in written.items() if c in ("fru", "oth"))
    assert why["Ses01F_impro01_F099.wav"] == "no consensus line in the dialog's EmoEvaluation file"
    assert "Ses01F_impro01.wav" not in why and not table["path"].str.endswith("Ses01F_impro01.wav").any()
    assert any("20 utterance(s) without a consensus category (xxx)" in n for n in corpus.notes)
    assert any(n.startswith("IEMOCAP 4class task") and "this copy differs" in n for n in corpus.notes)


def test_iemocap_improvised_and_all_classes(tmp_path):
    make_iemocap(tmp_path)
    improvised = load_corpus("iemocap-improvised", tmp_path).table
    assert set(improvised["kind"]) == {"improvised"} and len(improvised) == 5 * 2 * 5
    everything = load_corpus("iemocap-all", tmp_path).table
    # every category but xxx: oth is kept, excited is its own class
    assert set(everything["emotion"]) == {"neutral", "happy", "excited", "angry", "sad", "frustrated", "other"}
    assert len(everything) == 5 * 2 * 2 * 7


def test_iemocap_counts_match_the_release_when_they_do(tmp_path):
    from benchmark.corpora.iemocap import RELEASE_COUNTS, paper_counts

    assert sum(RELEASE_COUNTS["categories"].values()) == RELEASE_COUNTS["all_utterances"]
    four = RELEASE_COUNTS["4class"]
    assert four["happy"] == RELEASE_COUNTS["categories"]["hap"] + RELEASE_COUNTS["categories"]["exc"]
    assert sum(v for k, v in four.items() if k != "total") == four["total"] == 5531
    assert sum(v for k, v in RELEASE_COUNTS["improvised"].items() if k != "total") == 2943
    make_iemocap(tmp_path)
    corpus = load_corpus("iemocap", tmp_path)
    line = paper_counts(corpus, "4class")[0]
    assert "the full release gives 5531" in line


def test_iemocap_leave_one_session_out_split(tmp_path):
    make_iemocap(tmp_path)
    table = load_corpus("iemocap", tmp_path).table
    split = resolve_split("loso", "iemocap")
    folds = make_folds("speaker", table, 5, 0, fold_file=split.fold_file)
    assert len(folds) == 5
    speakers = table["speaker"].to_numpy()
    for k, fold in enumerate(folds, start=1):
        test_speakers = set(speakers[fold.test])
        assert test_speakers == {f"Ses0{k}F", f"Ses0{k}M"}  # exactly the two speakers of one session
        assert not test_speakers & set(speakers[fold.train])
        assert len(fold.train) + len(fold.test) == len(table)
    assert resolve_split("loso", "iemocap-improvised").folds == 5


def test_iemocap_without_label_files_is_one_line(tmp_path):
    write_tone(tmp_path / "Session1" / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F000.wav")
    with pytest.raises(CorpusError, match="EmoEvaluation"):
        load_corpus("iemocap", tmp_path)


# --------------------------------------------------------------------------------------------------------------
# MSP-Podcast



def test_msppodcast_layout_and_quirks(tmp_path):
    make_msppodcast(tmp_path)
    corpus = load_corpus("msppodcast", tmp_path)
    table = corpus.table
    assert set(table["emotion"]) == {"angry", "sad", "happy", "surprise", "fear", "disgust", "contempt", "neutral"}
    assert len(table) == 9 * 8  # 9 speaker groups x the 8 challenge classes
    assert table["partition"].value_counts().to_dict() == {"Train": 24, "Development": 16, "Test1": 16,
                                                           "Test2": 16}
    unknown = table[table["speaker"].str.startswith("unknown@")]
    assert len(unknown) == 3 * 8 and unknown["gender"].isna().all()
    # unknown speakers are grouped by podcast, never merged into one speaker across podcasts
    podcasts = unknown["path"].str.extract(r"MSP-PODCAST_(\d{4})_")[0]
    assert (unknown["speaker"] == "unknown@" + podcasts).all() and unknown["speaker"].nunique() > 1
    assert set(table.loc[table["speaker"] == "127", "gender"]) == {"F"}
    why = {s.path.rsplit("/", 1)[-1]: s.reason for s in corpus.skipped}
    assert sum(r.startswith("EmoClass X") for r in why.values()) == 9
    assert sum(r.startswith("EmoClass O") for r in why.values()) == 9
    assert sum(r.startswith("Test3") for r in why.values()) == 3
    assert why["MSP-PODCAST_9999_0001.wav"].startswith("listed in labels_consensus.csv, no such file")
    assert why["MSP-PODCAST_8888_0001.wav"] == "not in labels_consensus.csv"
    assert load_corpus("msppodcast-all", tmp_path).table["emotion"].eq("other").sum() == 9
    assert len(load_corpus("MSP-Podcast", tmp_path).table) == len(table)  # the release's own spelling


def test_msppodcast_official_partitions(tmp_path):
    make_msppodcast(tmp_path)
    table = load_corpus("msppodcast", tmp_path).table
    split = resolve_split("official", "msppodcast")
    folds = partition_folds(table, split)
    part = table["partition"].to_numpy()
    assert [f.name for f in folds] == ["Test1", "Test2"]
    for fold in folds:
        assert set(part[fold.train]) == {"Train"}  # the test sets are never trained on
        assert set(part[fold.dev]) == {"Development"}
        assert set(part[fold.test]) == {fold.name}  # the development part is never scored
        assert not set(fold.test) & set(fold.dev)
    assert split.has_dev and split.provenance()["partition"] == "partition"


def test_msppodcast_official_split_refused_elsewhere(tmp_path, small_corpus_dir):
    from benchmark.evaluation.protocols import ProtocolError

    table = load_corpus("synthetic", small_corpus_dir).table
    with pytest.raises(ProtocolError, match="no 'partition' column"):
        partition_folds(table, resolve_split("official", "msppodcast"))


def test_msppodcast_label_file_faults(tmp_path):
    with pytest.raises(CorpusError, match="labels_consensus.csv"):
        load_corpus("msppodcast", tmp_path)
    (tmp_path / "Labels").mkdir()
    (tmp_path / "Audios").mkdir()
    (tmp_path / "Labels" / "labels_consensus.csv").write_text("FileName,EmoClass\nx.wav,A\n")
    with pytest.raises(CorpusError, match=r"missing column\(s\) EmoAct"):
        load_corpus("msppodcast", tmp_path)


def test_msppodcast_dimensional_keeps_every_labelled_segment(tmp_path):
    from benchmark.corpora.more import dimensional_loader

    make_msppodcast(tmp_path)
    corpus = dimensional_loader("msppodcast")(tmp_path)
    table = corpus.table
    assert len(table) == 9 * 10  # X and O keep their dimensional labels
    assert np.isfinite(table[["arousal", "valence", "dominance"]].to_numpy(float)).all()


# --------------------------------------------------------------------------------------------------------------
# Open corpora: each release's names, its quirks, and its EmoBox split


def test_emovo_layout(tmp_path):
    write_tone(tmp_path / "f1" / "dis-f1-b1.wav", seconds=0.1)
    write_tone(tmp_path / "m3" / "gio-m3-l4.wav", seconds=0.1)
    write_tone(tmp_path / "m3" / "xyz-m3-l4.wav", seconds=0.1)
    write_tone(tmp_path / "m3" / "neu-m3-q9.wav", seconds=0.1)
    corpus = load_corpus("emovo", tmp_path)
    got = {(r["speaker"], r["gender"], r["emotion"], r["text"]) for r in corpus.table.to_dict("records")}
    assert got == {("f1", "F", "disgust", "b1"), ("m3", "M", "happy", "l4")}
    assert sorted(s.reason for s in corpus.skipped) == ["name does not parse as EMOVO (unknown sentence 'q9')",
                                                       "unknown label 'xyz'"]
    assert "documented release has 588 utterances, 6 speakers -- this copy differs" in corpus.notes[0]


def test_cafe_layout(tmp_path):
    write_tone(tmp_path / "Colère" / "Faible" / "01-C-1-1.wav", seconds=0.1)
    write_tone(tmp_path / "Tristesse" / "Fort" / "12-T-2-6.wav", seconds=0.1)
    write_tone(tmp_path / "Neutre" / "08-N-1-3.wav", seconds=0.1)
    write_tone(tmp_path / "Neutre" / "13-N-1-3.wav", seconds=0.1)
    table = load_corpus("cafe", tmp_path).table.set_index("speaker")
    assert table.loc["01", ["emotion", "gender", "intensity", "text"]].tolist() == ["angry", "M", "low", "s1"]
    assert table.loc["12", ["emotion", "gender", "intensity"]].tolist() == ["sad", "F", "high"]  # even: a woman
    assert table.loc["08", "emotion"] == "neutral" and "13" not in table.index


def test_subesco_layout_and_its_misnamed_file(tmp_path):
    write_tone(tmp_path / "F_01_OISHI_S_1_ANGRY_1.wav", seconds=0.1)
    write_tone(tmp_path / "M_01_RAKIB_S_10_NEUTRAL_5.wav", seconds=0.1)
    write_tone(tmp_path / "F_02_MONIKA_S_2_SURPRISE_3].wav", seconds=0.1)  # as the release names it
    table = load_corpus("subesco", tmp_path).table
    assert sorted(table["speaker"]) == ["F_01", "F_02", "M_01"]  # numbers restart per sex: two people
    assert set(table.loc[table["speaker"] == "F_02", "emotion"]) == {"surprise"}
    assert set(table.loc[table["speaker"] == "M_01", "text"]) == {"s10"}


def test_shemo_layout(tmp_path):
    write_tone(tmp_path / "female" / "F01A01.wav", seconds=0.1)
    write_tone(tmp_path / "male" / "M32W12.wav", seconds=0.1)
    write_tone(tmp_path / "male" / "M32X12.wav", seconds=0.1)
    corpus = load_corpus("shemo", tmp_path)
    got = {(r["speaker"], r["gender"], r["emotion"]) for r in corpus.table.to_dict("records")}
    assert got == {("F01", "F", "angry"), ("M32", "M", "surprise")}
    assert corpus.table["text"].isna().all() and len(corpus.skipped) == 1


def test_esd_layout_text_ids_and_misfiled_files(tmp_path):
    write_tone(tmp_path / "0011" / "Angry" / "0011_000351.wav", seconds=0.1)
    write_tone(tmp_path / "0012" / "Neutral" / "0012_000001.wav", seconds=0.1)
    write_tone(tmp_path / "0003" / "Surprise" / "train" / "0003_001750.wav", seconds=0.1)
    write_tone(tmp_path / "0011" / "Happy" / "0011_000351.wav", seconds=0.1)  # an Angry number under Happy
    corpus = load_corpus("esd", tmp_path)
    table = corpus.table.set_index("speaker")
    # the same sentence across emotions and speakers of a language is one text id
    assert table.loc["0011", "text"] == table.loc["0012", "text"] == "en001"
    assert table.loc["0011", "emotion"] == "angry" and table.loc["0011", "language"] == "en"
    assert table.loc["0003", ["emotion", "text", "language", "partition"]].tolist() == ["surprise", "zh350", "zh",
                                                                                        "train"]
    assert corpus.skipped[0].reason == "filed under 'Happy' but number 000351 is in the Angry block"


@pytest.mark.parametrize("corpus,speakers,folds", [
    ("cafe", [f"{i:02d}" for i in range(1, 13)], 3),
    ("emovo", ["f1", "f2", "f3", "m1", "m2", "m3"], 6),
    ("subesco", [f"{s}_{i:02d}" for s in "FM" for i in range(1, 11)], 5),
    ("esd", [f"{i:04d}" for i in range(1, 21)], 5),
    ("iemocap", [f"Ses0{s}{g}" for s in range(1, 6) for g in "FM"], 5),
])
def test_emobox_splits_hold_out_every_speaker_once(corpus, speakers, folds):
    import pandas as pd

    split = resolve_split("emobox", corpus)
    table = pd.DataFrame({"speaker": np.repeat(speakers, 4), "emotion": ["a", "b"] * 2 * len(speakers),
                          "text": None, "corpus": corpus})
    made = make_folds("speaker", table, 5, fold_file=split.fold_file)
    assert len(made) == folds == split.folds
    tested = np.concatenate([f.test for f in made])
    assert sorted(tested.tolist()) == list(range(len(table)))  # every speaker tested exactly once
    for fold in made:
        assert not set(table.speaker[fold.test]) & set(table.speaker[fold.train])
    assert split.speaker_independent


def test_emobox_iemocap_is_leave_one_session_out():
    a, b = resolve_split("emobox", "iemocap").fold_file, resolve_split("loso", "iemocap").fold_file
    assert sorted((f, s) for f, s, _, _ in a.rows) == sorted((f, s) for f, s, _, _ in b.rows)


def test_runs_on_the_official_partitions_and_leave_one_session_out(tmp_path):
    import pandas as pd

    from benchmark.run.config import RunConfig
    from benchmark.run.engine import run_benchmark

    make_msppodcast(tmp_path / "msp")
    common = dict(features=("rms",), models=("svm",), protocols=("speaker",), ablation=False, report=False,
                  quiet=True, jobs=1, out=str(tmp_path / "out"), bootstrap_resamples=100)
    result = run_benchmark(RunConfig(dataset="msppodcast", data_dir=str(tmp_path / "msp"), split="official",
                                     **common))
    folds = result.folds
    assert folds["fold_name"].tolist() == ["Test1", "Test2"] and (folds["n_dev"] == 16).all()
    predictions = pd.read_csv(result.run_dir / "predictions.csv")
    table = result.corpus.table
    scored = set(table.loc[predictions["row"], "partition"])
    assert scored == {"Test1", "Test2"}  # the development part is never scored, the training part never tested
    assert "f1" in folds and "SI F1" in (result.run_dir / "leaderboard.md").read_text()

    make_iemocap(tmp_path / "iemocap")
    result = run_benchmark(RunConfig(dataset="iemocap", data_dir=str(tmp_path / "iemocap"), split="loso", **common))
    per_fold = pd.read_csv(result.run_dir / "splits.csv").groupby("test_fold_speaker")["speaker"].unique()
    assert [sorted(s) for s in per_fold] == [[f"Ses0{k}F", f"Ses0{k}M"] for k in range(1, 6)]


def test_describe_prints_the_counts_papers_print(tmp_path, capsys):
    from benchmark.cli import main

    make_iemocap(tmp_path)
    assert main(["describe", "--dataset", "iemocap", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "IEMOCAP 4class task (happy and excited merged): 100 utterances" in out
    assert "the full release gives 5531 (neutral 1708, happy 1636, angry 1103, sad 1084)" in out
    assert "per session (the leave-one-session-out test folds): Ses01 20, Ses02 20" in out


def _emobox_lists(root, corpus, folds):
    import json

    for k, (train, test) in enumerate(folds, start=1):
        fold = root / f"fold_{k}"
        fold.mkdir(parents=True)
        for part, names in (("train", train), ("test", test)):
            lines = [json.dumps({"key": f"{corpus}-{n}", "wav": f"downloads/{corpus}/x/{n}.wav"}) for n in names]
            (fold / f"{corpus}_{part}_fold_{k}.jsonl").write_text("\n".join(lines) + "\n")


def test_emobox_list_audit_finds_speaker_dependent_lists(tmp_path):
    from benchmark.corpora.emobox import audit_emobox_lists, fold_file_rows

    # EMOVO-like lists: one speaker tested per fold, never trained on
    _emobox_lists(tmp_path / "emovo", "emovo", [(["neu-m1-b1", "rab-m1-b2"], ["dis-f1-b1"]),
                                                 (["dis-f1-b1"], ["neu-m1-b1", "rab-m1-b2"])])
    report = audit_emobox_lists(tmp_path / "emovo", "emovo")
    assert report["speaker_independent"] and fold_file_rows(report) == [("f1", 1), ("m1", 2)]
    # EmoDB-like lists: utterances split at random, the same speakers in training and test
    _emobox_lists(tmp_path / "emodb", "emodb", [(["03a01Fa", "08a01Wa"], ["03a02Fa", "08b01Na"]),
                                                 (["03a02Fa", "08b01Na"], ["03a01Fa", "08a01Wa"])])
    report = audit_emobox_lists(tmp_path / "emodb", "emodb")
    assert not report["speaker_independent"]
    assert report["test_rows_of_training_speakers"] == report["test_rows"] == 4
    assert report["folds"][0]["shared_speakers"] == ["03", "08"]
    with pytest.raises(CorpusError, match="not speaker-independent .4 of 4 test utterances"):
        fold_file_rows(report)

