import numpy as np
import pandas as pd
import pytest

from benchmark.audit import audit
from benchmark.metrics import fold_scores, mean_std
from benchmark.protocols import ProtocolError, make_folds


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
