"""``train``: fit one model on a whole corpus and save it as a bundle, with its speaker-independent score."""

from __future__ import annotations

import argparse
import sys

from .common import (
    UsageError,
    add_corpus_args,
    add_feature_args,
    analysis_config,
    parse_jobs,
    parse_model_params,
    split_list,
)


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="fit one model on a whole corpus and save it as a bundle",
                       description="Fit one model on the whole corpus and write a bundle (one zip file): the model, "
                       "its features, labels, corpus fingerprint, library versions and its UAR on unseen speakers "
                       "with a confidence interval, measured by the speaker protocol in the same command.")
    add_corpus_args(p)
    add_feature_args(p)
    g = p.add_argument_group("model")
    g.add_argument("--model", required=True, help="a registered model (see list)")
    g.add_argument("--speaker-norm", action="store_true",
                   help="per-speaker z-normalised features (prediction then needs --speaker and several "
                        "recordings of that speaker)")
    g.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                   help="a model parameter, e.g. --set max_epochs=20 (MODEL.PARAM=VALUE also accepted)")
    g.add_argument("--out", required=True, help="the bundle file to write, e.g. emodb-svm.zip")
    g.add_argument("--from-run", metavar="RUN_DIR",
                   help="take corpus, features and settings from a finished run, its score from the run's "
                        "leaderboard (no evaluation here) and, when the run was made with --robustness, the "
                        "model's robustness profile")
    g.add_argument("--no-evaluate", action="store_true", help="skip the speaker-independent evaluation")
    g.add_argument("--robustness", nargs="?", const="default", metavar="LIST",
                   help="also measure the model's robustness profile in the evaluation: each fold's model "
                        "predicts degraded copies of its test speakers' clips (conditions as for run "
                        "--robustness; default: the default preset). Costs what run --robustness costs; "
                        "with --from-run the profile comes from the run")
    g.add_argument("--folds", type=int, default=5, help="speaker folds of the evaluation (default 5)")
    g.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples of the interval")
    g.add_argument("--quiet", action="store_true", help="print only the bundle's path")


def model_params_from_args(model: str, items: list[str]) -> dict:
    """``--set C=1`` or ``--set svm.C=1`` -> ``{"C": 1}``; another model's parameter is a usage error."""
    prefixed = [i if "." in i.partition("=")[0] else f"{model}.{i}" for i in items]
    params = parse_model_params(prefixed)
    others = sorted(set(params) - {model})
    if others:
        raise UsageError(f"--set: parameters for {', '.join(others)}, but --model is {model}")
    return params.get(model, {})


def run(args: argparse.Namespace) -> int:
    from benchmark.apps.robustness import describe
    from benchmark.apps.training import TrainConfig, config_from_run, robustness_from_run, train_bundle

    say = (lambda _: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    if args.folds < 2:
        raise UsageError(f"--folds {args.folds}: must be at least 2")
    if args.resamples < 1:
        raise UsageError(f"--resamples {args.resamples}: must be at least 1")
    params = model_params_from_args(args.model, args.set)
    if args.from_run:
        if args.dataset or args.features != "all":
            raise UsageError("--from-run takes the corpus and features from the run; drop --dataset/--features")
        if args.robustness:
            raise UsageError("--robustness with --from-run: the robustness profile comes from the run (made with "
                             "run --robustness); drop --robustness")
        config, score, fingerprint = config_from_run(
            args.from_run, args.model, speaker_norm=args.speaker_norm, data_dir=args.data_dir,
            cache_dir=args.cache_dir, jobs=parse_jobs(args.jobs))
        config.model_params.update(params)
        if params:
            say("note: --set changes the model, so the run's score describes it less exactly")
        say(score.line() + f" (from {args.from_run})")
        profile = robustness_from_run(args.from_run, args.model, config.features)
        if profile is not None and args.speaker_norm:  # a run scores robustness without speaker normalisation
            say("note: the run's robustness results are for the model without --speaker-norm; the bundle has no "
                "robustness profile")
            profile = None
        if profile is not None:
            say(describe(profile))
        bundle = train_bundle(config, log=say, score=score, expected_fingerprint=fingerprint, robustness=profile)
    else:
        config = TrainConfig(
            model=args.model, dataset=args.dataset, data_dir=args.data_dir, features=args.features,
            speaker_norm=args.speaker_norm, seed=args.seed, folds=args.folds, evaluate=not args.no_evaluate,
            n_resamples=args.resamples, jobs=parse_jobs(args.jobs), cache_dir=args.cache_dir,
            use_cache=not args.no_cache, plugins=tuple(args.plugin), model_params=params,
            analysis=analysis_config(args), profile=args.profile, include_song=args.include_song,
            strict=args.strict,
            robustness=tuple(split_list(args.robustness, "--robustness")) if args.robustness else ())
        bundle = train_bundle(config, log=say)
    path = bundle.save(args.out)
    say(bundle.describe())
    print(path)
    return 0
