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
from llmstack.labels import CONTAINER, Key, Role
from llmstack.planner import PlanRequest, estimate_memory, load_model, plan
from llmstack.planner.units import fmt_gib
from policies import props as p
from policies.registry import Report, resource_policy, stack_policy

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


@resource_policy(
    "model-fits-gpu",
    types=(CONTAINER,),
    description="An inference container's model (weights + KV cache for context x concurrency + activations + "
    "CUDA context, from the planner) fits the usable memory of its instance's GPUs (labels model, format, engine, "
    "context, concurrency, instance-type, tensor-parallel, kv-dtype).",
)
def model_fits_gpu(args: ResourceValidationArgs, report: Report) -> None:
    if p.role(args.props) is not Role.INFERENCE:
        return
    instance_type = p.label(args.props, Key.INSTANCE_TYPE)
    if not instance_type:
        args.not_applicable(f"container '{args.name}' has no {Key.INSTANCE_TYPE.label} label (local host or a "
                            "machine the planner does not know)")
        return
    values = {k: p.label(args.props, k) for k in _REQUIRED}
    missing = [k.label for k, v in values.items() if not v]
    if missing:
        args.not_applicable(f"container '{args.name}' lacks {', '.join(missing)}")
        return
    model, fmt, engine = str(values[Key.MODEL]), str(values[Key.FORMAT]), str(values[Key.ENGINE])
    context = int(str(values[Key.CONTEXT]))
    concurrency = int(p.label(args.props, Key.CONCURRENCY) or 1)
    tp = int(p.label(args.props, Key.TENSOR_PARALLEL) or 1)
    kv_dtype = p.label(args.props, Key.KV_DTYPE) or "auto"
    instance = p.gpu_instance(instance_type)
    if instance is None:
        if instance_type in cpu_instances():
            args.not_applicable(f"{instance_type} is a CPU instance; GPU fit does not apply")
            return
        report(f"container '{args.name}' is placed on {instance_type}, which is not in the GPU instance catalog, "
               "so its fit cannot be checked. Fix: use a catalog instance type (llmstack plan lists them) or add "
               "it to llmstack/catalog/instances.yaml.")
        return
    if tp > instance.gpus:
        report(f"container '{args.name}' asks for tensor parallel {tp} on {instance_type}, which has "
               f"{instance.gpus} GPU(s). Fix: lower tensor_parallel or pick an instance with {tp} GPUs.")
        return
    try:
        arch = load_model(model)
    except LlmstackError as err:
        args.not_applicable(f"model {model} could not be loaded for sizing: {err}")
        return
    try:
        est = estimate_memory(arch, fmt, engine, context, concurrency, gpu_by_name(instance.gpu), tp, kv_dtype)
    except LlmstackError as err:
        report(f"container '{args.name}': the planner refuses {model} {fmt} on {engine} with {instance_type}: "
               f"{err}")
        return
    if est.fits:
        return
    hint = _fit_hint(model, fmt, engine, context, concurrency, kv_dtype)
    longest = (f"one sequence of up to {est.max_context} tokens fits, or {est.max_concurrent_sequences} at "
               f"{context}" if est.max_context else "not even one short sequence fits")
    report(
        f"{model} ({fmt}, {engine}) at context {context} x {concurrency} sequences needs "
        f"{fmt_gib(est.total_bytes)} per GPU (weights {fmt_gib(est.weights_bytes)} + KV "
        f"{fmt_gib(est.kv_cache_bytes)} + activations {fmt_gib(est.activation_bytes)} + CUDA context "
        f"{fmt_gib(est.cuda_context_bytes)} + other {fmt_gib(est.other_bytes)}), but {instance_type} "
        f"({instance.gpus} x {instance.gpu}, TP={tp}) has {fmt_gib(est.usable_bytes)} usable per GPU: "
        f"{est.reason}. "
        f"On this instance {longest}. Fix: shorten the context, lower concurrency or pick a smaller format; "
        f"{hint}."
    )


def _node_key(r: Any) -> str:
    node = p.label(r.props, Key.NODE)
    return node if node else f"provider:{r.provider.urn if r.provider is not None else r.urn}"


@stack_policy(
    "embeddings-off-inference-gpu",
    description="Embedding containers never request GPUs and never share a GPU node (llmstack.node label, else "
    "the Docker provider) with an inference container.",
)
def embeddings_off_inference_gpu(args: StackValidationArgs, report: Report) -> None:
    containers = [r for r in args.resources if r.resource_type == CONTAINER]
    gpu_inference: dict[str, list[str]] = defaultdict(list)
    for r in containers:
        if p.role(r.props) is Role.INFERENCE and (p.requests_gpu(r.props) or p.label(r.props, Key.GPU)):
            gpu_inference[_node_key(r)].append(r.name)
    for r in containers:
        if p.role(r.props) is not Role.EMBEDDING:
            continue
        if p.requests_gpu(r.props):
            report(f"embedding container '{r.name}' requests GPUs (gpus/device_requests), so it competes with "
                   "generation for VRAM. Fix: run it on the CPU (TEI cpu image, no gpus) or on a GPU of its own "
                   "node.", r.urn)
        node = _node_key(r)
        if node in gpu_inference:
            report(f"embedding container '{r.name}' shares node {node} with GPU inference container(s) "
                   f"{', '.join(sorted(gpu_inference[node]))}. Fix: place embeddings on the CPU node (or a "
                   "dedicated one).", r.urn)

