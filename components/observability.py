"""`Observability`: Prometheus with the engines', the gateway's and the GPUs' metrics, and the tested alert rules.

The monitoring plan (`llmstack.stackplan.MonitoringPlan`) holds the containers, the rules and the scrape config's
render; this component only places them: Prometheus on the CPU host, one DCGM exporter per GPU node. The gateway key
reaches Prometheus as a secret file, never inline in the config; so does the engines' API key where an engine's key
guards its metrics (llama.cpp: docs/engines.md §1.1).
"""

from collections.abc import Mapping
from typing import NotRequired, Self, TypedDict

import pulumi
import pulumi_docker as docker

from components.container import Placement, docker_provider, engine_container
from llmstack.labels import component_type
from llmstack.stackplan import EngineTarget, MonitoringPlan, plan_monitoring
from llmstack.stackplan.litellm_config import UNUSED_KEY

PROMETHEUS = "prometheus"


class EngineTargetArgs(TypedDict):
    """An engine Prometheus scrapes."""

    engine: str
    """Engine name (decides the metrics path)."""
    backend: str
    """Backend name (label)."""
    model: str
    """Model (label)."""
    node: str
    """Node name (label)."""
    address: pulumi.Input[str]
    """host:port the engine listens on, as Prometheus reaches it."""


class GpuHostArgs(TypedDict):
    """A GPU node that gets a DCGM exporter container."""

    node: str
    """Node name."""
    docker_host: pulumi.Input[str]
    """Docker endpoint of the GPU node, for its DCGM exporter."""
    address: pulumi.Input[str]
    """Host Prometheus reaches the exporter on."""


class ObservabilityArgs(TypedDict):
    docker_host: pulumi.Input[str]
    """Docker endpoint of the host that runs Prometheus (the CPU node)."""
    network_name: pulumi.Input[str]
    """Docker network shared with the gateway."""
    master_key: pulumi.Input[str]
    """Gateway key Prometheus presents on /metrics (a secret)."""
    engine_targets: list[EngineTargetArgs]
    """Engines to scrape."""
    gateway_address: str
    """host:port of the gateway."""
    gpu_hosts: NotRequired[list[GpuHostArgs]]
    """GPU nodes that get a DCGM exporter."""
    publish: NotRequired[str]
    """Publish Prometheus's port: loopback (local) or none (reach it through an SSH tunnel)."""
    environment: NotRequired[str]
    """Environment name, for labels."""
    node: NotRequired[str]
    """Name of the node Prometheus runs on (label)."""


class Observability(pulumi.ComponentResource):
    """Prometheus scraping the engines, the gateway and a DCGM exporter per GPU node, with the alert rules."""

    TYPE = component_type("Observability")
    prometheus_config: pulumi.Output[str]
    """The rendered prometheus.yml."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        targets = args["engine_targets"]
        gpu_hosts = args.get("gpu_hosts", [])
        plan = plan_monitoring(
            [EngineTarget(t["backend"], t["engine"], t["model"], t["node"]) for t in targets],
            [g["node"] for g in gpu_hosts], environment=args.get("environment", "default"),
            node=args.get("node", name), gateway_address=args["gateway_address"])
        self._build(name, plan, Placement(args["docker_host"], args["network_name"], args.get("publish", "none")),
                    {t["backend"]: t["address"] for t in targets},
                    {g["node"]: (g["docker_host"], g["address"]) for g in gpu_hosts}, args["master_key"])

    @classmethod
    def planned(cls, name: str, plan: MonitoringPlan, placement: Placement, addresses: Mapping[str, pulumi.Input[str]],
                gpu_hosts: Mapping[str, tuple[pulumi.Input[str], pulumi.Input[str]]], master_key: pulumi.Input[str],
                opts: pulumi.ResourceOptions | None = None, *,
                engine_api_key: pulumi.Input[str] | None = None) -> Self:
        """Monitoring of the stack plan: `addresses` maps each target to host:port, `gpu_hosts` each GPU node to its
        (docker host, address); `engine_api_key` is the key the stack's engines require."""
        component = cls.__new__(cls)
        pulumi.ComponentResource.__init__(component, cls.TYPE, name, {}, opts)
        component._build(name, plan, placement, addresses, gpu_hosts, master_key, engine_api_key)
        return component

    def _build(self, name: str, plan: MonitoringPlan, placement: Placement,
               addresses: Mapping[str, pulumi.Input[str]],
               gpu_hosts: Mapping[str, tuple[pulumi.Input[str], pulumi.Input[str]]],
               master_key: pulumi.Input[str], engine_api_key: pulumi.Input[str] | None = None) -> None:
        for node in plan.gpu_nodes:
            docker_host, _ = gpu_hosts[node]
            provider = docker_provider(f"{name}-{node}-docker", docker_host, self)
            engine_container(f"{name}-{node}-dcgm", "dcgm-exporter", plan.dcgm_on(node),
                             Placement(docker_host, None, "host"), parent=self, provider=provider,
                             alias="dcgm-exporter", secrets={})
        keys = [t.name for t in plan.targets]
        values = [pulumi.Output.from_input(addresses[k]) for k in keys]
        values += [pulumi.Output.from_input(gpu_hosts[n][1]) for n in plan.gpu_nodes]

        def render(resolved: list[str]) -> str:
            return plan.render(dict(zip(keys, resolved[: len(keys)], strict=True)),
                               dict(zip(plan.gpu_nodes, resolved[len(keys):], strict=True)))

        self.prometheus_config = pulumi.Output.all(*values).apply(render)
        provider = docker_provider(f"{name}-docker", placement.docker_host, self)
        # Owner-only key files, owned by the user Prometheus runs as in its image (nobody, 65534).
        key_files: dict[str, pulumi.Input[str]] = {plan.credentials_path: master_key}
        if plan.engine_key_needed:  # without the stack's key the engines were started without one
            key_files[plan.engine_credentials_path] = UNUSED_KEY if engine_api_key is None else engine_api_key
        engine_container(
            f"{name}-prometheus", "llm-prometheus", plan.prometheus, placement, parent=self, provider=provider,
            alias=PROMETHEUS, secrets={},
            uploads=[
                docker.ContainerUploadArgs(file=plan.config_path, content=self.prometheus_config),
                docker.ContainerUploadArgs(file=plan.rules_path, content=plan.rules),
                *(docker.ContainerUploadArgs(file=path, permissions="0400", owner=plan.credentials_uid,
                                             group=plan.credentials_uid, content=pulumi.Output.secret(key))
                  for path, key in key_files.items()),
            ],
        )
        self.register_outputs({"prometheus_config": self.prometheus_config})
