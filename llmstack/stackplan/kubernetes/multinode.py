"""A replica larger than one node: a LeaderWorkerSet of P pods (one pipeline stage each) with T GPUs per pod.

The leader starts Ray's head and then `vllm serve … --tensor-parallel-size T --pipeline-parallel-size P
--distributed-executor-backend ray`; the workers join the head and hold the other stages. This is the recipe of vLLM's
LWS guide (vllm-project/vllm docs/deployment/frameworks/lws.md) and of LWS's own example (kubernetes-sigs/lws
docs/examples/vllm/GPU/lws.yaml @ v0.10.0), with the script inlined: vLLM waits up to 1800 s for the Ray placement
group of all T x P GPUs (`_wait_until_pg_ready`, vllm/v1/executor/ray_utils.py), so the leader needs no wait loop of
its own. LWS injects `LWS_LEADER_ADDRESS` into every pod of a group and recreates the whole group when one pod fails
(`RecreateGroupOnPodRestart`): a pipeline with a lost stage serves nothing.

The group's pods share one zone (pod affinity keyed on the group, `matchLabelKeys`, Kubernetes >= 1.31) and, on EKS
with Karpenter, one cluster placement group; each pod requests the node's EFA interfaces.
"""

from __future__ import annotations

import shlex
from typing import Any

from llmstack.catalog import instances
from llmstack.stackplan.kubernetes.objects import Manifest, metadata, selector
from llmstack.stackplan.services import Service

API_VERSION = "leaderworkerset.x-k8s.io/v1"
GROUP_KEY = "leaderworkerset.sigs.k8s.io/group-key"  # the label LWS puts on every pod of one group
ZONE = "topology.kubernetes.io/zone"
EFA_RESOURCE = "vpc.amazonaws.com/efa"  # advertised by the AWS EFA device plugin
RAY_PORT = 6379


def multi_node(s: Service) -> bool:
    return s.sizing is not None and s.sizing.nodes > 1


def efa_per_pod(s: Service) -> int:
    """EFA interfaces each pod asks for: the fewest any offered type has (a pod must fit every type of its pool)."""
    assert s.sizing is not None
    return min((instances()[a.type].efa for a in s.sizing.alternatives), default=0)


def _group_affinity(s: Service) -> dict[str, Any]:
    """Every pod of one group in the zone of the others."""
    term = {"labelSelector": {"matchLabels": {"leaderworkerset.sigs.k8s.io/name": s.name}},
            "matchLabelKeys": [GROUP_KEY], "topologyKey": ZONE}
    return {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


def _pod(s: Service, template: dict[str, Any], main: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    spec = {**template["spec"], "containers": [main]}
    spec["affinity"] = {**spec.get("affinity", {}), **_group_affinity(s)}
    return {"metadata": {**template["metadata"], "labels": labels}, "spec": spec}


def leader_worker_set(s: Service, template: dict[str, Any], *, namespace: str, replicas: int | None) -> Manifest:
    """The backend's LWS from its single-node pod template: `replicas` groups (None: the autoscaler's) of `nodes`
    pods each."""
    assert s.sizing is not None
    (engine,) = template["spec"]["containers"]
    serve = shlex.join((*(s.launch.entrypoint or ()), *s.launch.command))  # `vllm serve <args>`, as on one node
    limits = {**engine["resources"]["limits"], **({EFA_RESOURCE: efa} if (efa := efa_per_pod(s)) else {})}
    leader = {k: v for k, v in engine.items() if k != "args"} | {
        "command": ["/bin/sh", "-c", f"ray start --head --port={RAY_PORT} && exec {serve}"],
        "resources": {**engine["resources"], "limits": limits}}
    join = f"until ray start --address=$LWS_LEADER_ADDRESS:{RAY_PORT} --block; do sleep 5; done"
    ray_up = {"exec": {"command": ["/bin/sh", "-c", f"ray health-check --address $LWS_LEADER_ADDRESS:{RAY_PORT}"]}}
    worker = {k: v for k, v in leader.items() if k not in ("ports", "readinessProbe")} | {
        "name": "worker", "command": ["/bin/sh", "-c", join],
        "startupProbe": {**leader["startupProbe"], **ray_up}, "livenessProbe": {**leader["livenessProbe"], **ray_up}}
    for probe in ("startupProbe", "livenessProbe"):
        worker[probe].pop("httpGet", None)
    labels = template["metadata"]["labels"]
    template_spec: dict[str, Any] = {
        "size": s.sizing.nodes,
        "restartPolicy": "RecreateGroupOnPodRestart",
        "leaderTemplate": _pod(s, template, leader, labels),
        "workerTemplate": _pod(s, template, worker, {**labels, **selector(f"{s.name}-worker", s.role.value)}),
    }
    spec: dict[str, Any] = {"startupPolicy": "LeaderCreated", "leaderWorkerTemplate": template_spec}
    if replicas is not None:
        spec = {"replicas": replicas, **spec}
    return Manifest({"apiVersion": API_VERSION, "kind": "LeaderWorkerSet",
                     "metadata": metadata(s.name, namespace, component=s.role.value), "spec": spec})
