"""``extract``: fill the feature cache and print one summary line."""

from __future__ import annotations

import argparse

from .common import (
    UsageError,
    add_corpus_args,
    add_feature_args,
    analysis_config,
    load_corpus_from_args,
    parse_jobs,
)


def add_parser(sub) -> None:
    ext = sub.add_parser("extract", help="fill the feature cache")
    add_corpus_args(ext)
    add_feature_args(ext)
    ext.add_argument("--sequences", default="", metavar="SETS",
                     help="also these sequence sets, comma-separated (e.g. mfcc_frames)")


def run(args: argparse.Namespace) -> int:
    from features import extract, load_plugins, resolve

    load_plugins(args.plugin)
    config = analysis_config(args)
    from .ssl_args import register_specs

    sets = resolve(register_specs(args.features, args.ssl, args.device, args.allow_pickle_weights))
    corpus = load_corpus_from_args(args)
    sequences = [s.strip() for s in args.sequences.split(",") if s.strip()]
    features = extract(corpus.table, sets, config, sequence_sets=sequences, cache_dir=args.cache_dir,
                       use_cache=not args.no_cache, jobs=parse_jobs(args.jobs), plugins=args.plugin,
                       content_hash=args.content_hash, progress=None)
    report = features.report
    for path, reason in report.failed[:5]:
        print(f"skipped {path}: {reason}")
    for problem in report.cache_problems:
        print(f"cache: {problem}")
    for warning in report.warnings[:5]:
        print(f"warning: {warning}")
    print(report.summary_line())
    if args.strict and report.failed:  # --strict: any file that could not be analysed is an error (exit 2)
        raise UsageError(f"{len(report.failed)} file(s) failed (--strict is on): {report.failure_line()}")
    return 0
