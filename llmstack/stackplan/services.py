"""Planned services: each backend replica and the embedding server as one container on one node.

Pure: no Pulumi import and no I/O beyond the planner's model lookup. The VRAM planner sizes a backend once; the
launch recipe, the labels and the node all come from that one result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmstack import labels
from llmstack.engines import Engine, engine
from llmstack.errors import InputError
from llmstack.labels import Role
from llmstack.planner import Plan, PlanRequest, cold_start_seconds, format_family, load_model, plan, weight_bytes
from llmstack.planner.quant import normalize_quant
from llmstack.planner.units import fmt_gib
from llmstack.spec import Backend, Embeddings
from llmstack.stackplan.checkpoints import serving_source
from llmstack.stackplan.launch import Launch, ModelServing, engine_command, health_test

# Root volume: the DLAMI's own snapshot plus images (~10-20 GB for vLLM/SGLang) plus twice the weights (download
# plus the engine's converted cache). The 100 GB floor covers the Deep Learning Base AMI's root snapshot
# (docs.aws.amazon.com/dlami: "Deep Learning Base OSS Nvidia Driver GPU AMI" needs >= 75 GB).
ROOT_FLOOR_GB = 100
# An embedding model on the CPU: TEI loads bge-small in seconds; 2 minutes covers the download on a slow link.
CPU_START_PERIOD_S = 120
# Laptop default when quant is auto and nothing sizes the backend: the dev format for GGUF engines.
LOCAL_GGUF_QUANT = "Q4_K_M"


@dataclass(frozen=True)
class Node:
    name: str
    role: str  # "gpu" | "cpu" | "local"
    instance_type: str | None
    gpu: str | None = None
    gpus: int = 0
    hourly_usd: float | None = None
    root_volume_gb: int = ROOT_FLOOR_GB
    ami: str | None = None  # pinned AMI (target.ami); None: the node resolves its SSM parameter once (docs/aws.md)


LOCAL = Node("local", "local", None)


@dataclass(frozen=True)
class Service:
    """One container on one node, exactly as it will run."""

    name: str
    role: Role
    engine: Engine
    node: Node
    launch: Launch
    served_name: str
    route: str
    sizing: Plan | None = None  # the planner's answer (None where the host is given, not sized)
    backend: Backend | None = None  # the spec entry this service serves (None for embeddings)
    replicas: int = 1  # copies behind this one service (a Kubernetes Deployment's replicas; 1 on Docker hosts)
    source: str = ""  # what the engine loads: a Hub repo id, `repo:QUANT` (GGUF) or an Ollama tag

    @property
    def container_name(self) -> str:
        return f"llm-{self.name}"


def _check_format(b: Backend, where: str, quant: str) -> None:
    eng = engine(b.engine)
    family = format_family(quant)
    if family == "gguf" and not eng.serves("gguf") and not b.allow_gguf_on_vllm:
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


# Planner request fields -> the backend's own field names, so an error names what the stack file says.
_REQUEST_FIELDS = {"instance_type": "instance_type", "tensor_parallel": "tensor_parallel", "model": "model",
                   "quant": "quant", "context": "context", "concurrency": "concurrency", "kv_dtype": "kv_dtype",
                   "engine": "engine"}


def size_backend(b: Backend, where: str) -> Plan:
    """The planner's answer for one backend; an error names the backend field at fault and what would fit."""
    request = PlanRequest(
        model=b.model, quant=b.quant, context=b.context, concurrency=b.concurrency, engine=b.engine,
        kv_dtype=b.kv_dtype, tensor_parallel=b.tensor_parallel, instance_type=b.instance_type, max_nodes=b.max_nodes,
    )
    try:
        result = plan(request)
    except InputError as err:
        field = _REQUEST_FIELDS.get(err.field, err.field)
        raise InputError(f"{where}.{field}", err.value, err.fix) from None
    if result.fits:
        return result
    est = result.memory
    needs = (f"needs {fmt_gib(est.total_bytes)} per GPU of {fmt_gib(est.usable_bytes)} usable "
             f"({b.model} {result.quant}, context {b.context} x {b.concurrency}, TP={result.tensor_parallel})")
    if b.instance_type:
        try:
            cheapest = plan(request.model_copy(update={"instance_type": None}))
            fits = (f"{cheapest.instance.type} (${cheapest.instance.hourly_usd}/h, TP={cheapest.tensor_parallel}) "
                    "fits it" if cheapest.fits and cheapest.instance else " ".join(cheapest.suggestions))
        except InputError as err:
            fits = err.fix
        raise InputError(f"{where}.instance_type", b.instance_type,
                         f"{est.reason.rstrip('.')}. Remove instance_type to let the planner pick, or lower "
                         f"context/concurrency; {fits}", problem=f"is too small: it {needs}")
    hint = " ".join(result.suggestions) or "Pick a smaller format or a shorter context."
    raise InputError(f"{where}.model", b.model, f"{est.reason.rstrip('.')}. Try: {hint}",
                     problem=f"does not fit any catalog instance: it {needs}")


def backend_services(
    b: Backend, *, environment: str, gpu: bool, size: bool, where: str = "backend", root_volume_gb: int | None = None,
    per_replica: bool = True,
) -> list[Service]:
    """The containers of one backend: one per replica on Docker hosts (`per_replica`), or one service whose replicas a
    workload controller runs (Kubernetes). `size`: pick (or check the pinned) instance with the planner; without it
    the host is given (local Docker, an existing machine) and only the format and launch are planned."""
    eng = engine(b.engine)
    if not gpu and eng.needs_gpu:
        raise InputError(
            f"{where}.engine", b.engine,
            "this engine needs an NVIDIA GPU; on a laptop without one use engine: ollama or llamacpp, "
            "or set target.gpus: all",
        )
    sizing = size_backend(b, where) if size else None
    if sizing is not None:
        quant, tp, kv_dtype, weights = sizing.quant, sizing.tensor_parallel, sizing.kv_dtype, sizing.weights_bytes
    else:
        quant = normalize_quant(b.quant if b.quant != "auto" else
                                (LOCAL_GGUF_QUANT if eng.serves("gguf") else "bf16"))
        tp, kv_dtype, weights = b.tensor_parallel or 1, b.kv_dtype, weight_bytes(load_model(b.model), quant)
    _check_format(b, where, quant)
    source = b.source or serving_source(b.model, eng, quant, where=where)
    serving = ModelServing(
        source=source,
        # Ollama serves a model under its library tag; the other engines take a served name.
        served_name=source if eng.model_source == "ollama-tag" else b.served_model_name or b.route,
        quant=quant, context=b.context, concurrency=b.concurrency, tensor_parallel=tp,
        gpu_memory_utilization=(b.gpu_memory_utilization or eng.gpu_memory_utilization)
        if eng.memory_model == "preallocate" else None,
        kv_dtype=kv_dtype, extra_args=b.extra_args, pipeline_parallel=sizing.pipeline_parallel if sizing else 1,
    )
    try:
        process = engine_command(eng, serving, gpu=gpu)
    except InputError as err:  # a setting the recipe cannot render (a KV cache type the engine lacks)
        raise InputError(f"{where}.{err.field}", err.value, err.fix) from None
    services = []
    copies = b.replicas if per_replica else 1
    for replica in range(copies):
        name = b.name if copies == 1 else f"{b.name}-{replica}"
        if sizing is None or sizing.instance is None:
            node = LOCAL
        else:
            root = root_volume_gb or ROOT_FLOOR_GB + math.ceil(2 * weights / 1e9)
            node = Node(f"gpu-{name}", "gpu", sizing.instance.type, sizing.instance.gpu, sizing.instance.gpus,
                        sizing.instance.hourly_usd, root)
        services.append(Service(
            name=name, role=Role.INFERENCE, engine=eng, node=node, served_name=serving.served_name, route=b.route,
            sizing=sizing, backend=b, replicas=1 if per_replica else b.replicas, source=source,
            launch=Launch(
                image=b.image or eng.image_ref(gpu=gpu), entrypoint=process.entrypoint, command=process.args,
                env=process.env, secret_env=dict(eng.secrets), port=eng.port, health=health_test(eng, serving),
                start_period_s=sizing.startup_seconds if sizing else cold_start_seconds(weights, tp),
                cache_dir=eng.cache_dir, shm_size_mb=eng.shm_mb,
                gpus=gpu,
                labels=labels.make(
                    Role.INFERENCE, environment, backend=name, engine=b.engine, model=b.model, format=quant,
                    context=b.context, concurrency=b.concurrency, tensor_parallel=tp, kv_dtype=kv_dtype,
                    pipeline_parallel=serving.pipeline_parallel if serving.pipeline_parallel > 1 else None,
                    node=node.name, instance_type=node.instance_type, gpu=node.gpu, gpus=node.gpus or None,
                    route=b.route, weights_bytes=weights, allow_gguf_on_vllm=True if b.allow_gguf_on_vllm else None,
                ),
            ),
        ))
    return services


def embedding_service(e: Embeddings, *, environment: str, node: Node, name: str = "embeddings") -> Service:
    """The embedding container: CPU only, so it never competes with generation for an inference GPU."""
    eng = engine(e.engine)
    source = serving_source(e.model, eng, "bf16", where="embeddings")
    # The model's own maximum: Ollama truncates every input to its context (OLLAMA_CONTEXT_LENGTH); TEI reads it
    # from the model's config itself.
    context = load_model(e.model).max_position_embeddings
    serving = ModelServing(source=source, served_name=source, quant="bf16", context=context, concurrency=1,
                           tensor_parallel=1, gpu_memory_utilization=None, kv_dtype="auto")
    process = engine_command(eng, serving, gpu=False)
    return Service(
        name=name, role=Role.EMBEDDING, engine=eng, node=node, served_name=serving.served_name,
        route=e.gateway_model, source=source,
        launch=Launch(
            image=e.image or eng.image_ref(gpu=False), entrypoint=process.entrypoint, command=process.args,
            env=process.env, secret_env=dict(eng.secrets), port=eng.port, health=health_test(eng, serving),
            start_period_s=CPU_START_PERIOD_S, cache_dir=eng.cache_dir, shm_size_mb=None, gpus=False,
            labels=labels.make(Role.EMBEDDING, environment, engine=e.engine, model=e.model, node=node.name,
                               route=e.gateway_model, instance_type=node.instance_type),
        ),
    )
