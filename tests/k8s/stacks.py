"""Kubernetes-target stacks for the tests: the shipped ones (prod-eks, frontier-eks with a multi-node backend), and
prod-eks's spec on an existing cluster and on EKS Auto Mode (only `target` changes), each run through the real
`__main__.py` under mocks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmstack.preview import PreviewResult, run_program
from llmstack.spec import PROJECT, StackSpec, parse_spec, stack_config
from llmstack.stackplan import StackPlan, plan_stack
from tests.conftest import KUBERNETES_STACKS, stack_file

EXISTING_CLUSTER = {"kind": "kubernetes", "namespace": "llm", "karpenter": True,
                    "model_cache": {"storage_class": "efs-sc", "size_gi": 800},
                    "ingress": {"certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abc-123",
                                "allowed_cidrs": ["10.0.0.0/8"], "host": "llm.example.com"}}
AUTO_MODE = {"kind": "eks", "region": "us-east-1", "vpc": {"id": "vpc-0a1", "subnet_ids": ["subnet-1", "subnet-2"]},
             "compute": "auto-mode", "endpoint": {"public": True, "public_cidrs": ["203.0.113.0/24"]},
             "ingress": {"certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abc-123",
                         "allowed_cidrs": ["10.0.0.0/8", "192.168.0.0/16"], "scheme": "internal"}}
VARIANTS = {"existing-cluster": EXISTING_CLUSTER, "auto-mode": AUTO_MODE}


@dataclass(frozen=True)
class K8sStack:
    name: str
    config: dict[str, Any]
    spec: StackSpec
    plan: StackPlan
    result: PreviewResult


def write_stack(folder: Path, name: str, config: dict[str, Any]) -> Path:
    """A stack file holding `config`, as `pulumi config set` writes it."""
    path = folder / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": {f"{PROJECT}:{key}": value for key, value in config.items()}}))
    return path


def previewed(path: Path) -> K8sStack:
    config = stack_config(path)
    spec = parse_spec(config)
    name = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    return K8sStack(name, config, spec, plan_stack(spec), run_program(path))


@pytest.fixture(scope="session")
def k8s_stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, K8sStack]:
    folder = tmp_path_factory.mktemp("k8s-stacks")
    shipped = stack_config(stack_file("prod-eks"))
    stacks = {name: previewed(stack_file(name)) for name in KUBERNETES_STACKS}
    for name, target in VARIANTS.items():
        stacks[name] = previewed(write_stack(folder, name, {**shipped, "target": target}))
    return stacks


@pytest.fixture(params=[*KUBERNETES_STACKS, *VARIANTS])
def k8s(request: pytest.FixtureRequest, k8s_stacks: dict[str, K8sStack]) -> K8sStack:
    return k8s_stacks[request.param]
