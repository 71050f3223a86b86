"""The whole pack over every shipped stack (must pass) and over a deliberately bad stack (must fail, by name)."""

from __future__ import annotations

from collections import defaultdict

import pulumi
import pulumi_docker as docker
import pytest

from llmstack.policy_check import Violation, analyze, mandatory
from llmstack.preview import PreviewResult, record, run_program
from policies import ALL_POLICIES
from tests.conftest import ALL_STACKS, BAD_STACK, STACKS, STACKS_DIR


@pytest.mark.parametrize("env", STACKS)
def test_shipped_stack_has_no_violations(results: dict[str, PreviewResult], env: str) -> None:
    result = results[env]
    containers = [r for r in result.registrations if r.type == "docker:index/container:Container"]
    assert len(containers) >= 3  # inference, embeddings, gateway (+ monitoring): the pack saw real resources
    assert analyze(result.registrations) == []


def _by_resource(violations: list[Violation]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for v in violations:
        out[v.resource_name].add(v.policy)
    return out


def test_bad_stack_file_fails_with_the_expected_policies() -> None:
    violations = analyze(run_program(BAD_STACK).registrations)
    assert all(v.level == "mandatory" for v in violations)
    found = _by_resource(violations)
    assert found == {
        "gateway-container": {"gateway-on-cpu-node", "litellm-version-safe"},
        "gateway-container-image": {"litellm-version-safe"},
    }
    messages = {(v.resource_name, v.policy): v.message for v in violations}
    assert "g5.xlarge, a GPU instance" in messages[("gateway-container", "gateway-on-cpu-node")]
    assert "1.82.7 is a compromised release" in messages[("gateway-container-image", "litellm-version-safe")]


def _bad_resources() -> None:
    """What the spec refuses before resources exist, built directly as raw resources."""
    labels = {"llmstack.role": "inference", "llmstack.engine": "vllm", "llmstack.environment": "prod",
              "llmstack.model": "llama-3.1-8b", "llmstack.format": "Q4_K_M", "llmstack.context": "131072",
              "llmstack.concurrency": "32", "llmstack.instance-type": "g4dn.xlarge", "llmstack.gpu": "T4",
              "llmstack.node": "gpu-a", "llmstack.image": "vllm/vllm-openai:v0.30.0-cu129"}
    docker.Container("gguf-vllm", image="vllm/vllm-openai:v0.30.0-cu129", gpus="all",
                     command=["bartowski/Meta-Llama-3.1-8B-Instruct-GGUF", "--port", "8000"],
                     labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in labels.items()])
    too_big = labels | {"llmstack.format": "awq", "llmstack.node": "gpu-b"}
    docker.Container("too-big", image="vllm/vllm-openai:v0.30.0-cu129", gpus="all", restart="unless-stopped",
                     command=["hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4", "--max-model-len", "131072"],
                     healthcheck=docker.ContainerHealthcheckArgs(tests=["CMD-SHELL", "curl -fsS localhost:8000/health"],
                                                                 start_period="120s"),
                     labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in too_big.items()])
    docker.Container("embed-on-gpu", image="ghcr.io/huggingface/text-embeddings-inference:cpu-1.9", gpus="all",
                     restart="unless-stopped",
                     healthcheck=docker.ContainerHealthcheckArgs(tests=["CMD-SHELL", "curl -f localhost/health"],
                                                                 start_period="120s"),
                     labels=[docker.ContainerLabelArgs(label="llmstack.role", value="embedding"),
                             docker.ContainerLabelArgs(label="llmstack.node", value="gpu-a")])
    docker.Network("dual-stack", name="llm", ipv6=True)
    docker.Container("gateway", image="ghcr.io/berriai/litellm:main-latest", restart="always",
                     envs=pulumi.Output.secret(["LITELLM_MASTER_KEY=sk-1234"]),
                     healthcheck=docker.ContainerHealthcheckArgs(tests=["CMD", "curl", "-f", "localhost:4000"],
                                                                 start_period="80s"),
                     uploads=[docker.ContainerUploadArgs(file="/app/config.yaml", content=(
                         "model_list:\n- model_name: default\n  litellm_params:\n    model: ollama/llama3.1\n"
                         "    api_base: http://ollama:11434/v1\nrouter_settings:\n  enable_fallback: true\n"
                         "general_settings:\n  master_key: sk-1234\n"))],
                     labels=[docker.ContainerLabelArgs(label="llmstack.config-path", value="/app/config.yaml"),
                             docker.ContainerLabelArgs(label="llmstack.environment", value="prod")])


def test_bad_resources_fail_with_the_expected_policies_and_fixes() -> None:
    violations = analyze(record(_bad_resources, stack="bad").registrations)
    found = _by_resource(violations)
    assert found["gguf-vllm"] == {"no-gguf-on-vllm", "container-healthcheck-required", "restart-policy-required",
                                  "context-limit-required", "model-fits-gpu"}
    assert found["too-big"] == {"model-fits-gpu"}
    assert found["embed-on-gpu"] == {"embeddings-off-inference-gpu", "images-pinned"}  # cpu-1.9: a release line
    assert found["dual-stack"] == {"ipv6-disabled"}
    assert found["gateway"] == {"gateway-master-key-secret", "gateway-config-valid", "litellm-version-safe",
                                "images-pinned", "container-healthcheck-required"}
    assert {v.policy for v in violations} <= {p.name for p in ALL_POLICIES}
    text = "\n".join(f"{v.policy}: {v.message}" for v in violations)
    for expected in ("no-gguf-on-vllm: vllm container 'gguf-vllm' is given GGUF weights",
                     "model-fits-gpu: container 'gguf-vllm': the planner refuses llama-3.1-8b Q4_K_M on vllm",
                     "model-fits-gpu: llama-3.1-8b (awq, vllm) at context 131072 x 32 sequences needs",
                     "cheapest instance that fits is",
                     "embeddings-off-inference-gpu: embedding container 'embed-on-gpu' requests GPUs on node gpu-a",
                     "gateway-master-key-secret: gateway container 'gateway': the master key is a publicly known",
                     "gateway-config-valid: /app/config.yaml: router_settings.enable_fallback is not a LiteLLM",
                     "container-healthcheck-required: container 'gateway' checks health with curl/wget",
                     "images-pinned: 'embed-on-gpu' uses ghcr.io/huggingface/text-embeddings-inference:cpu-1.9: tag "
                     "cpu-1.9 moves (names only the 1.9 line"):
        assert expected in text, expected
    assert all("Fix:" in v.message or "serve GGUF with" in v.message for v in violations)
    assert [v.level for v in violations if v.policy == "ipv6-disabled"] == ["advisory"]
    assert len(mandatory(violations)) == len(violations) - 1


def test_policy_config_turns_the_bad_stack_advisory() -> None:
    violations = analyze(run_program(BAD_STACK).registrations, {"all": "advisory"})
    assert violations and mandatory(violations) == []
    disabled = analyze(run_program(BAD_STACK).registrations, {"litellm-version-safe": "disabled",
                                                         "images-pinned": {"enforcementLevel": "disabled"}})
    assert {v.policy for v in disabled} == {"gateway-on-cpu-node"}


def test_stack_files_are_the_shipped_ones() -> None:
    assert {p.name for p in STACKS_DIR.glob("Pulumi.*.yaml")} == {f"Pulumi.{e}.yaml" for e in ALL_STACKS}
