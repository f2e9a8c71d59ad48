"""``cache info`` and ``cache clear``: what the feature and fit cache holds, and pruning it."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from .common import UsageError


def add_parser(sub) -> None:
    cache = sub.add_parser("cache", help="list or prune the feature and fit cache")
    cache.add_argument("action", choices=("info", "clear"))
    cache.add_argument("--cache-dir", help="default: $SER_CACHE_DIR or ~/.cache/ser-benchmark")
    cache.add_argument("--part", choices=("all", "features", "fits"), default="all", help="clear: which part")
    cache.add_argument("--older-than", type=float, metavar="DAYS",
                       help="clear: only files not written or used for this many days")


def run(args: argparse.Namespace) -> int:
    from benchmark.run.fitcache import cache_info, clear_cache
    from features.cache import default_cache_dir

    root = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    if args.action == "info":
        parts = cache_info(root)
        print(f"cache: {root}")
        if not parts:
            print("  empty")
        for name, usage in parts.items():
            newest = datetime.fromtimestamp(usage["newest"]).strftime("%Y-%m-%d %H:%M") if usage["files"] else "-"
            print(f"  {name:<32} {usage['files']:>6} files {usage['bytes'] / 1e6:>9.1f} MB   newest {newest}")
        return 0
    if args.older_than is not None and args.older_than < 0:
        raise UsageError(f"--older-than {args.older_than}: must be zero or more days")
    removed, freed = clear_cache(root, args.part, args.older_than)
    print(f"removed {removed} file(s), {freed / 1e6:.1f} MB from {root}")
    return 0
