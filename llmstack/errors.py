"""Errors that tell the user what to do: the field, the value, and the fix."""

from __future__ import annotations


class LlmstackError(Exception):
    """Base class for every error llmstack reports to a user (the CLI prints these without a traceback)."""


class InputError(LlmstackError, ValueError):
    """A value the user gave is wrong. Names the field path, the bad value and the fix."""

    def __init__(self, field: str, value: object, fix: str, *, problem: str = "is not valid") -> None:
        self.field = field
        self.value = value
        self.fix = fix
        super().__init__(f"{field}: {value!r} {problem}. {fix}")


class NotFoundError(InputError):
    """A name that is not in a catalog; the fix lists what is."""
