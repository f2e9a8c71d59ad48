"""Audio augmentation: seeded pure transforms, cached copies, and copies that only ever join training folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.evaluation.protocols import make_folds
from benchmark.run.augmenting import augment_folds
from features.augment import AugmentError, augment_clip, augmentation, augmented_features


def tone(seconds=0.5, sr=16000, seed=0):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 180 * t) + 0.01 * np.random.default_rng(seed).normal(size=t.size)).astype(
        np.float32)


@pytest.mark.parametrize("name", ["noise", "pitch", "stretch", "gain"])
def test_transforms_are_seeded_and_change_the_clip(name):
    y = tone()
    aug = augmentation(name)
    a, b = augment_clip(y, 16000, aug, 0, "clip1"), augment_clip(y, 16000, aug, 0, "clip1")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(augment_clip(y, 16000, aug, 1, "clip1"), a)  # another seed, another copy
    assert a.shape != y.shape or not np.allclose(a, y)


def test_noise_reaches_the_asked_snr():
    y = tone(seconds=2.0)
    copy = augment_clip(y, 16000, augmentation("noise", 20.0, 20.0), 0, "c")
    snr = 10 * np.log10(np.mean(y.astype(float) ** 2) / np.mean((copy - y).astype(float) ** 2))
    assert snr == pytest.approx(20.0, abs=0.3)


def test_bad_ranges_are_one_line_errors():
    with pytest.raises(AugmentError, match="--augment warp"):
        augmentation("warp")
    with pytest.raises(AugmentError, match="--augment pitch=3:1"):
        augmentation("pitch", 3.0, 1.0)


def test_copies_are_cached_by_clip_transform_and_seed(tmp_path):
    import soundfile as sf

    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"c{i}.wav"))
        sf.write(paths[-1], tone(seed=i), 16000)
    augs = [augmentation("noise"), augmentation("gain")]
    first = augmented_features(paths, ["k0", "k1", "k2"], [0, 2], augs, ["rms"], seed=0, cache_dir=tmp_path)
    assert first.computed == 4 and first.cached == 0 and list(first.source) == [0, 2, 0, 2]
    again = augmented_features(paths, ["k0", "k1", "k2"], [0, 2], augs, ["rms"], seed=0, cache_dir=tmp_path)
    assert again.computed == 0 and again.cached == 4
    np.testing.assert_array_equal(again.X, first.X)
    other = augmented_features(paths, ["k0", "k1", "k2"], [0], augs[:1], ["rms"], seed=5, cache_dir=tmp_path)
    assert other.computed == 1 and not np.array_equal(other.X[0], first.X[0])


def test_in_fold_augmentation_never_puts_a_test_clips_copy_in_training():
    table = pd.DataFrame({"speaker": [f"s{i % 6}" for i in range(48)], "emotion": ["a", "b", "c", "d"] * 12,
                          "text": [f"t{i % 3}" for i in range(48)], "corpus": "x"})
    folds = {"speaker": make_folds("speaker", table, 3, seed=0)}
    source = np.concatenate([np.arange(48), np.arange(48)])  # two copies per clip
    out = augment_folds(folds, source, 48)
    for before, after in zip(folds["speaker"], out["speaker"], strict=True):
        copies = after.train[after.train >= 48]
        assert np.array_equal(after.test, before.test)
        assert set(source[copies - 48]) == set(before.train)  # every training clip's copies ...
        assert set(source[copies - 48]).isdisjoint(before.test)  # ... and never a test clip's
        assert len(copies) == 2 * len(before.train)


def test_run_augment_adds_copies_to_training_folds_only(tmp_path, small_corpus_dir, shared_cache):
    from benchmark.run.config import RunConfig
    from benchmark.run.engine import run_benchmark

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "synthetic").symlink_to(shared_cache / "synthetic", target_is_directory=True)
    base = dict(profile="small", features=("rms",), models=("logreg",), protocols=("speaker",), folds=3,
                ablation=False, report=False, quiet=True, cache_dir=str(cache), jobs=1, backend="serial")
    plain = run_benchmark(RunConfig(**base, out=str(tmp_path / "a")))
    augmented = run_benchmark(RunConfig(**base, out=str(tmp_path / "b"), augment=(("gain", None, None),)))
    a = pd.read_csv(plain.run_dir / "folds.csv")
    b = pd.read_csv(augmented.run_dir / "folds.csv")
    assert list(b["n_train"]) == [2 * n for n in a["n_train"]] and list(b["n_test"]) == list(a["n_test"])
    pa = pd.read_csv(plain.run_dir / "predictions.csv")
    pb = pd.read_csv(augmented.run_dir / "predictions.csv")
    assert list(pa["row"]) == list(pb["row"])  # the same corpus rows scored, no copy among them
    assert pb["row"].max() < len(pd.read_csv(plain.run_dir / "splits.csv"))


def test_recording_conditions_are_augmentations_that_do_what_they_say_seeded_per_clip():
    from features.degrade import band_energy_db, snr_db

    y = tone(seconds=2.0)
    noisy = augmentation("white@10")
    a, b = augment_clip(y, 16000, noisy, 0, "clip1"), augment_clip(y, 16000, noisy, 0, "clip1")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(augment_clip(y, 16000, noisy, 0, "clip2"), a)  # each clip its own noise
    assert snr_db(y, a) == pytest.approx(10.0, abs=0.5) and a.shape == y.shape
    wide = y + 0.05 * np.random.default_rng(1).normal(size=y.size).astype(np.float32)
    phone = augment_clip(wide, 16000, augmentation("telephone"), 0, "clip1")
    assert band_energy_db(phone, 16000, 4000.0) < -40.0 < band_energy_db(wide, 16000, 4000.0)
    # what seeds a copy and keys its cache entry holds every parameter (a codec's level too), not just the name
    assert augmentation("reverb@0.3").key != augmentation("reverb@0.8").key
    assert "compression_level" in augmentation("mp3").key if "mp3" in _codecs() else True


def _codecs():
    from features.degrade import available_codecs

    return available_codecs()


@pytest.mark.parametrize("args, words", [
    (("babble@5",), "babble is not an augmentation"),
    (("telephone", 1.0, 2.0), "takes no range"),
    (("reverb@9",), "RT60 must lie between"),
    (("white@loud",), "is not a number"),
])
def test_conditions_that_cannot_be_augmentations_are_one_line_errors(args, words):
    with pytest.raises(AugmentError, match=words) as error:
        augmentation(*args)
    assert str(error.value).startswith("--augment ") and "\n" not in str(error.value)


def test_augment_robustness_trains_on_the_scored_conditions_and_compare_shows_what_it_buys(tmp_path, small_corpus_dir,
                                                                                          cache):
    from benchmark.cli.run import parse_augment
    from benchmark.reports.compare import compare, render_compare
    from benchmark.run.engine import run_benchmark
    from tests.helpers import engine_config

    conditions = ("white@10", "telephone", "babble@10")
    plain = run_benchmark(engine_config(tmp_path / "a", small_corpus_dir, cache, models=("logreg",),
                                        robustness=conditions))
    augment = parse_augment("robustness")
    trained = run_benchmark(engine_config(tmp_path / "b", small_corpus_dir, cache, models=("logreg",),
                                          robustness=conditions, augment=augment))
    a = pd.read_csv(plain.run_dir / "folds.csv")
    b = pd.read_csv(trained.run_dir / "folds.csv")
    # two copies per training clip (white@10 and telephone; babble left out), the test folds unchanged
    assert list(b["n_train"]) == [3 * n for n in a["n_train"]] and list(b["n_test"]) == list(a["n_test"])

    comparison = compare([plain.run_dir, trained.run_dir])
    assert {key[2] for key in comparison.robust_rows} == set(conditions)
    for key in comparison.robust_rows:
        test = comparison.robust_tests[(1, key)]
        # the paired test is on the same degraded utterances the table's UAR pools: A's and B's figures agree
        assert test.uar_b == pytest.approx(comparison.robust_uar[(0, key)])
        assert test.uar_a == pytest.approx(comparison.robust_uar[(1, key)])
        assert test.n_utterances == int(a["n_test"].sum())
    table = pd.read_csv(plain.run_dir / "robustness" / "table.csv")
    white = table[(table["model"] == "logreg") & (table["condition"] == "white@10")]["uar"].iloc[0]
    assert comparison.robust_uar[(0, ("mfcc+rms", "logreg", "white@10"))] == pytest.approx(white)
    md = render_compare(comparison, "md")
    assert "## Under degraded conditions" in md and "telephone" in md
    lines = pd.read_csv(__import__("io").StringIO(render_compare(comparison, "csv")))
    assert set(lines.dropna(subset=["condition"])["condition"]) == set(conditions)
    # the degraded predictions compare reads are checked like the clean ones: an edit is refused, named
    from benchmark.reports.rundir import RunFolderError

    degraded = plain.run_dir / "robustness" / "predictions.csv"
    written = degraded.read_text()
    degraded.write_text(written.replace("\n", "\n\n", 1))
    with pytest.raises(RunFolderError, match="predictions.csv: changed since the run wrote it"):
        compare([plain.run_dir, trained.run_dir])
    # a folder from before the degraded files had checksums: compared, its degraded predictions never read
    import json

    degraded.write_text(written)
    sums_file = plain.run_dir / "checksums.json"
    sums = json.loads(sums_file.read_text())
    for name in ("robustness/predictions.csv", "robustness/folds.csv"):
        sums.pop(name)
    sums_file.write_text(json.dumps(sums))
    older = compare([plain.run_dir, trained.run_dir])
    assert older.robust_rows == [] and older.rows == comparison.rows


def test_augment_robustness_without_robustness_is_a_one_line_error(tmp_path, capsys, shared_cache):
    from benchmark.cli import main

    code = main(["run", "--profile", "small", "--models", "logreg", "--augment", "robustness", "--out",
                 str(tmp_path), "--quiet", "--cache-dir", str(shared_cache)])
    err = capsys.readouterr().err
    assert code == 2 and "--augment robustness: give --robustness too" in err and len(err.strip().splitlines()) == 1


def test_copies_computed_on_the_runs_started_pool_equal_the_serial_copies(tmp_path):
    """A run starts its one worker pool before it augments (for the clips' own features, the numba warm-up);
    the copies go to that pool too. joblib's executor crashed on loky's pool once it had been started."""
    import soundfile as sf

    from features import pool

    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"c{i}.wav"))
        sf.write(paths[-1], tone(seed=i), 16000)
    augs = [augmentation("white@10"), augmentation("gain")]
    serial = augmented_features(paths, ["k0", "k1", "k2"], [0, 1, 2], augs, ["rms", "zcr"], seed=0, jobs=1)
    try:
        pool.shared_pool(2)  # what extraction left running
        parallel = augmented_features(paths, ["k0", "k1", "k2"], [0, 1, 2], augs, ["rms", "zcr"], seed=0, jobs=2)
    finally:
        pool.shutdown_pool(kill_workers=True)
    assert parallel.computed == 6
    np.testing.assert_array_equal(parallel.X, serial.X)
    assert list(parallel.source) == list(serial.source) and list(parallel.which) == list(serial.which)


def test_sequence_sets_get_each_copys_own_frames_cached_and_the_same_on_the_pool(tmp_path):
    """The recurrent networks' frames of a copy are the set's frames of that copy's audio; a second call reads
    them from the cache, and the run's pool gives the same arrays as this process."""
    import soundfile as sf

    from features import AnalysisConfig, Clip, get_feature_set
    from features.audio import read_native, resample
    from features.registry import as_sequence

    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"c{i}.wav"))
        sf.write(paths[-1], tone(seconds=0.3 + 0.1 * i, seed=i), 16000)
    keys, augs = ["k0", "k1", "k2"], [augmentation("white@10"), augmentation("gain")]
    args = (paths, keys, [0, 1, 2], augs, ["rms"])
    first = augmented_features(*args, seed=0, cache_dir=tmp_path / "cache", sequence_sets=["mfcc_frames"])
    assert first.computed == 6 and len(first.sequences["mfcc_frames"]) == 6 and first.X.shape[0] == 6
    spec, config = get_feature_set("mfcc_frames"), AnalysisConfig()
    for i, (a, row) in enumerate(zip(first.which, first.source, strict=True)):
        y = resample(*read_native(paths[row]), config.sr)
        expected = as_sequence(spec.func(Clip(augment_clip(y, config.sr, augs[a], 0, keys[row]), config)), spec)
        np.testing.assert_array_equal(first.sequences["mfcc_frames"][i], expected.astype(np.float32))
    lengths = [len(s) for s in first.sequences["mfcc_frames"][:3]]
    assert lengths[0] < lengths[1] < lengths[2]  # each clip's own length, not padded here
    again = augmented_features(*args, seed=0, cache_dir=tmp_path / "cache", sequence_sets=["mfcc_frames"])
    assert again.computed == 0 and again.cached == 6
    for a, b in zip(again.sequences["mfcc_frames"], first.sequences["mfcc_frames"], strict=True):
        np.testing.assert_array_equal(a, b)
    try:
        pooled = augmented_features(*args, seed=0, jobs=2, sequence_sets=["mfcc_frames"])
    finally:
        from features import pool

        pool.shutdown_pool(kill_workers=True)
    np.testing.assert_array_equal(pooled.X, first.X)
    for a, b in zip(pooled.sequences["mfcc_frames"], first.sequences["mfcc_frames"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_augment_trains_a_sequence_model_on_copies_of_its_training_clips_only(tmp_path, small_corpus_dir, cache):
    from benchmark.cli.run import parse_augment
    from benchmark.run.engine import run_benchmark
    from tests.helpers import engine_config

    quick = {"lstm": {"max_epochs": 1, "units": 8, "dense": [8]}}
    plain = run_benchmark(engine_config(tmp_path / "a", small_corpus_dir, cache, models=("logreg", "lstm"),
                                        model_params=quick))
    trained = run_benchmark(engine_config(tmp_path / "b", small_corpus_dir, cache, models=("logreg", "lstm"),
                                          model_params=quick, augment=parse_augment("white@10")))
    a = pd.read_csv(plain.run_dir / "folds.csv").set_index(["model", "fold"])
    b = pd.read_csv(trained.run_dir / "folds.csv").set_index(["model", "fold"])
    assert set(b.index.get_level_values("model")) == {"logreg", "lstm"} and set(b["status"]) == {"ok"}
    # one copy per training clip for both models, the sequence one too; the test folds unchanged
    assert list(b["n_train"]) == [2 * n for n in a.loc[b.index, "n_train"]]
    assert list(b["n_test"]) == list(a.loc[b.index, "n_test"])
    lstm_a = pd.read_csv(plain.run_dir / "predictions.csv").query("model == 'lstm'")
    lstm_b = pd.read_csv(trained.run_dir / "predictions.csv").query("model == 'lstm'")
    assert len(lstm_a) == len(lstm_b)  # scored on the clips only, never on a copy
    probabilities = [c for c in lstm_a.columns if c.startswith("p_")]
    assert not np.allclose(lstm_a[probabilities].to_numpy(), lstm_b[probabilities].to_numpy())
