"""Kubernetes objects as the plan writes them: plain API dicts (camelCase, as `kubectl` and the API server read them),
plus the labels and selectors every object of a stack shares."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Well-known labels (kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/).
APP = "app.kubernetes.io/name"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
PART_OF = "app.kubernetes.io/part-of"
MANAGED_BY = "app.kubernetes.io/managed-by"
APP_NAME = "llmstack"
# Which node pool a pod belongs on; GPU pools also carry `nvidia.com/gpu.present`, the label the NVIDIA device plugin's
# DaemonSet selects on (NVIDIA/k8s-device-plugin deployments/helm/nvidia-device-plugin/values.yaml @ v0.20.0).
NODE_POOL = "llmstack.node-pool"
GPU_PRESENT = "nvidia.com/gpu.present"
GPU_RESOURCE = "nvidia.com/gpu"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
CAPACITY_TYPE = "karpenter.sh/capacity-type"
HOSTNAME = "kubernetes.io/hostname"


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object. `secret_keys` (Secrets only): data key -> the Pulumi config secret it is filled from,
    by the builder (the plan never holds a secret value)."""

    body: dict[str, Any]
    secret_keys: dict[str, str] = field(default_factory=dict)

    @property
    def api_version(self) -> str:
        return str(self.body["apiVersion"])

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def key(self) -> str:
        """Unique within a stack: kind/name."""
        return f"{self.kind}/{self.name}"


def labels(name: str, component: str) -> dict[str, str]:
    """The labels of every object belonging to one service (also its pods' selector)."""
    return {APP: APP_NAME, INSTANCE: name, COMPONENT: component}


def selector(name: str, component: str) -> dict[str, str]:
    return labels(name, component)


def metadata(name: str, namespace: str | None, *, component: str, extra_labels: Mapping[str, str] | None = None,
             annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {**labels(name, component), MANAGED_BY: "pulumi",
                                                     PART_OF: APP_NAME, **(extra_labels or {})}}
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def service_dns(name: str, namespace: str) -> str:
    """The cluster DNS name of a Service (kubernetes.io/docs/concepts/services-networking/dns-pod-service/)."""
    return f"{name}.{namespace}.svc.cluster.local"
