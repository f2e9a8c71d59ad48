"""Analyses derived from a :class:`~features.analysis.Clip` and shared by several feature sets.

The voice track (pitch, voicing, jitter ...) and the auditory bands are used by more than one set; each is
computed at most once per clip and kept next to the clip (dropped with it), like the clip's own lazy fields.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def derived(clip: object, key: str, compute: Callable[[], T]) -> T:
    """``compute()`` the first time ``key`` is asked for on ``clip``; the kept result afterwards."""
    store = _MEMO.setdefault(clip, {})
    if key not in store:
        store[key] = compute()
    return store[key]
