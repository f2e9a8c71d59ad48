"""Side by side: this feature bank against openSMILE ComParE_2016 (and the per-feature librosa recipe).

On the same files, one process each, in one run: (a) the bank's default sets (``all``) with a cold cache,
decoding and resampling included; (b) openSMILE's ComParE_2016 functionals from the same files (``Smile
.process_file``, decoding included), when the optional ``opensmile`` package is installed; (c) the per-feature
librosa recipe common in SER repositories. Each is warmed up on one file first. (a) and (b) alternate over
``--repeats`` rounds and the fastest round of each counts, so that a burst of load on a shared machine does
not fall on one side only. Prints the times, the x realtime figures and the ratios (b)/(a) and (c)/(a); never
asserts a time.

    python -m benchmark.perf.bank_vs_opensmile [--files N] [--dataset NAME --data-dir DIR] [--sets all]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

TARGET_OVER_OPENSMILE = 5.0


def make_smile(set_name: str = "ComParE_2016"):
    """A warmed-up one-process openSMILE extractor, or None without the package."""
    try:
        import opensmile
    except ImportError:
        return None
    return opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, set_name),
                           feature_level=opensmile.FeatureLevel.Functionals, num_workers=1)


def time_opensmile(paths: list[str], smile) -> float:
    """Seconds for openSMILE functionals of every file with ``smile`` (after one warm-up file)."""
    smile.process_file(paths[0])
    start = time.perf_counter()
    for path in paths:
        smile.process_file(path)
    return time.perf_counter() - start


def time_bank(table, sets: list[str], tmp: Path) -> float:
    """Seconds for the bank on every file, one process, cold cache (after one warm-up file)."""
    from features import extract

    extract(table.iloc[:1], sets, cache_dir=tmp / "warmup", jobs=1)  # imports, numba compilation
    start = time.perf_counter()
    extract(table, sets, cache_dir=tmp / "bank", jobs=1)
    return time.perf_counter() - start


def time_recipe(paths: list[str]) -> float:
    from .features import common_recipe

    common_recipe(paths[0])
    start = time.perf_counter()
    for path in paths:
        common_recipe(path)
    return time.perf_counter() - start


def run_side_by_side(dataset: str | None = None, data_dir: str | None = None, n_files: int = 200,
                     sets: str = "all", cache_dir: str | None = None, seed: int = 0, recipe: bool = True,
                     opensmile_set: str = "ComParE_2016", repeats: int = 3) -> dict:
    """Time (a) the bank, (b) openSMILE, (c) the librosa recipe on the first ``n_files`` clips; print ratios.

    (a) and (b) alternate over ``repeats`` rounds; the fastest round of each is reported."""
    from benchmark.corpora import load_corpus
    from features import resolve

    corpus = load_corpus(dataset, data_dir, cache_dir=cache_dir, seed=seed)
    table = corpus.table.iloc[:n_files].reset_index(drop=True)
    paths = table["path"].astype(str).tolist()
    audio = float(table["duration"].sum())
    names = resolve(sets)
    smile = make_smile(opensmile_set)
    bank_times, smile_times = [], []
    for round_ in range(max(1, repeats)):
        with tempfile.TemporaryDirectory(prefix="ser-perf-") as tmp:
            bank_times.append(time_bank(table, names, Path(tmp) / str(round_)))
        if smile is not None:
            smile_times.append(time_opensmile(paths, smile))
    t_bank = min(bank_times)
    t_smile = min(smile_times) if smile_times else None
    t_recipe = time_recipe(paths) if recipe else None

    print(f"perf: {len(table)} files of {corpus.name}, {audio:.1f} s of audio, one process each, "
          f"after a one-file warm-up; fastest of {max(1, repeats)} alternating rounds")
    print(f"  (a) this bank ({sets}), cold cache {t_bank:9.2f} s   {audio / t_bank:7.0f}x realtime")
    figures = {"files": len(table), "audio_s": audio, "bank_s": t_bank, "opensmile_s": t_smile,
               "recipe_s": t_recipe, "bank_rounds_s": bank_times, "opensmile_rounds_s": smile_times}
    if t_smile is None:
        print('  (b) openSMILE: not installed (pip install ".[opensmile]")')
    else:
        ratio = t_smile / t_bank
        figures["opensmile_over_bank"] = ratio
        verdict = "meets" if ratio >= TARGET_OVER_OPENSMILE else "MISSES"
        print(f"  (b) openSMILE {opensmile_set:<18} {t_smile:9.2f} s   {audio / t_smile:7.0f}x realtime")
        print(f"  (b)/(a): bank speed-up over openSMILE   {ratio:8.1f}   target >= {TARGET_OVER_OPENSMILE:g}: "
              f"{verdict}")
    if t_recipe is not None:
        figures["recipe_over_bank"] = t_recipe / t_bank
        print(f"  (c) per-feature librosa recipe     {t_recipe:9.2f} s   {audio / t_recipe:7.0f}x realtime")
        print(f"  (c)/(a): bank speed-up over the recipe  {t_recipe / t_bank:8.1f}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset")
    parser.add_argument("--data-dir")
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--sets", default="all")
    parser.add_argument("--cache-dir")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds of (a) and (b)")
    parser.add_argument("--no-recipe", action="store_true")
    args = parser.parse_args()
    run_side_by_side(args.dataset, args.data_dir, args.files, args.sets, args.cache_dir,
                     recipe=not args.no_recipe, repeats=args.repeats)


if __name__ == "__main__":
    main()
