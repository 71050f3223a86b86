"""Errors that tell the user what to do: the field, the value, and the fix."""

from __future__ import annotations

import reprlib

# A wrong value is quoted, not dumped: a pasted blob or a mistyped list stays one readable line.
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 120
_SHORT.maxlist = _SHORT.maxdict = 6


class LlmstackError(Exception):
    """Base class for every error llmstack reports to a user (the CLI prints these without a traceback)."""


class InputError(LlmstackError, ValueError):
    """A value the user gave is wrong. Names the field path, the bad value and the fix."""

    def __init__(self, field: str, value: object, fix: str, *, problem: str = "is not valid") -> None:
        self.field = field
        self.value = value
        self.fix = fix
        super().__init__(f"{field}: {_SHORT.repr(value)} {problem}. {fix}")


class NotFoundError(InputError):
    """A name that is not in a catalog; the fix lists what is."""


class ProgramError(LlmstackError):
    """The Pulumi program stopped on a wrong setting (its `RunError` message names the field and the fix)."""
