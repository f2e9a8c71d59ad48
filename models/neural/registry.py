"""Registering the networks: :func:`models.register_model` with ``neural=True``, replacing on re-import."""

from __future__ import annotations

from collections.abc import Callable

from ..registry import register_model


def register_network(
    name: str, factory: Callable, *, default_input: str | None, input_kind: str, description: str,
    family: str = "model",
) -> None:
    """Register a network under ``name`` (see :func:`models.register_model` for the parameters).

    ``replace=True``: a re-imported module (a test reloading the package) registers the same names again.
    """
    register_model(name, factory, input_kind=input_kind, description=description, neural=True, replace=True,
                   default_input=default_input, family=family)
