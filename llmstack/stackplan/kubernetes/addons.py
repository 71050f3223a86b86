"""The cluster add-ons a Kubernetes target installs with Helm, pinned in `catalog/addons.yaml`, and their values."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from llmstack.datafiles import load_yaml


@dataclass(frozen=True)
class HelmRelease:
    name: str
    chart: str
    repository: str
    version: str
    namespace: str
    source: str
    values: dict[str, Any] = field(default_factory=dict)


@cache
def _catalog() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = load_yaml("llmstack.catalog", "addons.yaml")["addons"]
    return data


def release(name: str, values: dict[str, Any] | None = None) -> HelmRelease:
    entry = _catalog()[name]
    return HelmRelease(name=name, chart=entry["chart"], repository=entry["repository"], version=entry["version"],
                       namespace=entry["namespace"], source=entry["source"], values=values or {})


def karpenter(cluster: str, interruption_queue: str, cpu_pool: dict[str, str] | None) -> HelmRelease:
    """Karpenter's controller on the CPU nodes (never on nodes it launches), with the spot interruption queue
    (charts/karpenter/values.yaml @ v1.14.1: settings.clusterName, settings.interruptionQueue)."""
    values: dict[str, Any] = {"settings": {"clusterName": cluster, "interruptionQueue": interruption_queue}}
    if cpu_pool:
        values["nodeSelector"] = dict(cpu_pool)
    return release("karpenter", values)
