"""Command line: ``python run_benchmark.py COMMAND ...``; parses, calls the library, prints; nothing else.

Each command is a module with ``add_parser(subparsers)`` and ``run(args) -> int``. A user's mistake (any
:class:`~features.errors.UserInputError`) is one line and exit code 2; anything else is a bug or a system fault:
exit code 1, one line saying what failed and where the full traceback was written (``SER_DEBUG=1`` shows it).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from datetime import datetime

from features.errors import UserInputError

from .common import EXIT_USAGE, Parser, UsageError, check_cache_folder

# command -> the module of this package that implements it (``describe`` and ``list`` share one)
MODULES = {"run": "run", "describe": "corpus", "list": "corpus", "extract": "extract", "export": "export",
           "cache": "cache", "perf": "perf", "compare": "compare", "seeds": "seeds", "train": "train",
           "predict": "predict", "ui": "ui", "reproduce": "reproduce"}
COMMANDS = tuple(MODULES)  # the commands, in the order --help lists them
EXIT_FAULT = 1


def _command_modules() -> dict[str, object]:
    modules = {}
    for name in dict.fromkeys(MODULES.values()):
        try:
            modules[name] = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="run_benchmark.py", description="Leakage-aware speech emotion recognition benchmark. "
                    "With no command: run the full benchmark on the built-in corpus.")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    for module in _command_modules().values():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["run", *argv]
    try:
        args = build_parser().parse_args(argv)
        module = _command_modules()[MODULES[args.command]]
        args.argv = argv
        check_cache_folder(args)
        try:
            return int(module.run(args) or 0)
        except SystemExit as exit_:  # argparse is done: this is a plugin's (or a library's) sys.exit
            raise _PluginExit(exit_.code) from None
    except _PluginExit as error:
        print(f"run_benchmark.py: error: {error}", file=sys.stderr)
        return EXIT_FAULT
    except (UsageError, UserInputError) as error:
        if os.environ.get("SER_DEBUG"):
            raise
        print(f"run_benchmark.py: error: {_first_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as interrupt:
        message = str(interrupt) or "interrupted"
        print(f"run_benchmark.py: {message}", file=sys.stderr)
        return 130
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES) and not os.environ.get("SER_DEBUG"):
            where = error.filename or "an output folder"
            print(f"run_benchmark.py: error: cannot write {where}: {error.strerror}", file=sys.stderr)
            return EXIT_FAULT
        return _fault(error)
    except Exception as error:  # a bug or a system fault: say where the traceback is, exit 1
        return _fault(error)


class _PluginExit(Exception):
    """``sys.exit`` called by code the command ran (a plugin, usually): one line and exit 1, never its code."""

    def __init__(self, code):
        super().__init__(f"sys.exit({code!r}) was called during the command (by a plugin?); it did not finish")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _fault(error: BaseException) -> int:
    if os.environ.get("SER_DEBUG"):
        raise error
    text = "".join(traceback.format_exception(error))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        handle, name = tempfile.mkstemp(prefix=f"ser-benchmark-crash-{stamp}-", suffix=".txt")
        with os.fdopen(handle, "w") as out:
            out.write(text)
        where = f"full traceback in {name}"
    except OSError:
        where = "the traceback could not be written"
    print(f"run_benchmark.py: internal error: {type(error).__name__}: {_first_line(error)} ({where}; "
          "SER_DEBUG=1 shows it)", file=sys.stderr)
    return EXIT_FAULT


__all__ = ["COMMANDS", "EXIT_USAGE", "UsageError", "build_parser", "main"]
