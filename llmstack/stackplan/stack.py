"""The stack plan: a pure function from a validated spec (plus the catalogs) to nodes, services, gateway and
monitoring.

`plan_stack` is the only place that sizes, lays out and renders. Every target's builder (the components) maps these
planned objects to resources and never re-plans, re-validates or reads a value back from a label.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from llmstack.engines import engine
from llmstack.errors import InputError
from llmstack.spec import AwsTarget, EksTarget, LocalTarget, StackSpec
from llmstack.stackplan.gateway_sizing import GatewaySizing, size_gateway
from llmstack.stackplan.litellm_config import GatewayPlan, RouteTarget, plan_gateway
from llmstack.stackplan.monitoring import EngineTarget, MonitoringPlan, plan_monitoring
from llmstack.stackplan.services import LOCAL, Node, Service, backend_services, embedding_service

if TYPE_CHECKING:
    from llmstack.stackplan.kubernetes import KubernetesPlan

GATEWAY = "gateway"  # the gateway's name: container alias and component name
EMBEDDINGS = "embeddings"
CPU_NODE_ROOT_GB = 60  # Ubuntu + the LiteLLM, TEI and Prometheus images with their caches


@dataclass(frozen=True)
class StackPlan:
    spec: StackSpec
    nodes: tuple[Node, ...]
    backends: tuple[Service, ...]
    embeddings: Service | None
    gateway_node: Node
    gateway: GatewayPlan
    monitoring: MonitoringPlan | None
    gateway_sizing: GatewaySizing | None = None
    kubernetes: KubernetesPlan | None = None  # the objects and add-ons of a Kubernetes target

    @property
    def warnings(self) -> tuple[str, ...]:
        """Problems that do not stop a deploy but will show under load (`llmstack preview` prints them)."""
        sizing = self.gateway_sizing
        return (sizing.warning,) if sizing is not None and sizing.warning else ()

    @property
    def services(self) -> tuple[Service, ...]:
        """Every engine container: the backends, then the embedding server."""
        return (*self.backends, *((self.embeddings,) if self.embeddings else ()))

    @property
    def gpu_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.role == "gpu")


def plan_stack(spec: StackSpec) -> StackPlan:
    """Size every backend, place every container, route the gateway and plan monitoring, once."""
    target = spec.target
    if isinstance(target, LocalTarget) and target.gpus == "auto":
        raise InputError("target.gpus", "auto", "resolve it first with llmstack.spec.resolve_local_gpus")
    gpu = not isinstance(target, LocalTarget) or target.gpus == "all"
    root = target.root_volume_gb if isinstance(target, AwsTarget) else None
    backends = tuple(
        s
        for i, b in enumerate(spec.backends)
        for s in backend_services(b, environment=spec.environment, gpu=gpu, size=not spec.is_local,
                                  where=f"backends[{i}]", root_volume_gb=root, per_replica=not spec.on_kubernetes)
    )
    sizing = size_gateway(spec)  # workers, the CPU node (aws), replicas (kubernetes) for the expected load
    if isinstance(target, AwsTarget):
        cpu = Node("cpu-gateway", "cpu", sizing.instance_type, root_volume_gb=CPU_NODE_ROOT_GB, ami=target.ami.cpu)
        # The pinned GPU AMI is part of each GPU node's plan: changing it replaces the node and its containers.
        backends = tuple(replace(s, node=replace(s.node, ami=target.ami.gpu)) for s in backends)
    elif isinstance(target, EksTarget):
        cpu = Node("cpu", "cpu", target.cpu_instance_types[0], root_volume_gb=CPU_NODE_ROOT_GB)
    elif spec.on_kubernetes:
        cpu = Node("cpu", "cpu", None)
    else:
        cpu = LOCAL
    embeddings = (embedding_service(spec.embeddings, environment=spec.environment, node=cpu, name=EMBEDDINGS)
                  if spec.embeddings else None)
    routes = [RouteTarget(s.route, s.engine.name, s.served_name, s.name, embedding=s is embeddings)
              for s in (*backends, *((embeddings,) if embeddings else ()))]
    gateway = plan_gateway(spec.gateway, routes, environment=spec.environment, node=cpu.name,
                           instance_type=cpu.instance_type, workers=sizing.workers)
    nodes = (cpu, *(s.node for s in backends if s.node.role == "gpu"))
    monitoring = plan_monitoring(
        [EngineTarget(s.name, s.engine.name, s.served_name, s.node.name) for s in backends],
        [n.name for n in nodes if n.role == "gpu"], environment=spec.environment, node=cpu.name,
        gateway_address=f"{GATEWAY}:{engine('litellm').port}") if spec.monitoring else None
    plan = StackPlan(spec=spec, nodes=nodes, backends=backends, embeddings=embeddings, gateway_node=cpu,
                     gateway=gateway, monitoring=monitoring, gateway_sizing=sizing)
    if spec.on_kubernetes:
        from llmstack.stackplan.kubernetes import plan_kubernetes  # it builds on this plan

        plan = replace(plan, kubernetes=plan_kubernetes(plan))
    return plan
