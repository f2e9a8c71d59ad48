"""``perf``: speed benchmarks that print ratios against references measured in the same run."""

from __future__ import annotations

import argparse

from .common import add_corpus_args


def add_parser(sub) -> None:
    perf = sub.add_parser("perf", help="time the feature bank against the usual per-feature recipe")
    add_corpus_args(perf)
    perf.add_argument("--files", type=int, default=200, help="clips to time (default 200)")
    perf.add_argument("--cache-dir")
    perf.add_argument("--lstm", action="store_true", help="also time one RAVDESS-sized LSTM fold (about a minute)")
    perf.add_argument("--opensmile", action="store_true",
                      help="instead: the full bank against openSMILE ComParE_2016 on the same files, one process "
                           "each (needs the opensmile extra)")


def run(args: argparse.Namespace) -> int:
    from benchmark.perf.features import run_perf, time_lstm_fold

    if args.opensmile:
        from benchmark.perf.bank_vs_opensmile import run_side_by_side
        from features.opensmile_sets import require

        require(["compare"])
        run_side_by_side(dataset=args.dataset, data_dir=args.data_dir, n_files=args.files,
                         cache_dir=args.cache_dir, seed=args.seed)
        return 0
    run_perf(dataset=args.dataset, data_dir=args.data_dir, n_files=args.files, cache_dir=args.cache_dir,
             seed=args.seed, profile=args.profile)
    if args.lstm:
        time_lstm_fold()
    return 0
