"""Parsing self-supervised feature specs from the command line (the library takes typed :class:`SSLSpec`).

``--features wavlm:path=~/models/wavlm-base-plus,layer=6`` names a set inline, among the other sets;
``--ssl SPEC`` (repeatable) registers one under its name for ``--features`` or ``--input MODEL=NAME``.
"""

from __future__ import annotations

import argparse

from .errors import UsageError

KEYS = {"path": "path", "layer": "layer", "pool": "pooling", "chunk": "chunk_seconds",
        "overlap": "overlap_seconds", "batch": "batch_size", "device": "device", "name": "name"}


def _architectures() -> tuple[str, ...]:
    from features.ssl import ARCHITECTURES

    return tuple(ARCHITECTURES)


def split_specs(text: str) -> list[str]:
    """``"all,wavlm:path=P,layer=6,mfcc"`` -> ``["all", "wavlm:path=P,layer=6", "mfcc"]``: a ``key=value`` item
    belongs to the self-supervised spec before it."""
    items: list[str] = []
    for raw in (s.strip() for s in (text or "").split(",")):
        if not raw:
            continue
        if "=" in raw and ":" not in raw.split("=", 1)[0] and items and ":" in items[-1]:
            items[-1] += "," + raw
        else:
            items.append(raw)
    return items


def parse_spec(text: str, flag: str, device: str = "cpu", allow_pickle: bool = False):
    """One ``ARCH:key=value,...`` spec -> (SSLSpec, name or None); a UsageError naming ``flag`` otherwise."""
    from features.ssl import SSLSpec

    arch, _, rest = text.partition(":")
    if arch not in _architectures():
        raise UsageError(f"{flag} {text}: {arch!r} is not one of {', '.join(_architectures())}")
    fields: dict[str, object] = {"device": device, "allow_pickle": allow_pickle}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or key not in KEYS:
            raise UsageError(f"{flag} {text}: {item!r}: use key=value with keys {', '.join(KEYS)}")
        fields[KEYS[key]] = value
    if "path" not in fields:
        raise UsageError(f"{flag} {text}: give path=FOLDER (or path=ORG/NAME of the Hugging Face cache)")
    layer = fields.get("layer")
    if layer is not None and layer not in ("all", "mean", "last"):
        if not str(layer).isdigit():
            raise UsageError(f"{flag} {text}: layer={layer}: a number, all, mean or last")
        fields["layer"] = int(str(layer))
    elif layer == "last":
        fields["layer"] = None
    try:
        for key, cast in (("chunk_seconds", float), ("overlap_seconds", float), ("batch_size", int)):
            if key in fields:
                fields[key] = cast(fields[key])
    except ValueError as error:
        raise UsageError(f"{flag} {text}: {error}") from None
    name = fields.pop("name", None)
    return SSLSpec(arch, **fields), name


def register_specs(features: str | None, ssl: list[str], device: str = "cpu",
                   allow_pickle: bool = False) -> list[str] | None:
    """Register every ``--ssl`` spec and every inline one in ``--features``; return ``--features`` as names
    (None when ``features`` is None)."""
    from features.ssl import register_ssl_set

    for text in ssl or []:
        spec, name = parse_spec(text, "--ssl", device, allow_pickle)
        register_ssl_set(spec, name)
    if features is None:
        return None
    names = []
    for item in split_specs(features):
        if item.partition(":")[0] in _architectures():
            spec, name = parse_spec(item, "--features", device, allow_pickle)
            names.append(register_ssl_set(spec, name))
        else:
            names.append(item)
    if not names:
        raise UsageError("--features: give at least one name")
    return names


def add_ssl_args(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--ssl", action="append", default=[], metavar="ARCH:path=P,layer=K,...",
                   help="register a self-supervised feature set (wavlm, hubert, wav2vec2, data2vec, whisper); "
                        "keys path, layer (K, all, mean, last), pool (mean, mean+std, frames), chunk, overlap, "
                        "batch, device, name (repeatable)")
    g.add_argument("--device", default="cpu", help="self-supervised sets: cpu (default), cuda, cuda:N or auto")
    g.add_argument("--allow-pickle-weights", action="store_true",
                   help="self-supervised sets: load a model folder holding only pickled weights (runs code "
                        "from the file; only for weights you trust)")
