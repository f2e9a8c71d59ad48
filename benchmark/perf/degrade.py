"""Speed of the recording conditions: the cost per clip of each degradation, against decoding and analysing the
same clip (the feature bank), measured in the same process on the same clips.

    python run_benchmark.py perf --degrade [CONDITIONS] [--dataset emodb --data-dir DIR] [--files 40]

A robustness run pays, per test clip and condition, one degradation plus one pass of the feature bank on the
degraded copy (the fit is shared with the clean run); the last column is that cost as a share of the clean
clip's own extraction, so ``1 + sum(share)`` over the conditions estimates a robustness run's feature time as a
multiple of the clean run's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from benchmark.corpora import load_corpus
from benchmark.run.config import DEFAULT_MODELS
from benchmark.run.robustness import parse_conditions
from features import GROUPS, AnalysisConfig, resolve
from features.analysis import Clip
from features.audio import read_native, resample
from features.degrade import apply, condition_seed
from features.registry import get_feature_set
from models.registry import get_model


def _bank(y: np.ndarray, config: AnalysisConfig, sets: Sequence[str]) -> None:
    clip = Clip(y, config, "perf")
    for name in sets:
        get_feature_set(name).func(clip)


def run_sets(models: Sequence[str] = DEFAULT_MODELS, bank: Sequence[str] = ("all",)) -> list[str]:
    """The feature sets a robustness run computes on each degraded copy: the inputs of ``models`` (the vector
    ``bank`` for those without an input of their own, e.g. XGBoost's ``classic`` and the LSTM's frames)."""
    names: list[str] = []
    for model in models:
        default = get_model(model).default_input
        for name in resolve(bank) if default is None else GROUPS.get(default, (default,)):
            if name not in names:
                names.append(name)
    return names


def run_perf_degrade(conditions: Sequence[str] = ("default",), dataset: str | None = None,
                     data_dir: str | None = None, n_files: int = 40, features: Sequence[str] | None = None,
                     seed: int = 0, profile: str = "default") -> dict:
    """Print and return milliseconds per clip: decoding, the bank, and each condition (degradation alone and
    degradation + bank), with the share of the clean clip's decode + bank.

    ``features`` are the sets computed per copy; by default those of a run of the default models
    (:func:`run_sets`), so the estimate is that run's.
    """
    import warnings

    from threadpoolctl import threadpool_limits

    parsed, notes = parse_conditions(list(conditions))
    corpus = load_corpus(dataset, data_dir, seed=seed, profile=profile)
    paths = corpus.table["path"].astype(str).tolist()
    rng = np.random.default_rng(seed)
    chosen = [paths[i] for i in sorted(rng.choice(len(paths), size=min(n_files, len(paths)), replace=False))]
    config = AnalysisConfig()
    sets = run_sets() if features is None else resolve(list(features))
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        clips = []
        for path in chosen:
            native, sr = read_native(path)
            clips.append(resample(native, sr, config.sr))
        decode = (time.perf_counter() - start) / len(chosen)
        _bank(clips[0], config, sets)  # compile numba functions before timing
        start = time.perf_counter()
        for y in clips:
            _bank(y, config, sets)
        bank = (time.perf_counter() - start) / len(chosen)
        sources = clips[1:5] or clips[:1]
        audio_s = sum(len(y) for y in clips) / config.sr / len(clips)
        print(f"degradations: {len(chosen)} clips of {corpus.name} (mean {audio_s:.2f} s), one thread, sets "
              f"{'+'.join(sets)}")
        for note in notes:
            print(f"  {note}")
        print(f"  {'decode + resample':<22}{1000 * decode:9.1f} ms/clip")
        print(f"  {'feature bank':<22}{1000 * bank:9.1f} ms/clip   (reference: clean = decode + bank)")
        print(f"  {'condition':<22}{'degrade':>9}   {'+ bank':>9}   share of clean")
        figures = {"clips": len(chosen), "decode_ms": 1000 * decode, "bank_ms": 1000 * bank, "conditions": {}}
        total = 0.0
        for condition in parsed:
            start = time.perf_counter()
            degraded = [apply(condition, y, config.sr, condition_seed(seed, condition, str(i)), sources)
                        for i, y in enumerate(clips)]
            cost = (time.perf_counter() - start) / len(chosen)
            share = (decode + cost + bank) / (decode + bank)
            total += share
            figures["conditions"][condition.name] = {"degrade_ms": 1000 * cost, "share_of_clean": share}
            print(f"  {condition.name:<22}{1000 * cost:9.1f}   {1000 * (cost + bank):9.1f}   {share:6.2f}")
            del degraded
        figures["robust_feature_multiple"] = 1 + total
        print(f"  all {len(parsed)} conditions: a robustness run's feature time is about {1 + total:.1f} x the "
              "clean run's (each degraded copy decoded, degraded and analysed once; fits shared)")
    return figures
