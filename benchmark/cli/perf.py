"""``perf``: speed benchmarks that print ratios against references measured in the same run."""

from __future__ import annotations

import argparse

from .common import UsageError, add_corpus_args


def add_parser(sub) -> None:
    perf = sub.add_parser("perf", help="time the feature bank against the usual per-feature recipe")
    add_corpus_args(perf)
    perf.add_argument("--files", type=int, default=200, help="clips to time (default 200)")
    perf.add_argument("--cache-dir")
    perf.add_argument("--neural", nargs="?", const="all", metavar="MODELS",
                      help="instead: every network (or these, comma-separated) on a RAVDESS-sized input: seconds "
                           "per epoch and per fold, and achieved / attainable arithmetic throughput")
    perf.add_argument("--run", action="store_true",
                      help="instead: the run engine: a cold run against the same run warm, and the fit stage on "
                           "each backend (--backends) as a speed-up over serial")
    perf.add_argument("--backends", default="serial,processes", help="--run: backends to compare")
    perf.add_argument("--models", default="svm,xgboost,dnn,lstm", help="--run: models of the timed run")
    perf.add_argument("--jobs", type=int, default=None, help="--run: cores (default: all)")
    perf.add_argument("--epochs", type=int, default=3, help="--neural: epochs timed per model (default 3)")
    perf.add_argument("--baseline", action="store_true", help="--neural: also time each model's first working loop")
    perf.add_argument("--duplicates", action="store_true",
                      help="near-duplicate detection: recall per transform and strength, precision (on --files clips of "
                           "the corpus), false flags among same-sentence recordings (whole corpus), cost per clip")
    perf.add_argument("--degrade", nargs="?", const="default", metavar="CONDITIONS",
                      help="instead: the cost per clip of each recording condition of --robustness (default: its "
                           "default preset) against decoding and analysing the clip with the sets a run of the default models "
                           "computes per copy, on --files clips")
    perf.add_argument("--startup", action="store_true",
                      help="instead: a run's fixed costs (imports, TensorFlow, worker start-up, numba compilation), "
                           "each in a fresh process")
    perf.add_argument("--nkululeko", action="store_true",
                      help="instead: this project end to end beside nkululeko on the same corpus (needs nkululeko)")
    perf.add_argument("--nkululeko-python", metavar="PYTHON",
                      help="--nkululeko: an interpreter that imports nkululeko (default: this one)")
    perf.add_argument("--machine", action="store_true",
                      help="instead: only the machine figure every perf command prints first (numpy's float32 "
                           "2048^3 matmul rate), to scale published timings to this machine")
    perf.add_argument("--opensmile", action="store_true",
                      help="instead: the full bank against openSMILE ComParE_2016 on the same files, one process "
                           "each (needs the opensmile extra)")


def run(args: argparse.Namespace) -> int:
    from benchmark.perf.features import run_perf
    from benchmark.perf.machine import machine_line

    print(machine_line(), flush=True)  # first, so that every timing below can be scaled to this machine
    if args.machine:
        return 0

    if args.run:
        from benchmark.perf.run import run_perf_engine
        from benchmark.run.config import RunConfig
        from features.bank import effective_jobs

        from .common import split_list

        base = RunConfig(dataset=args.dataset, data_dir=args.data_dir, profile=args.profile, seed=args.seed,
                         models=tuple(split_list(args.models, "--models")))
        run_perf_engine(base, split_list(args.backends, "--backends"), jobs=effective_jobs(args.jobs))
        return 0
    if args.neural:
        from benchmark.perf.neural import run as time_networks

        time_networks(None if args.neural == "all" else [m.strip() for m in args.neural.split(",")], jobs=1,
                      epochs=args.epochs, baseline=args.baseline)
        return 0
    if args.duplicates:
        from benchmark.corpora import load_corpus
        from benchmark.perf.duplicates import run as time_duplicates

        corpus = load_corpus(args.dataset, args.data_dir, cache_dir=args.cache_dir, seed=args.seed,
                             profile=args.profile)
        time_duplicates(corpus.table, n_files=args.files, seed=args.seed)
        return 0
    if args.degrade:
        from benchmark.perf.degrade import run_perf_degrade

        from .common import split_list

        run_perf_degrade(split_list(args.degrade, "--degrade"), dataset=args.dataset, data_dir=args.data_dir,
                         n_files=40 if args.files == 200 else args.files,  # 200 is the bank's default: too many
                         seed=args.seed,
                         profile=args.profile)
        return 0
    if args.startup:
        from benchmark.perf.startup import run_startup
        from features.bank import effective_jobs

        run_startup(jobs=effective_jobs(args.jobs))
        return 0
    if args.nkululeko:
        from benchmark.perf.nkululeko import run_side_by_side as beside_nkululeko

        if not args.dataset or not args.data_dir:
            raise UsageError("perf --nkululeko needs --dataset and --data-dir (a real corpus, e.g. emodb)")
        beside_nkululeko(args.dataset, args.data_dir, args.nkululeko_python, seed=args.seed)
        return 0
    if args.opensmile:
        from benchmark.perf.bank_vs_opensmile import run_side_by_side
        from features.opensmile_sets import require

        require(["compare"])
        run_side_by_side(dataset=args.dataset, data_dir=args.data_dir, n_files=args.files,
                         cache_dir=args.cache_dir, seed=args.seed)
        return 0
    run_perf(dataset=args.dataset, data_dir=args.data_dir, n_files=args.files, cache_dir=args.cache_dir,
             seed=args.seed, profile=args.profile)
    return 0
