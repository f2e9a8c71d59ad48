import numpy as np
import pandas as pd
import pytest

from benchmark.evaluation.audit import audit
from benchmark.evaluation.metrics import fold_scores, mean_std
from benchmark.evaluation.protocols import ProtocolError, make_folds


def corpus(speakers=8, texts=6, emotions=("angry", "happy", "sad"), reps=1):
    rows = [{"path": f"{s}_{t}_{e}_{r}.wav", "speaker": f"sp{s}", "text": f"t{t}", "emotion": e,
             "digest": f"{s}-{t}-{e}-{r}"}
            for s in range(speakers) for t in range(texts) for e in emotions for r in range(reps)]
    return pd.DataFrame(rows)


def covers_each_row_once(folds, n):
    tested = np.concatenate([f.test for f in folds])
    return sorted(tested.tolist()) == list(range(n))


def test_stratified_folds_share_speakers():
    table = corpus()
    folds = make_folds("stratified", table, 5, seed=0)
    assert len(folds) == 5 and covers_each_row_once(folds, len(table))
    for fold in folds:
        assert set(table.speaker[fold.test]) <= set(table.speaker[fold.train])
        assert set(fold.train).isdisjoint(fold.test)


def test_speaker_folds_hold_out_whole_speakers():
    table = corpus()
    folds = make_folds("speaker", table, 4, seed=0)
    assert len(folds) == 4 and covers_each_row_once(folds, len(table))
    for fold in folds:
        assert set(table.speaker[fold.test]).isdisjoint(table.speaker[fold.train])


def test_loso_when_fewer_speakers_than_folds_or_asked():
    assert len(make_folds("speaker", corpus(speakers=3), 5)) == 3
    folds = make_folds("speaker", corpus(speakers=8), 5, loso=True)
    assert len(folds) == 8 and all(len(set(corpus().speaker[f.test])) == 1 for f in folds)


def test_speaker_text_folds_leave_both_unseen():
    table = corpus(speakers=10, texts=10)
    folds = make_folds("speaker+text", table, 5, seed=1)
    assert len(folds) == 5
    for fold in folds:
        assert len(fold.test) > 0
        assert set(table.speaker[fold.test]).isdisjoint(table.speaker[fold.train])
        assert set(table.text[fold.test]).isdisjoint(table.text[fold.train])


def test_speaker_text_needs_texts():
    table = corpus()
    table.loc[0, "text"] = None
    with pytest.raises(ProtocolError, match="needs a sentence id"):
        make_folds("speaker+text", table, 5)


def test_same_seed_same_folds_other_seed_other_folds():
    table = corpus(speakers=12)
    for protocol in ("stratified", "speaker", "speaker+text"):
        a, b = make_folds(protocol, table, 4, seed=3), make_folds(protocol, table, 4, seed=3)
        assert all(np.array_equal(x.test, y.test) for x, y in zip(a, b, strict=True))
    c, d = make_folds("speaker", table, 4, seed=3), make_folds("speaker", table, 4, seed=4)
    assert any(not np.array_equal(x.test, y.test) for x, y in zip(c, d, strict=True))


def test_fold_file_reproduces_a_published_split(tmp_path):
    table = corpus(speakers=6)
    fold_file = tmp_path / "folds.csv"
    fold_file.write_text("speaker,fold\n" + "".join(f"sp{s},{s // 2}\n" for s in range(6)))
    folds = make_folds("speaker", table, 5, fold_file=fold_file)
    assert [sorted(set(table.speaker[f.test])) for f in folds] == [["sp0", "sp1"], ["sp2", "sp3"], ["sp4", "sp5"]]
    fold_file.write_text("speaker,fold\nsp0,0\nsp1,1\n")
    with pytest.raises(ProtocolError, match="no fold for speaker"):
        make_folds("speaker", table, 5, fold_file=fold_file)


def test_protocol_errors():
    with pytest.raises(ProtocolError, match="at least 2 speakers"):
        make_folds("speaker", corpus(speakers=1), 5)
    with pytest.raises(ProtocolError, match="at least 2"):
        make_folds("stratified", corpus(), 1)


def test_fold_scores_by_hand():
    labels = ["angry", "happy", "sad"]
    y_true = ["angry"] * 4 + ["happy"] * 2 + ["sad"] * 2
    y_pred = ["angry", "angry", "angry", "sad", "happy", "angry", "sad", "sad"]
    s = fold_scores(y_true, y_pred, labels)
    assert s["uar"] == pytest.approx((3 / 4 + 1 / 2 + 1) / 3)
    assert s["wa"] == pytest.approx(6 / 8)
    f1_angry = 2 * (3 / 4) * (3 / 4) / (3 / 4 + 3 / 4)
    f1_happy = 2 * 1 * 0.5 / 1.5
    f1_sad = 2 * (2 / 3) * 1 / (2 / 3 + 1)
    assert s["f1"] == pytest.approx((f1_angry + f1_happy + f1_sad) / 3)
    assert s["confusion"].tolist() == [[3, 0, 1], [1, 1, 0], [0, 0, 2]]
    assert s["chance_uar"] == pytest.approx(1 / 3) and s["chance_wa"] == pytest.approx(0.5)


def test_class_absent_from_a_fold():
    s = fold_scores(["angry", "angry", "sad"], ["angry", "sad", "sad"], ["angry", "happy", "sad"])
    assert np.isnan(s["recall"]["happy"]) and s["uar"] == pytest.approx((0.5 + 1) / 2)
    assert mean_std([0.5, 0.7]) == pytest.approx((0.6, np.std([0.5, 0.7], ddof=1)))


def test_audit_counts_what_test_shares_with_train():
    table = corpus(speakers=6, texts=4)
    table.loc[5, "digest"] = table.loc[40, "digest"]  # an exact duplicate across two speakers
    folds = {p: make_folds(p, table, 3, seed=0) for p in ("stratified", "speaker", "speaker+text")}
    report = audit(table, folds)
    assert report["protocols"]["stratified"]["test_speaker_in_train"] == 1.0
    assert report["protocols"]["speaker"]["test_speaker_in_train"] == 0.0
    assert report["protocols"]["speaker"]["test_text_in_train"] == 1.0
    assert report["protocols"]["speaker+text"]["test_text_in_train"] == 0.0
    assert report["corpus"]["duplicate_groups"] == [[table.path[5], table.path[40]]]
    crossing = sum(p["duplicates_across_train_test"] for p in report["protocols"].values())
    assert crossing >= 2  # a duplicate pair split by the stratified and the speaker folds
    assert any("exact-duplicate" in w for w in report["warnings"])
    few = audit(corpus(speakers=2), {"speaker": make_folds("speaker", corpus(speakers=2), 5)})
    assert any("rests on 2 speakers" in w for w in few["warnings"])


# --------------------------------------------------------------------------------------------------------------
# Holdout, fold-file validation (up front, one line naming the file), cross-corpus folds


def test_holdout_is_one_seeded_stratified_80_20_split():
    table = corpus(speakers=8, texts=5)  # 120 rows, 40 per emotion
    (fold,) = make_folds("holdout", table, 5, seed=2)
    assert (len(fold.train), len(fold.test)) == (96, 24)
    assert table.emotion[fold.test].value_counts().to_dict() == {"angry": 8, "happy": 8, "sad": 8}
    assert set(fold.train.tolist()).isdisjoint(fold.test.tolist())
    assert set(table.speaker[fold.test]) <= set(table.speaker[fold.train])  # speakers shared
    again, other = make_folds("holdout", table, 5, seed=2)[0], make_folds("holdout", table, 5, seed=3)[0]
    assert np.array_equal(fold.test, again.test) and not np.array_equal(fold.test, other.test)
    with pytest.raises(ProtocolError, match="holdout"):
        make_folds("holdout", corpus(speakers=1, texts=1), 5)


FAULTS = [
    ("speaker,fold\nsp0,1\n,2\n", r"line 3: empty speaker cell"),
    ("speaker,fold\nsp0,1\nsp1,\n", r"line 3: empty fold cell"),
    ("speaker,fold\nsp0,1\nsp1,2\nsp0,2\n", r"speaker 'sp0' listed twice \(lines 2 and 4\)"),
    ("speaker,fold\n01,1\n02,2\n1,2\n", r"speaker '1' listed twice \(lines 2 and 4\)"),  # 01 is 1
    ("speaker,fold\n" + "".join(f"sp{s},1\n" for s in range(8)), r"needs at least 2 folds, found 1"),
    ("speaker,fold\n" + "".join(f"sp{s},{s % 2}\n" for s in range(8)) + "ghost,1\n",
     r"speaker\(s\) ghost not in the corpus"),
    ("speaker,fold\nsp0,one\n", r"line 2: fold 'one' of speaker 'sp0' is not an integer"),
    ("actor,split\nsp0,1\n", r"needs columns speaker,fold"),
    ("", r"empty; needs columns speaker,fold"),
    ("speaker,fold\n", r"no rows below the header"),
    ("speaker,fold,part\n" + "".join(f"sp{s},1,train\n" for s in range(8)), r"fold 1 has no test speaker"),
    ("speaker,fold,part\nsp0,1,test\nsp1,1,validation\n", r"line 3: part 'validation' is not train, dev or test"),
    ("speaker,fold,part\nsp0,1,test\nsp1,1,train\n", r"fold 1 gives no part to speaker\(s\) sp2"),
]


@pytest.mark.parametrize("text,message", FAULTS)
def test_fold_file_faults_are_one_line_naming_the_file(tmp_path, text, message):
    path = tmp_path / "my folds.csv"
    path.write_text(text)
    with pytest.raises(ProtocolError, match=message) as caught:
        make_folds("speaker", corpus(speakers=8), 5, fold_file=path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_fold_file_is_checked_without_the_corpus(tmp_path):
    from benchmark.evaluation.protocols import read_fold_file

    path = tmp_path / "folds.csv"
    path.write_text("speaker,fold\nsp0,1\n,2\n")
    with pytest.raises(ProtocolError, match="empty speaker cell"):
        read_fold_file(path)  # what the CLI calls before any audio is decoded
    path.write_text("\ufeffSpeaker , Fold\nsp0,1\nsp1,2\n")  # BOM, spaces and case in the header
    assert read_fold_file(path).folds == [1, 2]


def test_fold_file_with_parts_gives_development_rows(tmp_path):
    table = corpus(speakers=6)
    path = tmp_path / "split.csv"
    path.write_text("speaker,fold,part\n" + "".join(
        f"sp{s},{f},{p}\n" for f in (1, 2) for s, p in enumerate(
            ["train", "train", "train", "dev", "test", "test"] if f == 1 else
            ["test", "test", "dev", "train", "train", "train"])))
    folds = make_folds("speaker", table, 5, fold_file=path)
    assert [sorted(set(table.speaker[f.dev])) for f in folds] == [["sp3"], ["sp2"]]
    assert [sorted(set(table.speaker[f.test])) for f in folds] == [["sp4", "sp5"], ["sp0", "sp1"]]
    for fold in folds:
        assert len(set(fold.train.tolist()) | set(fold.dev.tolist()) | set(fold.test.tolist())) == len(table)


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

CELL = st.one_of(st.sampled_from([f"sp{s}" for s in range(8)] + ["ghost", "", " ", "sp01", "SP1"]),
                 st.text(alphabet="ab,\"\n 0", max_size=4))
FOLD_CELL = st.one_of(st.integers(-2, 4).map(str), st.sampled_from(["", "x", "1.5", " 2 "]))


@settings(max_examples=120, deadline=None)
@given(rows=st.lists(st.tuples(CELL, FOLD_CELL), max_size=12), header=st.sampled_from(
    ["speaker,fold", "Speaker,Fold", "fold,speaker", "speaker", "speaker,fold,extra"]))
def test_any_fold_file_gives_valid_folds_or_one_line_error(tmp_path_factory, rows, header):
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header.split(","))
    for speaker, fold in rows:
        cells = {"speaker": speaker, "fold": fold, "extra": "x"}
        writer.writerow([cells[c.lower()] for c in header.split(",")])
    path = tmp_path_factory.mktemp("hyp") / "folds.csv"
    path.write_text(buffer.getvalue())
    table = corpus(speakers=8)
    try:
        folds = make_folds("speaker", table, 5, fold_file=path)
    except ProtocolError as error:
        message = str(error)
        assert "\n" not in message and str(path) in message
        return
    # accepted: every corpus speaker is tested exactly once, never in its own training part
    assert covers_each_row_once(folds, len(table)) and len(folds) >= 2
    for fold in folds:
        assert set(table.speaker[fold.test]).isdisjoint(table.speaker[fold.train])


MUTATIONS = ("none", "drop", "duplicate", "blank speaker", "blank fold", "ghost", "text fold")


@settings(max_examples=80, deadline=None)
@given(assignment=st.lists(st.integers(0, 3), min_size=8, max_size=8), mutation=st.sampled_from(MUTATIONS),
       where=st.integers(0, 7), order=st.permutations(range(8)))
def test_generated_fold_files_accepted_exactly_when_valid(tmp_path_factory, assignment, mutation, where, order):
    rows = [[f"sp{s}", str(assignment[s])] for s in order]
    if mutation == "drop":
        del rows[where]
    elif mutation == "duplicate":
        rows.append(list(rows[where]))
    elif mutation == "blank speaker":
        rows[where][0] = ""
    elif mutation == "blank fold":
        rows[where][1] = ""
    elif mutation == "ghost":
        rows.append(["ghost", "0"])
    elif mutation == "text fold":
        rows[where][1] = "first"
    path = tmp_path_factory.mktemp("gen") / "folds.csv"
    path.write_text("speaker,fold\n" + "".join(f"{a},{b}\n" for a, b in rows))
    table = corpus(speakers=8)
    valid = mutation == "none" and len(set(assignment)) >= 2
    if not valid:
        with pytest.raises(ProtocolError) as caught:
            make_folds("speaker", table, 5, fold_file=path)
        assert "\n" not in str(caught.value) and str(caught.value).startswith(str(path))
        return
    folds = make_folds("speaker", table, 5, fold_file=path)
    expected = [{f"sp{s}" for s in range(8) if assignment[s] == f} for f in sorted(set(assignment))]
    assert [set(table.speaker[f.test]) for f in folds] == expected
    assert covers_each_row_once(folds, len(table))


def multi_corpus(names=("a", "b", "c"), speakers=4, emotions=("angry", "happy", "sad")):
    frames = []
    for n, name in enumerate(names):
        part = corpus(speakers=speakers + n, texts=3, emotions=emotions)
        part["corpus"] = name
        part["path"] = name + "/" + part["path"]
        part["digest"] = name + part["digest"]
        frames.append(part)
    table = pd.concat(frames, ignore_index=True)
    from benchmark.corpora.multi import prefix_ids

    return prefix_ids(table)


def test_cross_corpus_folds_never_train_on_the_test_corpus():
    table = multi_corpus()
    folds = make_folds("cross-corpus", table, 3, seed=0)
    pairs = [(f.train_corpus, f.test_corpus) for f in folds]
    off = [f for f in folds if f.train_corpus != f.test_corpus]
    assert sorted({p for p in pairs if p[0] != p[1]}) == [(a, b) for a in "abc" for b in "abc" if a != b]
    assert len(off) == 6
    for fold in off:
        assert set(table.corpus[fold.train]) == {fold.train_corpus}
        assert set(table.corpus[fold.test]) == {fold.test_corpus}
        assert len(fold.train) == (table.corpus == fold.train_corpus).sum()
        assert fold.name == f"{fold.train_corpus}->{fold.test_corpus}"
    assert [f.index for f in folds] == list(range(len(folds)))
    report = audit(table, {"cross-corpus": folds})
    assert report["protocols"]["cross-corpus"]["test_corpus_in_train"] == 0
    assert report["protocols"]["cross-corpus"]["test_speaker_in_train"] == 0.0


def test_cross_corpus_diagonal_is_the_in_corpus_speaker_split_with_the_same_seed():
    table = multi_corpus(speakers=6)
    folds = make_folds("cross-corpus", table, 3, seed=5)
    for name in ("a", "b", "c"):
        diagonal = [f for f in folds if f.train_corpus == f.test_corpus == name]
        alone = table[table.corpus == name].copy()
        alone["speaker"] = alone["speaker"].str.split(":").str[1]  # as the corpus loads on its own
        alone = alone.reset_index(drop=True)
        inner = make_folds("speaker", alone, 3, seed=5)
        assert len(diagonal) == len(inner) == 3
        for d, i in zip(diagonal, inner, strict=True):
            assert table.path[d.test].tolist() == alone.path[i.test].tolist()
            assert table.path[d.train].tolist() == alone.path[i.train].tolist()


def test_cross_corpus_pairs_use_the_emotions_both_corpora_have():
    table = multi_corpus(names=("a", "b"))
    extra = table[table.corpus == "a"].head(6).copy()
    extra["emotion"] = "calm"
    extra["digest"] = extra["digest"] + "-calm"
    table = pd.concat([table, extra], ignore_index=True)
    folds = make_folds("cross-corpus", table, 3)
    a_to_b = next(f for f in folds if f.name == "a->b")
    assert "calm" not in set(table.emotion[a_to_b.train])


def test_leave_one_corpus_out():
    table = multi_corpus()
    folds = make_folds("leave-one-corpus-out", table, 5)
    assert [f.test_corpus for f in folds] == ["a", "b", "c"]
    for fold in folds:
        assert set(table.corpus[fold.test]) == {fold.test_corpus}
        assert fold.test_corpus not in set(table.corpus[fold.train])
        assert set(table.corpus[fold.train]) == set("abc") - {fold.test_corpus}
    with pytest.raises(ProtocolError, match="needs at least 2 corpora"):
        make_folds("leave-one-corpus-out", corpus().assign(corpus="one"), 5)


def test_fold_file_checked_against_the_loaded_corpus_before_extraction(tmp_path):
    from benchmark.evaluation.protocols import validate_fold_file

    path = tmp_path / "folds.csv"
    path.write_text("speaker,fold\n01,1\n2,2\n")
    assert validate_fold_file(path, ["1", "02"]).folds == [1, 2]  # leading zeros either way
    with pytest.raises(ProtocolError, match=r"no fold for speaker\(s\) 03"):
        validate_fold_file(path, ["01", "02", "03"])
