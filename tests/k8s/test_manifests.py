"""Every Kubernetes object the program registers is valid for the API server (strict OpenAPI for built-in kinds,
the committed CRD schemas for custom resources), and is exactly the object the plan wrote."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from llmstack.preview import Registration
from llmstack.stackplan.kubernetes import EFS_PLACEHOLDER, EFS_STORAGE_CLASS, plan_kubernetes
from tests.k8s.schemas import plain, problems
from tests.k8s.stacks import K8sStack


def objects(stack: K8sStack) -> dict[str, Registration]:
    """Registered Kubernetes objects by kind/name (Helm releases and the provider excluded)."""
    out = {}
    for r in stack.result.registrations:
        if r.type.startswith("kubernetes:") and r.custom and "helm.sh" not in r.type:
            out[f"{r.inputs['kind']}/{r.inputs['metadata']['name']}"] = r
    return out


def body(r: Registration) -> dict[str, Any]:
    return {k: v for k, v in r.inputs.items() if k not in ("__defaults",)}


def version(stack: K8sStack) -> str:
    """The cluster's Kubernetes version, as kubernetes-validate names its schemas."""
    return f"{stack.spec.target.version}.0"


def test_every_object_is_valid_for_the_api_server(k8s: K8sStack) -> None:
    found = {key: problems(body(r), version(k8s)) for key, r in objects(k8s).items()}
    assert {key: p for key, p in found.items() if p} == {}


def test_every_kind_the_target_creates_is_validated(k8s_stacks: dict[str, K8sStack]) -> None:
    kinds = {key.split("/")[0] for stack in k8s_stacks.values() for key in objects(stack)}
    assert {"Namespace", "Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget",
            "HorizontalPodAutoscaler", "Ingress", "IngressClass", "StorageClass", "PersistentVolumeClaim", "Job",
            "DaemonSet", "NodePool", "EC2NodeClass", "ScaledObject", "PodMonitor", "PrometheusRule",
            "LeaderWorkerSet"} <= kinds


@pytest.mark.parametrize(("kind", "path", "typo"), [
    ("Deployment", ("spec", "template", "spec", "containers", 0), "livenesProbe"),
    ("NodePool", ("spec", "template", "spec"), "requirement"),
    ("ScaledObject", ("spec",), "maxReplicas"),
    ("LeaderWorkerSet", ("spec", "leaderWorkerTemplate"), "sizes"),
])
def test_a_misspelled_field_is_caught(k8s_stacks: dict[str, K8sStack], kind: str, path: tuple[Any, ...],
                                      typo: str) -> None:
    """The validation is strict: the checks above can fail, for built-in kinds and custom resources alike."""
    (stack,) = [s for s in k8s_stacks.values() if any(key.startswith(f"{kind}/") for key in objects(s))][:1]
    (r, *_) = [r for key, r in objects(stack).items() if key.startswith(f"{kind}/")]
    broken = copy.deepcopy(body(r))
    node = broken
    for step in path:
        node = node[step]
    node[typo] = node.get(typo, 1)
    assert problems(body(r), version(stack)) == []
    assert any(typo in p for p in problems(broken, version(stack))), problems(broken, version(stack))


def test_the_registered_objects_are_the_planned_objects(k8s: K8sStack) -> None:
    """Nothing is added, dropped or changed between the plan and the engine: the builder only creates."""
    kplan = plan_kubernetes(k8s.plan)
    registered = objects(k8s)
    planned = {m.key: m.body for m in kplan.objects}
    assert set(registered) == set(planned) | {f"Secret/{kplan.secret}"}
    for key, want in planned.items():
        got = body(registered[key])
        if key == f"StorageClass/{EFS_STORAGE_CLASS}":  # the file system id is filled in at deploy time
            assert want["parameters"]["fileSystemId"] == EFS_PLACEHOLDER
            assert got["parameters"]["fileSystemId"] != EFS_PLACEHOLDER
            got = {**got, "parameters": {**got["parameters"], "fileSystemId": EFS_PLACEHOLDER}}
        assert plain(got) == want, key


def test_helm_releases_are_the_planned_add_ons_at_pinned_versions(k8s: K8sStack) -> None:
    kplan = plan_kubernetes(k8s.plan)
    releases = {r.inputs["name"]: r.inputs for r in k8s.result.registrations if r.type.endswith("helm.sh/v3:Release")}
    assert releases.keys() == {a.name for a in kplan.releases}
    for addon in kplan.releases:
        assert releases[addon.name]["version"] == addon.version
        assert releases[addon.name]["skipAwait"] is False
