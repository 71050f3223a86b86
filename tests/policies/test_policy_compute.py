"""model-fits-gpu and embeddings-off-inference-gpu: failing and passing cases."""

from __future__ import annotations

from typing import Any

from llmstack.preview import PreviewResult
from tests.policies.policy_helpers import (
    CONTAINER,
    analyze,
    analyze_stack,
    by_name,
    inputs,
    not_applicable,
    only,
    set_label,
)


def _chat(results: dict[str, PreviewResult]) -> dict[str, Any]:
    return inputs(by_name(results["staging"], "chat-container"))  # llama-3.1-8b AWQ, 16k x 8 on the planner's pick


def test_planned_containers_fit(results: dict[str, PreviewResult]) -> None:
    for env in ("staging", "prod"):
        for r in results[env].registrations:
            if r.type == CONTAINER:
                assert only(analyze(CONTAINER, inputs(r), r.name), "model-fits-gpu") == [], r.name


def test_too_long_context_on_a_small_gpu_fails_with_the_planners_numbers(results: dict[str, PreviewResult]) -> None:
    props = set_label(_chat(results), "llmstack.instance-type", "g4dn.xlarge")
    set_label(props, "llmstack.context", "131072")
    set_label(props, "llmstack.concurrency", "16")
    found = only(analyze(CONTAINER, props, "chat"), "model-fits-gpu")
    assert len(found) == 1
    message = found[0].message
    assert "g4dn.xlarge (1 x T4" in message and "per GPU (weights" in message and "KV" in message
    assert "usable per GPU" in message and "cheapest instance that fits is" in message


def test_tensor_parallel_beyond_the_instances_gpus_fails(results: dict[str, PreviewResult]) -> None:
    props = set_label(_chat(results), "llmstack.tensor-parallel", "4")
    found = only(analyze(CONTAINER, props), "model-fits-gpu")
    assert len(found) == 1 and "tensor parallel 4" in found[0].message


def test_not_applicable_without_instance_type(results: dict[str, PreviewResult]) -> None:
    local = inputs(by_name(results["dev"], "chat-container"))
    reason = not_applicable(CONTAINER, local)["model-fits-gpu"]
    assert "no llmstack.instance-type label" in reason


def test_unknown_instance_type_fails(results: dict[str, PreviewResult]) -> None:
    props = set_label(_chat(results), "llmstack.instance-type", "x9.huge")
    found = only(analyze(CONTAINER, props), "model-fits-gpu")
    assert len(found) == 1 and "not in the GPU instance catalog" in found[0].message


def _stack(results: dict[str, PreviewResult], env: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [(r.type, r.name, inputs(r)) for r in results[env].registrations
            if r.custom and not r.type.startswith("pulumi:providers:")]


def test_shipped_stacks_keep_embeddings_off_gpus(results: dict[str, PreviewResult]) -> None:
    for env in ("dev", "staging", "prod"):
        assert only(analyze_stack(_stack(results, env)), "embeddings-off-inference-gpu") == [], env


def _embeddings(resources: list[tuple[str, str, dict[str, Any]]], *, node: str | None = None,
                gpu: bool = False) -> list[tuple[str, str, dict[str, Any]]]:
    for _, name, props in resources:
        if name == "embeddings-container":
            if node:
                set_label(props, "llmstack.node", node)
            if gpu:
                props["deviceRequests"] = [{"driver": "nvidia", "count": -1, "capabilities": [["gpu"]]}]
    return resources


def test_embeddings_requesting_the_inference_gpu_fail(results: dict[str, PreviewResult]) -> None:
    resources = _embeddings(_stack(results, "prod"), node="gpu-chat", gpu=True)
    found = only(analyze_stack(resources), "embeddings-off-inference-gpu")
    assert len(found) == 1 and "requests GPUs on node gpu-chat" in found[0].message
    assert "chat-container" in found[0].message


def test_cpu_embeddings_on_a_gpu_host_pass(results: dict[str, PreviewResult]) -> None:
    """GPU sharing, not host sharing: the dev laptop with a GPU runs TEI on the CPU beside a GPU engine."""
    resources = _embeddings(_stack(results, "prod"), node="gpu-chat")
    assert only(analyze_stack(resources), "embeddings-off-inference-gpu") == []


def test_gpu_embeddings_on_their_own_node_pass(results: dict[str, PreviewResult]) -> None:
    resources = _embeddings(_stack(results, "prod"), gpu=True)  # the CPU node: no inference GPU there
    assert only(analyze_stack(resources), "embeddings-off-inference-gpu") == []
