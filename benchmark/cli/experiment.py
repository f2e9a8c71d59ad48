"""Experiment files: ``run --config experiment.toml``, every ``run`` flag as a key, command-line flags overriding.

A key is a flag without its dashes (``data-dir`` or ``data_dir``); a switch is ``true``/``false``; a list flag
(``models``, ``features``, ``protocols``, ``emotions``, ``stats``) takes a list or a comma-separated string;
``input``, ``set`` and ``analysis`` take tables (``set = {lstm = {max_epochs = 20}}``) or the flag's
``MODEL=...`` strings; ``data-dir``, ``fold-file`` and ``plugin`` are relative to the file's folder. A finished
run's ``run.json`` is an experiment file too (its ``experiment`` section: the resolved flags, in this form).

Repeatable flags given on the command line add to the file's (a later ``--set`` of the same parameter wins);
every other flag replaces the file's value.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path

from features.errors import UserInputError

from .common import Parser, parse_inputs, parse_model_params, parse_value, split_list
from .run_flags import add_parser

LIST_KEYS = ("models", "features", "protocols", "emotions", "stats")
PATH_KEYS = ("data-dir", "fold-file")
SKIPPED = ("help", "config")


class ExperimentError(UserInputError):
    """An experiment file that cannot be read or has a key or value ``run`` does not take."""


def run_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """A fresh top-level parser holding the ``run`` command, and that command's own parser."""
    top = Parser(prog="run_benchmark.py")
    sub = top.add_subparsers(dest="command", parser_class=Parser)
    add_parser(sub)
    return top, sub.choices["run"]


def run_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The ``run`` flags by key (``--data-dir`` -> ``data-dir``), without ``--help`` and ``--config``."""
    actions = {}
    for action in parser._actions:  # argparse offers no public list of a parser's arguments
        longs = [o for o in action.option_strings if o.startswith("--")]
        if longs and longs[0][2:] not in SKIPPED:
            actions[longs[0][2:]] = action
    return actions


def load_experiment(path: str | Path) -> dict:
    """The keys of an experiment file (TOML, or a run folder's ``run.json``); one-line errors name the file."""
    path = Path(path)
    if path.is_dir() and (path / "run.json").is_file():
        path = path / "run.json"
    if not path.is_file():
        raise ExperimentError(f"--config {path}: no such file")
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            if "experiment" not in data:
                raise ExperimentError(f"--config {path}: a run.json without an 'experiment' section (written "
                                      "before experiment files existed); use its 'argv' instead")
            data = data["experiment"]
        else:
            data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, ValueError, UnicodeDecodeError) as error:
        raise ExperimentError(f"--config {path}: unreadable ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ExperimentError(f"--config {path}: expected a table of run flags")
    return data


def _pairs(path: Path, key: str, value, joiner: str) -> list[str]:
    """A table form of ``--input`` / ``--set`` / ``--analysis`` as the flag's strings."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    if not isinstance(value, dict):
        raise ExperimentError(f"--config {path}: {key} must be a table or a list of strings")
    items = []
    for name, inner in value.items():
        if key == "set":
            if not isinstance(inner, dict):
                raise ExperimentError(f"--config {path}: set.{name} must be a table of parameters, e.g. "
                                      f"set = {{{name} = {{max_epochs = 20}}}}")
            items += [f"{name}.{param}={json.dumps(v)}" for param, v in inner.items()]
        elif key == "input":
            items.append(f"{name}{joiner}{inner}")
        else:
            items.append(f"{name}{joiner}{json.dumps(inner)}")
    return items


def defaults_from_experiment(data: dict, base: Path, actions: dict[str, argparse.Action],
                             source: Path) -> dict[str, object]:
    """argparse defaults (by destination) from an experiment's keys, checked against the ``run`` flags."""
    defaults: dict[str, object] = {}
    for raw_key, value in data.items():
        key = raw_key.replace("_", "-")
        action = actions.get(key)
        if action is None:
            raise ExperimentError(f"--config {source}: unknown key {raw_key!r}; it takes the run flags: "
                                  f"{', '.join(sorted(actions))}")
        where = f"--config {source}: {raw_key}"
        if isinstance(action, argparse._StoreTrueAction):
            if not isinstance(value, bool):
                raise ExperimentError(f"{where} must be true or false")
        elif isinstance(action, argparse._AppendAction):
            if key == "plugin":
                files = [value] if isinstance(value, str) else value
                if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
                    raise ExperimentError(f"{where} must be a file name or a list of them")
                value = [str((base / f).resolve()) for f in files]
            else:
                value = _pairs(source, key, value, "=")
        elif action.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ExperimentError(f"{where} must be a whole number")
        elif key in LIST_KEYS and isinstance(value, list):
            if not value or not all(isinstance(v, str) for v in value):
                raise ExperimentError(f"{where} must be a non-empty list of names")
            value = ",".join(value)
        elif not isinstance(value, str):
            raise ExperimentError(f"{where} must be a string")
        elif key in PATH_KEYS:
            value = str((base / value).resolve())
        if action.choices is not None and value not in action.choices:
            raise ExperimentError(f"{where}={value!r}: choose from {', '.join(map(str, action.choices))}")
        defaults[action.dest] = value
    return defaults


def apply_config_file(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` again, parsed with ``--config``'s keys as defaults, so flags on the command line override them."""
    if not getattr(args, "config", None):
        return args
    source = Path(args.config)
    data = load_experiment(source)
    base = (source if source.is_dir() else source.parent).resolve()
    top, parser = run_parser()
    parser.set_defaults(**defaults_from_experiment(data, base, run_actions(parser), source))
    argv = list(args.argv)
    parsed = top.parse_args(argv)
    parsed.argv = argv
    return parsed


def experiment_of(args: argparse.Namespace) -> dict:
    """The resolved ``run`` flags of ``args`` in experiment-file form (paths absolute, lists as lists); a
    finished run's ``run.json`` keeps it, so that ``--config RUN_DIR`` runs the same experiment again."""
    _, parser = run_parser()
    out: dict = {}
    for key, action in run_actions(parser).items():
        value = getattr(args, action.dest, None)
        if value is None:
            continue
        if key == "input":
            value = parse_inputs(value)
        elif key == "set":
            params = parse_model_params(value)
            # TOML has no null: a parameter set to null (--set svm.clip=null) keeps the flag's own strings
            value = list(value) if any(v is None for p in params.values() for v in p.values()) else params
        elif key == "analysis":
            value = {k.strip(): parse_value(v) for k, _, v in (item.partition("=") for item in value)}
        elif key == "plugin":
            value = [str(Path(p).resolve()) for p in value]
        elif key in LIST_KEYS:
            value = split_list(value, f"--{key}")
        elif key in PATH_KEYS:
            value = str(Path(value).resolve())
        out[key] = value
    return out
