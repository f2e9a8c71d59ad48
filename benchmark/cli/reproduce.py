"""``reproduce RUN_DIR``: run a finished run again from its run.json and compare the leaderboards cell by cell."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tabulate import tabulate

from .common import UsageError

EXIT_DIFFERENT = 3
SHOWN = 20  # differing cells printed; reproduce.json has them all


def add_parser(sub) -> None:
    p = sub.add_parser("reproduce", help="run a finished run again and compare the leaderboards cell by cell")
    p.add_argument("run_dir", help="a run folder (results/<dataset>-<time>)")
    p.add_argument("--out", help="where the new run folder goes (default: the run's own --out)")
    p.add_argument("--jobs", type=int, help="cores to use (does not change a result)")
    p.add_argument("--backend", choices=("serial", "processes", "dask"), help="where fits run")
    p.add_argument("--cache-dir", help="feature and fit cache")
    p.add_argument("--no-cache", action="store_true",
                   help="fit everything again instead of reusing cached fits (a cached fit of the same key is "
                        "the same computation; --no-cache checks that this machine computes it alike)")
    p.add_argument("--quiet", action="store_true", help="no progress, just the comparison")


def _run_argv(run_dir: Path, args: argparse.Namespace) -> list[str]:
    """The ``run`` command line that repeats the run: its experiment, with execution flags overridden."""
    run = json.loads((run_dir / "run.json").read_text())
    if "experiment" in run:
        argv = ["run", "--config", str(run_dir / "run.json")]
    elif run.get("argv") is not None:  # run folders written before experiment files: the recorded flags
        recorded = list(run["argv"])
        argv = recorded if recorded[:1] == ["run"] else ["run", *recorded]
    else:
        raise UsageError(f"{run_dir / 'run.json'}: records neither the experiment nor the command line")
    for flag, value in (("--out", args.out), ("--jobs", args.jobs), ("--backend", args.backend),
                        ("--cache-dir", args.cache_dir)):
        if value is not None:
            argv += [flag, str(value)]
    argv += ["--no-cache"] * args.no_cache + ["--quiet"] * args.quiet
    return argv


def run(args: argparse.Namespace) -> int:
    from benchmark.reports.rundir import load_run
    from benchmark.run.reproduce import DIFFERENT, IDENTICAL, reproduce

    from .experiment import apply_config_file, experiment_of, run_parser
    from .run import config_from_args

    run_dir = Path(args.run_dir)
    load_run(run_dir)  # a one-line error when it is not a run folder
    argv = _run_argv(run_dir, args)
    top, _ = run_parser()
    run_args = top.parse_args(argv)
    run_args.argv = argv
    run_args = apply_config_file(run_args)
    comparison = reproduce(run_dir, config_from_args(run_args), argv, experiment=experiment_of(run_args),
                           log=(lambda _: None) if args.quiet else None)
    counts = comparison.counts()
    print(f"reproduce {run_dir} -> {comparison.new}: {comparison.verdict.upper()} ({counts[IDENTICAL]} cells "
          f"identical, {counts['within seed spread']} within the seed spread, {counts[DIFFERENT]} different)")
    changed = [c for c in comparison.cells if c["verdict"] != IDENTICAL]
    if changed:
        print(tabulate([[c["key"], c["field"], c["old"], c["new"], c["verdict"]] for c in changed[:SHOWN]],
                       ["row", "cell", "old", "new", "verdict"], tablefmt="simple", disable_numparse=True))
        if len(changed) > SHOWN:
            print(f"... and {len(changed) - SHOWN} more in {comparison.new / 'reproduce.json'}")
    for title, diffs in (("library versions", comparison.versions), ("machine", comparison.machine)):
        if diffs:
            print(f"{title} that differ: " + "; ".join(f"{k} {a} -> {b}" for k, (a, b) in diffs.items()))
        else:
            print(f"{title}: the same")
    for note in comparison.notes:
        print(f"note: {note}")
    return EXIT_DIFFERENT if comparison.verdict == DIFFERENT else 0
