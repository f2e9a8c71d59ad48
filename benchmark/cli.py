"""Command line: ``python run_benchmark.py [run|describe|list|extract|export|perf] ...``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

COMMANDS = ("run", "describe", "list", "extract", "export", "perf")
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad arguments or input: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage block
        raise UsageError(message)


def _corpus_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("corpus")
    g.add_argument("--dataset", help="synthetic (default), tess, ravdess, cremad, savee, emodb or manifest")
    g.add_argument("--data-dir", help="folder of the unpacked release (or the manifest CSV)")
    g.add_argument("--include-song", action="store_true", help="RAVDESS: also use the sung recordings")
    g.add_argument("--strict", action="store_true", help="any skipped file is an error")
    g.add_argument("--profile", default="default", help="size of the built-in corpus: default or small")
    g.add_argument("--seed", type=int, default=0, help="seeds the built-in corpus, folds and models")


def _feature_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("features")
    g.add_argument("--features", default="all", help="comma-separated feature sets, or 'all' (default)")
    g.add_argument("--plugin", action="append", default=[], metavar="FILE",
                   help="a Python file registering feature sets or models (repeatable)")
    g.add_argument("--jobs", type=int, default=None, help="worker processes / threads (default: all cores)")
    g.add_argument("--cache-dir", help="feature cache (default: $SER_CACHE_DIR or ~/.cache/ser-benchmark)")
    g.add_argument("--no-cache", action="store_true", help="compute everything, keep nothing")
    g.add_argument("--content-hash", action="store_true",
                   help="identify files by content, not path, size and modification time")
    g.add_argument("--stats", help="functionals, e.g. mean,std,min,max,percentiles,slope (default mean,std)")
    g.add_argument("--sr", type=int, default=16000, help="analysis sample rate (default 16000)")
    g.add_argument("--tonnetz-source", choices=("stft", "cqt"), default="stft")
    g.add_argument("--analysis", action="append", default=[], metavar="KEY=VALUE",
                   help="any analysis setting, e.g. n_mfcc=20, n_mels=40, win_ms=32, seq_pool=2 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="run_benchmark.py", description="Leakage-aware speech emotion recognition benchmark. "
                     "With no command: run the full benchmark on the built-in corpus.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    run = sub.add_parser("run", help="run the benchmark (default)")
    _corpus_args(run)
    _feature_args(run)
    g = run.add_argument_group("benchmark")
    g.add_argument("--models", default="svm,xgboost,dnn,lstm", help="comma-separated models, or 'all'")
    g.add_argument("--sequence-features", default="mfcc_frames", help="sequence set for sequence models")
    g.add_argument("--protocols", default="stratified,speaker", help="stratified, speaker, speaker+text")
    g.add_argument("--folds", type=int, default=5)
    g.add_argument("--loso", action="store_true", help="leave-one-speaker-out for speaker protocols")
    g.add_argument("--fold-file", help="CSV speaker,fold: a published speaker split")
    g.add_argument("--speaker-norm", action="store_true",
                   help="also run every model on per-speaker z-normalised features (marked spk-norm)")
    g.add_argument("--no-ablation", action="store_true", help="skip the feature-group ablation")
    g.add_argument("--set", action="append", default=[], metavar="MODEL.PARAM=VALUE",
                   help="a model parameter, e.g. --set lstm.max_epochs=20 (repeatable)")
    g.add_argument("--out", default="results", help="where run folders are written (default: results)")
    g.add_argument("--quiet", action="store_true", help="no progress bars or tables, just the run folder")

    describe = sub.add_parser("describe", help="summarise a corpus")
    _corpus_args(describe)
    describe.add_argument("--json", action="store_true", help="one JSON object on stdout")
    describe.add_argument("--cache-dir")

    sub.add_parser("list", help="name datasets, feature sets, models and protocols").add_argument(
        "--plugin", action="append", default=[], metavar="FILE")

    ext = sub.add_parser("extract", help="fill the feature cache")
    _corpus_args(ext)
    _feature_args(ext)
    ext.add_argument("--sequences", action="store_true", help="also the frame sequences for the LSTM")

    export = sub.add_parser("export", help="rebuild a finished run's tables from its folds.csv")
    export.add_argument("run_dir")
    export.add_argument("--format", default="md", choices=("md", "csv", "latex", "json"))

    perf = sub.add_parser("perf", help="time the feature bank against the usual per-feature recipe")
    _corpus_args(perf)
    perf.add_argument("--files", type=int, default=200, help="clips to time (default 200)")
    perf.add_argument("--cache-dir")
    perf.add_argument("--lstm", action="store_true", help="also time one RAVDESS-sized LSTM fold (about a minute)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["run", *argv]
    try:
        args = build_parser().parse_args(argv)
        return _dispatch(args, argv)
    except UsageError as error:
        print(f"run_benchmark.py: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as interrupt:
        message = str(interrupt) or "interrupted; the feature cache keeps what was finished"
        print(f"run_benchmark.py: {message}", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace, argv: list[str]) -> int:
    from benchmark.corpora import CorpusError
    from benchmark.protocols import ProtocolError
    from features.registry import FeatureError
    from models.registry import ModelError

    try:
        if args.command == "list":
            return _list(args)
        if args.command == "describe":
            return _describe(args)
        if args.command == "extract":
            return _extract(args)
        if args.command == "export":
            return _export(args)
        if args.command == "perf":
            from benchmark.perf import run_perf

            run_perf(dataset=args.dataset, data_dir=args.data_dir, n_files=args.files, cache_dir=args.cache_dir,
                     seed=args.seed, profile=args.profile)
            if args.lstm:
                from benchmark.perf import time_lstm_fold

                time_lstm_fold()
            return 0
        return _run(args, argv)
    except (CorpusError, FeatureError, ModelError, ProtocolError, ValueError, OSError, TypeError) as error:
        if os.environ.get("SER_DEBUG"):  # developers: the full traceback instead of one line
            raise
        raise UsageError(str(error).splitlines()[0] if str(error) else type(error).__name__) from None


def _analysis(args):
    from features import AnalysisConfig, parse_stats
    from features.config import CONFIG_FIELDS

    changes = {"sr": args.sr, "tonnetz_source": args.tonnetz_source}
    if args.stats:
        changes["stats"] = parse_stats(args.stats)
    for item in args.analysis:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in CONFIG_FIELDS or key == "stats":
            raise UsageError(f"--analysis {item!r}: expected KEY=VALUE with KEY one of "
                             f"{', '.join(f for f in CONFIG_FIELDS if f != 'stats')}")
        try:
            changes[key] = json.loads(raw)
        except ValueError:
            changes[key] = raw
    return AnalysisConfig(**changes)


def _parse_sets(items: list[str]) -> dict:
    params: dict[str, dict] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        model, dot, name = key.partition(".")
        if not sep or not dot or not model or not name:
            raise UsageError(f"--set {item!r}: expected MODEL.PARAM=VALUE, e.g. lstm.max_epochs=20")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        params.setdefault(model.strip(), {})[name.strip()] = value
    return params


def _run(args, argv) -> int:
    from benchmark.runner import RunConfig, run_benchmark

    config = RunConfig(
        dataset=args.dataset, data_dir=args.data_dir, features=args.features,
        sequence_features=args.sequence_features, models=args.models, protocols=args.protocols,
        folds=args.folds, loso=args.loso, fold_file=args.fold_file, speaker_norm=args.speaker_norm,
        seed=args.seed, jobs=args.jobs, cache_dir=args.cache_dir, use_cache=not args.no_cache, out=args.out,
        plugins=tuple(args.plugin), quiet=args.quiet, ablation=not args.no_ablation,
        include_song=args.include_song, strict=args.strict, profile=args.profile,
        model_params=_parse_sets(args.set), analysis=_analysis(args), content_hash=args.content_hash,
    )
    result = run_benchmark(config, argv)
    if args.quiet:
        print(result.run_dir)
    return 0


def _load(args):
    from benchmark.corpora import load_corpus

    return load_corpus(args.dataset, args.data_dir, include_song=args.include_song, strict=args.strict,
                       cache_dir=getattr(args, "cache_dir", None), seed=args.seed, profile=args.profile)


def _describe(args) -> int:
    from tabulate import tabulate

    corpus = _load(args)
    summary = corpus.summary()
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{summary['dataset']}: {summary['utterances']} utterances, {summary['speakers']} speakers, "
          f"{summary['texts']} texts, {summary['total_duration_s'] / 60:.1f} min of audio")
    print(f"root: {summary['root']}")
    print("sample rates: " + ", ".join(f"{r} Hz x{n}" for r, n in summary["sample_rates"].items()))
    print("genders: " + ", ".join(f"{g} x{n}" for g, n in summary["genders"].items()))
    emotions = list(summary["emotions"])
    rows = [[speaker] + [counts.get(e, 0) for e in emotions] + [sum(counts.values())]
            for speaker, counts in summary["per_speaker"].items()]
    rows.append(["all"] + [summary["emotions"][e] for e in emotions] + [summary["utterances"]])
    print(tabulate(rows, ["speaker", *emotions, "total"], tablefmt="simple"))
    _print_skipped(summary["skipped"])
    return 0


def _print_skipped(skipped: list[dict], first: int = 5) -> None:
    if not skipped:
        print("skipped: none")
        return
    print(f"skipped: {len(skipped)} file(s)")
    for item in skipped[:first]:
        print(f"  {item['path']}: {item['reason']}")
    if len(skipped) > first:
        print(f"  ... and {len(skipped) - first} more (--json lists all)")


def _list(args) -> int:
    from benchmark.corpora import DATASETS
    from benchmark.protocols import PROTOCOLS
    from features import GROUPS, REGISTRY, load_plugins
    from models import MODELS

    load_plugins(args.plugin)
    print("datasets:")
    for spec in DATASETS.values():
        print(f"  {spec.name:<12} {spec.description}")
    print("feature sets:")
    for fs in REGISTRY.values():
        print(f"  {fs.name:<12} {fs.kind:<8} v{fs.version}  {fs.description}")
    for group, members in GROUPS.items():
        print(f"  {group:<12} group     {', '.join(members)}")
    print("models:")
    for spec in MODELS.values():
        print(f"  {spec.name:<12} {spec.input_kind:<8} {spec.description}")
    print("protocols:")
    for name, text in PROTOCOLS.items():
        print(f"  {name:<12} {text}")
    return 0


def _extract(args) -> int:
    from features import extract, resolve

    corpus = _load(args)
    sets = resolve(args.features)
    features = extract(corpus.table, sets, _analysis(args), sequence_sets=["mfcc_frames"] if args.sequences else [],
                       cache_dir=args.cache_dir, use_cache=not args.no_cache, jobs=args.jobs, plugins=args.plugin,
                       content_hash=args.content_hash, progress=None)
    report = features.report
    for path, reason in report.failed[:5]:
        print(f"skipped {path}: {reason}")
    for problem in report.cache_problems:
        print(f"cache: {problem}")
    for warning in report.warnings[:5]:
        print(f"warning: {warning}")
    print(report.summary_line())
    return 0


def _export(args) -> int:
    from benchmark.leaderboard import render

    run_dir = Path(args.run_dir)
    missing = [f for f in ("folds.csv", "audit.json", "run.json") if not (run_dir / f).is_file()]
    if missing:
        raise UsageError(f"{run_dir}: not a finished run folder (missing {', '.join(missing)})")
    sys.stdout.write(render(run_dir, args.format))
    return 0
