"""Weight bytes per format (docs/sizing.md §3)."""

from __future__ import annotations

import math
from functools import cache

from llmstack.planner.arch import ModelArch, Tensor, tensors
from llmstack.planner.gguf import gguf_bytes
from llmstack.planner.quant import GGUF_QUANTS, normalize_quant

AWQ_GROUP = (
    128  # INT4 g128: qweight in*out/2, fp16 scales (in/128)*out*2, qzeros (in/128)*out/2 (docs/sizing.md §3.4)
)
FP8_BLOCK = 128  # native FP8 block scales: one fp32 scale per 128x128 block (DeepSeek-V3 README_WEIGHTS.md)


def _int4_bytes(t: Tensor) -> int:
    groups = math.ceil(t.ne0 / AWQ_GROUP)
    per_matrix = t.ne0 * t.rows // 2 + groups * t.rows * 2 + groups * t.rows // 2
    return per_matrix * t.experts  # = 0.5195 B per weight when ne0 % 128 == 0 (4.156 bpw)


def _fp8_bytes(t: Tensor, *, block_scales: bool) -> int:
    # block: one fp32 scale per 128x128 block; else compressed-tensors per-channel fp32 scale
    # (docs/sizing.md §3.4)
    block = math.ceil(t.ne0 / FP8_BLOCK) * math.ceil(t.rows / FP8_BLOCK) * 4
    scales = block if block_scales else t.rows * 4
    return (t.numel // t.experts + scales) * t.experts


def _int8_bytes(t: Tensor) -> int:
    return (t.ne0 * t.rows + t.rows * 2) * t.experts  # int8 weight + fp16 per-channel scale


def safetensors_tensor_bytes(m: ModelArch, t: Tensor, quant: str) -> int:
    """Bytes of one tensor in a safetensors format (bf16/fp16, fp8, int8, awq, gptq)."""
    # embedding, lm_head, norms, biases and MoE routers stay 16-bit in every safetensors format
    if quant in {"bf16", "fp16"} or t.kind != "linear":
        return t.numel * 2
    if quant in {"awq", "gptq"}:
        return _int4_bytes(t)
    if quant == "fp8":
        return _fp8_bytes(t, block_scales=m.native_format == "fp8" and m.is_mla)  # DeepSeek-V3 style block FP8
    if quant == "int8":
        return _int8_bytes(t)
    raise AssertionError(quant)  # pragma: no cover - normalize_quant guards this


@cache
def _weight_bytes(m: ModelArch, quant: str) -> int:
    if quant in GGUF_QUANTS:
        return gguf_bytes(m, quant)
    if m.safetensors_total_bytes and m.native_format == quant:
        return m.safetensors_total_bytes  # exact: model.safetensors.index.json metadata.total_size
    return sum(safetensors_tensor_bytes(m, t, quant) for t in tensors(m))


def weight_bytes(model: ModelArch, quant: str) -> int:
    """Bytes of the weights in `quant` (a GGUF file type, bf16/fp16, fp8, int8, awq, gptq)."""
    return _weight_bytes(model, normalize_quant(quant))


@cache
def host_resident_bytes(m: ModelArch, quant: str) -> int:
    """Bytes llama.cpp keeps on the host even with every layer offloaded: an untied `token_embd`
    (Ollama log: "CPU model buffer 281.81 MiB", docs/sizing.md §6)."""
    from llmstack.planner.gguf import tensor_bytes, tensor_types

    if m.tied or quant not in GGUF_QUANTS:
        return 0
    return sum(tensor_bytes(t, ty) for t, ty in tensor_types(m, quant) if t.kind == "embedding")


@cache
def cpu_repack_bytes(m: ModelArch, quant: str) -> int:
    """On CPU llama.cpp repacks Q4_0/Q4_K/IQ4_NL weights into a second copy unless --no-repack
    (Llama-3.1-8B Q4_K_M: +3204 MiB, docs/sizing.md §12)."""
    from llmstack.planner.gguf import tensor_bytes, tensor_types

    if quant not in GGUF_QUANTS:
        return 0
    return sum(
        tensor_bytes(t, ty)
        for t, ty in tensor_types(m, quant)
        if ty in {"Q4_0", "Q4_K", "IQ4_NL"} and t.kind == "linear"
    )
