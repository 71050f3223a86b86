"""`plan`: the cheapest catalog instance that serves a request, and why every cheaper one does not.

Pure: reads only the cached catalog (and `load_model`, which fetches a Hub config when given a repo id).
Selection is exhaustive over the catalog sorted by price, so the result is exactly optimal under it.
"""

from __future__ import annotations

from pydantic import BaseModel

from llmstack.catalog import (
    Gpu,
    Instance,
    gpu_by_name,
    instance_by_type,
    instances,
)
from llmstack.engines import engine as engine_by_name
from llmstack.errors import InputError
from llmstack.planner import multinode
from llmstack.planner.arch import ModelArch
from llmstack.planner.cpu import plan_cpu
from llmstack.planner.decide import (
    GGUF_START,
    GGUF_TIGHT,
    GGUF_UPGRADES,
    HF_LADDER,
    WORKLOADS,
    choose_engine,
    cold_start_seconds,
    quant_candidates,
)
from llmstack.planner.engines_memory import (
    CUDA_CONTEXT_BYTES,
    MemoryEstimate,
    check_engine_quant,
    estimate_memory,
    resolve_kv_dtype,
)
from llmstack.planner.kv import kv_bytes_per_token
from llmstack.planner.load import load_model
from llmstack.planner.multinode import MAX_NODES
from llmstack.planner.pipeline import Stage, stage_estimates
from llmstack.planner.quant import format_family, is_gguf, normalize_quant
from llmstack.planner.result import Alternative, InstanceRef, Plan, PlanRequest, Rejection, virtual_gpu
from llmstack.planner.units import GIB, fmt_gib, parse_size
from llmstack.planner.weights import weight_bytes

TP_SIZES = (1, 2, 4, 8)  # GPUs of one node; more nodes are pipeline stages (multinode.py)
# Ollama default context by total VRAM (docs/sizing.md §6, docs/context-length.mdx): <24 GiB 4k, 24-48 GiB 32k,
# >=48 GiB 256k, capped at the trained context.
OLLAMA_CTX_STEPS = ((24 * GIB, 4096), (48 * GIB, 32768))
OLLAMA_CTX_MAX = 262144


class _Attempt(BaseModel):
    quant: str
    tp: int
    estimate: MemoryEstimate  # multi-node: the worst stage
    nodes: int = 1
    stages: tuple[Stage, ...] = ()


def default_context(model: ModelArch, engine: str, total_visible: int) -> int:
    """What the engine serves when no context is given: vLLM-style engines `max_position_embeddings`
    (max_model_len default, §5); Ollama by VRAM (§6); llama.cpp the trained context (n_ctx 0, §6)."""
    if engine == "ollama":
        ctx = OLLAMA_CTX_MAX
        for limit, value in OLLAMA_CTX_STEPS:
            if total_visible < limit:
                ctx = value
                break
        return min(ctx, model.max_position_embeddings)
    return model.max_position_embeddings


def _tp_options(model: ModelArch, engine: str, gpus: int, pinned: int | None) -> list[int]:
    ggml = engine_by_name(engine).memory_model == "ggml"
    sizes = [pinned] if pinned else list(TP_SIZES)
    out = [tp for tp in sizes if tp <= gpus and (ggml or model.heads % tp == 0)]
    # preallocating engines use every GPU they may (largest TP first); ggml engines use as few GPUs as fit
    return sorted(out) if ggml else sorted(out, reverse=True)


def _try(
    model: ModelArch,
    engine: str,
    quants: tuple[str, ...],
    gpu: Gpu,
    gpus: int,
    context: int,
    concurrency: int,
    kv_dtype: str,
    pinned_tp: int | None,
) -> tuple[_Attempt | None, _Attempt | None, str]:
    """(fitting attempt or None, closest attempt, reason if none fits). `quants` best first."""
    tps = _tp_options(model, engine, gpus, pinned_tp)
    if not tps:
        why = (
            f"TP={pinned_tp} needs {pinned_tp} GPUs and num_attention_heads ({model.heads}) divisible "
            f"by it; it has {gpus}"
            if pinned_tp
            else f"no valid TP size: num_attention_heads {model.heads} is not divisible by 2/4/8 "
            f"<= {gpus} GPUs"
        )
        return None, None, why
    closest: _Attempt | None = None
    for q in quants:
        if format_family(q) == "fp8" and not gpu.fp8:
            continue
        for tp in tps:
            est = estimate_memory(model, q, engine, context, concurrency, gpu, tp, kv_dtype)
            att = _Attempt(quant=q, tp=tp, estimate=est)
            if est.fits:
                return att, att, ""
            if closest is None or est.free_bytes > closest.estimate.free_bytes:
                closest = att
    if closest is None:
        return None, None, f"{gpu.name} has no FP8 support (FP8 needs Ada sm89, Hopper sm90 or newer)"
    return None, closest, closest.estimate.reason


def plan(req: PlanRequest) -> Plan:
    """The cheapest catalog instance where the request fits, with every cheaper candidate explained."""
    model = req.model if isinstance(req.model, ModelArch) else load_model(req.model)
    if req.context is not None and req.context < 1:
        raise InputError("context", req.context, "Give a context length of at least 1 token.")
    if req.concurrency < 1:
        raise InputError("concurrency", req.concurrency, "Give at least 1 concurrent sequence.")
    if req.tensor_parallel is not None and req.tensor_parallel not in TP_SIZES:
        raise InputError("tensor_parallel", req.tensor_parallel, "Use 1, 2, 4 or 8 (GPUs of one node).")
    if not 1 <= req.max_nodes <= MAX_NODES:
        raise InputError("max_nodes", req.max_nodes, f"Use 1 to {MAX_NODES} nodes per replica.")
    if req.workload is not None and req.workload not in WORKLOADS:
        raise InputError("workload", req.workload, f"Use one of: {', '.join(WORKLOADS)}.")
    if sum(x is not None for x in (req.gpu, req.vram, req.instance_type)) > 1:
        raise InputError("gpu", req.gpu or req.vram, "Give at most one of gpu, vram and instance_type.")
    quant = "auto" if req.quant.strip().lower() == "auto" else normalize_quant(req.quant)
    engine = req.engine.strip().lower()
    if engine != "auto":
        eng = engine_by_name(engine)
        if eng.memory_model == "none":
            raise InputError(
                "engine", engine, "Not an inference engine; use ollama, vllm, sglang, llamacpp, tgi, nim."
            )
        if quant != "auto":
            check_engine_quant(eng, quant, None)
        resolve_kv_dtype(eng, req.kv_dtype)

    if (
        model.is_embedding
        and engine in {"auto", "tei"}
        and req.gpu is None
        and req.vram is None
        and req.instance_type is None
    ):
        return plan_cpu(model, req, "tei", "fp16")
    if req.workload == "cpu":
        q = quant if quant != "auto" else GGUF_START
        if not is_gguf(q):
            raise InputError("quant", q, "CPU serving uses llama.cpp with a GGUF format such as Q4_K_M.")
        return _plan_gpu_candidates(model, req, quant, engine, cpu=True)
    return _plan_gpu_candidates(model, req, quant, engine, cpu=False)


def _engine_for(req: PlanRequest, quant: str, gpu: Gpu | None) -> str:
    if req.engine.strip().lower() != "auto":
        return req.engine.strip().lower()
    chosen = choose_engine(req.workload, gpu, req.concurrency)
    if quant != "auto":
        fam = format_family(quant)
        if not engine_by_name(chosen).serves(fam):
            chosen = "ollama" if fam == "gguf" else "vllm"
    return chosen


def _candidates(req: PlanRequest) -> list[tuple[Instance | None, Gpu, int]]:
    if req.vram is not None:
        vram = parse_size(req.vram, "vram")
        return [(None, virtual_gpu(vram), req.tensor_parallel or 1)]
    if req.instance_type is not None:
        inst = instance_by_type(req.instance_type)
        return [(inst, gpu_by_name(inst.gpu), inst.gpus)]
    rows = [i for i in instances().values() if i.selectable]
    if req.gpu is not None:
        g = gpu_by_name(req.gpu)
        rows = [i for i in rows if i.gpu == g.name]
        if not rows:
            return [(None, g, req.tensor_parallel or 1)]
    if req.workload == "hopper-production":
        rows = [i for i in rows if gpu_by_name(i.gpu).is_hopper_or_newer]
    return [(i, gpu_by_name(i.gpu), i.gpus) for i in rows]


def _quants_for(quant: str, engine: str, gpu: Gpu) -> tuple[str, ...]:
    return (quant,) if quant != "auto" else quant_candidates(engine, gpu)


def _plan_gpu_candidates(
    model: ModelArch, req: PlanRequest, quant: str, engine_req: str, *, cpu: bool
) -> Plan:
    if cpu:
        return plan_cpu(model, req, "llamacpp", quant if quant != "auto" else GGUF_START)
    rejected: list[Rejection] = []
    closest: tuple[Instance | None, Gpu, str, _Attempt] | None = None
    for inst, gpu, gpus in _candidates(req):
        engine = _engine_for(req, quant, gpu)
        label = inst.type if inst else gpu.name
        context = req.context or default_context(model, engine, gpu.visible_bytes * gpus)
        quants = _quants_for(quant, engine, gpu)
        if quant == "auto" and engine_by_name(engine).memory_model == "ggml":
            quants = GGUF_UPGRADES
        fit, near, why = _try(
            model, engine, quants, gpu, gpus, context, req.concurrency, req.kv_dtype, req.tensor_parallel
        )
        if fit is not None:
            return _make_plan(model, req, engine, fit, inst, gpu, rejected, [])
        rejected.append(Rejection(instance=label, reason=why))
        if near is not None and (
            closest is None or near.estimate.free_bytes > closest[3].estimate.free_bytes
        ):
            closest = (inst, gpu, engine, near)
    if req.max_nodes > 1 and (layout := _multi_node(model, req, quant, rejected)) is not None:
        att = _Attempt(quant=layout.quant, tp=layout.tensor_parallel, estimate=layout.worst, nodes=layout.nodes,
                       stages=layout.stages)
        return _make_plan(model, req, layout.engine, att, layout.instance, layout.gpu, rejected, [])
    if closest is None:
        raise _no_candidate(model, req, rejected)
    inst, gpu, engine, near = closest
    suggestions = _suggest(model, req, quant, engine)
    p = _make_plan(model, req, engine, near, None, gpu, rejected, suggestions)
    return p


def _multi_node(model: ModelArch, req: PlanRequest, quant: str, rejected: list[Rejection]) -> multinode.Layout | None:
    """A layout over 2..max_nodes nodes (vLLM only; `engine: auto` means vLLM here)."""
    engine = "vllm" if req.engine.strip().lower() == "auto" else req.engine.strip().lower()
    rows = [(inst, gpu) for inst, gpu, _ in _candidates(req) if inst is not None]
    context = req.context or default_context(model, engine, 0)
    return multinode.search(model, quant, engine, rows, req.max_nodes, context, req.concurrency, req.kv_dtype,
                            rejected)


def _make_plan(
    model: ModelArch,
    req: PlanRequest,
    engine: str,
    att: _Attempt,
    inst: Instance | None,
    gpu: Gpu,
    rejected: list[Rejection],
    suggestions: list[str],
) -> Plan:
    est = att.estimate
    kv_tp = 1 if engine_by_name(engine).memory_model == "ggml" else att.tp
    wb = weight_bytes(model, att.quant)
    notes: list[str] = []
    if model.sliding_window and model.sliding_layers:
        notes.append(
            f"{model.sliding_layers} of {model.layers} layers use a {model.sliding_window}-token sliding "
            f"window; "
            "vLLM V1 and llama.cpp keep only the window for them."
        )
    if model.is_mla:
        notes.append(
            "MLA: one latent of kv_lora_rank + qk_rope_head_dim per token per layer, replicated per TP rank."
        )
    if req.context is None:
        notes.append(f"context defaults to {est.context} ({engine}'s default for this model and GPU).")
    if est.spills_to_cpu:
        notes.append("Layers would be offloaded to the CPU: expect much lower throughput.")
    instance = (
        InstanceRef(type=inst.type, gpu=inst.gpu, gpus=inst.gpus, hourly_usd=inst.hourly_usd)
        if inst
        else None
    )
    if inst is None and req.vram is None and req.gpu is not None and est.fits:
        notes.append(f"No catalog instance has {gpu.name}; sized for {att.tp} x {gpu.name}.")
    allowed = {i.type for i, _, _ in _candidates(req) if i is not None}  # a pinned GPU or workload narrows them
    alternatives = (_alternatives(model, engine, att, est.context, est.concurrency, req.kv_dtype, allowed)
                    if inst else [])
    if att.nodes > 1:
        notes.append(f"{att.nodes} nodes per replica: pipeline parallel {att.nodes} x tensor parallel {att.tp} "
                     f"(vLLM with Ray); the stages hold {', '.join(str(st.layers) for st in att.stages)} layers.")
    return Plan(
        model=model.name,
        params=model.params,
        weights_bytes=wb,
        kv_bytes_per_token=kv_bytes_per_token(model, est.kv_dtype, kv_tp),
        kv_cache_bytes=est.kv_cache_bytes,
        total_bytes=est.total_bytes,
        engine=engine,
        quant=att.quant,
        tensor_parallel=att.tp,
        kv_dtype=est.kv_dtype,
        context=est.context,
        concurrency=est.concurrency,
        instance=instance,
        fits=est.fits,
        memory=est,
        rejected=rejected,
        suggestions=suggestions,
        startup_seconds=cold_start_seconds(wb, att.tp, loaded_bytes=max(
            (st.weights_bytes * att.tp for st in att.stages), default=None)),
        notes=notes,
        alternatives=alternatives,
        nodes=att.nodes,
        pipeline_parallel=att.nodes,
        stages=list(att.stages),
    )


ALTERNATIVES = 8  # how many instance types a plan lists (and a node pool may offer)


def _alternatives(model: ModelArch, engine: str, att: _Attempt, context: int, concurrency: int,
                  kv_dtype: str, allowed: set[str]) -> list[Alternative]:
    """The selectable instance types this exact launch fits on, whose GPU count is a multiple of its TP (so each
    replica gets whole GPUs), cheapest per replica first. Multi-node: types with EFA and exactly TP GPUs where every
    stage fits."""
    found = []
    for inst in instances().values():
        if not inst.selectable or inst.gpus % att.tp or inst.hourly_usd is None or inst.type not in allowed:
            continue
        if att.nodes > 1 and (inst.gpus != att.tp or not inst.efa):
            continue
        gpu = gpu_by_name(inst.gpu)
        if format_family(att.quant) == "fp8" and not gpu.fp8:
            continue
        if att.nodes > 1:
            _, worst = stage_estimates(model, att.quant, engine, context, concurrency, gpu, att.tp, att.nodes,
                                       kv_dtype)
            if worst.fits:
                found.append(Alternative(type=inst.type, gpu=inst.gpu, gpus=inst.gpus, hourly_usd=inst.hourly_usd,
                                         replicas=1, usd_per_replica=round(inst.hourly_usd * att.nodes, 4)))
        elif estimate_memory(model, att.quant, engine, context, concurrency, gpu, att.tp, kv_dtype).fits:
            replicas = inst.gpus // att.tp
            found.append(Alternative(type=inst.type, gpu=inst.gpu, gpus=inst.gpus, hourly_usd=inst.hourly_usd,
                                     replicas=replicas, usd_per_replica=round(inst.hourly_usd / replicas, 4)))
    return sorted(found, key=lambda a: (a.usd_per_replica, a.hourly_usd))[:ALTERNATIVES]


def _no_candidate(model: ModelArch, req: PlanRequest, rejected: list[Rejection]) -> InputError:
    """Nothing could even be tried: blame the option that ruled every candidate out."""
    why = "; ".join(dict.fromkeys(r.reason for r in rejected)) or "no candidate"
    field: str
    value: str | int
    if req.tensor_parallel is not None:
        field, value = "tensor_parallel", req.tensor_parallel
    elif req.instance_type is not None:
        field, value = "instance_type", req.instance_type
    elif req.gpu is not None:
        field, value = "gpu", req.gpu
    else:
        field, value = "model", model.name
    return InputError(field, value, f"No catalog instance can run {model.name} with it ({why}).")


def _suggest(model: ModelArch, req: PlanRequest, quant: str, engine: str) -> list[str]:
    out: list[str] = []
    cands = _candidates(req)
    ggml = engine_by_name(engine).memory_model == "ggml"
    smaller = (*GGUF_UPGRADES, *GGUF_TIGHT) if ggml else (*HF_LADDER, "int8")
    if quant != "auto" and quant in smaller:
        smaller = smaller[smaller.index(quant) + 1 :]
    elif quant != "auto":
        smaller = ()
    if quant == "auto":
        smaller = GGUF_TIGHT if ggml else ()
    order = sorted(smaller, key=lambda q: -weight_bytes(model, q))
    for q in order:
        for inst, gpu, gpus in cands:
            if format_family(q) == "fp8" and not gpu.fp8:
                continue
            ctx = req.context or default_context(model, engine, gpu.visible_bytes * gpus)
            fit, _, _ = _try(
                model, engine, (q,), gpu, gpus, ctx, req.concurrency, req.kv_dtype, req.tensor_parallel
            )
            if fit is not None:
                where = f"{inst.type} (${inst.hourly_usd}/h)" if inst else gpu.name
                out.append(f"quant {q} fits on {where} with TP={fit.tp}.")
                break
        if out:
            break
    # the largest context on the biggest candidate
    inst, gpu, gpus = max(cands, key=lambda c: c[1].visible_bytes * c[2])
    qs = _quants_for(quant, engine, gpu) if not (quant == "auto" and ggml) else (GGUF_START,)
    best_ctx, best_q, best_tp = 0, "", 0
    for q in qs:
        if format_family(q) == "fp8" and not gpu.fp8:
            continue
        for tp in _tp_options(model, engine, gpus, req.tensor_parallel):
            est = estimate_memory(model, q, engine, 16, 1, gpu, tp, req.kv_dtype)
            if est.max_context > best_ctx:
                best_ctx, best_q, best_tp = est.max_context, q, tp
    where = inst.type if inst else gpu.name
    if best_ctx >= 16:
        if req.concurrency > 1:
            out.append(
                f"Fewer concurrent sequences, or a shorter context: {where} serves one sequence of up to "
                f"{best_ctx} tokens in {best_q} at TP={best_tp}."
            )
        else:
            out.append(
                f"context {best_ctx} (the longest that fits) on {where} in {best_q} at TP={best_tp}."
            )
    else:
        need = weight_bytes(model, qs[-1] if qs else quant)
        node = gpu.visible_bytes * gpus
        nodes = -(-need // int(node * 0.85))
        more = (f"allow {nodes} nodes per replica with max_nodes (pipeline parallel with vLLM, on a kubernetes "
                f"target)" if req.max_nodes < nodes <= MAX_NODES
                else f"that is more than the {MAX_NODES} nodes one replica may span")
        out.append(
            f"{qs[-1] if qs else quant} weights alone are {fmt_gib(need)}: more than one {where} "
            f"({gpus} x {fmt_gib(gpu.visible_bytes)}); it needs about {nodes} nodes: {more}."
        )
    return out


__all__ = ["CUDA_CONTEXT_BYTES", "Plan", "PlanRequest", "plan"]
