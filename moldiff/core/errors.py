"""Error types shared by the library and the command line.

A :class:`MoldiffError` is a user mistake (bad file, unknown name, impossible option): the CLI
prints its message on one line and exits with code 2, without a traceback. Anything else is a bug.
"""

from __future__ import annotations


class MoldiffError(Exception):
    """A user-facing error: the message says what was wrong and what to do."""


class TokenizerError(MoldiffError, ValueError):
    """A string cannot be encoded; ``reason`` is a short category used when counting skips."""

    def __init__(self, message: str, reason: str = "not tokenizable") -> None:
        super().__init__(message)
        self.reason = reason
