"""The stack plan: a pure function from a validated spec (plus the catalogs) to nodes, services, gateway and
monitoring.

`plan_stack` is the only place that sizes, lays out and renders. Every target's builder (the components) maps these
planned objects to resources and never re-plans, re-validates or reads a value back from a label.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmstack.engines import engine
from llmstack.errors import InputError
from llmstack.spec import AwsTarget, LocalTarget, StackSpec
from llmstack.stackplan.litellm_config import GatewayPlan, RouteTarget, plan_gateway
from llmstack.stackplan.monitoring import EngineTarget, MonitoringPlan, plan_monitoring
from llmstack.stackplan.services import LOCAL, Node, Service, backend_services, embedding_service

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
    gpu = isinstance(target, AwsTarget) or target.gpus == "all"
    root = target.root_volume_gb if isinstance(target, AwsTarget) else None
    backends = tuple(
        s
        for i, b in enumerate(spec.backends)
        for s in backend_services(b, environment=spec.environment, gpu=gpu, size=not spec.is_local,
                                  where=f"backends[{i}]", root_volume_gb=root)
    )
    if isinstance(target, AwsTarget):
        cpu = Node("cpu-gateway", "cpu", spec.gateway.instance_type or target.cpu_instance_type,
                   root_volume_gb=CPU_NODE_ROOT_GB)
    else:
        cpu = LOCAL
    embeddings = (embedding_service(spec.embeddings, environment=spec.environment, node=cpu, name=EMBEDDINGS)
                  if spec.embeddings else None)
    routes = [RouteTarget(s.route, s.engine.name, s.served_name, s.name, embedding=s is embeddings)
              for s in (*backends, *((embeddings,) if embeddings else ()))]
    gateway = plan_gateway(spec.gateway, routes, environment=spec.environment, node=cpu.name,
                           instance_type=cpu.instance_type)
    nodes = (cpu, *(s.node for s in backends if s.node.role == "gpu"))
    monitoring = plan_monitoring(
        [EngineTarget(s.name, s.engine.name, s.served_name, s.node.name) for s in backends],
        [n.name for n in nodes if n.role == "gpu"], environment=spec.environment, node=cpu.name,
        gateway_address=f"{GATEWAY}:{engine('litellm').port}") if spec.monitoring else None
    return StackPlan(spec=spec, nodes=nodes, backends=backends, embeddings=embeddings, gateway_node=cpu,
                     gateway=gateway, monitoring=monitoring)
