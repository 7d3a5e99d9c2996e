"""What the ``nerve`` subcommands share: the error type that becomes a one-line message."""

from __future__ import annotations


class CLIError(Exception):
    """A mistake the user can fix (bad argument, missing file): printed as one line, exit status 1."""


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (errors from lower layers may span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__
