"""What the commands share: the parser that errors in one line, and the argument groups and parsers of strings."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from .errors import EXIT_USAGE, UsageError  # noqa: F401  (re-exported: the commands import them from here)


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage block
        raise UsageError(message)


def split_list(text: str | None, flag: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``; an empty list is a usage error naming ``flag``."""
    items = [s.strip() for s in (text or "").split(",") if s.strip()]
    if not items:
        raise UsageError(f"{flag}: give at least one name")
    return items


def add_corpus_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("corpus")
    g.add_argument("--dataset", help="synthetic (default), tess, ravdess, cremad, savee, emodb, iemocap, msppodcast, "
                                     "emovo, cafe, subesco, shemo, esd or manifest (all names: `list`)")
    g.add_argument("--data-dir", help="folder of the unpacked release (or the manifest CSV)")
    g.add_argument("--include-song", action="store_true", help="RAVDESS: also use the sung recordings")
    g.add_argument("--strict", action="store_true", help="any skipped file is an error")
    g.add_argument("--profile", default="default", choices=("default", "small"),
                   help="size of the built-in corpus: default or small")
    g.add_argument("--seed", type=int, default=0, help="seeds the built-in corpus, folds and models")


def add_feature_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("features")
    g.add_argument("--features", default="all", help="comma-separated feature sets, or 'all' (default)")
    g.add_argument("--plugin", action="append", default=[], metavar="FILE",
                   help="a Python file registering feature sets or models (repeatable)")
    g.add_argument("--jobs", type=int, default=None, help="cores to use (default: all)")
    g.add_argument("--cache-dir", help="feature and fit cache (default: $SER_CACHE_DIR or ~/.cache/ser-benchmark)")
    g.add_argument("--no-cache", action="store_true", help="compute everything, keep nothing")
    g.add_argument("--content-hash", action="store_true",
                   help="identify files by content, not path, size and modification time")
    g.add_argument("--stats", help="functionals, e.g. mean,std,min,max,percentiles,slope (default mean,std)")
    g.add_argument("--sr", type=int, default=16000, help="analysis sample rate (default 16000)")
    g.add_argument("--tonnetz-source", choices=("stft", "cqt"), default="stft")
    g.add_argument("--analysis", action="append", default=[], metavar="KEY=VALUE",
                   help="any analysis setting, e.g. n_mfcc=20, n_mels=40, win_ms=32, seq_pool=2 (repeatable)")
    from .ssl_args import add_ssl_args

    add_ssl_args(g)


def parse_jobs(jobs: int | None) -> int | None:
    if jobs is not None and jobs == 0:
        raise UsageError("--jobs 0: give a number of cores (negative counts back from all cores)")
    return jobs


def analysis_config(args: argparse.Namespace):
    """The analysis settings from ``--sr``, ``--tonnetz-source``, ``--stats`` and ``--analysis KEY=VALUE``."""
    from features import AnalysisConfig, parse_stats
    from features.config import CONFIG_FIELDS

    changes = {"sr": args.sr, "tonnetz_source": args.tonnetz_source}
    if args.stats:
        try:
            changes["stats"] = parse_stats(args.stats)
            AnalysisConfig(stats=changes["stats"])  # checked alone, so that its message names --stats
        except (TypeError, ValueError) as error:
            raise UsageError(f"--stats {args.stats!r}: {error}") from None
    for item in args.analysis:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in CONFIG_FIELDS or key == "stats":
            raise UsageError(f"--analysis {item!r}: expected KEY=VALUE with KEY one of "
                             f"{', '.join(f for f in CONFIG_FIELDS if f != 'stats')}")
        changes[key] = parse_value(raw)
    try:
        return AnalysisConfig(**changes)
    except (TypeError, ValueError) as error:
        raise UsageError(f"{_flag_of(str(error), args)}: {error}") from None


# Settings that have a flag of their own; every other one is given with --analysis KEY=VALUE.
_OWN_FLAGS = {"sr": "--sr", "stats": "--stats", "tonnetz_source": "--tonnetz-source"}


def _flag_of(message: str, args: argparse.Namespace) -> str:
    """The flag the user gave the setting a message is about (``sr=0: ...`` -> ``--sr``)."""
    key = message.split("=", 1)[0].strip()
    given_by_analysis = any(item.partition("=")[0].strip() == key for item in args.analysis)
    return "--analysis" if given_by_analysis or key not in _OWN_FLAGS else _OWN_FLAGS[key]


def parse_value(raw: str):
    """A command-line value: JSON when it parses (numbers, true/false, lists), else the string."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_model_params(items: Sequence[str]) -> dict[str, dict]:
    """``["lstm.max_epochs=20", ...]`` -> ``{"lstm": {"max_epochs": 20}}``."""
    params: dict[str, dict] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        model, dot, name = key.partition(".")
        if not sep or not dot or not model.strip() or not name.strip():
            raise UsageError(f"--set {item!r}: expected MODEL.PARAM=VALUE, e.g. lstm.max_epochs=20")
        params.setdefault(model.strip(), {})[name.strip()] = parse_value(raw)
    return params


def parse_inputs(items: Sequence[str]) -> dict[str, str]:
    """``["lstm=logmel_frames"]`` -> ``{"lstm": "logmel_frames"}``."""
    inputs = {}
    for item in items:
        model, sep, name = (s.strip() for s in item.partition("="))
        if not sep or not model or not name:
            raise UsageError(f"--input {item!r}: expected MODEL=SET, e.g. lstm=logmel_frames")
        inputs[model] = name
    return inputs


def load_corpus_from_args(args: argparse.Namespace):
    from benchmark.corpora import load_corpus

    return load_corpus(args.dataset, args.data_dir, include_song=args.include_song, strict=args.strict,
                       cache_dir=getattr(args, "cache_dir", None), seed=args.seed, profile=args.profile)


def check_cache_folder(args: argparse.Namespace) -> None:
    """A cache folder that is a file, or cannot be created or written, is the user's to fix: say so now, in one
    line naming ``--cache-dir`` (or ``$SER_CACHE_DIR``), not as an internal error once audio was decoded."""
    from features.cache import default_cache_dir

    given = getattr(args, "cache_dir", None)
    if not hasattr(args, "cache_dir") or getattr(args, "no_cache", False):
        return
    folder, flag = (Path(given).expanduser(), "--cache-dir") if given else (default_cache_dir(), "$SER_CACHE_DIR")
    from benchmark.run.config import check_writable_folder

    check_writable_folder(folder, flag, UsageError)
