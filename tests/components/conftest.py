"""Fixtures for the component tests: the invokes a program makes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from llmstack import preview


@dataclass(frozen=True)
class Invoke:
    token: str
    args: dict[str, Any]
    provider: str


@pytest.fixture
def invokes(monkeypatch: pytest.MonkeyPatch) -> list[Invoke]:
    """Every invoke the program makes under `llmstack.preview.record`, in order."""
    seen: list[Invoke] = []
    original = preview._Outputs.call

    def call(self: preview._Outputs, args: Any) -> dict[str, Any]:
        seen.append(Invoke(args.token, dict(args.args), args.provider))
        return original(self, args)

    monkeypatch.setattr(preview._Outputs, "call", call)
    return seen
