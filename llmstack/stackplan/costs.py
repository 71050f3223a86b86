"""What a stack costs before it serves a token: the fixed hourly lines of its target, from the catalogs.

GPU nodes come on top, per backend (`llmstack plan`): on Kubernetes Karpenter launches them only while pods need them,
so a backend at `min_replicas: 0` costs nothing idle.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmstack.catalog import cpu_instances
from llmstack.datafiles import load_yaml
from llmstack.spec import AwsTarget, EksTarget, StackSpec
from llmstack.stackplan.gateway_sizing import size_gateway

HOURS_PER_MONTH = 730  # AWS pricing pages' month


@dataclass(frozen=True)
class CostLine:
    item: str
    hourly_usd: float | None  # None: an instance type the catalog has no price for

    @property
    def monthly_usd(self) -> float | None:
        return None if self.hourly_usd is None else self.hourly_usd * HOURS_PER_MONTH


def _prices() -> dict[str, dict[str, float]]:
    data: dict[str, dict[str, float]] = load_yaml("llmstack.catalog", "fixed_costs.yaml")
    return data


def fixed_costs(spec: StackSpec) -> list[CostLine]:
    """The lines paid around the clock: control plane, CPU nodes, NAT gateway. A local stack has none. Planner-free
    (the CPU node's type comes from the gateway sizing), so `llmstack preview` prints it without planning twice."""
    target, prices = spec.target, _prices()
    lines: list[CostLine] = []
    if isinstance(target, EksTarget):
        lines.append(CostLine("EKS control plane", prices["eks_control_plane"]["hourly_usd"]))
        if target.compute == "karpenter":  # Auto Mode's CPU nodes are launched on demand, with its fee on top
            kind = target.cpu_instance_types[0]
            cpu = cpu_instances().get(kind)
            lines.append(CostLine(f"{target.cpu_nodes} x {kind} (CPU node group)",
                                  target.cpu_nodes * cpu.hourly_usd if cpu else None))
        if target.vpc.id is None:
            lines.append(CostLine("NAT gateway", prices["nat_gateway"]["hourly_usd"]))
    elif isinstance(target, AwsTarget):
        kind = size_gateway(spec).instance_type or ""
        cpu = cpu_instances().get(kind)
        lines.append(CostLine(f"{kind} (CPU node: gateway, embeddings, Prometheus)", cpu.hourly_usd if cpu else None))
    return lines

