"""llama.cpp GGUF sizes, modelled per tensor with llama-quantize's type rules.

Sources:
  - block sizes: ggml-org/llama.cpp `ggml/src/ggml-common.h` (docs/sizing.md §3.1 table)
  - type rules:  ggml-org/llama.cpp `src/llama-quant.cpp` `llama_tensor_get_type_impl`, `tensor_type_fallback`
                 (docs/sizing.md §3.2 and §12, checked against llama-quantize at commit 0c1e570)
A GGUF file's size depends only on tensor shapes and chosen types (docs/sizing.md §12), so this is exact up
to the
metadata (tokenizer) block.
"""

from __future__ import annotations

from collections import Counter
from functools import cache

from llmstack.planner.arch import ModelArch, Tensor

# type -> (elements per block, bytes per block): ggml/src/ggml-common.h
BLOCK: dict[str, tuple[int, int]] = {
    "F32": (1, 4),
    "F16": (1, 2),
    "Q4_0": (32, 18),
    "Q4_1": (32, 20),
    "Q5_0": (32, 22),
    "Q5_1": (32, 24),
    "Q8_0": (32, 34),
    "IQ4_NL": (32, 18),  # block_iq4_nl: fp16 d + 16 B of nibbles
    "Q2_K": (256, 84),
    "Q3_K": (256, 110),
    "Q4_K": (256, 144),
    "Q5_K": (256, 176),
    "Q6_K": (256, 210),
}
QK_K = 256  # ggml-common.h

# file type -> default tensor type (llama-quant.cpp `llama_model_quantize_impl` switch on ftype)
DEFAULT_TYPE: dict[str, str] = {
    "Q2_K": "Q2_K",
    "Q3_K_S": "Q3_K",
    "Q3_K_M": "Q3_K",
    "Q3_K_L": "Q3_K",
    "Q4_0": "Q4_0",
    "Q4_K_S": "Q4_K",
    "Q4_K_M": "Q4_K",
    "Q5_K_S": "Q5_K",
    "Q5_K_M": "Q5_K",
    "Q6_K": "Q6_K",
    "Q8_0": "Q8_0",
    "F16": "F16",
}

# k-quant fallback when ne[0] % 256 != 0: llama-quant.cpp `tensor_type_fallback` (docs/sizing.md §3.2); Q2_K and
# Q3_K fall back to Q4_0 in llama.cpp 0c1e570 (checked with the real quantizer: benchmarks/results/gguf_quantizer.md).
_FALLBACK: dict[str, str] = {
    "Q2_K": "Q4_0",
    "Q3_K": "Q4_0",
    "Q4_K": "Q5_0",
    "Q5_K": "Q5_1",
    "Q6_K": "Q8_0",
}

# Tokenizer + KV metadata + tensor-info header. Measured: the tensor rules leave 7.8 MB (Llama-3 vocab) and
# ~6 MB (Qwen2.5) to the published files; "Tokenizer metadata adds 5-8 MB" (docs/sizing.md §3.2 Validation,
# §12).
GGUF_METADATA_BYTES = 7_000_000


def use_more_bits(i: int, n: int) -> bool:
    """llama-quant.cpp `use_more_bits`: first and last eighth, and every third layer between."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _fallback(ttype: str, ne0: int) -> str:
    block = BLOCK[ttype][0]
    if ne0 % block == 0:
        return ttype
    new = _FALLBACK.get(ttype, "F16")
    return new if ne0 % BLOCK[new][0] == 0 else "F16"


def _quantizable(t: Tensor) -> bool:
    # 1-D tensors, routers (ffn_gate_inp), position embeddings and token types are never quantized
    # (llama-quant.cpp: `ggml_n_dims(tensor) >= 2`, `ffn_gate_inp.weight`, POS_EMBD, TOKEN_TYPES).
    return t.kind in {"linear", "embedding", "output"}


@cache
def tensor_types(m: ModelArch, ftype: str) -> tuple[tuple[Tensor, str], ...]:
    """(tensor, ggml type) for every tensor of `m` quantized as `ftype` (e.g. Q4_K_M)."""
    default = DEFAULT_TYPE[ftype]
    n_attention_wv = sum(1 for t in _all(m) if t.role in {"attn_v", "attn_qkv"})
    n_ffn_down = sum(1 for t in _all(m) if t.role.startswith("ffn_down"))
    n_gqa = m.heads // max(1, m.kv_heads)
    has_output = not m.tied and m.family != "encoder"
    big = m.layers >= 80  # llama.cpp "70B" class (LLM_TYPE_70B); docs/sizing.md §12: "models of 80+ layers"
    i_wv = i_down = 0
    out: list[tuple[Tensor, str]] = []
    for t in _all(m):
        if not _quantizable(t):
            out.append((t, "F32" if t.kind in {"vector", "router"} else "F16"))
            continue
        if ftype == "F16":
            out.append((t, "F16"))
            continue
        ttype = default
        role = t.role
        if t.kind == "output" or (not has_output and t.kind == "embedding" and m.family != "encoder"):
            # output.weight (and a tied token_embd): Q6_K, Q8_0 if the row is not 256-divisible
            ttype = "Q8_0" if t.ne0 % QK_K != 0 else (ttype if ttype == "Q8_0" else "Q6_K")
            out.append((t, _fallback(ttype, t.ne0)))
            continue
        if t.kind == "embedding":
            out.append((t, _fallback(ttype, t.ne0)))
            continue
        if role in {"attn_v", "attn_qkv"}:
            # docs/sizing.md §12: "a fused attn_qkv (Phi-3) is treated like attn_v"
            if ftype == "Q2_K":
                ttype = "Q4_K" if n_gqa >= 4 else "Q3_K"
            elif ftype == "Q3_K_M":
                ttype = "Q5_K" if i_wv < 2 else "Q4_K"
            elif ftype == "Q3_K_L":
                ttype = "Q5_K"
            elif ftype in {"Q4_K_M", "Q5_K_M"} and use_more_bits(i_wv, n_attention_wv):
                ttype = "Q6_K"
            elif ftype == "Q4_K_S" and i_wv < 4:
                ttype = "Q5_K"
            if big and ttype in {"Q3_K", "Q4_K"}:
                ttype = "Q5_K"
            if m.num_experts == 8:
                ttype = "Q8_0"  # "for the 8-expert model, bumping this to Q8_0 trades just ~128MB"
            i_wv += 1
        elif role == "attn_k":
            if m.num_experts == 8:
                ttype = "Q8_0"
        elif role.startswith("ffn_down"):
            n = n_ffn_down
            if ftype == "Q2_K":
                ttype = "Q3_K"
            elif ftype == "Q3_K_M":
                ttype = "Q5_K" if i_down < n // 16 else "Q4_K"
            elif ftype == "Q3_K_L":
                ttype = "Q5_K"
            elif ftype in {"Q4_K_M", "Q5_K_M"} and use_more_bits(i_down, n):
                ttype = "Q6_K"
            elif ftype == "Q4_K_S" and i_down < n // 8:
                ttype = "Q5_K"
            i_down += 1
        elif role == "attn_output":
            if m.num_experts == 8:
                if ftype in {"Q2_K", "Q3_K_S", "Q3_K_M", "Q4_K_S", "Q4_K_M"}:
                    ttype = "Q5_K"
            elif ftype == "Q2_K":
                ttype = "Q3_K"
            elif ftype == "Q3_K_M":
                ttype = "Q4_K"
            elif ftype == "Q3_K_L":
                ttype = "Q5_K"
        out.append((t, _fallback(ttype, t.ne0)))
    return tuple(out)


def _all(m: ModelArch) -> tuple[Tensor, ...]:
    from llmstack.planner.arch import tensors

    return tensors(m)


def tensor_bytes(t: Tensor, ttype: str) -> int:
    per, size = BLOCK[ttype]
    return (t.ne0 // per) * size * t.rows * t.experts if per > 1 else t.numel * size


@cache
def gguf_bytes(m: ModelArch, ftype: str) -> int:
    """Predicted GGUF file size in bytes (tensor data + metadata)."""
    return sum(tensor_bytes(t, ty) for t, ty in tensor_types(m, ftype)) + GGUF_METADATA_BYTES


def type_histogram(m: ModelArch, ftype: str) -> dict[str, int]:
    """Bytes per ggml type, for explanations."""
    hist: Counter[str] = Counter()
    for t, ty in tensor_types(m, ftype):
        hist[ty] += tensor_bytes(t, ty)
    return dict(hist)
