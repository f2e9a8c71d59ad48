"""Registering the networks, with the input each takes by default when the registry supports it."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from ..registry import register_model

DEFAULT_INPUTS: dict[str, str | None] = {}  # model name -> its default feature set (None: the vector bank)


def register_network(
    name: str, factory: Callable, *, default_input: str | None, input_kind: str, description: str
) -> None:
    """``register_model(..., neural=True)``, passing ``default_input`` once the registry takes it."""
    DEFAULT_INPUTS[name] = default_input
    extra = {"default_input": default_input} if _takes_default_input() else {}
    register_model(
        name, factory, input_kind=input_kind, description=description, neural=True, replace=True, **extra
    )


def _takes_default_input() -> bool:
    return "default_input" in inspect.signature(register_model).parameters
