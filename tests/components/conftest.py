"""Shared fixtures for the component tests: recorded invokes and the shipped stacks run once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmstack import preview
from llmstack.deployment import StackPlan, plan_stack
from llmstack.preview import PreviewResult, run_program
from llmstack.spec import load_spec

STACKS_DIR = Path(__file__).resolve().parents[2] / "stacks"
STACKS = ("dev", "staging", "prod")


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


@dataclass(frozen=True)
class ShippedStack:
    name: str
    path: Path
    plan: StackPlan
    result: PreviewResult


@pytest.fixture(scope="session")
def shipped() -> dict[str, ShippedStack]:
    """`run_program` for every shipped stack (seconds each, so once per session) with its plan."""
    stacks = {}
    for name in STACKS:
        path = STACKS_DIR / f"Pulumi.{name}.yaml"
        stacks[name] = ShippedStack(name, path, plan_stack(load_spec(path)), run_program(path))
    return stacks


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest, shipped: dict[str, ShippedStack]) -> ShippedStack:
    return shipped[request.param]


@pytest.fixture(params=("staging", "prod"))
def aws_stack(request: pytest.FixtureRequest, shipped: dict[str, ShippedStack]) -> ShippedStack:
    return shipped[request.param]
