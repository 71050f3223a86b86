"""GPU capacity and scaling: a Karpenter NodePool per backend (and its EC2NodeClass), and a KEDA ScaledObject per
autoscaled backend, on the engine's own saturation signals.

Karpenter v1 (aws/karpenter-provider-aws website/content/en/v1.14/concepts/nodepools.md, nodeclasses.md @ v1.14.1):
a NodePool offers a list of instance types and capacity types; with both `spot` and `on-demand` allowed it launches
spot and falls back to on-demand when spot capacity is unavailable. KEDA v2.20 (keda.sh/docs/2.20/scalers/prometheus/):
a prometheus trigger's query result is divided by the replica count (`AverageValue`), so the query sums over the
backend's pods and the threshold is per replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmstack.stackplan.kubernetes.objects import (
    CAPACITY_TYPE,
    GPU_PRESENT,
    GPU_RESOURCE,
    INSTANCE_TYPE,
    NODE_POOL,
    Manifest,
    metadata,
)
from llmstack.stackplan.kubernetes.pods import GPU_TAINT
from llmstack.stackplan.services import Service

CAPACITY_TYPES = {"on-demand": ("on-demand",), "spot": ("spot",), "spot-with-fallback": ("spot", "on-demand")}
# Requests waiting per replica before KEDA adds one (vllm-project/production-stack
# docs/source/use_cases/autoscaling-keda.rst @ 183a136: threshold 5, polling 15 s, cooldown 360 s).
QUEUE_THRESHOLD = 5
POLLING_S = 15
COOLDOWN_S = 360
# Scale out when the replicas' KV caches are 90% full on average: new requests would wait or be preempted.
KV_THRESHOLD = 0.9
PROMETHEUS_URL = "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"  # the chart's Service for release
# `kube-prometheus-stack` (prometheus-community/helm-charts charts/kube-prometheus-stack/templates/prometheus/
# service.yaml @ kube-prometheus-stack-88.5.3)
# GPU nodes live as long as they serve: Karpenter's default 720h expiry would recycle them, a cold start each time.
EXPIRE_AFTER = "Never"


@dataclass(frozen=True)
class NodeClass:
    """How the stack's GPU nodes boot (Karpenter EC2NodeClass), or the EKS Auto Mode class they use."""

    kind: str  # EC2NodeClass | NodeClass (Auto Mode's built-in)
    group: str
    name: str | None  # Auto Mode's class name; None: one EC2NodeClass per pool
    ami_alias: str = ""
    role: str = ""
    cluster: str = ""
    subnet_ids: tuple[str, ...] = ()  # an existing VPC's subnets; empty: the created VPC's (tagged for discovery)


def pool_name(s: Service) -> str:
    return f"gpu-{s.name}"


def capacity_types(s: Service) -> tuple[str, ...]:
    assert s.backend is not None
    return CAPACITY_TYPES[s.backend.capacity or "on-demand"]


def instance_types(s: Service) -> tuple[str, ...]:
    """The planner's ranked list: every instance type the planned launch fits on, cheapest per replica first."""
    assert s.sizing is not None
    return tuple(a.type for a in s.sizing.alternatives)


def node_pool(s: Service, node_class: NodeClass, *, placement_group: str | None = None) -> list[Manifest]:
    """The backend's NodePool (and EC2NodeClass): its instance types, capacity types, GPU taint and limits; a
    multi-node backend's nodes launch in its cluster placement group (EC2NodeClass `placementGroupSelector`,
    Karpenter >= 1.11)."""
    assert s.backend is not None and s.sizing is not None
    name = pool_name(s)
    tp = s.sizing.tensor_parallel * s.sizing.nodes  # GPUs per replica
    most = s.backend.max_replicas or s.replicas
    requirements = [{"key": INSTANCE_TYPE, "operator": "In", "values": list(instance_types(s))},
                    {"key": CAPACITY_TYPE, "operator": "In", "values": list(capacity_types(s))}]
    template: dict[str, Any] = {
        "metadata": {"labels": {NODE_POOL: name, GPU_PRESENT: "true",
                                "llmstack.gpu-memory-model": s.engine.memory_model}},
        "spec": {"nodeClassRef": {"group": node_class.group, "kind": node_class.kind,
                                  "name": node_class.name or name},
                 "requirements": requirements, "taints": [GPU_TAINT], "expireAfter": EXPIRE_AFTER},
    }
    pool = Manifest({"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
                     "metadata": metadata(name, None, component="node-pool"),
                     "spec": {"template": template, "limits": {GPU_RESOURCE: tp * max(most, 1)},
                              "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5m"}}})
    if node_class.name is not None:
        return [pool]
    return [_ec2_node_class(name, s.node.root_volume_gb, node_class, placement_group), pool]


def _ec2_node_class(name: str, root_gb: int, nc: NodeClass, placement_group: str | None) -> Manifest:
    """IMDSv2 with hop limit 1 (pods can't reach the node's credentials), an encrypted root volume sized for the
    images and model, NVMe instance store as RAID0 ephemeral storage, the pinned AMI."""
    discovery = {"tags": {"karpenter.sh/discovery": nc.cluster}}
    subnets: list[dict[str, Any]] = [{"id": i} for i in nc.subnet_ids] or [discovery]
    return Manifest({"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass",
                     "metadata": metadata(name, None, component="node-class"),
                     "spec": {
                         "amiSelectorTerms": [{"alias": nc.ami_alias}],
                         "role": nc.role,
                         "subnetSelectorTerms": subnets,
                         # EKS tags the cluster security group it creates with aws:eks:cluster-name.
                         "securityGroupSelectorTerms": [{"tags": {"aws:eks:cluster-name": nc.cluster}}],
                         "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled",
                                             "httpPutResponseHopLimit": 1, "httpTokens": "required"},
                         "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {
                             "volumeSize": f"{root_gb}Gi", "volumeType": "gp3", "encrypted": True,
                             "deleteOnTermination": True}}],
                         "instanceStorePolicy": "RAID0",
                         **({"placementGroupSelector": {"name": placement_group}} if placement_group else {}),
                     }})


def scaled_object(s: Service, namespace: str) -> Manifest:
    """KEDA scales the backend's Deployment on requests waiting (and KV-cache use where the engine exports it).
    With min_replicas 0 it activates on the gateway's requests for the model, the only signal with no pod up."""
    assert s.backend is not None
    b, signals = s.backend, s.engine.autoscaling
    assert signals is not None, "the spec refuses autoscaling an engine without metrics"
    match = f'namespace="{namespace}",backend="{s.name}"'
    triggers: list[dict[str, Any]] = [_trigger(f"sum({signals.queue}{{{match}}})", QUEUE_THRESHOLD)]
    if signals.kv_usage:
        triggers.append(_trigger(f"avg({signals.kv_usage}{{{match}}})", KV_THRESHOLD, metric_type="Value"))
    if b.min_replicas == 0:
        wanted = f'sum(rate(litellm_proxy_total_requests_metric{{requested_model="{s.route}"}}[2m]))'
        triggers.append(_trigger(wanted, 1, activation=0))
    return Manifest({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                     "metadata": metadata(s.name, namespace, component="autoscaler"),
                     "spec": {"scaleTargetRef": _scale_target(s),
                              "minReplicaCount": b.min_replicas, "maxReplicaCount": b.max_replicas,
                              "pollingInterval": POLLING_S, "cooldownPeriod": COOLDOWN_S, "triggers": triggers}})


def _scale_target(s: Service) -> dict[str, str]:
    """A Deployment, or a LeaderWorkerSet (it has the scale subresource; KEDA scales its groups)."""
    if s.sizing is not None and s.sizing.nodes > 1:
        return {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": s.name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": s.name}


def _trigger(query: str, threshold: float, *, metric_type: str | None = None,
             activation: float | None = None) -> dict[str, Any]:
    """A prometheus trigger; KEDA's CRD takes every metadata value as a string."""
    trigger: dict[str, Any] = {"type": "prometheus", "metadata": {
        "serverAddress": PROMETHEUS_URL, "query": query, "threshold": f"{threshold:g}"}}
    if activation is not None:
        trigger["metadata"]["activationThreshold"] = f"{activation:g}"
    if metric_type:
        trigger["metricType"] = metric_type
    return trigger
