"""Compute policies: the model fits the GPUs it is placed on (the planner's numbers), embeddings stay off them.

Facts: docs/sizing.md §5-7 through `llmstack.planner` (weights + KV for context x concurrency + activations + CUDA
context against the usable memory of each GPU).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from llmstack.catalog import cpu_instances, gpu_by_name
from llmstack.errors import LlmstackError
from llmstack.labels import Key, Role
from llmstack.planner import ModelArch, PlanRequest, estimate_memory, load_model, plan
from llmstack.planner.pipeline import stage_estimates
from llmstack.planner.units import fmt_gib
from policies import props as p
from policies.props import ContainerView
from policies.registry import Report, container_policy, stack_policy

_REQUIRED = (Key.MODEL, Key.FORMAT, Key.ENGINE, Key.CONTEXT)


def _fit_hint(model: str, fmt: str, engine: str, context: int, concurrency: int, kv_dtype: str) -> str:
    try:
        cheapest = plan(PlanRequest(model=model, quant=fmt, engine=engine, context=context, concurrency=concurrency,
                                    kv_dtype=kv_dtype))
    except LlmstackError as err:
        return f"the planner found no catalog instance for it ({err})"
    if cheapest.fits and cheapest.instance is not None:
        return (f"the cheapest instance that fits is {cheapest.instance.type} ({cheapest.instance.gpus} x "
                f"{cheapest.instance.gpu}, ${cheapest.instance.hourly_usd}/h) at TP={cheapest.tensor_parallel}")
    return "; ".join(cheapest.suggestions) or "no catalog instance fits it"


@container_policy(
    "model-fits-gpu",
    description="An inference container's model (weights + KV cache for context x concurrency + activations + "
    "CUDA context, from the planner) fits the usable memory of its instance's GPUs (labels model, format, engine, "
    "context, concurrency, instance-type, tensor-parallel, kv-dtype); on Kubernetes, of every instance type its "
    "node affinity allows (the node pool's list); a replica across nodes (pipeline-parallel), on its worst stage.",
)
def model_fits_gpu(c: ContainerView, args: ResourceValidationArgs, report: Report) -> None:
    if p.role(c.props) is not Role.INFERENCE:
        return
    label = p.label(c.props, Key.INSTANCE_TYPE)
    instance_types = c.instance_types or ((label,) if label else ())
    if not instance_types:
        args.not_applicable(f"container '{c.name}' has no {Key.INSTANCE_TYPE.label} label or instance-type "
                            "affinity (a local host or a machine the planner does not know)")
        return
    values = {k: p.label(c.props, k) for k in _REQUIRED}
    missing = [k.label for k, v in values.items() if not v]
    if missing:
        args.not_applicable(f"container '{c.name}' lacks {', '.join(missing)}")
        return
    try:
        arch = load_model(str(values[Key.MODEL]))
    except LlmstackError as err:
        args.not_applicable(f"model {values[Key.MODEL]} could not be loaded for sizing: {err}")
        return
    for instance_type in instance_types:
        _check_fit(c, arch, values, instance_type, report)


def _check_fit(c: ContainerView, arch: ModelArch, values: dict[Key, str | None], instance_type: str,
               report: Report) -> None:
    model, fmt, engine = str(values[Key.MODEL]), str(values[Key.FORMAT]), str(values[Key.ENGINE])
    context = int(str(values[Key.CONTEXT]))
    concurrency = int(p.label(c.props, Key.CONCURRENCY) or 1)
    tp = int(p.label(c.props, Key.TENSOR_PARALLEL) or 1)
    stages = int(p.label(c.props, Key.PIPELINE_PARALLEL) or 1)
    kv_dtype = p.label(c.props, Key.KV_DTYPE) or "auto"
    instance = p.gpu_instance(instance_type)
    if instance is None:
        if instance_type not in cpu_instances():
            report(f"container '{c.name}' is placed on {instance_type}, which is not in the GPU instance catalog, "
                   "so its fit cannot be checked. Fix: use a catalog instance type (llmstack plan lists them) or "
                   "add it to llmstack/catalog/instances.yaml.")
        return
    if tp > instance.gpus:
        report(f"container '{c.name}' asks for tensor parallel {tp} on {instance_type}, which has "
               f"{instance.gpus} GPU(s). Fix: lower tensor_parallel or pick an instance with {tp} GPUs.")
        return
    gpu = gpu_by_name(instance.gpu)
    try:  # a replica across nodes: its worst pipeline stage on each node
        est = (stage_estimates(arch, fmt, engine, context, concurrency, gpu, tp, stages, kv_dtype)[1] if stages > 1
               else estimate_memory(arch, fmt, engine, context, concurrency, gpu, tp, kv_dtype))
    except LlmstackError as err:
        report(f"container '{c.name}': the planner refuses {model} {fmt} on {engine} with {instance_type}: {err}")
        return
    if est.fits:
        return
    hint = _fit_hint(model, fmt, engine, context, concurrency, kv_dtype)
    longest = (f"one sequence of up to {est.max_context} tokens fits, or {est.max_concurrent_sequences} at "
               f"{context}" if est.max_context else "not even one short sequence fits")
    drop = " or drop it from the node pool's instance types" if c.instance_types else ""
    report(
        f"{model} ({fmt}, {engine}) at context {context} x {concurrency} sequences needs "
        f"{fmt_gib(est.total_bytes)} per GPU (weights {fmt_gib(est.weights_bytes)} + KV "
        f"{fmt_gib(est.kv_cache_bytes)} + activations {fmt_gib(est.activation_bytes)} + CUDA context "
        f"{fmt_gib(est.cuda_context_bytes)} + other {fmt_gib(est.other_bytes)}), but {instance_type} "
        f"({instance.gpus} x {instance.gpu}, TP={tp}) has {fmt_gib(est.usable_bytes)} usable per GPU: "
        f"{est.reason.rstrip('.')}. "
        f"On this instance {longest}. Fix: shorten the context, lower concurrency or pick a smaller format{drop}; "
        f"{hint}."
    )


def _node_key(r: Any) -> str:
    node = p.label(r.props, Key.NODE)
    return node if node else f"provider:{r.provider.urn if r.provider is not None else r.urn}"


@stack_policy(
    "embeddings-off-inference-gpu",
    description="An embedding container never shares a GPU with inference: on a Docker host it may request GPUs only "
    "on a node without GPU inference (llmstack.node label, else the Docker provider); a CPU embedding container on a "
    "GPU host is fine. On Kubernetes its pods request no GPU and tolerate no GPU taint.",
)
def embeddings_off_inference_gpu(args: StackValidationArgs, report: Report) -> None:
    views = [(r, c) for r in args.resources for c in p.containers(r.resource_type, r.name, r.props)]
    gpu_inference: dict[str, list[str]] = defaultdict(list)
    for r, c in views:
        if not c.kubernetes and p.role(c.props) is Role.INFERENCE and p.requests_gpu(c.props):
            gpu_inference[_node_key(r)].append(c.name)
    for r, c in views:
        if p.role(c.props) is not Role.EMBEDDING:
            continue
        if c.kubernetes:
            if p.requests_gpu(c.props) or p.tolerates_gpu(c):
                report(f"embedding pod '{c.name}' requests a GPU or tolerates the GPU taint, so it can take an "
                       "inference GPU node. Fix: run it on CPU nodes: no nvidia.com/gpu limit, no GPU toleration.",
                       r.urn)
            continue
        node = _node_key(r)
        if p.requests_gpu(c.props) and node in gpu_inference:
            report(f"embedding container '{c.name}' requests GPUs on node {node}, where GPU inference container(s) "
                   f"{', '.join(sorted(gpu_inference[node]))} run, so it competes with generation for VRAM. Fix: run "
                   "it on the CPU (TEI cpu image, no gpus), or give it a GPU node of its own.", r.urn)
