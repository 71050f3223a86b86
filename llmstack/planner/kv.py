"""KV-cache bytes (docs/sizing.md §4.3)."""

from __future__ import annotations

from fractions import Fraction

from llmstack.errors import InputError
from llmstack.planner.arch import ModelArch

# bytes per element. fp8 halves bf16 (vLLM --kv-cache-dtype fp8); ggml q8_0 = 34/32, q4_0 = 18/32
# (block sizes, ggml-common.h; docs/sizing.md §12 "q8_0 KV = 34/32 bytes per element").
KV_DTYPE_BYTES: dict[str, Fraction] = {
    "bf16": Fraction(2),
    "fp16": Fraction(2),
    "f16": Fraction(2),
    "fp8": Fraction(1),
    "fp8_e4m3": Fraction(1),
    "fp8_e5m2": Fraction(1),
    "q8_0": Fraction(34, 32),
    "q4_0": Fraction(18, 32),
}
GGML_KV_DTYPES = (
    "f16",
    "q8_0",
    "q4_0",
)  # OLLAMA_KV_CACHE_TYPE / llama.cpp --cache-type-k/v (docs/sizing.md §6)
PREALLOC_KV_DTYPES = ("auto", "bf16", "fp16", "fp8", "fp8_e4m3", "fp8_e5m2")  # vLLM --kv-cache-dtype


def kv_dtype_bytes(kv_dtype: str) -> Fraction:
    key = kv_dtype.strip().lower()
    if key == "auto":
        return Fraction(2)  # the model dtype: bf16/fp16 for every catalog decoder
    if key not in KV_DTYPE_BYTES:
        raise InputError("kv_dtype", kv_dtype, f"Use one of: auto, {', '.join(KV_DTYPE_BYTES)}.")
    return KV_DTYPE_BYTES[key]


def kv_heads_per_gpu(model: ModelArch, tensor_parallel: int = 1) -> int:
    """vLLM `get_num_kv_heads`: max(1, n_kv // TP); heads are replicated when TP > n_kv."""
    return max(1, model.kv_heads // tensor_parallel)


def _per_layer_token_bytes(model: ModelArch, kv_dtype: str, tensor_parallel: int) -> Fraction:
    if model.is_embedding:
        return Fraction(0)  # encoders keep no KV cache
    b = kv_dtype_bytes(kv_dtype)
    if model.is_mla:
        # MLA: one latent (kv_lora_rank + rope dims) per token per layer, replicated on every TP rank.
        return (model.kv_lora_rank + model.qk_rope_head_dim) * b
    return 2 * kv_heads_per_gpu(model, tensor_parallel) * model.head_dim * b


def kv_bytes_per_token(model: ModelArch, kv_dtype: str = "bf16", tensor_parallel: int = 1) -> int:
    """KV bytes per token per GPU, every layer counted as full attention.
    GQA/MHA: 2 x layers x kv_heads x head_dim x bytes;
    MLA: layers x (kv_lora_rank + qk_rope_head_dim) x bytes."""
    return int(model.layers * _per_layer_token_bytes(model, kv_dtype, tensor_parallel))


def kv_bytes_for_sequence(
    model: ModelArch, tokens: int, kv_dtype: str = "bf16", tensor_parallel: int = 1, *, window: bool = True
) -> int:
    """KV bytes per GPU for one sequence of `tokens`. With `window`, sliding-window layers keep only the
    window (vLLM V1 hybrid KV cache manager; llama.cpp SWA cache):
    2·n_kv·hd·b·(N_full·T + N_swa·min(T, W))."""
    per_layer = _per_layer_token_bytes(model, kv_dtype, tensor_parallel)
    swa = model.sliding_layers if (window and model.sliding_window) else 0
    full = model.layers - swa
    windowed = min(tokens, model.sliding_window or tokens)
    return int(per_layer * (full * tokens + swa * windowed))
