"""An experiment's resolved flags written as TOML (``experiment.toml`` of a run folder), readable by
``run --config``. The standard library reads TOML but does not write it; this writes the small subset needed."""

from __future__ import annotations

import json
import math
import re

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE.match(key) else json.dumps(key)


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML basic-string escapes
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def to_toml(values: dict, header: str = "") -> str:
    """``values`` as TOML lines ``key = value`` (tables inline), after ``header`` as comment lines.

    Parameters
    ----------
    values : dict
        Keys to scalars (str, int, float, bool), lists and dicts of them; ``None`` values are left out.
    header : str
        Comment text put first, one ``#`` line per line.

    Returns
    -------
    str
        A TOML document that ``tomllib.loads`` reads back as ``values`` (without the ``None`` entries).
    """
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in values.items() if v is not None]
    return "\n".join(lines) + "\n"
