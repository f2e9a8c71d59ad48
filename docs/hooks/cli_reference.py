"""MkDocs hook: the command-line reference (``cli.md``), generated from the argparse parsers at build time.

Never written by hand: every command, flag, default and help text comes from
:func:`benchmark.cli.build_parser`, so the page cannot drift from ``--help``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = "cli.md"


def _parser() -> argparse.ArgumentParser:
    # mkdocs runs as a console script, so the project root is not on the path by itself.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmark.cli import build_parser

    return build_parser()


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _flags(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    metavar = ""
    if action.nargs != 0:
        if action.metavar:
            metavar = f" {action.metavar if isinstance(action.metavar, str) else ' '.join(action.metavar)}"
        elif action.choices:
            metavar = " {" + ",".join(map(str, action.choices)) + "}"
        else:
            metavar = f" {action.dest.upper()}"
    return ", ".join(f"`{flag}{metavar}`" for flag in action.option_strings)


def _default(action: argparse.Action) -> str:
    if action.nargs == 0 or action.default in (None, argparse.SUPPRESS, [], ""):
        return ""
    return f"`{action.default}`"


def _command_section(name: str, parser: argparse.ArgumentParser, summary: str) -> list[str]:
    lines = [f"## `{name}`", ""]
    if summary:
        lines += [_cell(summary), ""]
    if parser.description and parser.description != summary:
        lines += [parser.description.strip(), ""]
    os.environ["COLUMNS"] = "110"  # the usage line wraps at a fixed width whatever the terminal
    lines += ["```", parser.format_usage().strip(), "```", ""]
    for group in parser._action_groups:
        actions = [a for a in group._group_actions
                   if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)]
        if not actions:
            continue
        lines += [f"**{group.title}**", "", "| argument | default | meaning |", "|---|---|---|"]
        lines += [f"| {_flags(a)} | {_default(a)} | {_cell(a.help or '')} |" for a in actions]
        lines.append("")
    return lines


def render() -> str:
    """The Markdown of the command-line reference."""
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    summaries = {choice.dest: choice.help or "" for choice in sub._choices_actions}
    lines = ["# Command-line reference", "",
             "Generated from the argparse parsers when the documentation is built; "
             "`python run_benchmark.py COMMAND --help` prints the same.", "",
             parser.description or "", "",
             "| command | what |", "|---|---|"]
    lines += [f"| [`{name}`](#{name}) | {_cell(summaries.get(name, ''))} |" for name in sub.choices]
    lines.append("")
    for name, command in sub.choices.items():
        lines += _command_section(name, command, summaries.get(name, ""))
    return "\n".join(lines) + "\n"


def on_files(files, config):
    """Add the generated ``cli.md`` to the site's files (MkDocs event)."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=render()))
    return files


if __name__ == "__main__":  # python docs/hooks/cli_reference.py: print the page
    print(render())
