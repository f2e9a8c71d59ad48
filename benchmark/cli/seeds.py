"""``seeds``: the five reference systems, replicated, under their own protocol and under unseen speakers."""

from __future__ import annotations

import argparse

from .common import add_corpus_args, add_feature_args, analysis_config, parse_jobs, parse_model_params


def add_parser(sub) -> None:
    seeds = sub.add_parser("seeds", help="run the seed systems' replications that fit a corpus and print the "
                                         "claims table (their claim, their protocol, unseen speakers)")
    add_corpus_args(seeds)
    add_feature_args(seeds)
    seeds.add_argument("--folds", type=int, default=5, help="speaker folds (default 5)")
    seeds.add_argument("--set", action="append", default=[], metavar="MODEL.PARAM=VALUE",
                       help="a replication's parameter, e.g. --set seed000_lstm.max_epochs=10 (repeatable)")
    seeds.add_argument("--no-leaks", action="store_true",
                       help="skip the claims decomposition (each replication with the leaks its pipeline "
                            "committed, each removed, then honest)")
    seeds.add_argument("--out", default="results")
    seeds.add_argument("--quiet", action="store_true")
    seeds.add_argument("--no-report", action="store_true")
    seeds.add_argument("--backend", choices=("serial", "processes", "dask"))
    seeds.add_argument("--scheduler", metavar="tcp://HOST:PORT")


def run(args: argparse.Namespace) -> int:
    from benchmark.corpora import resolve_dataset_name
    from benchmark.run.config import RunConfig
    from benchmark.run.engine import run_benchmark
    from benchmark.seeds.claims import recipes_for
    from benchmark.seeds.decompose import system_leaks

    corpus = resolve_dataset_name(args.dataset) if args.dataset else "synthetic"
    recipes = tuple(recipes_for(corpus))
    config = RunConfig(
        dataset=args.dataset, data_dir=args.data_dir, models=recipes,
        system_leaks={} if args.no_leaks else system_leaks(recipes),
        protocols=("holdout", "speaker"), folds=args.folds, seed=args.seed, jobs=parse_jobs(args.jobs),
        backend=args.backend, scheduler=args.scheduler, cache_dir=args.cache_dir, use_cache=not args.no_cache,
        content_hash=args.content_hash, out=args.out, plugins=tuple(args.plugin), quiet=args.quiet, ablation=False,
        report=not args.no_report, include_song=args.include_song, strict=args.strict, profile=args.profile,
        model_params=parse_model_params(args.set), analysis=analysis_config(args),
    )
    result = run_benchmark(config, args.argv)  # prints the leaderboard and the claims table
    if args.quiet:
        print(result.run_dir)
    return 0
