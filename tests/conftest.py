"""What every test area shares: the repository's paths, the shipped stacks, and each shipped stack's spec, plan and
program registrations, computed once per session.

Test modules import the constants from here (`from tests.conftest import ROOT, STACKS`) and take the `shipped`
fixture; no test file defines a path of its own.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmstack.preview import PreviewResult, run_program
from llmstack.spec import StackSpec, load_spec, resolve_local_gpus
from llmstack.stackplan import StackPlan, plan_stack

ROOT = Path(__file__).resolve().parent.parent
STACKS_DIR = ROOT / "stacks"
PROGRAM = ROOT / "__main__.py"
POLICY_PACK = ROOT / "policies"
EXAMPLES = ROOT / "examples"
STACKS = ("dev", "staging", "prod")  # the Docker targets (local, aws)
AWS_STACKS = ("staging", "prod")
KUBERNETES_STACKS = ("prod-eks", "frontier-eks")
ALL_STACKS = (*STACKS, *KUBERNETES_STACKS)
BAD_STACK = ROOT / "tests" / "policies" / "bad" / "Pulumi.bad.yaml"  # a stack file with every anti-pattern


def stack_file(name: str) -> Path:
    return STACKS_DIR / f"Pulumi.{name}.yaml"


@dataclass(frozen=True)
class ShippedStack:
    name: str
    path: Path
    spec: StackSpec
    plan: StackPlan
    result: PreviewResult


def _no_gpu_here(cmd: str, *args: Any, **kwargs: Any) -> str | None:
    return None if cmd == "nvidia-smi" else _which(cmd, *args, **kwargs)


_which = shutil.which


@pytest.fixture(scope="session", autouse=True)
def _hub_on_loopback(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests send traffic only to loopback: a Hub repo id that reaches the planner (a fuzzed model name, say) is
    fetched from a closed loopback port, and its cache is a temporary folder. So are the known_hosts and key files
    the AWS program writes."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
        patch.setenv("LLMSTACK_CACHE", str(tmp_path_factory.mktemp("llmstack-cache")))
        patch.setenv("LLMSTACK_SSH_DIR", str(tmp_path_factory.mktemp("llmstack-ssh")))
        yield


@pytest.fixture(scope="session")
def shipped() -> dict[str, ShippedStack]:
    """Spec, plan and `__main__.py` under mocks for every shipped stack (seconds each, so once per session). The
    program detects a local GPU (`gpus: auto`); the tests pin that to "no GPU" so they don't depend on the machine."""
    stacks = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shutil, "which", _no_gpu_here)
        for name in STACKS:
            path = stack_file(name)
            spec = resolve_local_gpus(load_spec(path), has_gpu=False)
            stacks[name] = ShippedStack(name, path, spec, plan_stack(spec), run_program(path))
    return stacks


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest, shipped: dict[str, ShippedStack]) -> ShippedStack:
    return shipped[request.param]


@pytest.fixture(params=AWS_STACKS)
def aws_stack(request: pytest.FixtureRequest, shipped: dict[str, ShippedStack]) -> ShippedStack:
    return shipped[request.param]


# The Kubernetes stacks' previews, shared by tests/k8s, tests/policies and tests/verify (defined there: they build on
# the names above).
from tests.k8s.stacks import k8s, k8s_stacks  # noqa: E402, F401
