"""Speed benchmark: the feature bank against the per-feature recipe common in SER repositories.

Times, on the same files in one process and one run: (a) the bank with a cold cache, (b) the common recipe
(each librosa feature called on its own, each recomputing its spectrogram, tonnetz on
``librosa.effects.harmonic``), (c) the bank with a warm cache; and prints the ratios. Both implementations
are warmed up on one file first, so one-time JIT compilation is not counted against either.

    python -m benchmark.perf.features [--files N] [--dataset NAME --data-dir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

WARM_REPEATS = 5
TARGETS = {"recipe_over_bank": 25.0, "bank_realtime": 500.0, "cold_over_warm": 100.0}


def common_recipe(path: str) -> np.ndarray:
    """The usual SER-repository extractor: every feature on its own, tonnetz on the harmonic part."""
    import librosa

    with warnings.catch_warnings():  # librosa warns on short clips; the recipe is measured as people run it
        warnings.simplefilter("ignore")
        return _recipe(librosa, path)


def _recipe(librosa, path: str) -> np.ndarray:
    X, sr = librosa.load(path)  # librosa's default: resample to 22050 Hz
    stft = np.abs(librosa.stft(X))
    parts = [
        librosa.feature.mfcc(y=X, sr=sr, n_mfcc=40),
        librosa.feature.chroma_stft(S=stft, sr=sr),
        librosa.feature.melspectrogram(y=X, sr=sr),
        librosa.feature.spectral_contrast(S=stft, sr=sr),
        librosa.feature.tonnetz(y=librosa.effects.harmonic(X), sr=sr),
        librosa.feature.zero_crossing_rate(X),
        librosa.feature.rms(y=X),
    ]
    return np.concatenate([np.mean(p.T, axis=0) for p in parts])


def run_perf(dataset: str | None = None, data_dir: str | None = None, n_files: int = 200,
             cache_dir: str | None = None, seed: int = 0, profile: str = "default") -> dict:
    """Measure (a), (b), (c) on the first ``n_files`` clips of a corpus; print and return the figures."""
    from benchmark.corpora import load_corpus
    from features import GROUPS, extract

    corpus = load_corpus(dataset, data_dir, cache_dir=cache_dir, seed=seed, profile=profile)
    table = corpus.table.iloc[:n_files].reset_index(drop=True)
    paths = table["path"].tolist()
    sets = list(GROUPS["classic"])  # what the recipe computes: the comparison is like for like
    audio = float(table["duration"].sum())

    with tempfile.TemporaryDirectory(prefix="ser-perf-") as tmp:
        extract(table.iloc[:1], sets, cache_dir=Path(tmp) / "warmup", jobs=1)  # JIT and imports
        common_recipe(paths[0])

        start = time.perf_counter()
        cold = extract(table, sets, cache_dir=Path(tmp) / "bank", jobs=1)
        t_cold = time.perf_counter() - start

        start = time.perf_counter()
        for path in paths:
            common_recipe(path)
        t_recipe = time.perf_counter() - start

        warm_times = []
        for _ in range(WARM_REPEATS):  # a pass takes milliseconds: one sample is mostly timer and cache noise
            start = time.perf_counter()
            warm = extract(table, sets, cache_dir=Path(tmp) / "bank", jobs=1)
            warm_times.append(time.perf_counter() - start)
        t_warm = float(np.median(warm_times))
    if warm.report.cache_hits != len(table) or cold.report.computed != len(table):
        raise RuntimeError("perf: the warm pass was not served from the cache")

    figures = {
        "files": len(table), "audio_s": audio, "bank_cold_s": t_cold, "recipe_s": t_recipe, "bank_warm_s": t_warm,
        "recipe_over_bank": t_recipe / t_cold, "bank_realtime": audio / t_cold, "cold_over_warm": t_cold / t_warm,
    }
    print(f"perf: {len(table)} files of {corpus.name}, {audio:.1f} s of audio, one process, after a one-file warm-up")
    print(f"  (a) feature bank (classic), cold    {t_cold:8.3f} s   {audio / t_cold:7.0f}x realtime")
    print(f"  (b) per-feature librosa recipe      {t_recipe:8.3f} s   {audio / t_recipe:7.0f}x realtime")
    print(f"  (c) feature bank, warm cache        {t_warm:8.4f} s   (median of {WARM_REPEATS} passes)")
    for key, label in (("recipe_over_bank", "(b)/(a): bank speed-up over the recipe"),
                       ("bank_realtime", "(a): bank, x realtime"),
                       ("cold_over_warm", "(a)/(c): warm cache speed-up")):
        verdict = "meets" if figures[key] >= TARGETS[key] else "MISSES"
        print(f"  {label:<42} {figures[key]:8.1f}   target >= {TARGETS[key]:g}: {verdict}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset")
    parser.add_argument("--data-dir")
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--cache-dir")
    args = parser.parse_args()
    run_perf(args.dataset, args.data_dir, args.files, args.cache_dir)


if __name__ == "__main__":
    main()
