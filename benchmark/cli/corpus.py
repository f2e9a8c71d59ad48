"""``describe``: what a corpus holds; ``list``: the datasets, feature sets, models and protocols there are."""

from __future__ import annotations

import argparse
import json

from .common import add_corpus_args, load_corpus_from_args


def add_parser(sub) -> None:
    describe = sub.add_parser("describe", help="summarise a corpus")
    add_corpus_args(describe)
    describe.add_argument("--json", action="store_true", help="one JSON object on stdout")
    describe.add_argument("--cache-dir")
    sub.add_parser("list", help="name datasets, feature sets, models, protocols and splits").add_argument(
        "--plugin", action="append", default=[], metavar="FILE")


def run(args: argparse.Namespace) -> int:
    return _list(args) if args.command == "list" else _describe(args)


def _describe(args) -> int:
    from tabulate import tabulate

    corpus = load_corpus_from_args(args)
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
    for note in summary["notes"]:  # e.g. IEMOCAP's counts as papers print them, MSP-Podcast's partitions
        print(note)
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
    from benchmark.evaluation.protocols import PROTOCOLS
    from benchmark.evaluation.splits import format_splits
    from features import GROUPS, REGISTRY, load_plugins
    from models import MODELS

    load_plugins(args.plugin)
    print("datasets:")
    for spec in DATASETS.values():
        print(f"  {spec.name:<12} {spec.description}")
    print("feature sets:")
    for fs in REGISTRY.values():
        print(f"  {fs.name:<14} {fs.kind:<8} v{fs.version}  {fs.description}")
    for group, members in GROUPS.items():
        print(f"  {group:<14} group     {', '.join(members)}")
    print("models:")
    for spec in MODELS.values():
        takes = spec.default_input or "vector bank"
        print(f"  {spec.name:<17} {takes:<14} {spec.description}")
    print("protocols:")
    for protocol in PROTOCOLS.values():
        print(f"  {protocol.name:<14} {protocol.description}")
    print("published splits (--split NAME):")
    print("  " + format_splits().replace("\n", "\n  "))
    return 0
