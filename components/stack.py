"""`InferenceStack`: the whole serving stack of one environment, composed from the stack plan.

It plans once (`llmstack.deployment.plan_stack`) and hands each child exactly what the plan says, so the resources
under mocks, the plan printed by `llmstack preview` and the policies' view all agree.
"""

from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, cast

import pulumi
import pulumi_aws as aws

from components.backend import EmbeddingService, EmbeddingServiceArgs, InferenceBackend, InferenceBackendArgs
from components.gateway import GatewayRouteArgs, LiteLLMGateway, LiteLLMGatewayArgs
from components.network import Network
from components.nodes import CpuNode, GpuNode, GpuNodeArgs, NodeArgs
from components.observability import GpuHostArgs, Observability
from components.vpc import create_vpc
from llmstack.deployment import Service, StackPlan, plan_stack
from llmstack.engines import engine
from llmstack.spec import AwsTarget, LocalTarget, StackSpec, parse_spec

GATEWAY = "gateway"
EMBEDDINGS = "embeddings"
_FIRST_UNPRIVILEGED = 1024  # engines on port 80 (TEI, TGI) get 8080+ on the laptop's loopback


class InferenceStackArgs(TypedDict):
    spec: Any
    """The stack spec (the stack file's config values: environment, target, backends, embeddings, gateway, tags)."""
    master_key: pulumi.Input[str]
    """LiteLLM master key (a secret)."""
    hf_token: NotRequired[pulumi.Input[str]]
    """Hugging Face token for gated models (a secret)."""
    ngc_api_key: NotRequired[pulumi.Input[str]]
    """NGC API key for NIM (a secret)."""
    ssh_private_key: NotRequired[pulumi.Input[str]]
    """SSH key for the nodes' readiness check (a secret); default: the SSH agent."""


@dataclass(frozen=True)
class _Host:
    """A Docker host the stack deploys to, and how its services are reached."""

    docker_host: pulumi.Input[str]
    network: pulumi.Output[str]
    publish: str  # loopback | host
    address: pulumi.Output[str]  # address clients use (127.0.0.1, or the node's private IP)


class InferenceStack(pulumi.ComponentResource):
    """One environment's whole serving stack (engines, embeddings, gateway, monitoring) from a stack spec."""

    gateway_url: pulumi.Output[str]
    """Where clients reach the gateway."""
    endpoints: pulumi.Output[dict[str, Any]]
    """Endpoints of every service, in the shape `llmstack verify` reads (llmstack.outputs.StackOutputs)."""

    def __init__(self, name: str, args: InferenceStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:index:InferenceStack", name, {}, opts)
        spec = args["spec"] if isinstance(args["spec"], StackSpec) else parse_spec(args["spec"], "spec")
        self.plan = plan_stack(spec)
        self._args = args
        self._secrets: dict[str, pulumi.Input[str]] = {}
        if "hf_token" in args:
            self._secrets["hf_token"] = args["hf_token"]
        if "ngc_api_key" in args:
            self._secrets["ngc_api_key"] = args["ngc_api_key"]
        self._services: dict[str, dict[str, Any]] = {}
        self._gpu_hosts: list[GpuHostArgs] = []
        cpu_host = self._local(spec.target) if isinstance(spec.target, LocalTarget) else self._aws(spec.target)
        self._gateway(cpu_host)
        self.register_outputs({"gateway_url": self.gateway_url, "endpoints": self.endpoints})

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    # -- targets: where each service runs ---------------------------------------------------------------------------

    def _local(self, target: LocalTarget) -> _Host:
        net = Network("local-net", {"docker_host": target.docker_host}, self._child())
        host = _Host(target.docker_host, net.network_name, "loopback", pulumi.Output.from_input("127.0.0.1"))
        ports = _loopback_ports(self.plan)
        for s in self.plan.backends:
            self._backend(s, host, ports[s.name])
        self._embeddings(host, ports.get(EMBEDDINGS))
        return host

    def _aws(self, target: AwsTarget) -> _Host:
        spec = self.plan.spec
        tags = {"llmstack:environment": spec.environment, **spec.tags}
        provider = aws.Provider("aws", region=target.region, default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
                                opts=self._child())
        on_aws = self._child(providers=[provider])
        if target.vpc.id is not None:
            vpc_id: pulumi.Input[str] = target.vpc.id
            subnet_id: pulumi.Input[str] = target.vpc.subnet_ids[0]
        else:
            assert target.vpc.cidr is not None
            vpc_id, subnet_id = create_vpc(f"{spec.environment}-llm", target.vpc.cidr, tags, on_aws)
        common: NodeArgs = {
            "vpc_id": vpc_id, "subnet_id": subnet_id, "service_ports": [], "ssh_user": target.ssh.user,
            "ssh_via": target.ssh.via, "ssh_cidrs": list(target.ssh.allowed_cidrs), "environment": spec.environment,
            "tags": spec.tags, "public_ip": target.vpc.id is None or target.ssh.via == "public-ip",
            "allowed_cidrs": list(target.allowed_cidrs),
        }
        if target.ssh.key_name:
            common["ssh_key_name"] = target.ssh.key_name
        if "ssh_private_key" in self._args:
            common["ssh_private_key"] = self._args["ssh_private_key"]
        gw = self.plan.gateway_node
        cpu = CpuNode(gw.name, cast(NodeArgs, {
            **common, "instance_type": gw.instance_type or target.cpu_instance_type,
            "root_volume_gb": gw.root_volume_gb, "service_ports": [engine("litellm").port],
        }), on_aws)
        for s in self.plan.backends:
            node = GpuNode(s.node.name, cast(GpuNodeArgs, {
                **common, "instance_type": s.node.instance_type, "root_volume_gb": s.node.root_volume_gb,
                "service_ports": [s.launch.port], "peer_security_group_id": cpu.security_group_id,
                "monitoring_security_group_id": cpu.security_group_id,
            }), on_aws)
            net = Network(f"{s.name}-net", {"docker_host": node.docker_host}, self._child())
            self._gpu_hosts.append({"node": s.node.name, "docker_host": node.docker_host, "address": node.private_ip})
            self._backend(s, _Host(node.docker_host, net.network_name, "host", node.private_ip), s.launch.port)
        cpu_net = Network("cpu-net", {"docker_host": cpu.docker_host}, self._child())
        host = _Host(cpu.docker_host, cpu_net.network_name, "host", cpu.private_ip)
        self._embeddings(host, None)
        return host

    # -- services ----------------------------------------------------------------------------------------------------

    def _record(self, s: Service, host: _Host, url: pulumi.Output[str]) -> None:
        self._services[s.name] = {
            "url": url, "engine": s.engine.name, "model": s.served_name, "gateway_model": s.route,
            "container": f"llm-{s.name}", "docker_host": host.docker_host,
        }

    def _backend(self, s: Service, host: _Host, port: int) -> None:
        b = s.backend
        assert b is not None
        labels = s.launch.labels
        backend_args: dict[str, Any] = {
            "engine": b.engine, "model": b.model, "context": b.context, "quant": labels["llmstack.format"],
            "concurrency": b.concurrency, "kv_dtype": b.kv_dtype,
            "tensor_parallel": int(labels["llmstack.tensor-parallel"]), "served_model_name": s.served_name,
            "gateway_model": s.route,
            "gpus": s.launch.gpus, "docker_host": host.docker_host, "network_name": host.network,
            "publish": host.publish, "host_port": port, "environment": self.plan.spec.environment,
            "extra_args": list(b.extra_args), **self._secrets,
        }
        optional = {"instance_type": s.node.instance_type, "gpu_memory_utilization": b.gpu_memory_utilization,
                    "source": b.source, "image": b.image, "allow_gguf_on_vllm": b.allow_gguf_on_vllm or None}
        backend_args |= {k: v for k, v in optional.items() if v is not None}
        backend = InferenceBackend(s.name, cast(InferenceBackendArgs, backend_args), self._child())
        self._record(s, host, host.address.apply(lambda a: f"http://{a}:{port}"))
        self._services[s.name]["internal_url"] = (
            backend.url if host.publish == "loopback" else self._services[s.name]["url"])

    def _embeddings(self, host: _Host, port: int | None) -> None:
        spec, e = self.plan.spec.embeddings, self.plan.embeddings
        if spec is None or e is None:
            return
        emb_args: EmbeddingServiceArgs = {
            "engine": spec.engine, "model": spec.model, "docker_host": host.docker_host,
            "network_name": host.network, "publish": host.publish, "host_port": port or e.launch.port,
            "environment": self.plan.spec.environment, "node": e.node.name,
        }
        if e.node.instance_type:
            emb_args["instance_type"] = e.node.instance_type
        if spec.image:
            emb_args["image"] = spec.image
        if "hf_token" in self._secrets:
            emb_args["hf_token"] = self._secrets["hf_token"]
        emb = EmbeddingService(EMBEDDINGS, emb_args, self._child())
        self._record(e, host, host.address.apply(lambda a: f"http://{a}:{port or e.launch.port}"))
        self._services[e.name]["internal_url"] = emb.url

    def _gateway(self, host: _Host) -> None:
        spec, g = self.plan.spec, self.plan.spec.gateway
        routes: list[GatewayRouteArgs] = [
            {"model_name": s.route or s.name, "engine": s.engine.name, "served_name": s.served_name,
             "base_url": self._services[s.name]["internal_url"], "embedding": s.role == "embedding"}
            for s in (*self.plan.backends, *([self.plan.embeddings] if self.plan.embeddings else []))
        ]
        gateway_args: LiteLLMGatewayArgs = {
            "routes": routes, "master_key": self._args["master_key"], "docker_host": host.docker_host,
            "network_name": host.network, "fallbacks": {k: list(v) for k, v in g.fallbacks.items()},
            "num_retries": g.num_retries, "timeout": g.timeout, "allowed_fails": g.allowed_fails,
            "cooldown_time": g.cooldown_time, "health_check_interval": g.health_check_interval,
            "publish": host.publish, "environment": spec.environment, "node": self.plan.gateway_node.name,
        }
        if g.image:
            gateway_args["image"] = g.image
        if self.plan.gateway_node.instance_type:
            gateway_args["instance_type"] = self.plan.gateway_node.instance_type
        gateway = LiteLLMGateway(GATEWAY, gateway_args, self._child())
        port = engine("litellm").port
        self.gateway_url = host.address.apply(lambda a: f"http://{a}:{port}")
        if spec.monitoring:
            Observability("monitoring", {
                "docker_host": host.docker_host, "network_name": host.network, "master_key": self._args["master_key"],
                "engine_targets": [
                    {"engine": s.engine.name, "backend": s.name, "model": s.served_name, "node": s.node.name,
                     "address": pulumi.Output.from_input(self._services[s.name]["internal_url"]).apply(
                         lambda url: url.removeprefix("http://"))}
                    for s in self.plan.backends
                ],
                "gateway_address": f"{GATEWAY}:{port}", "gpu_hosts": self._gpu_hosts,
                "publish": "loopback" if host.publish == "loopback" else "none",
                "environment": spec.environment, "node": self.plan.gateway_node.name,
            }, self._child(depends_on=[gateway]))
        services = {name: {k: v for k, v in s.items() if k != "internal_url"} for name, s in self._services.items()}
        embeddings = services.pop(EMBEDDINGS, None)
        self.endpoints = pulumi.Output.from_input({
            "gateway_url": self.gateway_url,
            "gateway_models": sorted({r["model_name"] for r in routes}),
            "fallbacks": {k: list(v) for k, v in g.fallbacks.items()},
            "backends": services,
            "embeddings": embeddings,
        })


def _loopback_ports(plan: StackPlan) -> dict[str, int]:
    """Distinct loopback ports on one Docker host: each engine's own port, or the next free one."""
    taken = {engine("litellm").port}
    ports: dict[str, int] = {}
    for s in (*plan.backends, *([plan.embeddings] if plan.embeddings else [])):
        port = s.launch.port if s.launch.port >= _FIRST_UNPRIVILEGED else s.launch.port + 8000
        while port in taken:
            port += 1
        taken.add(port)
        ports[s.name] = port
    return ports
