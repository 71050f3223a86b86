"""The stack spec: one pydantic model of what a stack file asks for, validated before anything is built.

A stack file (`stacks/Pulumi.<env>.yaml`) holds Pulumi config under the project's namespace; each top-level key
below is one config key (`llm-inference-stack:backends`, ...). Errors name the field path, the value and the fix.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llmstack.engines import EngineName, engine
from llmstack.errors import InputError
from llmstack.images import check_pinned

PROJECT = "llm-inference-stack"
_DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")
_SOURCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,200}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _pinned_image(value: str | None) -> str | None:
    return None if value is None else check_pinned(value)


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError("use lowercase letters, digits and '-', starting with a letter (at most 40 characters)")
    return value


Name = Annotated[str, Field(min_length=1, max_length=40)]


class Backend(_Strict):
    """One model served by one engine; `replicas` identical copies share its gateway model name."""

    name: Name
    engine: EngineName
    model: str = Field(min_length=1, description="catalog name (llama-3.1-8b) or Hugging Face repo id")
    quant: str = "auto"
    context: int = Field(ge=256, le=1_048_576, description="max tokens per sequence the engine is started with")
    concurrency: int = Field(default=1, ge=1, le=4096, description="concurrent sequences at full context")
    replicas: int = Field(default=1, ge=1, le=16)
    kv_dtype: Literal["auto", "bf16", "fp16", "fp8", "q8_0", "q4_0"] = "auto"
    instance_type: str | None = Field(default=None, description="pin the GPU instance (aws); else the planner picks")
    tensor_parallel: int | None = Field(default=None, ge=1, le=8)
    gpu_memory_utilization: float | None = Field(default=None, gt=0.1, le=0.98)
    gateway_model: str | None = Field(default=None, description="model name clients use; default: backend name")
    served_model_name: str | None = None
    source: str | None = Field(
        default=None,
        description="what the engine loads: HF repo id (vllm/sglang/tgi/nim), repo:QUANT (llamacpp), tag (ollama)",
    )
    image: str | None = Field(default=None, description="override the engine table's pinned image")
    extra_args: tuple[str, ...] = ()
    allow_gguf_on_vllm: bool = Field(default=False, description="explicit override; needs a custom image")
    # Kubernetes targets only (eks, kubernetes): where the GPU nodes come from and how the backend scales.
    capacity: Literal["on-demand", "spot", "spot-with-fallback"] | None = Field(
        default=None, description="GPU capacity type (kubernetes targets); default on-demand")
    min_replicas: int | None = Field(default=None, ge=0, le=64,
                                     description="autoscale on LLM signals down to this (0: scale to zero)")
    max_replicas: int | None = Field(default=None, ge=1, le=64, description="autoscale up to this")
    # A model larger than one node: up to this many nodes per replica, pipeline parallel with vLLM over Ray, as a
    # LeaderWorkerSet (kubernetes targets). 4 = llmstack.planner.multinode.MAX_NODES.
    max_nodes: int = Field(default=1, ge=1, le=4, description="nodes one replica may span (kubernetes targets)")

    _name = field_validator("name")(_dns_label)

    @field_validator("source")
    @classmethod
    def _source_safe(cls, value: str | None) -> str | None:
        # It reaches a shell in the Ollama entrypoint and health check: repo ids, tags and paths only.
        if value is not None and not _SOURCE.match(value):
            raise ValueError("use a repo id, repo:QUANT, an Ollama tag or a path (letters, digits and ._:/@+-)")
        return value

    _image = field_validator("image")(lambda value: _pinned_image(value))

    @model_validator(mode="after")
    def _scaling(self) -> Backend:
        if (self.min_replicas is None) != (self.max_replicas is None):
            raise ValueError("give both min_replicas and max_replicas to autoscale, or neither")
        if self.min_replicas is not None and self.max_replicas is not None and self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})")
        if self.max_nodes > 1 and self.engine != "vllm":
            raise ValueError(f"max_nodes {self.max_nodes} needs engine vllm (pipeline parallel across nodes with "
                             f"Ray); {self.engine} serves from one node")
        return self

    @property
    def route(self) -> str:
        return self.gateway_model or self.name

    @property
    def autoscaled(self) -> bool:
        return self.max_replicas is not None


class Embeddings(_Strict):
    """The embedding service: its own container, never on an inference GPU."""

    engine: Literal["tei", "ollama"] = "tei"
    model: str = "bge-small-en-v1.5"
    gateway_model: str = "embed"
    image: str | None = None

    _model_name = field_validator("gateway_model")(_dns_label)
    _image = field_validator("image")(lambda value: _pinned_image(value))


class Gateway(_Strict):
    """The LiteLLM gateway. Router values are tuned and measured: see benchmarks/results/gateway.md."""

    fallbacks: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # 0: the fallback is the retry. A retry on the same dead deployment adds LiteLLM's backoff before the fallback
    # runs (~2.1 s with num_retries 1, reference §7.12); with 0 the first request after a kill took ~0.4 s under load.
    num_retries: int = Field(default=0, ge=0, le=5)
    # Whole-request budget for non-streaming generations (a long completion on a busy vLLM). LiteLLM 1.108.7 uses it
    # as the connect timeout too, so only a dead *host* (not a refused connection) costs this much: docs/gateway.md.
    timeout: float = Field(default=120.0, gt=0, le=3600)
    stream_timeout: float | None = Field(default=None, gt=0, le=3600)
    # Cool a deployment down after the 2nd 5xx/timeout within a minute. Connection errors never count (LiteLLM skips
    # cooldown for APIConnectionError): a dead backend is cooled down by the failing health check instead.
    allowed_fails: int = Field(default=1, ge=0, le=100)
    # How long a deployment marked dead stays out of routing, i.e. how long traffic stays on the fallback after the
    # primary is back (measured: 19 s with 30 s). 15 s = 1.5 health-check intervals: a dead primary stays excluded
    # even if one check runs late, and a restarted one gets traffic back within ~15 s.
    cooldown_time: float = Field(default=15.0, ge=1, le=3600)
    # Seconds between background health checks (one 1-token call per deployment). Must stay below cooldown_time.
    health_check_interval: int = Field(default=10, ge=5, le=3600)
    routing_strategy: Literal["simple-shuffle", "least-busy", "latency-based-routing", "usage-based-routing-v2"] = (
        "simple-shuffle"
    )
    instance_type: str | None = None
    image: str | None = None
    # Kubernetes targets: gateway pods (at least 2 outside dev, with a PodDisruptionBudget), scaled by CPU up to
    # max_replicas.
    replicas: int | None = Field(default=None, ge=1, le=32)
    max_replicas: int | None = Field(default=None, ge=1, le=64)

    _image = field_validator("image")(lambda value: _pinned_image(value))

    @model_validator(mode="after")
    def _cooldown_exceeds_health_interval(self) -> Gateway:
        # LiteLLM docs (proxy/health_check_routing.md): with health-check routing, cooldown_time must exceed
        # health_check_interval or failures never accumulate.
        if self.cooldown_time <= self.health_check_interval:
            raise ValueError(
                f"cooldown_time ({self.cooldown_time}) must exceed health_check_interval "
                f"({self.health_check_interval}); raise cooldown_time"
            )
        return self


class LocalTarget(_Strict):
    """The local Docker engine: dev on a laptop. `gpus: none` runs engines on the CPU; `auto` gives them the GPUs
    when the machine running Pulumi has an NVIDIA driver (`nvidia-smi` on PATH) and uses the CPU otherwise."""

    kind: Literal["local"]
    docker_host: str = "unix:///var/run/docker.sock"
    gpus: Literal["auto", "none", "all"] = "auto"


class Ssh(_Strict):
    """How Pulumi (the Docker provider and the nodes' readiness check) reaches the nodes: the key is the `sshPrivateKey`
    secret, or the SSH agent when that is not set (docs/aws.md, "SSH")."""

    key_name: str | None = Field(default=None, description="EC2 key pair for the node's authorized_keys")
    user: str = "ubuntu"
    via: Literal["public-ip", "private-ip"] = "private-ip"
    allowed_cidrs: tuple[str, ...] = ()

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_cidrs(value)


class Vpc(_Strict):
    """Use an existing VPC (`id` + `subnet_ids`), or create one (`cidr`)."""

    id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    cidr: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Vpc:
        if (self.id is None) == (self.cidr is None):
            raise ValueError("give either id + subnet_ids (existing VPC) or cidr (create one), not both or neither")
        if self.id is not None and not self.subnet_ids:
            raise ValueError("an existing VPC needs subnet_ids")
        if self.cidr is not None:
            _check_cidrs((self.cidr,))
        return self


_AMI_ID = r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$"


class Amis(_Strict):
    """Pinned AMI ids per node role. A pinned id is part of the plan: changing it replaces the nodes of that role and
    every container on them, and `pulumi preview` shows it. Unpinned, a node resolves the role's SSM parameter once
    when it is created and keeps that AMI (docs/aws.md, "AMI")."""

    gpu: str | None = Field(default=None,
                            description="GPU nodes' AMI (Deep Learning Base OSS Nvidia Driver GPU AMI, Ubuntu 22.04)")
    cpu: str | None = Field(default=None, description="the CPU node's AMI (Ubuntu 24.04)")

    @field_validator("gpu", "cpu")
    @classmethod
    def _ami_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(_AMI_ID, value):
            raise ValueError("give an AMI id like ami-0123456789abcdef0; the current one is the value of the role's "
                             "SSM parameter (`aws ssm get-parameter`, docs/aws.md, 'AMI')")
        return value


class AwsTarget(_Strict):
    kind: Literal["aws"]
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    vpc: Vpc
    ssh: Ssh = Ssh()
    allowed_cidrs: tuple[str, ...] = Field(
        default=(),
        description="private client networks (VPN, peered VPCs) that may reach the gateway port; engine ports are "
        "open only to the gateway's and Prometheus's security groups",
    )
    engine_access_cidrs: tuple[str, ...] = Field(
        default=(),
        description="explicit override: private networks that may reach the engine ports directly, without the "
        "gateway's key; the `engine-ports-security-groups-only` policy refuses them unless its `directAccessCidrs` "
        "config lists them too",
    )
    ami: Amis = Amis()
    root_volume_gb: int | None = Field(default=None, ge=30, le=16384)
    cpu_instance_type: str = "m7i.xlarge"

    @field_validator("allowed_cidrs", "engine_access_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in _check_cidrs(value):
            # Engines have no authentication of their own (Ollama none; vLLM's --api-key leaves /health, /metrics
            # open), and the gateway is reached over these networks: private networks only.
            if not ipaddress.ip_network(cidr).is_private:
                raise ValueError(f"{cidr} is a public network; list private networks (VPN, peered VPCs) and let "
                                 "public clients use the gateway through one")
        return value


class Ingress(_Strict):
    """The gateway behind an Application Load Balancer: TLS with an ACM certificate, open only to `allowed_cidrs`."""

    certificate_arn: str = Field(pattern=r"^arn:aws[\w-]*:acm:[a-z0-9-]+:\d{12}:certificate/[\w-]+$")
    allowed_cidrs: tuple[str, ...] = Field(min_length=1)
    scheme: Literal["internal", "internet-facing"] = "internal"
    host: str | None = Field(default=None, pattern=r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
    ingress_class: str = Field(default="alb", description="the cluster's ALB IngressClass (kubernetes target)")

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_cidrs(value)


class ClusterEndpoint(_Strict):
    """Who reaches the EKS API server: the VPC always; the internet only from `public_cidrs`."""

    public: bool = False
    public_cidrs: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _restricted(self) -> ClusterEndpoint:
        if self.public and not self.public_cidrs:
            raise ValueError("a public API endpoint needs public_cidrs (your office or CI networks); "
                             "or keep public: false and reach it through the VPC")
        _check_cidrs(self.public_cidrs)
        return self


class ModelCache(_Strict):
    """Where engines keep downloaded weights on Kubernetes: a ReadWriteMany volume shared by every replica, filled
    once per model by a staging Job (docs/kubernetes.md, "Model cache")."""

    storage_class: str | None = Field(default=None, description="existing RWX StorageClass (kubernetes target); on "
                                      "eks the stack creates an encrypted EFS file system and its class")
    size_gi: int = Field(default=500, ge=10, le=65536)


class EksTarget(_Strict):
    """A new EKS cluster: Karpenter (default) or EKS Auto Mode gives GPU nodes from the planner's instance types."""

    kind: Literal["eks"]
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    vpc: Vpc
    version: str = Field(default="1.33", pattern=r"^1\.(2[5-9]|3[0-7])$")
    compute: Literal["karpenter", "auto-mode"] = "karpenter"
    # Karpenter's EC2NodeClass AMI, pinned (Karpenter's docs advise against @latest): awslabs/amazon-eks-ami releases.
    node_ami: str = Field(default="al2023@v20250915", pattern=r"^(al2023@v\d{8}|bottlerocket@v\d+\.\d+\.\d+)$")
    endpoint: ClusterEndpoint = Field(default_factory=ClusterEndpoint)
    namespace: str = "llm"
    cpu_instance_types: tuple[str, ...] = Field(default=("m7i.xlarge",), min_length=1)
    cpu_nodes: int = Field(default=2, ge=1, le=20, description="the CPU pool's size (system pods, gateway, embeddings)")
    ingress: Ingress | None = None
    model_cache: ModelCache = Field(default_factory=ModelCache)

    _namespace = field_validator("namespace")(_dns_label)

    @model_validator(mode="after")
    def _ingress_needs_a_controller(self) -> EksTarget:
        if self.ingress is not None and self.compute != "auto-mode":
            raise ValueError("an Ingress needs a load balancer controller: EKS Auto Mode has one built in (compute: "
                             "auto-mode); with Karpenter, install the AWS Load Balancer Controller and use the "
                             "kubernetes target, or reach the gateway through the VPC")
        if self.model_cache.storage_class is not None:
            raise ValueError("model_cache.storage_class is for existing clusters; an eks stack creates its own EFS "
                             "class: remove it")
        return self


class KubernetesTarget(_Strict):
    """An existing cluster, reached with the `kubeconfig` secret. GPU nodes are the cluster's own; with
    `karpenter: true` the stack adds a Karpenter NodePool per backend (Karpenter must run in the cluster)."""

    kind: Literal["kubernetes"]
    namespace: str = "llm"
    version: str = Field(default="1.33", pattern=r"^1\.(2[5-9]|3[0-7])$", description="the cluster's minor version")
    karpenter: bool = False
    node_class: str = Field(default="default", description="Karpenter EC2NodeClass the NodePools use")
    ingress: Ingress | None = None
    model_cache: ModelCache = Field(default_factory=ModelCache)

    _namespace = field_validator("namespace")(_dns_label)


def _check_cidrs(values: tuple[str, ...]) -> tuple[str, ...]:
    for cidr in values:
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError as err:
            raise ValueError(f"{cidr!r} is not a CIDR block ({err}); write e.g. 10.0.0.0/16") from err
        if network.prefixlen == 0:
            raise ValueError(f"{cidr} opens the port to the whole internet; list your client networks instead")
    return values


class StackSpec(_Strict):
    """What one environment asks for."""

    environment: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,19}$")]
    target: LocalTarget | AwsTarget | EksTarget | KubernetesTarget = Field(discriminator="kind")
    backends: tuple[Backend, ...] = Field(min_length=1)
    embeddings: Embeddings | None = Embeddings()
    gateway: Gateway = Gateway()
    monitoring: bool = True
    tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> StackSpec:
        names = [b.name for b in self.backends]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise _FieldError(f"backends[{i}].name", name, "backend names must be unique; rename one")
        routes = {b.route for b in self.backends}
        if self.embeddings and self.embeddings.gateway_model in routes:
            raise _FieldError("embeddings.gateway_model", self.embeddings.gateway_model,
                              "it is also a chat model name; pick another name for the embedding model")
        self._target_settings()
        known = f"known models: {', '.join(sorted(routes))}"
        for primary, targets in self.gateway.fallbacks.items():
            if primary not in routes:
                raise _FieldError("gateway.fallbacks", primary, f"it is not a backend's model name; {known}")
            for i, target in enumerate(targets):
                where = f"gateway.fallbacks.{primary}[{i}]"
                if target == primary:
                    raise _FieldError(where, target, "a model can't fall back to itself; name another model")
                if target not in routes:
                    raise _FieldError(where, target, f"it is not a backend's model name; {known}")
        return self

    def _target_settings(self) -> None:
        """Settings that make sense only on some targets are refused where they don't apply."""
        on_kubernetes = isinstance(self.target, EksTarget | KubernetesTarget)
        for i, b in enumerate(self.backends):
            if on_kubernetes:
                if b.instance_type is not None:
                    raise _FieldError(f"backends[{i}].instance_type", b.instance_type,
                                      "on a kubernetes target the node pool offers the planner's ranked list of "
                                      "instance types; remove instance_type")
                if b.max_nodes > 1 and isinstance(self.target, EksTarget) and self.target.compute == "auto-mode":
                    raise _FieldError(f"backends[{i}].max_nodes", b.max_nodes,
                                      "a replica across nodes needs a cluster placement group and EFA, which EKS Auto "
                                      "Mode's NodeClass can't set; use compute: karpenter")
                if b.autoscaled and engine(b.engine).autoscaling is None:
                    raise _FieldError(f"backends[{i}].max_replicas", b.max_replicas,
                                      f"{b.engine} exports no metrics to scale on; use replicas for a fixed count, or "
                                      "an engine with a Prometheus endpoint (vllm, sglang, llamacpp, tgi)")
                continue
            if b.max_nodes > 1:
                raise _FieldError(f"backends[{i}].max_nodes", b.max_nodes,
                                  "a replica across several nodes runs only on a kubernetes target (target.kind: eks "
                                  "or kubernetes, as a LeaderWorkerSet); on this target each replica has one node")
            for name in ("capacity", "min_replicas", "max_replicas"):
                if getattr(b, name) is not None:
                    raise _FieldError(f"backends[{i}].{name}", getattr(b, name),
                                      f"only kubernetes targets (eks, kubernetes) have {name}; remove it, or use "
                                      "replicas for fixed copies")
        g = self.gateway
        if on_kubernetes and g.instance_type is not None:
            raise _FieldError("gateway.instance_type", g.instance_type,
                              "gateway pods run on the CPU node pool; set target.cpu_instance_types instead")
        if on_kubernetes and self.gateway_max_replicas < self.gateway_replicas:
            raise _FieldError("gateway.max_replicas", g.max_replicas,
                              f"it is below the gateway's {self.gateway_replicas} replicas; raise it to at least "
                              f"{self.gateway_replicas}, or set gateway.replicas lower")
        if not on_kubernetes:
            for name in ("replicas", "max_replicas"):
                if getattr(g, name) is not None:
                    raise _FieldError(f"gateway.{name}", getattr(g, name),
                                      "only kubernetes targets run several gateway replicas; remove it")

    @property
    def is_local(self) -> bool:
        return isinstance(self.target, LocalTarget)

    @property
    def gateway_replicas(self) -> int:
        """Gateway pods on Kubernetes: as set, else one in dev and two (highly available) elsewhere."""
        return self.gateway.replicas or (1 if self.environment == "dev" else 2)

    @property
    def gateway_max_replicas(self) -> int:
        return self.gateway.max_replicas or 2 * self.gateway_replicas

    @property
    def on_kubernetes(self) -> bool:
        return isinstance(self.target, EksTarget | KubernetesTarget)


def resolve_local_gpus(spec: StackSpec, *, has_gpu: bool) -> StackSpec:
    """Turn a local target's `gpus: auto` into `all` or `none` (the face detects the GPU; the plan stays pure)."""
    target = spec.target
    if not isinstance(target, LocalTarget) or target.gpus != "auto":
        return spec
    resolved = target.model_copy(update={"gpus": "all" if has_gpu else "none"})
    return spec.model_copy(update={"target": resolved})


class _FieldError(ValueError):
    """A cross-field problem that knows its own field path and value."""

    def __init__(self, path: str, value: object, fix: str) -> None:
        super().__init__(fix)
        self.path, self.value, self.fix = path, value, fix


def input_error(err: ValidationError, source: str) -> InputError:
    """The first validation problem as field path + value + fix (pydantic's message is the fix)."""
    first = err.errors()[0]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, _FieldError):
        return InputError(f"{source}: {cause.path}", cause.value, cause.fix)
    path = ".".join(str(p) for p in first["loc"] if not str(p).startswith(("function-", "tagged-union")))
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "union_tag_invalid":  # pydantic quotes the whole wrong value here
        message = f"use one of: {first.get('ctx', {}).get('expected_tags', '')}"
    elif len(message) > 300:
        message = message[:297] + "..."
    more = f" ({len(err.errors()) - 1} more problem(s) after this one)" if len(err.errors()) > 1 else ""
    value = first.get("input")
    if first["type"] == "extra_forbidden":
        message = "this key is not part of the stack spec; remove it or check its spelling (see README 'Stacks')"
    if first["type"] == "missing":
        value = None
        message = "this key is required"
    return InputError(f"{source}: {path or '<root>'}", value, message + more)


def parse_spec(config: Mapping[str, Any], source: str = "stack config") -> StackSpec:
    """Validate un-namespaced config values (`backends`, `target`, ...) into a StackSpec."""
    try:
        return StackSpec.model_validate(dict(config))
    except ValidationError as err:
        raise input_error(err, source) from None


SECRET_KEYS = ("masterKey", "hfToken", "ngcApiKey", "sshPrivateKey", "kubeconfig")


def spec_keys() -> tuple[str, ...]:
    """The config keys a stack file may set (besides the secrets)."""
    return tuple(StackSpec.model_fields)


def config_values(raw: Mapping[str, str | None]) -> dict[str, Any]:
    """Config values as the Pulumi CLI passes them (JSON text for objects, lists, numbers and booleans; plain text for
    strings) decoded for `parse_spec`."""
    values: dict[str, Any] = {}
    for key, text in raw.items():
        if text is None:
            continue
        try:
            values[key] = json.loads(text)
        except json.JSONDecodeError:
            values[key] = text
    return values


def stack_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a `Pulumi.<env>.yaml` and return the project's config keys without the namespace (secrets left out)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("--stack-file", str(path), "give the path of an existing Pulumi.<env>.yaml stack file")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise InputError(str(path), "YAML", f"the file is not valid YAML: {_yaml_problem(err)}; fix the syntax there",
                         problem="cannot be read") from None
    raw = document.get("config", {}) if isinstance(document, dict) else None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: config", raw, "a stack file needs a top-level `config:` mapping")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        namespace, _, name = str(key).partition(":")
        if namespace != PROJECT or not name:
            continue
        if name in SECRET_KEYS:
            continue
        if name not in spec_keys():
            raise InputError(f"{path.name}: config.{key}", value,
                             f"not a stack setting; use one of: {', '.join(spec_keys() + SECRET_KEYS)}")
        values[name] = value
    return values


def _yaml_problem(err: yaml.YAMLError) -> str:
    """One line: what went wrong and where (line/column, 1-based), e.g. an unclosed list and where it started."""
    parts = []
    for text, mark in ((getattr(err, "context", None), getattr(err, "context_mark", None)),
                       (getattr(err, "problem", None), getattr(err, "problem_mark", None))):
        if text:
            parts.append(f"{text} at line {mark.line + 1}, column {mark.column + 1}" if mark else str(text))
    return ": ".join(parts) or type(err).__name__


def load_spec(path: str | os.PathLike[str]) -> StackSpec:
    """Read and validate a `Pulumi.<env>.yaml` stack file."""
    return parse_spec(stack_config(path), source=Path(path).name)
