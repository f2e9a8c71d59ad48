"""``run``: the whole benchmark (the default command)."""

from __future__ import annotations

import argparse

from .common import (
    analysis_config,
    parse_inputs,
    parse_jobs,
    parse_model_params,
    split_list,
)
from .run_flags import add_parser  # noqa: F401  (the command's flags; experiment files read them too)


def ssl_features(args: argparse.Namespace) -> list[str]:
    """``--features`` as names, its self-supervised specs (and ``--ssl``) registered."""
    from .ssl_args import register_specs

    split_list(args.features, "--features")  # an empty list is refused with the usual message
    return register_specs(args.features, args.ssl, args.device, args.allow_pickle_weights)


def config_from_args(args: argparse.Namespace):
    from benchmark.corpora import parse_emotions
    from benchmark.evaluation.leaks import resolve_leaks
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
        repeats=args.repeats, repeat_folds=args.repeat_folds,
        leaks=tuple(resolve_leaks(split_list(args.leaks, "--leaks"))) if args.leaks else (),
        augment=parse_augment(args.augment) if args.augment else (), balance=args.balance,
        near_duplicates=args.near_duplicates,
        robustness=tuple(split_list(args.robustness, "--robustness")) if args.robustness else (),
        groups=tuple(split_list(args.groups, "--groups")) if args.groups else (),
    )


def parse_augment(text: str) -> tuple[tuple[str, float | None, float | None], ...]:
    """``noise=10:30,pitch,telephone,white@10`` -> ((name, low, high), ...); a range left out takes the
    transform's default; a recording condition of ``--robustness`` takes none; ``robustness`` stands for all of
    the run's ``--robustness`` conditions (resolved with them, in the run)."""
    from benchmark.run.config import AUGMENT_ROBUSTNESS
    from features.augment import AugmentError, augmentation

    out = []
    for item in split_list(text, "--augment"):
        if item.strip().lower() == AUGMENT_ROBUSTNESS:
            out.append((AUGMENT_ROBUSTNESS, None, None))
            continue
        name, _, bounds = item.partition("=")
        low = high = None
        if bounds:
            try:
                low, high = (float(v) for v in bounds.split(":"))
            except ValueError:
                raise AugmentError(f"--augment {item}: give the range as LOW:HIGH, e.g. noise=10:30") from None
        augmentation(name.strip(), low, high)  # checked now, before any audio is read
        out.append((name.strip(), low, high))
    return tuple(out)


def run(args: argparse.Namespace) -> int:
    from benchmark.run.engine import RunFailed, run_benchmark

    from .experiment import apply_config_file, experiment_of

    args = apply_config_file(args)
    if args.task == "dimensional" or args.targets:
        return _run_dimensional(args)
    try:
        result = run_benchmark(config_from_args(args), args.argv, experiment=experiment_of(args))
    except RunFailed as failed:
        print(f"run_benchmark.py: {failed}", flush=True)
        return 1
    if args.quiet:
        print(result.run_dir)
    return 0


def _run_dimensional(args: argparse.Namespace) -> int:
    from benchmark.run.dimensional import run_dimensional
    from benchmark.run.engine import RunFailed

    from .common import UsageError

    if args.task != "dimensional":
        raise UsageError("--targets needs --task dimensional")
    try:
        result = run_dimensional(config_from_args(args), split_list(args.targets or "arousal,valence", "--targets"),
                                 args.argv)
    except RunFailed as failed:
        print(f"run_benchmark.py: {failed}", flush=True)
        return 1
    if args.quiet:
        print(result.run_dir)
    return 0
