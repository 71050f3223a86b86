"""Valid stack files parse into the spec the stack file says, through both config paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmstack.spec import (
    AwsTarget,
    LocalTarget,
    config_values,
    load_spec,
    parse_spec,
    resolve_local_gpus,
    stack_config,
)
from llmstack.stackplan import plan_stack
from tests.conftest import STACKS, stack_file
from tests.spec.conftest import WriteStack


@pytest.mark.parametrize("name", STACKS)
def test_shipped_stacks_parse_and_plan(name: str) -> None:
    spec = load_spec(stack_file(name))
    assert spec.environment == name
    assert spec.backends
    plan = plan_stack(resolve_local_gpus(spec, has_gpu=False))
    assert len(plan.backends) == sum(b.replicas for b in spec.backends)


@pytest.mark.parametrize("name", STACKS)
def test_cli_config_path_gives_the_same_spec(name: str) -> None:
    """`__main__.py` reads config as the Pulumi CLI passes it (JSON text for objects, plain text for strings);
    `llmstack preview` reads the file. Both must give the same spec."""
    path = stack_file(name)
    raw = {k: v if isinstance(v, str) else json.dumps(v) for k, v in stack_config(path).items()}
    assert parse_spec(config_values(raw)) == load_spec(path)


def test_dev_is_local_prod_is_aws() -> None:
    dev = load_spec(stack_file("dev"))
    prod = load_spec(stack_file("prod"))
    assert isinstance(dev.target, LocalTarget) and dev.is_local
    assert isinstance(prod.target, AwsTarget) and not prod.is_local
    assert prod.gateway.fallbacks == {"chat": ("chat-fallback",), "structured": ("chat-fallback",)}
    assert [b.name for b in prod.backends] == ["chat", "structured", "chat-fallback"]


def test_defaults() -> None:
    spec = parse_spec({"environment": "x", "target": {"kind": "local"},
                       "backends": [{"name": "chat", "engine": "ollama", "model": "qwen2.5-0.5b", "context": 4096}]})
    (b,) = spec.backends
    assert (b.quant, b.concurrency, b.replicas, b.route) == ("auto", 1, 1, "chat")
    assert spec.embeddings is not None and spec.embeddings.engine == "tei"
    assert spec.gateway.cooldown_time > spec.gateway.health_check_interval
    assert spec.monitoring is True


def test_secrets_and_other_namespaces_are_not_spec_keys(write_stack: WriteStack) -> None:
    def edit(config: dict[str, object]) -> None:
        config["masterKey"] = {"secure": "v1:abc"}
        config["hfToken"] = {"secure": "v1:def"}
        config["aws:region"] = "eu-west-1"

    path = write_stack(edit)
    values = stack_config(path)
    assert "masterKey" not in values and "hfToken" not in values and "aws:region" not in values
    assert load_spec(path) == load_spec(stack_file("prod"))


@pytest.mark.parametrize("image", [
    "vllm/vllm-openai:v0.30.0",
    "vllm/vllm-openai@sha256:" + "a" * 64,
    "registry.example.com:5000/team/vllm:v0.30.0-cu129",
])
def test_pinned_image_overrides_are_accepted(image: str, write_stack: WriteStack) -> None:
    path = write_stack(lambda c: c["backends"][0].update(image=image))  # type: ignore[index]
    spec = load_spec(path)
    assert spec.backends[0].image == image
    assert plan_stack(spec).backends[0].launch.image == image


def test_replicas_and_gateway_model(write_stack: WriteStack) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["backends"][2].update(replicas=2, gateway_model="fallback")
        config["gateway"]["fallbacks"] = {"chat": ["fallback"], "structured": ["fallback", "chat"]}

    path = write_stack(edit)
    spec = load_spec(path)
    plan = plan_stack(spec)
    names = [s.name for s in plan.backends]
    assert names == ["chat", "structured", "chat-fallback-0", "chat-fallback-1"]
    assert {s.route for s in plan.backends[2:]} == {"fallback"}
    assert plan.spec.gateway.fallbacks["structured"] == ("fallback", "chat")


def test_created_vpc(tmp_path: Path) -> None:
    spec = load_spec(stack_file("staging"))
    assert isinstance(spec.target, AwsTarget)
    assert spec.target.vpc.cidr == "10.40.0.0/16" and spec.target.vpc.id is None
