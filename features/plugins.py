"""Loading users' plugin files: plain Python files that call ``@feature_set`` (or ``register_model``)."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path

from .registry import FeatureError

_LOADED: dict[str, str] = {}  # digest of the file's source -> module name


class PluginError(RuntimeError):
    """A plugin file that raised while it was imported: a bug in the plugin, not a mistake in the command.

    Not a :class:`~features.errors.UserInputError`: the command line reports it as a fault (exit 1) and writes
    the traceback, chained to the plugin's own exception, where the author can read it.
    """


def load_plugins(paths: Iterable[str | Path]) -> list[str]:
    """Import each file once per process, so that its ``@feature_set`` functions register.

    A file is identified by its content: the same plugin reached by two paths (the user's file in the parent,
    a copy in a worker) is imported once.

    Raises
    ------
    FeatureError
        A missing or unreadable file, one that is not Python, a registration the registry refuses (e.g. a
        name already taken), or ``sys.exit`` called while loading: one line naming the file.
    PluginError
        Any other exception raised while the file was imported (a bug in the plugin), chained to it.
    """
    names = []
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if not path.is_file():
            raise FeatureError(f"plugin file not found: {raw}")
        try:
            source = path.read_bytes()
        except OSError as error:
            raise FeatureError(f"plugin {raw}: cannot be read ({error.strerror or error})") from error
        key = hashlib.sha256(source).hexdigest()
        if key in _LOADED:
            names.append(_LOADED[key])
            continue
        module_name = "ser_plugin_" + key[:12]
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise FeatureError(f"plugin {raw}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except FeatureError as error:
            del sys.modules[module_name]
            raise FeatureError(f"plugin {raw}: {error}") from error
        except SystemExit as error:  # a plugin's sys.exit must not end the command silently with its code
            del sys.modules[module_name]
            raise FeatureError(f"plugin {raw} called sys.exit({error.code!r}) while loading") from error
        except Exception as error:  # the plugin's own bug: a fault with its traceback, never "your mistake"
            del sys.modules[module_name]
            raise PluginError(f"plugin {raw} failed to load: {type(error).__name__}: {error}") from error
        _LOADED[key] = module_name
        names.append(module_name)
    return names


def loaded_sources() -> set[str]:
    """Digests of the plugin sources this process has imported."""
    return set(_LOADED)
