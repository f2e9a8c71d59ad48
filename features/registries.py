"""The one registry pattern: names to entries, for feature sets, models, datasets and protocols alike.

Each entry carries its behaviour (a dataset its parser and extensions, a protocol its fold maker, a model its
factory), so a caller looks the name up and calls what it finds instead of branching on the name. It lives in
the bottom layer (``features``) because every layer above keeps a registry of its own.

Examples
--------
>>> from features.registries import Registry
>>> colours = Registry("colour")
>>> colours.register("red", "#f00")
'#f00'
>>> colours.get("red")
'#f00'
>>> colours.resolve("all")
['red']
>>> colours.get("blue")
Traceback (most recent call last):
...
features.errors.UserInputError: unknown colour 'blue'; choose from: red
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

from .errors import UserInputError

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries by name, in registration order, with one message for a name that is not there.

    Parameters
    ----------
    kind : str
        What an entry is, for messages (``"model"``, ``"dataset"``).
    error : type
        The :class:`~features.errors.UserInputError` subclass an unknown or duplicate name raises.
    in_all : callable, optional
        ``in_all(entry)``: whether ``"all"`` includes the entry (default: every entry).
    aliases : dict, optional
        Other spellings of names (``"crema-d"`` -> ``"cremad"``), matched case-insensitively by :meth:`canonical`.
    choices : callable, optional
        The names an "unknown" message lists (default: :meth:`names`); the feature sets add their groups.
    """

    def __init__(self, kind: str, error: type[UserInputError] = UserInputError, *,
                 in_all: Callable[[T], bool] | None = None, aliases: dict[str, str] | None = None,
                 choices: Callable[[], Sequence[str]] | None = None) -> None:
        self.kind = kind
        self.error = error
        self.aliases = aliases if aliases is not None else {}
        self._entries: dict[str, T] = {}
        self._in_all = in_all or (lambda entry: True)
        self._choices = choices or self.names

    # --- registering -----------------------------------------------------------------------------------------
    def register(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Add ``entry`` under ``name`` and return it; a name already taken needs ``replace=True``.

        Raises
        ------
        UserInputError
            (the registry's ``error``) ``name`` is taken and ``replace`` is false.
        """
        if name in self._entries and not replace:
            raise self.error(f"{self.kind} {name!r} is already registered; pass replace=True to override it")
        self._entries[name] = entry
        return entry

    def replace(self, name: str, entry: T) -> T:
        """Put ``entry`` under ``name``, whether or not the name is taken; return it."""
        return self.register(name, entry, replace=True)

    def pop(self, name: str, default: T | None = None) -> T | None:
        """Take ``name`` out; return its entry (``default`` when it was not there)."""
        return self._entries.pop(name, default)

    # --- looking up ------------------------------------------------------------------------------------------
    def get(self, name: str) -> T:
        """The entry registered under ``name``.

        Raises
        ------
        UserInputError
            (the registry's ``error``) No such name; the message lists the names there are.
        """
        try:
            return self._entries[name]
        except KeyError:
            raise self.unknown(name) from None

    def unknown(self, name: str) -> UserInputError:
        """The one message for a name that is not registered: ``unknown <kind> 'x'; choose from: a, b, c``."""
        return self.error(f"unknown {self.kind} {name!r}; choose from: {', '.join(self._choices())}")

    def canonical(self, name: str) -> str:
        """``name`` stripped, lower-cased and de-aliased; checked.

        Raises
        ------
        UserInputError
            (the registry's ``error``) Not a registered name or alias.
        """
        key = name.strip().lower()
        key = self.aliases.get(key, key)
        if key not in self._entries:
            raise self.unknown(name)
        return key

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        return list(self._entries)

    def resolve(self, spec: str | Sequence[str], *, empty: str | None = None) -> list[str]:
        """A comma list (or a sequence) of names as checked names, ``all`` expanded, de-duplicated in order.

        ``all`` stands for every entry the registry's ``in_all`` keeps.

        Raises
        ------
        UserInputError
            (the registry's ``error``) An unknown name, or no name at all (``empty`` is then the message).
        """
        items = spec.split(",") if isinstance(spec, str) else [str(s) for s in spec]
        names = [s.strip() for s in items if s.strip()]
        if not names:
            raise self.error(empty or f"no {self.kind} named; choose from: {', '.join(self._choices())}")
        chosen: list[str] = []
        for name in names:
            if name == "all" and "all" not in self._entries:
                chosen += [n for n, entry in self._entries.items() if self._in_all(entry)]
            else:
                self.get(name)
                chosen.append(name)
        return list(dict.fromkeys(chosen))

    # --- read-only mapping, for the callers that list or test membership -------------------------------------
    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def items(self):
        """``(name, entry)`` pairs, in registration order."""
        return self._entries.items()

    def values(self):
        """The entries, in registration order."""
        return self._entries.values()

    def keys(self):
        """The names, in registration order."""
        return self._entries.keys()

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"


__all__ = ["Registry"]
