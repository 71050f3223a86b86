"""`InferenceStack`: the whole serving stack of one environment, built from the stack plan.

It plans once (`llmstack.stackplan.plan_stack`) and hands each child the planned object it builds (a `Service`, the
`GatewayPlan`, the `MonitoringPlan`) through the children's `planned` constructors: nothing is planned, validated or
read back from a label twice. The target decides only where each container runs and how it is reached.
"""

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, cast

import pulumi
import pulumi_aws as aws

from components.backend import EmbeddingService, InferenceBackend
from components.container import Placement, tie_to_node
from components.litellm_gateway import LiteLLMGateway
from components.network import Network
from components.nodes import CpuNode, GpuNode, GpuNodeArgs, NodeArgs
from components.observability import Observability
from components.vpc import create_vpc
from llmstack.engines import ENGINE_API_KEY
from llmstack.labels import Key, Role, component_type
from llmstack.spec import AwsTarget, LocalTarget, StackSpec, parse_spec
from llmstack.stackplan import EMBEDDINGS, GATEWAY, Service, StackPlan, plan_stack

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
    engine_api_key: NotRequired[pulumi.Input[str]]
    """API key the engines require and the gateway presents (a secret); default: derived from the master key."""
    ssh_private_key: NotRequired[pulumi.Input[str]]
    """SSH key (a secret) for every connection to the nodes: their readiness check and the Docker provider; default:
    the SSH agent."""
    kubeconfig: NotRequired[pulumi.Input[str]]
    """kubeconfig of an existing cluster (a secret), for the `kubernetes` target."""


@dataclass(frozen=True)
class _Host:
    """A Docker host of the stack: where its containers run and the address clients use for it."""

    docker_host: pulumi.Input[str]
    network: pulumi.Output[str]
    publish: str  # loopback | host
    address: pulumi.Output[str]  # 127.0.0.1, or the node's private IP


@dataclass(frozen=True)
class _Placed:
    """A service placed on a host: where the gateway reaches it and where clients (`llmstack verify`) do."""

    service: Service
    host: _Host
    internal_url: pulumi.Output[str]
    url: pulumi.Output[str]


class InferenceStack(pulumi.ComponentResource):
    """One environment's whole serving stack (engines, embeddings, gateway, monitoring) from a stack spec."""

    gateway_url: pulumi.Output[str]
    """Where clients reach the gateway."""
    endpoints: pulumi.Output[dict[str, Any]]
    """Endpoints of every service, in the shape `llmstack verify` reads (llmstack.outputs.Endpoints)."""
    access: pulumi.Output[dict[str, Any]]
    """How `llmstack verify` reaches them: the gateway node's SSH address and the endpoints only it reaches
    (llmstack.outputs.Access)."""

    def __init__(self, name: str, args: InferenceStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(component_type("InferenceStack"), name, {}, opts)
        spec = args["spec"] if isinstance(args["spec"], StackSpec) else parse_spec(args["spec"], "spec")
        self.plan: StackPlan = plan_stack(spec)
        self._args = args
        self._secrets: dict[str, pulumi.Input[str]] = {
            key: cast(pulumi.Input[str], args[arg])  # type: ignore[literal-required]
            for arg, key in (("hf_token", "hfToken"), ("ngc_api_key", "ngcApiKey")) if arg in args}
        self._secrets[ENGINE_API_KEY] = self._engine_key()
        self._placed: dict[str, _Placed] = {}
        self._gpu_hosts: dict[str, tuple[pulumi.Input[str], pulumi.Input[str]]] = {}
        self._access: dict[str, Any] = {"ssh": None, "private": []}
        if isinstance(spec.target, LocalTarget):
            self._gateway(self._local(spec.target))
        elif isinstance(spec.target, AwsTarget):
            self._gateway(self._aws(spec.target))
        else:
            self._kubernetes()
        self.access = pulumi.Output.from_input(self._access)
        self.register_outputs({"gateway_url": self.gateway_url, "endpoints": self.endpoints, "access": self.access})

    def _engine_key(self) -> pulumi.Output[str]:
        """The engines' API key (docs/engines.md §1.1): `engine_api_key`, else one derived from the master key
        (HMAC-SHA256, so an engine never holds the master key). Derived, it changes with the master key, and every
        keyed engine restarts then: outside the laptop the stack says so and names the fix."""
        if "engine_api_key" in self._args:
            return pulumi.Output.secret(self._args["engine_api_key"])
        keyed = sorted({s.engine.name for s in self.plan.services if s.engine.api_key is not None})
        if keyed and not self.plan.spec.is_local:
            pulumi.log.warn(
                f"engineApiKey: not set, so the {', '.join(keyed)} API key is derived from masterKey and rotating "
                "masterKey restarts those engines. Set one: pulumi config set --secret engineApiKey "
                "\"$(openssl rand -hex 32)\"", resource=self)
        return pulumi.Output.secret(self._args["master_key"]).apply(derive_engine_key)

    def _kubernetes(self) -> None:
        # Imported here: pulumi-kubernetes and pulumi-eks load only for the Kubernetes targets.
        from components.kubernetes import build_kubernetes

        secrets = {**self._secrets, "masterKey": self._args["master_key"]}
        if "kubeconfig" in self._args:
            secrets["kubeconfig"] = self._args["kubeconfig"]
        self.gateway_url, backends = build_kubernetes(self, self.plan, secrets)
        assert self.plan.kubernetes is not None
        self._access = {"ssh": None, "private": [s.name for s in self.plan.services],
                        "namespace": self.plan.kubernetes.namespace}
        embeddings = backends.pop(EMBEDDINGS, None)
        self.endpoints = pulumi.Output.from_input({
            "gateway_url": self.gateway_url, "gateway_models": self.plan.gateway.model_names,
            "fallbacks": {k: list(v) for k, v in self.plan.spec.gateway.fallbacks.items()},
            "backends": backends, "embeddings": embeddings,
        })

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        """Options for a child component: every Docker resource under it on an EC2 node is tied to that node's
        instance (`tie_to_node`; a no-op for the local Docker host)."""
        return pulumi.ResourceOptions(parent=self, transformations=[tie_to_node], **kwargs)

    # -- targets: where each service runs ---------------------------------------------------------------------------

    def _local(self, target: LocalTarget) -> _Host:
        net = Network("local-net", {"docker_host": target.docker_host}, self._child())
        host = _Host(target.docker_host, net.network_name, "loopback", pulumi.Output.from_input("127.0.0.1"))
        ports = _loopback_ports(self.plan)
        for s in self.plan.services:
            self._service(s, host, ports[s.name])
        return host

    def _aws(self, target: AwsTarget) -> _Host:
        spec = self.plan.spec
        tags = {Key.ENVIRONMENT.tag: spec.environment, **spec.tags}
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
        }
        if target.ssh.key_name:
            common["ssh_key_name"] = target.ssh.key_name
        if "ssh_private_key" in self._args:
            common["ssh_private_key"] = self._args["ssh_private_key"]
        gw = self.plan.gateway_node
        # `allowed_cidrs` reach the gateway only; engines accept the CPU node's group (gateway and Prometheus).
        cpu = CpuNode(gw.name, cast(NodeArgs, {
            **common, "instance_type": gw.instance_type, "root_volume_gb": gw.root_volume_gb,
            "service_ports": [self.plan.gateway.launch.port], "allowed_cidrs": list(target.allowed_cidrs),
            **({"ami": gw.ami} if gw.ami else {}),
        }), on_aws)
        for s in self.plan.backends:
            node = GpuNode(s.node.name, cast(GpuNodeArgs, {
                **common, "instance_type": s.node.instance_type, "root_volume_gb": s.node.root_volume_gb,
                "service_ports": [s.launch.port], "peer_security_group_id": cpu.security_group_id,
                "monitoring_security_group_id": cpu.security_group_id,
                "engine_access_cidrs": list(target.engine_access_cidrs),
                **({"ami": s.node.ami} if s.node.ami else {}),
            }), on_aws)
            net = Network(f"{s.name}-net", {"docker_host": node.docker_host}, self._child())
            self._gpu_hosts[s.node.name] = (node.docker_host, node.private_ip)
            self._service(s, _Host(node.docker_host, net.network_name, "host", node.private_ip), s.launch.port)
        cpu_net = Network("cpu-net", {"docker_host": cpu.docker_host}, self._child())
        host = _Host(cpu.docker_host, cpu_net.network_name, "host", cpu.private_ip)
        if self.plan.embeddings is not None:
            self._service(self.plan.embeddings, host, self.plan.embeddings.launch.port)
        # Engine ports and the embeddings' (not opened on the CPU node) answer only the gateway's node: `llmstack
        # verify --via-ssh` tunnels through it.
        self._access = {"ssh": cpu.docker_host.apply(lambda h: h.removeprefix("ssh://")),
                        "private": [s.name for s in self.plan.services]}
        return host

    # -- services ----------------------------------------------------------------------------------------------------

    def _service(self, s: Service, host: _Host, port: int) -> None:
        """One planned service on `host`, published on `port`."""
        placement = Placement(host.docker_host, host.network, host.publish, port)
        kind = EmbeddingService if s.role is Role.EMBEDDING else InferenceBackend
        component = kind.planned(s.name, s, placement, self._secrets, self._child())
        url = host.address.apply(lambda a: f"http://{a}:{port}")
        # On one Docker network (the laptop, or the CPU node's embeddings) the gateway reaches it by alias; a GPU
        # node's engine by the node's address.
        same_network = host.publish == "loopback" or s.role is Role.EMBEDDING
        self._placed[s.name] = _Placed(s, host, component.url if same_network else url, url)

    def _gateway(self, host: _Host) -> None:
        plan, placed = self.plan, self._placed
        placement = Placement(host.docker_host, host.network, host.publish)
        gateway = LiteLLMGateway.planned(GATEWAY, plan.gateway, {n: p.internal_url for n, p in placed.items()},
                                         placement, self._args["master_key"], self._child(),
                                         engine_api_key=self._secrets[ENGINE_API_KEY])
        port = plan.gateway.launch.port
        self.gateway_url = host.address.apply(lambda a: f"http://{a}:{port}")
        if plan.monitoring is not None:
            Observability.planned(
                "monitoring", plan.monitoring,
                Placement(host.docker_host, host.network, "loopback" if host.publish == "loopback" else "none"),
                {s.name: placed[s.name].internal_url.apply(lambda url: url.removeprefix("http://"))
                 for s in plan.backends},
                self._gpu_hosts, self._args["master_key"], self._child(depends_on=[gateway]),
                engine_api_key=self._secrets[ENGINE_API_KEY])
        endpoints = {
            name: {"url": p.url, "engine": p.service.engine.name, "model": p.service.served_name,
                   "gateway_model": p.service.route, "container": p.service.container_name,
                   "docker_host": p.host.docker_host}
            for name, p in placed.items()
        }
        embeddings = endpoints.pop(EMBEDDINGS, None)
        self.endpoints = pulumi.Output.from_input({
            "gateway_url": self.gateway_url,
            "gateway_models": plan.gateway.model_names,
            "fallbacks": {k: list(v) for k, v in plan.spec.gateway.fallbacks.items()},
            "backends": endpoints,
            "embeddings": embeddings,
        })


def derive_engine_key(master_key: str) -> str:
    """The engine key when none is given: HMAC-SHA256 of a fixed label under the master key (hex)."""
    return hmac.new(master_key.encode(), b"llmstack engine api key v1", hashlib.sha256).hexdigest()


def _loopback_ports(plan: StackPlan) -> dict[str, int]:
    """Distinct loopback ports on one Docker host: each engine's own port, or the next free one."""
    taken = {plan.gateway.launch.port}
    ports: dict[str, int] = {}
    for s in plan.services:
        port = s.launch.port if s.launch.port >= _FIRST_UNPRIVILEGED else s.launch.port + 8000
        while port in taken:
            port += 1
        taken.add(port)
        ports[s.name] = port
    return ports
