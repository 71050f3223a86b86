"""`InferenceBackend` and `EmbeddingService`: one engine container each, launched from the engine table."""

from typing import NotRequired, TypedDict

import pulumi
from pydantic import ValidationError

from components.container import docker_provider, engine_container, publish_ip
from llmstack.deployment import Node, Service, backend_services, embedding_service
from llmstack.spec import Backend, Embeddings, input_error


class ServiceArgs(TypedDict):
    """The fields `_run` reads. The public Args types below declare them again instead of inheriting them: the
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
    # Declared again, with descriptions, on each public subclass (the schema analyzer reads docstrings per class).
    container_name: pulumi.Output[str]
    url: pulumi.Output[str]
    port: pulumi.Output[int]
    engine: pulumi.Output[str]
    served_model_name: pulumi.Output[str]

    def _run(self, name: str, service: Service, args: ServiceArgs, secrets: dict[str, pulumi.Input[str]]) -> None:
        ip = publish_ip(name, args.get("publish", "loopback"))
        provider = docker_provider(f"{name}-docker", args["docker_host"], self)
        container = engine_container(
            f"{name}-container", f"llm-{name}", service.launch, parent=self, provider=provider,
            network=args["network_name"], alias=name, bind_ip=ip, secrets=secrets,
            host_port=args.get("host_port"),
        )
        self.container_name = container.name
        self.url = pulumi.Output.from_input(f"http://{name}:{service.launch.port}")
        self.port = pulumi.Output.from_input(service.launch.port)
        self.engine = pulumi.Output.from_input(service.engine.name)
        self.served_model_name = pulumi.Output.from_input(service.served_name)
        self.register_outputs({"container_name": self.container_name, "url": self.url, "port": self.port,
                               "engine": self.engine, "served_model_name": self.served_model_name})


def _spec(model: type[Backend] | type[Embeddings], name: str, values: dict[str, object]) -> Backend | Embeddings:
    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as err:
        raise input_error(err, name) from None


class InferenceBackend(_ServiceComponent):
    """One engine container serving one model, with a health check that works in that engine's image."""

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
        super().__init__("llmstack:index:InferenceBackend", name, {}, opts)
        keys = ("engine", "model", "context", "quant", "concurrency", "kv_dtype", "tensor_parallel",
                "gpu_memory_utilization", "instance_type", "gateway_model", "served_model_name", "source", "image",
                "extra_args", "allow_gguf_on_vllm")
        backend = _spec(Backend, name, {"name": name, **{k: args.get(k) for k in keys}})
        assert isinstance(backend, Backend)
        if backend.engine == "tgi":
            pulumi.log.warn(f"{name}: TGI is in maintenance mode upstream; prefer vllm or sglang", resource=self)
        (service,) = backend_services(
            backend, environment=args.get("environment", "default"), gpu=args.get("gpus", True),
            size=backend.instance_type is not None, where=name,
        )
        # Wrapped as secrets even when a caller passes plain strings: they must never land in state in clear.
        secrets: dict[str, pulumi.Input[str]] = {}
        if "hf_token" in args:
            secrets["hfToken"] = pulumi.Output.secret(args["hf_token"])
        if "ngc_api_key" in args:
            secrets["ngcApiKey"] = pulumi.Output.secret(args["ngc_api_key"])
        self._run(name, service, args, secrets)


class EmbeddingService(_ServiceComponent):
    """The embedding model in its own CPU container, so it never shares an inference GPU."""

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
        super().__init__("llmstack:index:EmbeddingService", name, {}, opts)
        spec = _spec(Embeddings, name, {k: args.get(k) for k in ("engine", "model", "image")})
        assert isinstance(spec, Embeddings)
        node = Node(args.get("node", name), "host", args.get("instance_type"))
        service = embedding_service(spec, environment=args.get("environment", "default"), node=node)
        secrets: dict[str, pulumi.Input[str]] = {}
        if "hf_token" in args:
            secrets["hfToken"] = pulumi.Output.secret(args["hf_token"])
        self._run(name, service, args, secrets)
