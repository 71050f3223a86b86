"""Multi-node policies through the real analyzer: the shipped frontier-eks stack (DeepSeek-V3 across two nodes)
passes; each failing case changes one real registered object the way a mistake would."""

from __future__ import annotations

from typing import Any

import pytest

from llmstack.labels import CONTAINER, LEADER_WORKER_SET, Key
from llmstack.preview import PreviewResult
from llmstack.stackplan.kubernetes.multinode import EFA_RESOURCE
from llmstack.stackplan.kubernetes.objects import GPU_RESOURCE
from tests.k8s.stacks import K8sStack
from tests.policies.policy_helpers import analyze, analyze_stack, by_name, inputs, only, set_label

Props = dict[str, Any]
LWS = "leaderworkerset-deepseek"
NODE_CLASS = "ec2nodeclass-gpu-deepseek"


@pytest.fixture
def frontier(k8s_stacks: dict[str, K8sStack]) -> PreviewResult:
    return k8s_stacks["frontier-eks"].result


def group(props: Props) -> Props:
    template: Props = props["spec"]["leaderWorkerTemplate"]
    return template


def main(props: Props, role: str) -> Props:
    container: Props = group(props)[f"{role}Template"]["spec"]["containers"][0]
    return container


def stack_diags(result: PreviewResult, name: str, change: Any) -> list[Any]:
    resources = []
    for r in result.registrations:
        if r.type.startswith("pulumi:providers:"):
            continue
        props = inputs(r)
        if r.name == name:
            change(props)
        resources.append((r.type, r.name, props))
    return only(analyze_stack(resources), "multi-node-placement")


def test_the_shipped_multi_node_stack_passes(frontier: PreviewResult) -> None:
    lws = inputs(by_name(frontier, LWS))
    assert group(lws)["size"] == 2 and main(lws, "worker")["resources"]["limits"][GPU_RESOURCE] == 8
    diags = analyze(LEADER_WORKER_SET, lws, LWS)
    assert [d for d in diags if d.policy.startswith("multi-node") or d.policy == "model-fits-gpu"] == []
    assert stack_diags(frontier, LWS, lambda props: None) == []


def test_a_multi_node_replica_on_docker_fails(k8s_stacks: dict[str, K8sStack],
                                              shipped: dict[str, Any]) -> None:
    props = inputs(by_name(shipped["prod"].result, "chat-container"))
    assert only(analyze(CONTAINER, props), "multi-node-on-kubernetes") == []
    set_label(props, Key.PIPELINE_PARALLEL.label, "2")
    (found,) = only(analyze(CONTAINER, props), "multi-node-on-kubernetes")
    assert found.level == "mandatory" and "kubernetes target" in found.message


@pytest.mark.parametrize(("case", "change", "phrase"), [
    ("worker with fewer GPUs", lambda p: main(p, "worker")["resources"]["limits"].update({GPU_RESOURCE: 4}),
     "each worker pod requests 4 GPU(s)"),
    ("leader with more GPUs", lambda p: main(p, "leader")["resources"]["limits"].update({GPU_RESOURCE: 16}),
     "each leader pod requests 16 GPU(s)"),
    ("a pod short", lambda p: group(p).update(size=1), "1 pod(s) per group but the leader starts 2"),
])
def test_pods_request_exactly_one_stage(frontier: PreviewResult, case: str, change: Any, phrase: str) -> None:
    props = inputs(by_name(frontier, LWS))
    change(props)
    (found,) = only(analyze(LEADER_WORKER_SET, props, LWS), "multi-node-gpus-per-pod")
    assert found.level == "mandatory" and phrase in found.message, case


def _drop_zone(props: Props) -> None:
    del group(props)["workerTemplate"]["spec"]["affinity"]["podAffinity"]


def _drop_efa(props: Props) -> None:
    del main(props, "leader")["resources"]["limits"][EFA_RESOURCE]


@pytest.mark.parametrize(("name", "change", "phrase"), [
    (LWS, _drop_zone, "worker pods may land in another zone"),
    (LWS, _drop_efa, f"request no {EFA_RESOURCE}"),
    (NODE_CLASS, lambda p: p["spec"].pop("placementGroupSelector"), "cluster placement group"),
])
def test_nodes_of_a_replica_sit_together(frontier: PreviewResult, name: str, change: Any, phrase: str) -> None:
    (found,) = stack_diags(frontier, name, change)
    assert found.level == "mandatory" and phrase in found.message


def test_the_model_must_fit_its_worst_stage(frontier: PreviewResult) -> None:
    """Two H100 nodes hold 80.6 GiB of weights per GPU on DeepSeek-V3's second stage: more than an H100 has."""
    props = inputs(by_name(frontier, LWS))
    for role in ("leader", "worker"):
        terms = group(props)[f"{role}Template"]["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"]
        next(t for t in terms if t["key"] == "node.kubernetes.io/instance-type")["values"].append("p5.48xlarge")
    found = only(analyze(LEADER_WORKER_SET, props, LWS), "model-fits-gpu")
    assert found and all("p5.48xlarge" in d.message and "80.59 GiB" in d.message for d in found)
