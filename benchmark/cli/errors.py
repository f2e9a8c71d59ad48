"""The command line's own error and exit code, apart from :mod:`.common` so that every command module (and
the argument helpers :mod:`.common` itself imports) can raise it without importing :mod:`.common`."""

from __future__ import annotations

from features.errors import UserInputError

EXIT_USAGE = 2


class UsageError(UserInputError):
    """Bad arguments: printed as one line, exit code 2."""


__all__ = ["EXIT_USAGE", "UsageError"]
