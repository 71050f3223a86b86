"""Weight formats: names, normalisation and the format family each engine's `formats` list uses."""

from __future__ import annotations

from llmstack.errors import InputError

# GGUF file types the planner models per tensor (llama.cpp `tools/quantize/quantize.cpp` QUANT_OPTIONS names).
GGUF_QUANTS: tuple[str, ...] = (
    "Q2_K",
    "Q3_K_S",
    "Q3_K_M",
    "Q3_K_L",
    "Q4_0",
    "Q4_K_S",
    "Q4_K_M",
    "Q5_K_S",
    "Q5_K_M",
    "Q6_K",
    "Q8_0",
    "F16",
)
# Safetensors formats (engines.yaml `formats`): 16-bit, FP8 (compressed-tensors / native block FP8),
# INT8 (W8A16 / GPTQ-Int8), INT4 g128 (AWQ GEMM, GPTQ desc_act=False): docs/sizing.md §3.4.
HF_QUANTS: tuple[str, ...] = ("bf16", "fp16", "fp8", "int8", "awq", "gptq")
QUANTS: tuple[str, ...] = HF_QUANTS + GGUF_QUANTS

_ALIASES: dict[str, str] = {
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "f16": "F16",  # llama.cpp spelling: the GGUF F16 file type
    "fp8_e4m3": "fp8",
    "w8a8": "int8",
    "gptq-int8": "int8",
    "awq-int4": "awq",
    "gptq-int4": "gptq",
    "int4": "awq",
}
_BY_LOWER = {q.lower(): q for q in QUANTS}


def normalize_quant(value: str, field: str = "quant") -> str:
    """Canonical quant name: `q4_k_m` -> `Q4_K_M`, `BF16` -> `bf16`, `f16` -> `F16` (GGUF), `fp16` ->
    `fp16`."""
    key = value.strip().lower().replace("-", "_") if value else ""
    key = key.replace("gptq_int", "gptq-int").replace("awq_int", "awq-int")
    if key in _ALIASES:
        return _ALIASES[key]
    if key in _BY_LOWER:
        return _BY_LOWER[key]
    raise InputError(field, value, f"Use one of: {', '.join(QUANTS)} (or auto).")


def is_gguf(quant: str) -> bool:
    return quant in GGUF_QUANTS


def format_family(quant: str) -> str:
    """The engines.yaml `formats` family: every GGUF type -> `gguf`; `awq`, `gptq`, `fp8`, `int8`,
    `bf16`, `fp16`."""
    q = normalize_quant(quant)
    return "gguf" if q in GGUF_QUANTS else q
