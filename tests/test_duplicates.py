"""Near-duplicate audio: transformed copies found, different takes of one sentence not flagged, in the audit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.evaluation.duplicates import audit_near_duplicates, fingerprint, match_score, near_duplicates
from benchmark.evaluation.protocols import make_folds
from benchmark.perf.duplicates import transform
from features.audio import read_native


def clips(small_corpus_dir, n=6):
    paths = sorted(small_corpus_dir.glob("*_t1.wav"))[:n]
    return paths, [read_native(p) for p in paths]


def test_transformed_copies_score_high_and_other_takes_low(small_corpus_dir):
    paths, audio = clips(small_corpus_dir)
    rng = np.random.default_rng(0)
    for (y, sr), path in zip(audio, paths, strict=True):
        env = fingerprint(y, sr)
        for name, strength in (("gain", -6.0), ("resample", 8000), ("resample", 22050), ("trim", 0.1),
                               ("noise", 20.0)):
            z, zsr = transform(y.astype(np.float32), sr, name, strength, rng)
            assert match_score(env, fingerprint(z, zsr)) >= 0.95, (path.name, name)
        other_take = read_native(str(path).replace("_t1.wav", "_t2.wav"))
        assert match_score(env, fingerprint(*other_take)) < 0.95, path.name  # another take, not a copy


def test_search_finds_copies_among_clips_and_takes_without_false_pairs(small_corpus_dir):
    paths = sorted(small_corpus_dir.glob("*.wav"))[:24]  # t1 and t2 takes side by side
    audio = [read_native(p) for p in paths]
    envs = [fingerprint(y, sr) for y, sr in audio]
    rng = np.random.default_rng(1)
    copies = {}
    for i in (0, 5, 11):
        y, sr = audio[i]
        z, zsr = transform(y.astype(np.float32), sr, "resample", 22050, rng)
        copies[len(envs)] = i
        envs.append(fingerprint(np.clip(z * 0.5, -1, 1), zsr))
    pairs = near_duplicates(envs)
    assert {(p.i, p.j) for p in pairs} == {(i, k) for k, i in copies.items()}


def test_audit_reports_pairs_across_train_and_test(small_corpus_dir):
    paths = sorted(small_corpus_dir.glob("*_t1.wav"))[:12]
    table = pd.DataFrame({"path": [str(p) for p in paths], "speaker": [p.name.split("_")[1] for p in paths],
                          "emotion": [p.name.split("_")[2] for p in paths], "text": "s", "corpus": "a",
                          "digest": [str(i) for i in range(len(paths))]})
    envs = [fingerprint(*read_native(p)) for p in paths]
    y, sr = read_native(paths[0])
    copy = pd.DataFrame([{**table.iloc[0].to_dict(), "path": "copy.wav", "speaker": "zz", "corpus": "b",
                          "digest": "copy"}])
    table = pd.concat([table, copy], ignore_index=True)
    envs.append(fingerprint(np.clip(y * 2.0, -1, 1), sr))
    folds = {"stratified": make_folds("speaker", table, 2, seed=0)}
    report = audit_near_duplicates(table, folds, envs)
    assert [(p["a"], p["b"]) for p in report["pairs"]] == [(str(paths[0]), "copy.wav")]
    # once per fold that tests one clip of the pair and trains on the other: both folds here
    assert report["across_corpora"] == 1 and report["across_train_test"]["stratified"] == 2
