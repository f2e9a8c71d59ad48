"""Cross-corpus evaluation: duplicates across corpora, the matrix from folds.csv, its diagonal, the ranking."""

import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmark.corpora.multi import prefix_ids
from benchmark.evaluation.audit import audit, format_audit
from benchmark.evaluation.metrics import fold_scores
from benchmark.evaluation.normalisation import corpus_normalise, speaker_normalise
from benchmark.evaluation.protocols import make_folds
from benchmark.reports import crosscorpus
from tests.helpers import write_tone

EMOTIONS = ("angry", "happy", "sad", "neutral")
NAMES = ("emodb", "ravdess", "tess")


def toy_corpora(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Three corpora (4, 5 and 6 speakers) with speaker ids that collide, and features with an emotion signal,
    a corpus offset and a speaker offset."""
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(len(EMOTIONS), 6))
    rows, features = [], []
    for n, name in enumerate(NAMES):
        offset = rng.normal(scale=1.5, size=6)
        for s in range(4 + n):
            voice = rng.normal(scale=0.5, size=6)
            for e, emotion in enumerate(EMOTIONS):
                for t in range(3):
                    rows.append({"path": f"{name}/{s:02d}_{emotion}_{t}.wav", "speaker": f"{s:02d}",
                                 "emotion": emotion, "text": f"t{t}", "corpus": name,
                                 "digest": f"{name}{s}{emotion}{t}"})
                    features.append(centroids[e] + offset + voice + rng.normal(scale=0.8, size=6))
    return prefix_ids(pd.DataFrame(rows)), np.asarray(features)


def run_folds(table: pd.DataFrame, X: np.ndarray, folds, seed: int = 0) -> list[dict]:
    """What the engine does per fold, in small: fit on the training rows, score the test rows."""
    y = table["emotion"].astype(str).to_numpy()
    labels = sorted(set(y.tolist()))
    records = []
    for fold in folds:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=seed))
        model.fit(X[fold.train], y[fold.train])
        scores = fold_scores(y[fold.test], model.predict(X[fold.test]), labels)
        records.append({"dataset": "toy", "table": "leaderboard", "features": "toy", "model": "logreg",
                        "protocol": fold.protocol, "speaker_norm": False, "fold": fold.index,
                        "n_train": len(fold.train), "n_test": len(fold.test), "status": "ok", "error": "",
                        "uar": scores["uar"], **fold.columns()})
    return records


def test_matrix_is_complete_and_its_diagonal_is_the_in_corpus_run(tmp_path):
    table, X = toy_corpora()
    folds = make_folds("cross-corpus", table, 3, seed=7)
    records = run_folds(table, X, folds)
    records += run_folds(table, X, make_folds("leave-one-corpus-out", table, 3, seed=7))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    pd.DataFrame(records).to_csv(run_dir / "folds.csv", index=False, lineterminator="\n")

    (key, matrix), = crosscorpus.matrices(run_dir).items()
    assert key == ("toy", "logreg", False)
    assert list(matrix.index) == list(matrix.columns) == list(NAMES)
    assert not matrix.isna().any().any()  # complete
    for name in NAMES:  # the same corpus on its own, same seed, its own speaker ids
        alone = table[table.corpus == name].copy()
        rows = alone.index.to_numpy()
        alone["speaker"] = alone["speaker"].str.split(":").str[1]
        alone = alone.reset_index(drop=True)
        inner = run_folds(alone, X[rows], make_folds("speaker", alone, 3, seed=7))
        assert matrix.loc[name, name] == pytest.approx(np.mean([r["uar"] for r in inner]), abs=1e-12)

    ranking = crosscorpus.summary(run_dir)
    off = matrix.to_numpy()[~np.eye(3, dtype=bool)]
    assert ranking.loc[0, "cross_uar"] == pytest.approx(off.mean())
    assert ranking.loc[0, "in_corpus_uar"] == pytest.approx(np.diag(matrix.to_numpy()).mean())
    assert ranking.loc[0, "pairs_ok"] == 6 and ranking.loc[0, "complete"]
    loco = [r["uar"] for r in records if r["protocol"] == "leave-one-corpus-out"]
    assert ranking.loc[0, "loco_uar"] == pytest.approx(np.mean(loco))

    console = crosscorpus.render(run_dir, "console")
    assert "Cross-corpus UAR (%): toy / logreg" in console and f"[{100 * matrix.loc['tess', 'tess']:.1f}]" in console
    assert "| train \\ test" in crosscorpus.render(run_dir, "md")
    assert "\\textbf{" in crosscorpus.render(run_dir, "latex")
    long = pd.read_csv(pd.io.common.StringIO(crosscorpus.render(run_dir, "csv")))
    assert len(long) == 9 and long["in_corpus"].sum() == 3
    cell = long[(long.train_corpus == "emodb") & (long.test_corpus == "tess")]["uar"].item()
    assert cell == pytest.approx(matrix.loc["emodb", "tess"], abs=1e-6)


def test_a_failed_pair_leaves_a_gap_not_a_wrong_number(tmp_path):
    table, X = toy_corpora()
    records = run_folds(table, X, make_folds("cross-corpus", table, 3))
    records[0].update(status="failed", uar=np.nan)  # emodb->emodb fold 0
    failed_pair = next(r for r in records if r["fold_name"] == "ravdess->tess")
    failed_pair.update(status="failed", uar=np.nan)
    frame = pd.DataFrame(records)
    (matrix,) = crosscorpus.matrices(frame).values()
    assert np.isnan(matrix.loc["ravdess", "tess"]) and not np.isnan(matrix.loc["emodb", "emodb"])
    ranking = crosscorpus.summary(frame)
    assert ranking.loc[0, "pairs_ok"] == 5 and not ranking.loc[0, "complete"]
    assert "–" in crosscorpus.render(frame, "console")


def test_old_run_folder_without_corpus_columns_says_so(tmp_path):
    pd.DataFrame([{"table": "leaderboard", "features": "f", "model": "m", "protocol": "cross-corpus",
                   "speaker_norm": False, "fold": 0, "status": "ok", "uar": 0.5}]).to_csv(tmp_path / "folds.csv")
    with pytest.raises(crosscorpus.CrossCorpusError, match="no train_corpus, test_corpus column"):
        crosscorpus.render(tmp_path, "md")
    pd.DataFrame([{"table": "leaderboard", "features": "f", "model": "m", "protocol": "speaker",
                   "speaker_norm": False, "fold": 0, "status": "ok", "uar": 0.5}]).to_csv(tmp_path / "folds.csv")
    assert crosscorpus.render(tmp_path, "console").startswith("No cross-corpus folds")


def test_duplicate_audio_across_corpora_is_flagged(tmp_path):
    from benchmark.corpora import load_corpora
    from features import AnalysisConfig, extract

    emodb, ravdess = tmp_path / "emodb", tmp_path / "ravdess"
    for i, name in enumerate(("03a01Wa", "03a02Fa", "08a01Wa", "08a02Fa")):
        write_tone(emodb / "wav" / f"{name}.wav", freq=200 + 10 * i, seed=i)
    for i, name in enumerate(("03-01-05-01-01-01-03", "03-01-03-01-01-01-03", "03-01-05-01-01-01-04")):
        write_tone(ravdess / "Actor_xx" / f"{name}.wav", freq=500 + 10 * i, seed=10 + i)
    # the same recording shipped in the second corpus under another corpus's name
    shutil.copy(emodb / "wav" / "08a02Fa.wav", ravdess / "Actor_xx" / "03-01-03-01-01-01-04.wav")
    corpus = load_corpora([("emodb", emodb), ("ravdess", ravdess)])
    feats = extract(corpus.table, ["rms"], AnalysisConfig(), cache_dir=tmp_path / "cache", jobs=1)
    table = feats.table
    report = audit(table, {"cross-corpus": make_folds("cross-corpus", table, 2)})
    groups = report["corpus"]["cross_corpus_duplicate_groups"]
    assert [sorted(p.rsplit("/", 1)[1] for p in g) for g in groups] == [["03-01-03-01-01-01-04.wav", "08a02Fa.wav"]]
    assert any("span corpora" in w for w in report["warnings"])
    assert "1 duplicate group(s) across corpora" in format_audit(report)


def test_speaker_norm_stays_within_corpus_and_corpus_norm_uses_no_labels():
    table, X = toy_corpora()
    speakers = table["speaker"].to_numpy()
    assert len(set(speakers)) == 4 + 5 + 6  # "00" of each corpus is three speakers, not one
    Z = speaker_normalise(X, speakers)
    for speaker in set(speakers.tolist()):
        assert np.allclose(Z[speakers == speaker].mean(axis=0), 0, atol=1e-5)
    corpora = table["corpus"].to_numpy()
    C = corpus_normalise(X, corpora)
    for name in NAMES:
        assert np.allclose(C[corpora == name].mean(axis=0), 0, atol=1e-5)
    poisoned = X.copy()
    poisoned[corpora == "tess"] *= 1000.0  # another corpus's rows never move this corpus's statistics
    P = corpus_normalise(poisoned, corpora)
    assert np.array_equal(P[corpora != "tess"], C[corpora != "tess"])
