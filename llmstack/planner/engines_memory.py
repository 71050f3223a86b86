"""Per-GPU memory of one engine replica: the preallocating engines (vLLM, SGLang, TGI, NIM) and the ggml
engines (Ollama, llama.cpp). Engine facts (formats, memory_model, gpu_memory_utilization) come from
engines.yaml.

Sources: docs/sizing.md §5 (vLLM), §6 + §12 (Ollama / llama.cpp), §7 (CUDA context).
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

from llmstack.catalog import Gpu, gpu_by_name
from llmstack.engines import Engine
from llmstack.engines import engine as engine_by_name
from llmstack.errors import InputError
from llmstack.planner.arch import ModelArch
from llmstack.planner.kv import GGML_KV_DTYPES, PREALLOC_KV_DTYPES, kv_bytes_for_sequence, kv_bytes_per_token
from llmstack.planner.quant import format_family, normalize_quant
from llmstack.planner.units import GIB, MIB, fmt_gib
from llmstack.planner.weights import host_resident_bytes, weight_bytes

# §7: 621 MiB context + first tensor, +162 MiB after the first cuBLAS matmul (H100, driver 580, PyTorch 2.11).
CUDA_CONTEXT_BYTES = (621 + 162) * MIB
# §5 PR #10511 (Meta-Llama-3-8B, H100): non-torch memory (CUDA context + NCCL/all-reduce + cuBLAS) per GPU.
NON_TORCH_TP1 = int(1.79 * GIB)
NON_TORCH_TP_MULTI = int(3.58 * GIB)
# §5 (gpustack/runner PR #251): CUDA-graph memory, profiled inside the budget since vLLM v0.21 (e.g. 0.36
# GiB).
CUDA_GRAPH_BYTES = int(0.36 * GIB)
# §5 PR #10511: peak activation 1.26 GiB for Llama-3-8B profiled at max_num_batched_tokens 8192 (V0
# default for
# max_model_len 8192), scaled by max_num_batched_tokens x (hidden + intermediate + vocab). This predicts
# 1.395 GiB
# for Qwen2.5-1.5B against the measured 1.39 GiB (issue #12529).
ACTIVATION_REF_BYTES = 1.26 * GIB
ACTIVATION_REF_UNITS = 8192 * (4096 + 14336 + 128256)
# vLLM V1 default max_num_batched_tokens for the OpenAI server: 8192 on GPUs with >= 70 GiB, else 2048
# (vllm/engine/arg_utils.py `_set_default_args`).
HIGH_END_GPU_BYTES = 70 * GIB
VLLM_BLOCK_TOKENS = 16  # §4.3: vLLM blocks are 16 tokens by default
# --- ggml engines (llama.cpp, Ollama) -------------------------------------------------------------------------
# Measured: benchmarks/results/llamacpp_gpu.md (CUDA llama-server built from llama.cpp 0c1e570 = b11312, the
# vendored tree of llama-cpp-python 0.3.36; H200, driver 580.159.04, CUDA 13.0; five architectures, contexts
# 4k-128k, 1 and 4 slots). File paths below are at that commit.
#
# n_ubatch: common/common.h `n_ubatch = 512` (the server's default physical batch).
GGML_UBATCH = 512
# src/llama-context.cpp: `cparams.n_ctx = GGML_PAD(cparams.n_ctx, 256)` and, without --kv-unified (an explicit
# -np leaves it off, tools/server/server.cpp), `n_ctx_seq = GGML_PAD(n_ctx / n_seq_max, 256)`: each slot is its
# own KV stream of n_ctx_seq cells. src/llama-kv-cache-iswa.cpp: a sliding-window layer keeps
# `GGML_PAD(min(n_ctx_seq, n_swa + n_ubatch), 256)` cells per stream (Gemma-2: 4608 at 8k, not 4096).
GGML_KV_PAD = 256
# Flash attention (the launch recipes set `-fa on` / OLLAMA_FLASH_ATTENTION=1; llama-server's `-fa auto`
# enables it on CUDA too: src/llama-context.cpp `resolve_fused_ops`). Compute buffer (measured to 0.1 MiB):
#   KQ mask: F16 [n_kv, n_ubatch] per KV stream (src/llama-graph.cpp: `cparams.flash_attn ? GGML_TYPE_F16`),
#     one for the full-attention cells and one for the sliding-window cells: n_ubatch x 2 B per cell of one slot;
#   + the larger of the FFN peak, n_ubatch x 4 B x (3 x ffn width + 2 x hidden + n_head x head_dim) (MoE: ffn
#     width = expert width x (top-k + shared), plus hidden x top-k for the experts' outputs), and the attention
#     peak, n_ubatch x 4 B x 2 x (hidden + n_head x head_dim), which with a quantized KV cache also holds F16
#     copies of one layer's K and V for every cell of every slot (ggml/src/ggml-cuda/fattn.cu
#     `ggml_cuda_flash_attn_ext_get_alloc_size`: the MMA/tile kernels read F16 K/V).
#   Logits take n_vocab x n_parallel x 4 B only: the server reserves one output per slot
#   (tools/server/server-context.cpp `server_output_limits`, src/llama-context.cpp `sched_reserve`).
# Without flash attention (CPU-measured, docs/sizing.md §6/§12, kept for planner/cpu.py): logits n_vocab x n_ubatch
# x 4 B, or KQ scratch growing with n_ctx: 176/572/2156 MiB at 2048/8192/32768 for Llama-3.1-8B is exactly
# 44 MiB + n_ctx x n_ubatch x (4 n_head + 4) B; 258.5 MiB at n_ctx 512 = logits 250.5 MiB + 8 MiB. (CUDA
# b11312, server: 300/2148 MiB at 4k/32k, benchmarks/results/llamacpp_gpu.md.)
GGML_COMPUTE_BASE = 44 * MIB
GGML_LOGITS_EXTRA = 8 * MIB
# What nvidia-smi shows beyond the model, KV and compute buffers: CUDA context, ggml-cuda's memory pool and CUDA
# graphs ("unaccounted" in llama.cpp's own memory breakdown). Measured 607.5-616.6 MiB on four dense
# architectures (Qwen2.5-0.5B, Mistral-7B, Llama-3.1-8B, Gemma-2-9B), constant over context, slots and KV type;
# MoE (Qwen3-30B-A3B) 712.6 MiB: the pool holds the expert-routed matmul buffers. Flash attention off adds the
# cuBLAS workspace for the KQ/KQV products (+156 MiB Llama-3.1-8B, +121 MiB Gemma-2-9B). These replace the
# PyTorch-measured CUDA_CONTEXT_BYTES (783 MiB) for the ggml engines.
GGML_CUDA_OVERHEAD = 617 * MIB
GGML_MOE_POOL = 96 * MIB
GGML_CUBLAS_NO_FA = 156 * MIB
GGML_FLASH_ATTN = True  # what the recipes launch with on a GPU (llama.cpp `-fa on`, OLLAMA_FLASH_ATTENTION=1)
# llama.cpp newer builds auto-fit with a 1 GiB margin per device (`fit_params`, §6).
LLAMACPP_FIT_MARGIN = 1 * GIB


class MemoryEstimate(BaseModel):
    """Per-GPU memory breakdown of one replica."""

    model_config = ConfigDict(frozen=True)

    engine: str
    gpu: str
    tensor_parallel: int
    context: int
    concurrency: int
    kv_dtype: str
    weights_bytes: int  # on this GPU
    kv_cache_bytes: int  # for context x concurrency, on this GPU
    activation_bytes: int
    cuda_context_bytes: int
    other_bytes: int  # non-torch beyond the context (NCCL, cuBLAS), CUDA graphs, host-side notes excluded
    total_bytes: int  # what this request needs per GPU
    usable_bytes: int  # budget: util x visible total (preallocate) or visible total (ggml)
    visible_bytes: int
    fits: bool
    kv_capacity_tokens: int
    max_concurrent_sequences: int
    max_context: int  # the longest single sequence that fits (vLLM's "estimated maximum model length")
    reason: str
    spills_to_cpu: bool = False
    gpu_layers: int | None = None  # ggml: layers that fit on the GPU when it spills

    @property
    def free_bytes(self) -> int:
        return self.usable_bytes - self.total_bytes


def resolve_kv_dtype(eng: Engine, kv_dtype: str) -> str:
    key = kv_dtype.strip().lower()
    if eng.memory_model == "ggml":
        key = {"auto": "f16", "fp16": "f16", "bf16": "f16"}.get(key, key)
        if key not in GGML_KV_DTYPES:
            raise InputError("kv_dtype", kv_dtype, f"{eng.name} KV cache types: {', '.join(GGML_KV_DTYPES)}.")
        return key
    if key not in PREALLOC_KV_DTYPES:
        raise InputError(
            "kv_dtype", kv_dtype, f"{eng.name} KV cache dtypes: {', '.join(PREALLOC_KV_DTYPES)}."
        )
    return key


def check_engine_quant(eng: Engine, quant: str, gpu: Gpu | None) -> str:
    q = normalize_quant(quant)
    fam = format_family(q)
    if eng.memory_model == "none":
        raise InputError(
            "engine", eng.name, "This is not an inference engine; use ollama, vllm, sglang, llamacpp."
        )
    if not eng.serves(fam):
        raise InputError(
            "quant",
            q,
            f"{eng.name} serves {', '.join(eng.formats)}"
            + ("; serve GGUF with ollama or llamacpp (docs/engines.md §4)." if fam == "gguf" else "."),
        )
    if fam == "fp8" and gpu is not None and not gpu.fp8:
        raise InputError(
            "quant",
            q,
            f"{gpu.name} ({gpu.architecture}) has no FP8 support: FP8 needs Ada sm89, Hopper sm90 or newer.",
        )
    return q


def activation_bytes(model: ModelArch, gpu: Gpu) -> int:
    mnbt = 8192 if gpu.visible_bytes >= HIGH_END_GPU_BYTES else 2048
    if model.is_moe:
        inter = model.moe_intermediate * (model.experts_per_token + model.shared_experts)
    else:
        inter = model.intermediate
    units = mnbt * (model.hidden + inter + model.vocab)
    return int(ACTIVATION_REF_BYTES * units / ACTIVATION_REF_UNITS)


def _pad(n: int, to: int) -> int:
    return -(-n // to) * to


def ggml_kv_cells(model: ModelArch, context: int, slots: int = 1) -> tuple[int, int]:
    """(cells per slot of a full-attention layer, cells per slot of a sliding-window layer) that llama.cpp
    allocates for `-c context*slots -np slots` (one KV stream per slot; padding: GGML_KV_PAD)."""
    n_ctx_seq = _pad(_pad(max(context, 1) * slots, GGML_KV_PAD) // slots, GGML_KV_PAD)
    swa = 0
    if model.sliding_window and model.sliding_layers:
        swa = _pad(min(n_ctx_seq, model.sliding_window + GGML_UBATCH), GGML_KV_PAD)
    return n_ctx_seq, swa


def ggml_kv_bytes(model: ModelArch, context: int, slots: int, kv_dtype: str) -> int:
    """KV buffer of a llama.cpp server with `slots` slots of `context` tokens each (CUDA0 KV buffer)."""
    full_cells, swa_cells = ggml_kv_cells(model, context, slots)
    swa_layers = model.sliding_layers if swa_cells else 0
    per_layer_token = kv_bytes_per_token(model, kv_dtype, 1) / model.layers
    return int(per_layer_token * ((model.layers - swa_layers) * full_cells + swa_layers * swa_cells) * slots)


def _ggml_ffn_floats(model: ModelArch) -> int:
    """Floats per token alive at the FFN peak of one ubatch (fitted exactly on 5 architectures, see above)."""
    n_q = model.heads * model.head_dim
    dense = 3 * model.intermediate + 2 * model.hidden + n_q
    if not model.is_moe:
        return dense
    width = model.moe_intermediate * (model.experts_per_token + model.shared_experts)
    moe = 3 * width + model.hidden * model.experts_per_token + 2 * model.hidden + n_q
    return max(moe, dense) if model.first_dense_layers else moe


def ggml_compute_bytes(
    model: ModelArch,
    n_ctx: int,
    *,
    flash_attn: bool = False,
    n_seq: int = 1,
    kv_dtype: str = "f16",
) -> int:
    """Compute buffer of one llama.cpp context of n_ctx cells in n_seq slots (the `CUDA0 compute buffer`).

    flash_attn=False keeps the CPU-measured formula (planner/cpu.py): KQ scratch over all n_ctx cells.
    flash_attn=True is the CUDA server with flash attention (what the GPU recipes launch): F16 masks over one
    slot's cells plus the larger of the FFN and the attention peak of a 512-token ubatch.
    """
    if not flash_attn:
        logits = model.vocab * GGML_UBATCH * 4 + GGML_LOGITS_EXTRA
        kq = GGML_COMPUTE_BASE + n_ctx * GGML_UBATCH * (4 * model.heads + 4)
        return max(logits, kq)
    n_seq = max(1, n_seq)
    full_cells, swa_cells = ggml_kv_cells(model, -(-max(n_ctx, 1) // n_seq), n_seq)
    mask = (full_cells + swa_cells) * GGML_UBATCH * 2
    n_q = model.heads * model.head_dim
    attn = GGML_UBATCH * 4 * 2 * (model.hidden + n_q)
    if kv_dtype != "f16":  # F16 copies of one layer's K and V over every cell of every slot
        attn += full_cells * n_seq * model.kv_heads * model.head_dim * 2 * 2
    ffn = GGML_UBATCH * 4 * _ggml_ffn_floats(model)
    return mask + max(ffn, attn)


def ggml_gpu_overhead_bytes(model: ModelArch, *, flash_attn: bool = GGML_FLASH_ATTN) -> tuple[int, int]:
    """(CUDA context + pool, other) on each GPU of a ggml engine: GGML_CUDA_OVERHEAD, plus the MoE pool and,
    without flash attention, the cuBLAS workspace."""
    other = (GGML_MOE_POOL if model.is_moe else 0) + (0 if flash_attn else GGML_CUBLAS_NO_FA)
    return GGML_CUDA_OVERHEAD, other


def _max_len(model: ModelArch, kv_dtype: str, tp: int, available: int, limit: int) -> int:
    """Longest sequence whose KV fits in `available` (binary search: sliding windows make KV non-linear)."""
    if available <= 0 or kv_bytes_for_sequence(model, 1, kv_dtype, tp) > available:
        return 0
    lo, hi = 1, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if kv_bytes_for_sequence(model, mid, kv_dtype, tp) <= available:
            lo = mid
        else:
            hi = mid - 1
    return lo


def estimate_memory(
    model: ModelArch,
    quant: str,
    engine: str,
    context: int,
    concurrency: int,
    gpu: str | Gpu,
    tensor_parallel: int = 1,
    kv_dtype: str = "auto",
) -> MemoryEstimate:
    """Per-GPU memory of `engine` serving `model` in `quant` at `context` x `concurrency` on `gpu`."""
    eng = engine_by_name(engine)
    g = gpu if isinstance(gpu, Gpu) else gpu_by_name(gpu)
    q = check_engine_quant(eng, quant, g)
    kvd = resolve_kv_dtype(eng, kv_dtype)
    if context < 1:
        raise InputError("context", context, "Give a context length of at least 1 token.")
    if concurrency < 1:
        raise InputError("concurrency", concurrency, "Give at least 1 concurrent sequence.")
    if tensor_parallel not in (1, 2, 4, 8):
        raise InputError("tensor_parallel", tensor_parallel, "Use 1, 2, 4 or 8 GPUs.")
    if eng.memory_model == "ggml":
        return _ggml(model, q, eng, context, concurrency, g, tensor_parallel, kvd)
    if model.heads % tensor_parallel:
        raise InputError(
            "tensor_parallel",
            tensor_parallel,
            f"vLLM needs num_attention_heads ({model.heads}) divisible by the TP size.",
        )
    return preallocate(model, q, eng, context, concurrency, g, tensor_parallel, kvd)


def preallocate(
    model: ModelArch, quant: str, eng: Engine, context: int, concurrency: int, g: Gpu, tp: int, kvd: str,
    *, stage_weights: int | None = None, distributed: bool = False
) -> MemoryEstimate:
    """vLLM-style engines: weights, activations, CUDA/NCCL overheads and graphs first, KV in what is left of the
    budget. A pipeline stage passes its own weights (whole stage, split over `tp`) and `model` with its layers only;
    `distributed`: NCCL runs (TP or PP > 1)."""
    util = eng.gpu_memory_utilization if eng.gpu_memory_utilization is not None else 1.0
    visible = g.visible_bytes
    budget = int(util * visible)
    weights = math.ceil((weight_bytes(model, quant) if stage_weights is None else stage_weights) / tp)
    act = activation_bytes(model, g)
    non_torch = NON_TORCH_TP_MULTI if tp > 1 or distributed else NON_TORCH_TP1
    other = non_torch - CUDA_CONTEXT_BYTES + CUDA_GRAPH_BYTES
    fixed = weights + act + CUDA_CONTEXT_BYTES + other
    available = budget - fixed
    blocks_per_seq = math.ceil(context / VLLM_BLOCK_TOKENS)
    seq_kv = kv_bytes_for_sequence(model, blocks_per_seq * VLLM_BLOCK_TOKENS, kvd, tp)
    kv_needed = seq_kv * concurrency
    total = fixed + kv_needed
    per_token = kv_bytes_per_token(model, kvd, tp)
    limit = max(context, model.max_position_embeddings) * 64
    if model.is_embedding or per_token == 0:
        capacity = 0 if available < 0 else context * max(1, concurrency)
        max_seqs = concurrency if available >= 0 else 0
        max_ctx = context if available >= 0 else 0
    else:
        eff = seq_kv / (
            blocks_per_seq * VLLM_BLOCK_TOKENS
        )  # per-token bytes at this context (windows shrink it)
        capacity = max(0, int(available // (eff * VLLM_BLOCK_TOKENS)) * VLLM_BLOCK_TOKENS)
        max_seqs = max(0, available // seq_kv) if seq_kv else 0
        max_ctx = _max_len(model, kvd, tp, available, limit) // VLLM_BLOCK_TOKENS * VLLM_BLOCK_TOKENS
    fits = total <= budget
    head = (
        f"{eng.name} reserves {util:g} x {fmt_gib(visible)} = {fmt_gib(budget)} per GPU; weights "
        f"{fmt_gib(weights)}"
        f" + activations {fmt_gib(act)} + CUDA/non-torch {fmt_gib(non_torch)} + graphs "
        f"{fmt_gib(CUDA_GRAPH_BYTES)}"
        f" leave {fmt_gib(max(available, 0))} for KV"
    )
    if available <= 0:
        reason = (
            f"No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
            f"initializing "
            f"the engine. ({head}: the model does not fit; use a smaller format, more GPUs or a bigger GPU.)"
        )
    elif seq_kv > available:
        reason = (
            f"To serve at least one request with the model's max seq len ({context}), ({fmt_gib(seq_kv)} "
            f"KV cache "
            f"is needed, which is larger than the available KV cache memory ({fmt_gib(available)}). Based "
            f"on the "
            f"available memory, the estimated maximum model length is {max_ctx}. Try increasing "
            f"`gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine. ({head}.)"
        )
    elif not fits:
        reason = (
            f"{head}: {capacity} KV tokens serve {max_seqs} concurrent sequences of {context} tokens, "
            f"{concurrency} requested."
        )
    else:
        reason = f"{head}: {capacity} KV tokens, {max_seqs} concurrent sequences of {context} tokens."
    return MemoryEstimate(
        engine=eng.name,
        gpu=g.name,
        tensor_parallel=tp,
        context=context,
        concurrency=concurrency,
        kv_dtype=kvd,
        weights_bytes=weights,
        kv_cache_bytes=kv_needed,
        activation_bytes=act,
        cuda_context_bytes=CUDA_CONTEXT_BYTES,
        other_bytes=other,
        total_bytes=total,
        usable_bytes=budget,
        visible_bytes=visible,
        fits=fits,
        kv_capacity_tokens=capacity,
        max_concurrent_sequences=int(max_seqs),
        max_context=max_ctx,
        reason=reason,
    )


def _ggml(
    model: ModelArch, quant: str, eng: Engine, context: int, concurrency: int, g: Gpu, n_gpus: int, kvd: str
) -> MemoryEstimate:
    """llama.cpp-style: weights + KV of `concurrency` slots of `context` cells + compute buffer + CUDA context
    and pool, layers split over n_gpus (benchmarks/results/llamacpp_gpu.md: within 5% of nvidia-smi)."""
    visible = g.visible_bytes
    usable = visible - (LLAMACPP_FIT_MARGIN if eng.name == "llamacpp" else 0)
    on_gpu_weights = weight_bytes(model, quant) - host_resident_bytes(model, quant)
    weights = math.ceil(on_gpu_weights / n_gpus)
    n_ctx = context * concurrency  # each slot has its own context (OLLAMA_NUM_PARALLEL x num_ctx, §6)
    kv_total = ggml_kv_bytes(model, context, concurrency, kvd)
    kv = math.ceil(kv_total / n_gpus)
    fa = GGML_FLASH_ATTN
    compute = ggml_compute_bytes(model, n_ctx, flash_attn=fa, n_seq=concurrency, kv_dtype=kvd)
    cuda, other = ggml_gpu_overhead_bytes(model, flash_attn=fa)
    fixed = weights + compute + cuda + other
    total = fixed + kv
    fits = total <= usable
    available = usable - fixed
    per_token = kv_bytes_for_sequence(model, max(context, 1), kvd, 1) / max(context, 1) / n_gpus
    capacity = max(0, int(available // per_token)) if per_token else (context * concurrency if fits else 0)
    max_seqs = capacity // context if context else 0
    # longest single context that fits (compute buffer grows with n_ctx too)
    lo, hi = 0, max(context, model.max_position_embeddings) * 8
    while lo < hi:
        mid = (lo + hi + 1) // 2
        need = weights + cuda + other + ggml_compute_bytes(model, mid, flash_attn=fa, kv_dtype=kvd)
        need += math.ceil(ggml_kv_bytes(model, mid, 1, kvd) / n_gpus)
        if need <= usable:
            lo = mid
        else:
            hi = mid - 1
    gpu_layers: int | None = None
    spills = not fits
    if fits:
        reason = (
            f"{eng.name}: weights {fmt_gib(weights)} + KV {fmt_gib(kv)} ({concurrency} x {context} "
            f"tokens, {kvd})"
            f" + compute buffer {fmt_gib(compute)} + CUDA context and pool {fmt_gib(cuda + other)}"
            f" = {fmt_gib(total)} of {fmt_gib(usable)} per GPU."
        )
    else:
        per_layer = (weights + kv) / max(1, model.layers)
        room = usable - compute - cuda - other
        gpu_layers = max(0, min(model.layers, int(room // per_layer))) if per_layer else 0
        offload = "Ollama offloads" if eng.name == "ollama" else "llama.cpp (--n-gpu-layers) must keep"
        reason = (
            f"{eng.name}: needs {fmt_gib(total)} per GPU but {g.name} has {fmt_gib(usable)}: {offload} "
            f"{model.layers - gpu_layers} of {model.layers} layers on the CPU (slow). Longest context "
            f"that fits "
            f"entirely: {lo} tokens."
        )
    return MemoryEstimate(
        engine=eng.name,
        gpu=g.name,
        tensor_parallel=n_gpus,
        context=context,
        concurrency=concurrency,
        kv_dtype=kvd,
        weights_bytes=weights,
        kv_cache_bytes=kv,
        activation_bytes=compute,
        cuda_context_bytes=cuda,
        other_bytes=other,
        total_bytes=total,
        usable_bytes=usable,
        visible_bytes=visible,
        fits=fits,
        kv_capacity_tokens=capacity,
        max_concurrent_sequences=max_seqs,
        max_context=lo,
        reason=reason,
        spills_to_cpu=spills,
        gpu_layers=gpu_layers,
    )
