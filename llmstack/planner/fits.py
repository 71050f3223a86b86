"""`fits_for_vram`: every catalog model x format that fits one GPU of a given size."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from llmstack.catalog import models
from llmstack.engines import engine as engine_by_name
from llmstack.errors import InputError
from llmstack.planner.engines_memory import estimate_memory, resolve_kv_dtype
from llmstack.planner.load import load_model
from llmstack.planner.quant import QUANTS, format_family
from llmstack.planner.result import virtual_gpu
from llmstack.planner.units import parse_size
from llmstack.planner.weights import weight_bytes


class FitRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    params: int
    quant: str
    engine: str
    weights_bytes: int
    kv_cache_bytes: int
    total_bytes: int
    kv_capacity_tokens: int
    max_concurrent_sequences: int
    note: str = ""


def fits_for_vram(
    vram_bytes: int | str, context: int, engine: str = "auto", kv_dtype: str = "auto"
) -> list[FitRow]:
    """Every catalog model x format that fits one GPU of `vram_bytes` (visible total) at `context`.
    engine "auto": GGUF formats on ollama, safetensors formats on vllm."""
    vram = parse_size(vram_bytes, "vram")
    if context < 1:
        raise InputError("context", context, "Give a context length of at least 1 token.")
    gpu = virtual_gpu(vram)
    engines = ["ollama", "vllm"] if engine == "auto" else [engine]
    for e in engines:
        eng = engine_by_name(e)
        if eng.memory_model == "none":
            raise InputError(
                "engine", e, "Not an inference engine; use ollama, vllm, sglang, llamacpp, tgi, nim."
            )
        resolve_kv_dtype(eng, kv_dtype)
    rows: list[FitRow] = []
    for name in models():
        m = load_model(name)
        if m.is_embedding:
            continue
        for e in engines:
            eng = engine_by_name(e)
            for q in QUANTS:
                fam = format_family(q)
                if (
                    not eng.serves(fam)
                    or fam in {"fp16", "gptq"}
                    or q in {"Q3_K_S", "Q3_K_L", "Q5_K_S", "F16"}
                ):
                    continue
                g = gpu.model_copy(update={"fp8": True}) if fam == "fp8" else gpu
                est = estimate_memory(m, q, e, min(context, m.max_position_embeddings), 1, g, 1, kv_dtype)
                if est.fits:
                    rows.append(
                        FitRow(
                            model=name,
                            params=m.params,
                            quant=q,
                            engine=e,
                            weights_bytes=weight_bytes(m, q),
                            kv_cache_bytes=est.kv_cache_bytes,
                            total_bytes=est.total_bytes,
                            kv_capacity_tokens=est.kv_capacity_tokens,
                            max_concurrent_sequences=est.max_concurrent_sequences,
                            note=("needs an FP8 GPU (Ada/Hopper+)" if fam == "fp8" else "")
                            + (
                                f"context capped at {m.max_position_embeddings}"
                                if context > m.max_position_embeddings
                                else ""
                            ),
                        )
                    )
    return rows
