"""CPU-only serving: llama.cpp (GGUF) or TEI (embeddings) on the cheapest CPU instance with the RAM."""

from __future__ import annotations

from llmstack.catalog import CpuInstance, cpu_instances
from llmstack.engines import engine as engine_by_name
from llmstack.planner.arch import ModelArch
from llmstack.planner.decide import cold_start_seconds
from llmstack.planner.engines_memory import (
    MemoryEstimate,
    check_engine_quant,
    ggml_compute_bytes,
    resolve_kv_dtype,
)
from llmstack.planner.kv import kv_bytes_for_sequence, kv_bytes_per_token
from llmstack.planner.result import InstanceRef, Plan, PlanRequest, Rejection
from llmstack.planner.units import GIB, MIB, fmt_gib
from llmstack.planner.weights import cpu_repack_bytes, weight_bytes

# CPU-only hosts: OS + container runtime headroom kept free (planner assumption, not measured).
CPU_HOST_HEADROOM = 1 * GIB
# TEI on CPU runs fp32: twice the fp16 weight bytes (text-embeddings-inference CPU image uses fp32 kernels).
TEI_CPU_RUNTIME = 512 * MIB  # planner assumption: tokenizer + ONNX/candle runtime arena


def _cpu_need(
    model: ModelArch, engine: str, quant: str, context: int, concurrency: int, kv_dtype: str
) -> int:
    if engine == "tei":
        # fp32 on CPU (2 x fp16 bytes) + runtime; encoders keep no KV cache
        return 2 * weight_bytes(model, "fp16") + TEI_CPU_RUNTIME
    kvd = resolve_kv_dtype(engine_by_name("llamacpp"), kv_dtype)
    kv = kv_bytes_for_sequence(model, context, kvd) * concurrency
    return (
        weight_bytes(model, quant)
        + cpu_repack_bytes(model, quant)
        + kv
        + ggml_compute_bytes(model, context * concurrency)
    )


def plan_cpu(model: ModelArch, req: PlanRequest, engine: str, quant: str) -> Plan:
    """CPU-only serving: llama.cpp (GGUF) or TEI (embeddings) on the cheapest CPU instance with the RAM."""
    context = req.context or (512 if model.is_embedding else min(model.max_position_embeddings, 8192))
    if engine == "llamacpp":
        check_engine_quant(engine_by_name("llamacpp"), quant, None)
    need = _cpu_need(model, engine, quant, context, req.concurrency, req.kv_dtype)
    rejected: list[Rejection] = []
    rows: list[CpuInstance] = list(cpu_instances().values())
    chosen: CpuInstance | None = None
    for row in rows:
        usable = row.ram_gib * GIB - CPU_HOST_HEADROOM
        if need <= usable:
            chosen = row
            break
        rejected.append(
            Rejection(instance=row.type, reason=f"needs {fmt_gib(need)} of RAM, has {fmt_gib(usable)}")
        )
    biggest = rows[-1] if chosen is None else chosen
    usable = biggest.ram_gib * GIB - CPU_HOST_HEADROOM
    kvd = "f16" if engine == "llamacpp" else "none"
    kv = 0 if engine == "tei" else kv_bytes_for_sequence(model, context, kvd) * req.concurrency
    wb = weight_bytes(model, quant) * (2 if engine == "tei" else 1)
    est = MemoryEstimate(
        engine=engine,
        gpu="cpu",
        tensor_parallel=1,
        context=context,
        concurrency=req.concurrency,
        kv_dtype=kvd,
        weights_bytes=wb,
        kv_cache_bytes=kv,
        activation_bytes=need - wb - kv,
        cuda_context_bytes=0,
        other_bytes=0,
        total_bytes=need,
        usable_bytes=usable,
        visible_bytes=biggest.ram_gib * GIB,
        fits=chosen is not None,
        kv_capacity_tokens=context * req.concurrency if chosen else 0,
        max_concurrent_sequences=req.concurrency if chosen else 0,
        max_context=context if chosen else 0,
        reason=f"{engine} on CPU needs {fmt_gib(need)} of RAM ({fmt_gib(usable)} usable on {biggest.type})"
        + ("; llama.cpp repacks Q4 weights on CPU unless --no-repack." if engine == "llamacpp" else "."),
    )
    instance = (
        InstanceRef(type=chosen.type, gpu=None, gpus=0, hourly_usd=chosen.hourly_usd) if chosen else None
    )
    return Plan(
        model=model.name,
        params=model.params,
        weights_bytes=weight_bytes(model, quant),
        kv_bytes_per_token=0 if engine == "tei" else kv_bytes_per_token(model, kvd),
        kv_cache_bytes=kv,
        total_bytes=need,
        engine=engine,
        quant=quant,
        tensor_parallel=1,
        kv_dtype=kvd,
        context=context,
        concurrency=req.concurrency,
        instance=instance,
        fits=chosen is not None,
        memory=est,
        rejected=rejected,
        suggestions=[] if chosen else ["Use a GPU instance (drop --workload cpu) or a smaller GGUF format."],
        startup_seconds=cold_start_seconds(weight_bytes(model, quant)),
        notes=[f"{model.name} is an embedding model ({model.embedding_dim} dims): no KV cache."]
        if model.is_embedding
        else [],
    )
