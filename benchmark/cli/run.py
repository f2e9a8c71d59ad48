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
    g.add_argument("--leaks", metavar="LIST|all",
                   help="also measure deliberately leaky pipelines (marked LEAK, never ranked), each alone on the "
                        "speaker folds and then together: speakers, sentences, scale-on-all, select-on-all, "
                        "augment-before-split, oversample-before-split, epoch-on-test, tune-on-test, test-in-train")
    g.add_argument("--augment", metavar="T[=LOW:HIGH],...",
                   help="augmentation transforms (noise=SNR dB, pitch=semitones, stretch=rate, gain=dB), one "
                        "seeded copy each; the copies used by --leaks augment-before-split and its in-fold twin")
    g.add_argument("--balance", choices=("smote", "adasyn", "random", "class-weight"),
                   help="balance the classes inside each training fold (imbalanced-learn); never a test row")
    g.add_argument("--near-duplicates", action="store_true",
                   help="audit near-duplicate audio (re-encoded, resampled, trimmed, gain-changed copies) by a "
                        "log-mel fingerprint, within and across corpora and across training and test")
    g.add_argument("--task", choices=("categorical", "dimensional"), default="categorical",
                   help="categorical (emotion classes, default) or dimensional (regression of --targets, CCC)")
    g.add_argument("--targets", help="dimensional task: comma-separated targets, e.g. arousal,valence,dominance "
                                     "(default arousal,valence)")
    g.add_argument("--out", default="results", help="where run folders are written (default: results)")
    g.add_argument("--quiet", action="store_true", help="no progress bars or tables, just the run folder")
    g.add_argument("--no-report", action="store_true", help="skip report.html and the plots")
    g.add_argument("--bootstrap-resamples", type=int, default=1000,
                   help="resamples of the speaker bootstrap behind confidence intervals (default 1000)")
    g.add_argument("--repeats", type=int, default=1,
                   help="repeat every fit with N training seeds derived from --seed (seed-free models are fitted "
                        "once per fold); the leaderboard gives the mean, the seed SD and rank stability")
    g.add_argument("--repeat-folds", action="store_true",
                   help="with --repeats: also draw the folds anew for each repeat (repeated k-fold)")
    g.add_argument("--config", metavar="EXPERIMENT.toml",
                   help="an experiment file: every run flag as a key (or a finished run's run.json); flags given "
                        "on the command line override it")
    g.add_argument("--robustness", nargs="?", const="default", metavar="LIST",
                   help="also score every model on degraded copies of its test fold: conditions such as white@10, "
                        "pink@5, babble@0, telephone, mp3, opus, vorbis, reverb@0.6, level@-20, clip@0.3, or presets "
                        "default, noise, channel, room (comma-separated; default: the default preset)")
    g.add_argument("--groups", metavar="COLUMNS",
                   help="fairness: UAR per group of speakers, the gap and its permutation test, for these columns "
                        "of the corpus (e.g. gender, or age_band from a manifest)")
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
    """``noise=10:30,pitch`` -> ((name, low, high), ...); a range left out takes the transform's default."""
    from features.augment import AugmentError, augmentation

    out = []
    for item in split_list(text, "--augment"):
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
