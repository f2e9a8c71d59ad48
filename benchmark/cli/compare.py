"""``compare``: the leaderboards of several finished runs side by side, with paired tests where they share folds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import UsageError


def add_parser(sub) -> None:
    compare = sub.add_parser("compare", help="put the leaderboards of several runs side by side")
    compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="two or more run folders")
    compare.add_argument("--format", default="console", choices=("console", "md", "csv", "latex", "html"))
    compare.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")


def run(args: argparse.Namespace) -> int:
    from benchmark.reports import dimensional
    from benchmark.reports.compare import compare, render_compare

    kinds = {Path(d): dimensional.is_dimensional_run(Path(d)) for d in args.run_dirs}
    if any(kinds.values()):
        if not all(kinds.values()):
            odd = next(d for d, k in kinds.items() if not k)
            raise UsageError(f"compare {odd}: a categorical run cannot be compared with a dimensional one")
        text = dimensional.render_compare(list(kinds), args.format)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
            print(args.output)
        else:
            sys.stdout.write(text)
        return 0
    text = render_compare(compare([Path(d) for d in args.run_dirs]), args.format)
    if args.output:
        if Path(args.output).is_dir():
            raise UsageError(f"-o {args.output}: is a folder; give a file name")
        Path(args.output).write_text(text, encoding="utf-8")
        print(args.output)
    else:
        sys.stdout.write(text)
    return 0
