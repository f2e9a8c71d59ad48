"""``export``: re-render a finished run's tables from its files, without recomputing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub) -> None:
    export = sub.add_parser("export", help="rebuild a finished run's tables from its files")
    export.add_argument("run_dir")
    export.add_argument("--format", default="md", choices=("md", "csv", "latex", "json", "html"),
                        help="html writes report.html (and its plots) into the run folder and prints its path")
    export.add_argument("--unverified", action="store_true",
                        help="export a folder that has no checksums.json (its files cannot be verified)")


def run(args: argparse.Namespace) -> int:
    from benchmark.reports import dimensional

    if dimensional.is_dimensional_run(Path(args.run_dir)):
        if args.format == "html":
            print(dimensional.write_html_report(Path(args.run_dir)))
        else:
            sys.stdout.write(dimensional.export(Path(args.run_dir), args.format))
        return 0
    from benchmark.reports.rundir import open_run_folder
    from benchmark.reports.tables import render

    run_dir = open_run_folder(Path(args.run_dir), unverified=args.unverified)
    if args.unverified and not (run_dir / "checksums.json").is_file():
        print(f"warning: {run_dir / 'checksums.json'} is missing: exported without verifying the run's files",
              file=sys.stderr)
    if args.format == "html":
        from benchmark.reports.html import write_report

        print(write_report(run_dir))
        return 0
    sys.stdout.write(render(run_dir, args.format))
    return 0
