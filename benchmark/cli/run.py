"""``run``: the whole benchmark (the default command)."""

from __future__ import annotations

import argparse

from .common import (
    add_corpus_args,
    add_feature_args,
    analysis_config,
    parse_inputs,
    parse_jobs,
    parse_model_params,
    split_list,
)


def add_parser(sub) -> None:
    run = sub.add_parser("run", help="run the benchmark (default)")
    add_corpus_args(run)
    add_feature_args(run)
    g = run.add_argument_group("benchmark")
    g.add_argument("--models", default="svm,xgboost,dnn,lstm", help="comma-separated models, or 'all'")
    g.add_argument("--input", action="append", default=[], metavar="MODEL=SET",
                   help="the feature set a model takes instead of its default, e.g. lstm=logmel_frames "
                        "(repeatable)")
    g.add_argument("--protocols", default="stratified,speaker",
                   help="stratified, holdout, speaker, speaker+text, cross-corpus, leave-one-corpus-out")
    g.add_argument("--folds", type=int, default=5)
    g.add_argument("--loso", action="store_true", help="leave-one-speaker-out for speaker protocols")
    g.add_argument("--fold-file", help="CSV speaker,fold[,part]: a speaker split of your own")
    g.add_argument("--split", help="a published split shipped with the project (see `list`), e.g. emobox")
    g.add_argument("--emotions", help="only these emotions, comma-separated (several corpora: default the "
                                      "emotions every corpus has)")
    g.add_argument("--corpus-norm", action="store_true",
                   help="also run every model on per-corpus z-normalised features (marked @corpus-norm)")
    g.add_argument("--speaker-norm", action="store_true",
                   help="also run every model on per-speaker z-normalised features (marked spk-norm)")
    g.add_argument("--no-ablation", action="store_true", help="skip the feature-group ablation")
    g.add_argument("--tune", action="store_true",
                   help="choose hyper-parameters (C, depth, ...) per fold by an inner speaker-grouped cross-validation "
                        "on the training speakers only; the choice is recorded in folds.csv")
    g.add_argument("--set", action="append", default=[], metavar="MODEL.PARAM=VALUE",
                   help="a model parameter, e.g. --set lstm.max_epochs=20 (repeatable)")
    g.add_argument("--out", default="results", help="where run folders are written (default: results)")
    g.add_argument("--quiet", action="store_true", help="no progress bars or tables, just the run folder")
    g.add_argument("--no-report", action="store_true", help="skip report.html and the plots")
    g.add_argument("--bootstrap-resamples", type=int, default=1000,
                   help="resamples of the speaker bootstrap behind confidence intervals (default 1000)")
    e = run.add_argument_group("execution")
    e.add_argument("--backend", choices=("serial", "processes", "dask"),
                   help="where fits run (default: processes when more than one core is given, else serial)")
    e.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="dask: an existing scheduler (default: start a local cluster)")


def ssl_features(args: argparse.Namespace) -> list[str]:
    """``--features`` as names, its self-supervised specs (and ``--ssl``) registered."""
    from .ssl_args import register_specs

    split_list(args.features, "--features")  # an empty list is refused with the usual message
    return register_specs(args.features, args.ssl, args.device, args.allow_pickle_weights)


def config_from_args(args: argparse.Namespace):
    from benchmark.corpora import parse_emotions
    from benchmark.run.config import RunConfig

    return RunConfig(
        dataset=args.dataset, data_dir=args.data_dir, features=tuple(ssl_features(args)),
        models=tuple(split_list(args.models, "--models")), inputs=parse_inputs(args.input),
        protocols=tuple(split_list(args.protocols, "--protocols")), folds=args.folds, loso=args.loso,
        fold_file=args.fold_file, split=args.split, speaker_norm=args.speaker_norm, corpus_norm=args.corpus_norm,
        emotions=tuple(parse_emotions(args.emotions)) if args.emotions else None, seed=args.seed, jobs=parse_jobs(args.jobs),
        backend=args.backend, scheduler=args.scheduler, cache_dir=args.cache_dir, use_cache=not args.no_cache,
        content_hash=args.content_hash, out=args.out, plugins=tuple(args.plugin), quiet=args.quiet,
        ablation=not args.no_ablation, report=not args.no_report, tune=args.tune, bootstrap_resamples=args.bootstrap_resamples, include_song=args.include_song, strict=args.strict,
        profile=args.profile, model_params=parse_model_params(args.set), analysis=analysis_config(args),
    )


def run(args: argparse.Namespace) -> int:
    from benchmark.run.engine import RunFailed, run_benchmark

    try:
        result = run_benchmark(config_from_args(args), args.argv)
    except RunFailed as failed:
        print(f"run_benchmark.py: {failed}", flush=True)
        return 1
    if args.quiet:
        print(result.run_dir)
    return 0
