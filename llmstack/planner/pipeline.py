"""Pipeline parallel across nodes: how vLLM splits the layers over P stages, and each stage's per-GPU memory.

vLLM 0.30.0 `vllm/distributed/utils.py` `get_pp_indices`: each stage gets `layers // P` layers and the remainder goes
one layer each to the stages counted back from the second-to-last (the last stage already holds the final norm and
the LM head); `VLLM_PP_LAYER_PARTITION` overrides it. The first stage also holds the token embeddings, the last the
final norm and `lm_head`; with tied embeddings the last stage keeps its own copy of the embedding as the head
(`vllm/model_executor/models/llama.py`: `embed_tokens` on the first rank, or the last when tied). Within a stage,
tensor parallel splits every layer, the vocab-parallel embedding and the head over T GPUs. Each stage's KV cache holds
only its own layers, over T.
"""

from __future__ import annotations

import math
from functools import cache

from pydantic import BaseModel, ConfigDict

from llmstack.catalog import Gpu
from llmstack.engines import engine as engine_by_name
from llmstack.planner.arch import ModelArch, tensors
from llmstack.planner.engines_memory import MemoryEstimate, preallocate
from llmstack.planner.weights import safetensors_tensor_bytes, weight_bytes

# Engines with a pipeline-parallel multi-node recipe (vLLM with Ray: docs/kubernetes.md "Multi-node").
PIPELINE_ENGINES = ("vllm",)


class Stage(BaseModel):
    """One pipeline stage (one node): its layers and per-GPU memory."""

    model_config = ConfigDict(frozen=True)

    first_layer: int
    layers: int
    embeddings: bool  # holds the token embeddings
    head: bool  # holds the final norm and LM head
    weights_bytes: int  # per GPU
    kv_cache_bytes: int  # per GPU, context x concurrency
    total_bytes: int  # per GPU
    fits: bool


def stage_layers(layers: int, stages: int) -> tuple[int, ...]:
    """vLLM's default split: 80 layers over 3 stages -> (27, 27, 26); 61 over 4 -> (15, 15, 16, 15)."""
    parts = [layers // stages] * stages
    for i in range(2, layers % stages + 2):
        parts[-i] += 1
    return tuple(parts)


@cache
def stage_weight_bytes(model: ModelArch, quant: str, stages: int) -> tuple[int, ...]:
    """Whole-stage weight bytes (before the split over T) of each stage, in a safetensors format. Where the model's
    exact checkpoint size is known the stages are scaled to it, keeping their proportions."""
    split = stage_layers(model.layers, stages)
    starts = [sum(split[:i]) for i in range(stages)]
    out = [0] * stages
    for t in tensors(model):
        size = safetensors_tensor_bytes(model, t, quant)
        if t.name.startswith("blk."):
            layer = int(t.name.split(".")[1])
            out[max(i for i in range(stages) if starts[i] <= layer)] += size
        elif t.name.startswith("output"):
            out[-1] += size
        else:  # token embeddings (and absolute positions): the first stage, and the head of a tied model
            out[0] += size
            if model.tied and t.kind == "embedding" and stages > 1:
                out[-1] += size
    exact = weight_bytes(model, quant)
    computed = sum(out) - (_tied_head(model, quant) if stages > 1 else 0)
    if computed and exact != computed:
        out = [math.ceil(b * exact / computed) for b in out]
    return tuple(out)


def _tied_head(model: ModelArch, quant: str) -> int:
    if not model.tied:
        return 0
    return sum(safetensors_tensor_bytes(model, t, quant) for t in tensors(model) if t.kind == "embedding")


def stage_estimates(model: ModelArch, quant: str, engine: str, context: int, concurrency: int, gpu: Gpu, tp: int,
                    stages: int, kv_dtype: str) -> tuple[tuple[Stage, ...], MemoryEstimate]:
    """Every stage's per-GPU memory, and the full estimate of the worst (least free) stage, which sizes the nodes."""
    eng = engine_by_name(engine)
    split = stage_layers(model.layers, stages)
    weights = stage_weight_bytes(model, quant, stages)
    out: list[Stage] = []
    worst: MemoryEstimate | None = None
    for i, (layers, stage_bytes) in enumerate(zip(split, weights, strict=True)):
        windowed = math.ceil(model.sliding_layers * layers / model.layers)
        part = model.model_copy(update={"layers": layers, "sliding_layers": min(layers, windowed)})
        est = preallocate(part, quant, eng, context, concurrency, gpu, tp, kv_dtype, stage_weights=stage_bytes,
                          distributed=True)
        out.append(Stage(first_layer=sum(split[:i]), layers=layers, embeddings=i == 0, head=i == stages - 1,
                         weights_bytes=est.weights_bytes, kv_cache_bytes=est.kv_cache_bytes,
                         total_bytes=est.total_bytes, fits=est.fits))
        if worst is None or est.free_bytes < worst.free_bytes:
            worst = est
    assert worst is not None
    return tuple(out), worst
