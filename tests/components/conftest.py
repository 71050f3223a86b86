"""Shared fixtures for the component tests: recorded invokes and the shipped stacks run once per session."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmstack import preview
from llmstack.preview import PreviewResult
from llmstack.spec import load_spec, resolve_local_gpus
from llmstack.stackplan import StackPlan, plan_stack
from tests.components.helpers import run_program

ROOT = Path(__file__).resolve().parents[2]
STACKS_DIR = ROOT / "stacks"
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


def _no_gpu_here(cmd: str, *args: Any, **kwargs: Any) -> str | None:
    return None if cmd == "nvidia-smi" else _which(cmd, *args, **kwargs)


_which = shutil.which


@pytest.fixture(scope="session")
def shipped() -> dict[str, ShippedStack]:
    """`run_program` for every shipped stack (seconds each, so once per session) with its plan. The program
    detects a local GPU (`gpus: auto`); the tests pin that to "no GPU" so they don't depend on the machine."""
    stacks = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shutil, "which", _no_gpu_here)
        for name in STACKS:
            path = STACKS_DIR / f"Pulumi.{name}.yaml"
            spec = resolve_local_gpus(load_spec(path), has_gpu=False)
            stacks[name] = ShippedStack(name, path, plan_stack(spec), run_program(path))
    return stacks


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest, shipped: dict[str, ShippedStack]) -> ShippedStack:
    return shipped[request.param]


@pytest.fixture(params=("staging", "prod"))
def aws_stack(request: pytest.FixtureRequest, shipped: dict[str, ShippedStack]) -> ShippedStack:
    return shipped[request.param]
