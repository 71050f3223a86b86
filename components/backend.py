"""`InferenceBackend` and `EmbeddingService`: one engine container each, launched from the engine table."""

from collections.abc import Mapping
from typing import NotRequired, Self, TypedDict, TypeVar, cast

import pulumi
from pydantic import BaseModel, ValidationError

from components.container import Placement, docker_provider, engine_container
from llmstack.labels import component_type
from llmstack.spec import Backend, Embeddings, input_error
from llmstack.stackplan import Node, Service, backend_services, embedding_service

_Spec = TypeVar("_Spec", bound=BaseModel)
# The InferenceBackendArgs fields that are Backend (spec) fields.
_BACKEND_FIELDS = ("engine", "model", "context", "quant", "concurrency", "kv_dtype", "tensor_parallel",
                   "gpu_memory_utilization", "instance_type", "gateway_model", "served_model_name", "source", "image",
                   "extra_args", "allow_gguf_on_vllm")


class ServiceArgs(TypedDict):
    """The fields `_placement` reads. The public Args types below declare them again instead of inheriting them: the
    component schema analyzer (pulumi.provider.experimental) takes attribute docstrings only from the class it
    analyses, so inherited fields would lose their descriptions (tests/package checks the two stay identical)."""

    docker_host: pulumi.Input[str]
    network_name: pulumi.Input[str]
    publish: NotRequired[str]
    host_port: NotRequired[int]
    environment: NotRequired[str]
    hf_token: NotRequired[pulumi.Input[str]]


class InferenceBackendArgs(TypedDict):
    docker_host: pulumi.Input[str]
    """Docker endpoint of the host: unix:///var/run/docker.sock, or ssh://user@host (a GpuNode's docker_host)."""
    network_name: pulumi.Input[str]
    """Docker network to join (a Network's network_name)."""
    publish: NotRequired[str]
    """Publish the port on `loopback` (local Docker), `host` (an EC2 node behind its security group) or `none`."""
    host_port: NotRequired[int]
    """Host port to publish on (default: the engine's port)."""
    environment: NotRequired[str]
    """Environment name, for labels."""
    hf_token: NotRequired[pulumi.Input[str]]
    """Hugging Face token for gated models (a secret)."""
    engine: str
    """ollama, vllm, sglang, llamacpp, tgi (legacy) or nim."""
    model: str
    """Catalog model name (llama-3.1-8b) or Hugging Face repo id."""
    context: int
    """Max tokens per sequence."""
    quant: NotRequired[str]
    """Weight format: bf16, fp8, awq, gptq, Q4_K_M, ... (auto)."""
    concurrency: NotRequired[int]
    """Concurrent sequences at full context."""
    kv_dtype: NotRequired[str]
    """KV-cache dtype: auto, bf16, fp8, q8_0, q4_0."""
    tensor_parallel: NotRequired[int]
    """GPUs per replica."""
    gpu_memory_utilization: NotRequired[float]
    """Fraction of GPU memory a preallocating engine reserves."""
    instance_type: NotRequired[str]
    """EC2 type of the host; when set, the planner checks the model fits its GPUs."""
    gpus: NotRequired[bool]
    """Request the host's GPUs (default true)."""
    gateway_model: NotRequired[str]
    """Model name clients use at the gateway (label; default: the component name)."""
    served_model_name: NotRequired[str]
    """Name the engine serves the model under."""
    source: NotRequired[str]
    """Checkpoint the engine loads, overriding the catalog."""
    image: NotRequired[str]
    """Image override; must be pinned by tag or digest."""
    extra_args: NotRequired[list[str]]
    """Extra engine arguments."""
    allow_gguf_on_vllm: NotRequired[bool]
    """Explicit override to serve GGUF on vLLM: needs a custom image with vllm-gguf-plugin and --tokenizer."""
    ngc_api_key: NotRequired[pulumi.Input[str]]
    """NGC key for NIM (a secret)."""


class EmbeddingServiceArgs(TypedDict):
    docker_host: pulumi.Input[str]
    """Docker endpoint of the host: unix:///var/run/docker.sock, or ssh://user@host (a GpuNode's docker_host)."""
    network_name: pulumi.Input[str]
    """Docker network to join (a Network's network_name)."""
    publish: NotRequired[str]
    """Publish the port on `loopback` (local Docker), `host` (an EC2 node behind its security group) or `none`."""
    host_port: NotRequired[int]
    """Host port to publish on (default: the engine's port)."""
    node: NotRequired[str]
    """Name of the node it runs on (label, for policies)."""
    instance_type: NotRequired[str]
    """EC2 type of that node (label)."""
    environment: NotRequired[str]
    """Environment name, for labels."""
    hf_token: NotRequired[pulumi.Input[str]]
    """Hugging Face token for gated models (a secret)."""
    engine: NotRequired[str]
    """tei (text-embeddings-inference, default) or ollama."""
    model: NotRequired[str]
    """Embedding model: bge-small-en-v1.5 (default), nomic-embed-text, all-minilm-l6-v2."""
    image: NotRequired[str]
    """Image override; must be pinned."""


class _ServiceComponent(pulumi.ComponentResource):
    """One planned service on one Docker host. The public constructors parse their args and plan; `planned` takes a
    service the stack plan already made (InferenceStack), so nothing is planned twice."""

    TYPE = ""
    # Declared again, with descriptions, on each public subclass (the schema analyzer reads docstrings per class).
    container_name: pulumi.Output[str]
    url: pulumi.Output[str]
    port: pulumi.Output[int]
    engine: pulumi.Output[str]
    served_model_name: pulumi.Output[str]

    @classmethod
    def planned(cls, name: str, service: Service, placement: Placement, secrets: Mapping[str, pulumi.Input[str]],
                opts: pulumi.ResourceOptions | None = None) -> Self:
        """The component for a service of the stack plan, on `placement`, with the config secrets it reads."""
        component = cls.__new__(cls)
        pulumi.ComponentResource.__init__(component, cls.TYPE, name, {}, opts)
        component._build(name, service, placement, secrets)
        return component

    def _build(self, name: str, service: Service, placement: Placement,
               secrets: Mapping[str, pulumi.Input[str]]) -> None:
        if service.engine.legacy:
            pulumi.log.warn(f"{name}: {service.engine.name} is in maintenance mode upstream; prefer vllm or sglang",
                            resource=self)
        provider = docker_provider(f"{name}-docker", placement.docker_host, self)
        # Wrapped as secrets even when a caller passes plain strings: they must never land in state in clear.
        wanted = {key: pulumi.Output.secret(value) for key, value in secrets.items()
                  if key in service.launch.secret_env.values()}
        container = engine_container(
            f"{name}-container", service.container_name, service.launch, placement, parent=self, provider=provider,
            alias=name, secrets=wanted,
        )
        self.container_name = container.name
        self.url = pulumi.Output.from_input(f"http://{name}:{service.launch.port}")
        self.port = pulumi.Output.from_input(service.launch.port)
        self.engine = pulumi.Output.from_input(service.engine.name)
        self.served_model_name = pulumi.Output.from_input(service.served_name)
        self.register_outputs({"container_name": self.container_name, "url": self.url, "port": self.port,
                               "engine": self.engine, "served_model_name": self.served_model_name})


def _parse(model: type[_Spec], name: str, values: Mapping[str, object]) -> _Spec:
    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as err:
        raise input_error(err, name) from None


def _placement(args: ServiceArgs) -> Placement:
    return Placement(args["docker_host"], args["network_name"], args.get("publish", "loopback"),
                     args.get("host_port"))


def _secrets(args: Mapping[str, object]) -> dict[str, pulumi.Input[str]]:
    """The config secrets a caller passed, keyed as the engine table's `secrets` name them."""
    return {key: cast(pulumi.Input[str], args[arg])
            for arg, key in (("hf_token", "hfToken"), ("ngc_api_key", "ngcApiKey")) if arg in args}


class InferenceBackend(_ServiceComponent):
    """One engine container serving one model, with a health check that works in that engine's image."""

    TYPE = component_type("InferenceBackend")
    container_name: pulumi.Output[str]
    """Docker container name."""
    url: pulumi.Output[str]
    """Base URL on the Docker network (http://<alias>:<port>)."""
    port: pulumi.Output[int]
    """Port the engine listens on."""
    engine: pulumi.Output[str]
    """Engine name."""
    served_model_name: pulumi.Output[str]
    """Model name the engine serves."""

    def __init__(self, name: str, args: InferenceBackendArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        backend = _parse(Backend, name, {"name": name, **{k: args.get(k) for k in _BACKEND_FIELDS}})
        (service,) = backend_services(
            backend, environment=args.get("environment", "default"), gpu=args.get("gpus", True),
            size=backend.instance_type is not None, where=name,
        )
        self._build(name, service, _placement(args), _secrets(args))


class EmbeddingService(_ServiceComponent):
    """The embedding model in its own CPU container, so it never shares an inference GPU."""

    TYPE = component_type("EmbeddingService")
    container_name: pulumi.Output[str]
    """Docker container name."""
    url: pulumi.Output[str]
    """Base URL on the Docker network (http://<alias>:<port>)."""
    port: pulumi.Output[int]
    """Port the engine listens on."""
    engine: pulumi.Output[str]
    """Engine name."""
    served_model_name: pulumi.Output[str]
    """Model name the engine serves."""

    def __init__(self, name: str, args: EmbeddingServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        spec = _parse(Embeddings, name, {k: args.get(k) for k in ("engine", "model", "image")})
        node = Node(args.get("node", name), "host", args.get("instance_type"))
        service = embedding_service(spec, environment=args.get("environment", "default"), node=node, name=name)
        self._build(name, service, _placement(args), _secrets(args))
