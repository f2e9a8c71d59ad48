"""The one base class of every mistake in what a user gave (arguments, files, plugins): a one-line message."""

from __future__ import annotations


class UserInputError(ValueError):
    """A user's mistake, not a bug: the command line prints its one-line message and exits with code 2."""
