"""The stack plan: a pure function from a validated spec (plus the catalogs) to nodes, containers and routes.

No Pulumi import and no I/O beyond the planner's model lookup: `llmstack preview`, the components and the tests all
consume this one result, so what is deployed is exactly what was planned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmstack import launch
from llmstack.engines import Engine, engine
from llmstack.errors import InputError
from llmstack.gateway import Route
from llmstack.models import serving_source
from llmstack.planner import (
    Plan,
    PlanRequest,
    cold_start_seconds,
    format_family,
    load_model,
    normalize_quant,
    plan,
    weight_bytes,
)
from llmstack.spec import AwsTarget, Backend, Embeddings, LocalTarget, StackSpec

LABEL = "llmstack"  # container label prefix: llmstack.engine, llmstack.model, ...
GPU_ENGINES = ("vllm", "sglang", "tgi", "nim")
# Root volume: the DLAMI's own snapshot plus images (~10-20 GB for vLLM/SGLang) plus twice the weights (download
# plus the engine's converted cache). The 100 GB floor covers the Deep Learning Base AMI's root snapshot
# (docs.aws.amazon.com/dlami: "Deep Learning Base OSS Nvidia Driver GPU AMI" needs >= 75 GB).
_ROOT_FLOOR_GB = 100
_CPU_START_PERIOD_S = 120


@dataclass(frozen=True)
class Node:
    name: str
    role: str  # "gpu" | "cpu" | "local"
    instance_type: str | None
    gpu: str | None = None
    gpus: int = 0
    hourly_usd: float | None = None
    root_volume_gb: int = _ROOT_FLOOR_GB


@dataclass(frozen=True)
class Service:
    """One container on one node."""

    name: str
    role: str  # inference | embedding | gateway
    engine: Engine
    node: Node
    launch: launch.Launch
    served_name: str
    route: str | None = None
    sizing: Plan | None = None
    backend: Backend | None = None  # the spec entry this service serves (None for embeddings)


@dataclass(frozen=True)
class StackPlan:
    spec: StackSpec
    nodes: tuple[Node, ...]
    backends: tuple[Service, ...]
    embeddings: Service | None
    gateway_node: Node

    def routes(self, base_urls: dict[str, str]) -> list[Route]:
        """Gateway routes, given each service's base URL (known only at deploy time on AWS)."""
        routes = [Route(s.route or s.name, s.engine.name, s.served_name, base_urls[s.name]) for s in self.backends]
        if self.embeddings is not None:
            e = self.embeddings
            routes.append(Route(e.route or e.name, e.engine.name, e.served_name, base_urls[e.name], embedding=True))
        return routes


def _labels(environment: str, role: str, **values: object) -> dict[str, str]:
    labels = {f"{LABEL}.role": role, f"{LABEL}.environment": environment}
    labels |= {f"{LABEL}.{k.replace('_', '-')}": str(v) for k, v in values.items() if v is not None}
    return labels


def _check_format(b: Backend, where: str, quant: str) -> None:
    eng = engine(b.engine)
    family = format_family(quant)
    if family == "gguf" and b.engine in ("vllm", "sglang", "tgi") and not b.allow_gguf_on_vllm:
        raise InputError(
            f"{where}.quant", b.quant,
            f"{b.engine}'s stock image does not serve GGUF (vLLM dropped it in v0.24.0, PR #39612). Serve GGUF with "
            "engine: llamacpp or ollama, or use an AWQ/GPTQ/FP8 checkpoint on vLLM.",
        )
    if b.allow_gguf_on_vllm and (b.image is None or "--tokenizer" not in b.extra_args):
        raise InputError(
            f"{where}.allow_gguf_on_vllm", True,
            "GGUF on vLLM needs a custom image with vllm-gguf-plugin pinned (image:) and --tokenizer <base repo> in "
            "extra_args",
        )
    if family != "gguf" and not eng.serves(family):
        raise InputError(f"{where}.quant", b.quant, f"{b.engine} serves {', '.join(eng.formats)}; pick one of those")


def _sizing(b: Backend, where: str) -> Plan:
    request = PlanRequest(
        model=b.model, quant=b.quant, context=b.context, concurrency=b.concurrency, engine=b.engine,
        kv_dtype=b.kv_dtype, tensor_parallel=b.tensor_parallel, instance_type=b.instance_type,
    )
    try:
        result = plan(request)
    except InputError as err:
        raise InputError(f"{where}.{err.field}", err.value, err.fix) from None
    if not result.fits:
        hint = " ".join(result.suggestions) or "Pick a smaller format or a shorter context."
        pinned = f"on {b.instance_type}" if b.instance_type else "on any catalog instance"
        raise InputError(
            where, f"{b.model} {result.quant} context={b.context} x{b.concurrency}",
            f"{result.memory.reason.rstrip('.')}. Try: {hint}", problem=f"does not fit {pinned}",
        )
    return result


def backend_services(
    b: Backend, *, environment: str, gpu: bool, size: bool, where: str = "backend", root_volume_gb: int | None = None
) -> list[Service]:
    """The containers of one backend. `size`: pick (or check the pinned) instance with the planner; without it the
    host is given (local Docker, an existing machine) and only the format and launch are planned."""
    if not gpu and b.engine in GPU_ENGINES:
        raise InputError(
            f"{where}.engine", b.engine,
            "this engine needs an NVIDIA GPU; on a laptop without one use engine: ollama or llamacpp, "
            "or set target.gpus: all",
        )
    sizing = _sizing(b, where) if size else None
    model = load_model(b.model)
    quant = sizing.quant if sizing else normalize_quant(b.quant if b.quant != "auto" else _local_quant(b))
    _check_format(b, where, quant)
    eng = engine(b.engine)
    tp = sizing.tensor_parallel if sizing else (b.tensor_parallel or 1)
    util = b.gpu_memory_utilization or eng.gpu_memory_utilization
    kv_dtype = sizing.kv_dtype if sizing else b.kv_dtype
    weights = sizing.weights_bytes if sizing else weight_bytes(model, quant)
    source = b.source or serving_source(b.model, b.engine, quant)
    serving = launch.ModelServing(
        source=source,
        # Ollama serves a model under its library tag; the other engines take a served name.
        served_name=source if b.engine == "ollama" else b.served_model_name or b.route,
        quant=quant, context=b.context, concurrency=b.concurrency, tensor_parallel=tp,
        gpu_memory_utilization=util if eng.memory_model == "preallocate" else None,
        kv_dtype="auto" if kv_dtype == "auto" else kv_dtype, extra_args=b.extra_args,
    )
    entrypoint, command = launch.engine_command(eng, serving, gpu=gpu)
    services = []
    for replica in range(b.replicas):
        name = b.name if b.replicas == 1 else f"{b.name}-{replica}"
        if sizing is None or sizing.instance is None:
            node = Node("local", "local", None)
        else:
            root = _ROOT_FLOOR_GB + math.ceil(2 * weights / 1e9)
            node = Node(f"gpu-{name}", "gpu", sizing.instance.type, sizing.instance.gpu, sizing.instance.gpus,
                        sizing.instance.hourly_usd, root_volume_gb or root)
        labels = _labels(
            environment, "inference", backend=name, engine=b.engine, model=b.model, format=quant, context=b.context,
            concurrency=b.concurrency, tensor_parallel=tp, kv_dtype=serving.kv_dtype, node=node.name,
            instance_type=node.instance_type, gpu=node.gpu, gpus=node.gpus if node.gpus else None,
            route=b.route, weights_bytes=weights, allow_gguf_on_vllm=True if b.allow_gguf_on_vllm else None,
        )
        image = b.image or eng.image_ref(gpu=gpu)
        services.append(Service(
            name=name, role="inference", engine=eng, node=node, served_name=serving.served_name, route=b.route,
            sizing=sizing, backend=b,
            launch=launch.Launch(
                image=image, entrypoint=entrypoint, command=command, env=launch.engine_env(eng, serving),
                secret_env=launch.secret_env(eng), port=eng.port, health=launch.health_test(eng, serving),
                start_period_s=cold_start_seconds(weights, tp), cache_dir=eng.cache_dir,
                shm_size_mb=launch.shm_size_mb(eng), gpus=gpu, labels=labels,
            ),
        ))
    return services


def _local_quant(b: Backend) -> str:
    """Laptop default when quant is auto: the design's dev format (Q4_K_M) for GGUF engines."""
    return "Q4_K_M" if b.engine in ("ollama", "llamacpp") else "bf16"


def embedding_service(e: Embeddings, *, environment: str, node: Node) -> Service:
    """The embedding container: CPU only, so it never competes with generation for an inference GPU."""
    eng = engine(e.engine)
    source = serving_source(e.model, e.engine, "bf16")
    serving = launch.ModelServing(source=source, served_name=source, quant="bf16", context=512, concurrency=1,
                                  tensor_parallel=1, gpu_memory_utilization=None, kv_dtype="auto")
    if e.engine == "tei":
        command: tuple[str, ...] = ("--model-id", source, "--port", str(eng.port))
        entrypoint = None
    else:
        entrypoint, command = launch.engine_command(eng, serving, gpu=False)
    image = e.image or eng.image_ref(gpu=False)
    labels = _labels(environment, "embedding", engine=e.engine, model=e.model, node=node.name,
                     route=e.gateway_model, instance_type=node.instance_type)
    return Service(
        name="embeddings", role="embedding", engine=eng, node=node, served_name=serving.served_name,
        route=e.gateway_model,
        launch=launch.Launch(
            image=image, entrypoint=entrypoint, command=command, env=launch.engine_env(eng, serving),
            secret_env=launch.secret_env(eng), port=eng.port, health=launch.health_test(eng, serving),
            start_period_s=_CPU_START_PERIOD_S, cache_dir=eng.cache_dir, shm_size_mb=None, gpus=False,
            labels=labels,
        ),
    )


def plan_stack(spec: StackSpec) -> StackPlan:
    """Size every backend, place every container, and check what can be known before deploying."""
    target = spec.target
    if isinstance(target, LocalTarget) and target.gpus == "auto":
        raise InputError("target.gpus", "auto", "resolve it first with llmstack.spec.resolve_local_gpus")
    gpu = isinstance(target, AwsTarget) or target.gpus == "all"
    root = target.root_volume_gb if isinstance(target, AwsTarget) else None
    backends = [
        s
        for i, b in enumerate(spec.backends)
        for s in backend_services(b, environment=spec.environment, gpu=gpu, size=not spec.is_local,
                                  where=f"backends[{i}]", root_volume_gb=root)
    ]
    if spec.is_local:
        cpu = Node("local", "local", None)
    else:
        assert isinstance(target, AwsTarget)
        cpu = Node("cpu-gateway", "cpu", spec.gateway.instance_type or target.cpu_instance_type, root_volume_gb=60)
    nodes = [cpu] + [s.node for s in backends if s.node.role == "gpu"]
    return StackPlan(spec=spec, nodes=tuple(nodes), backends=tuple(backends),
                     embeddings=embedding_service(spec.embeddings, environment=spec.environment, node=cpu)
                     if spec.embeddings else None,
                     gateway_node=cpu)
