"""The decision framework: which engine, which format, how long to wait for start-up.

The rules and their sources: docs/engines.md §10 (GGUF only on ollama/llamacpp: §4; FP8 only on GPUs with FP8
tensor cores, Ada sm89, Hopper sm90, Blackwell: docs/sizing.md §3.4; NIM 2.x runs vLLM/SGLang: §5).
"""

from __future__ import annotations

import math
from typing import Literal

from llmstack.catalog import Gpu, gpu_by_name
from llmstack.engines import engine as engine_by_name
from llmstack.errors import InputError
from llmstack.planner.arch import ModelArch
from llmstack.planner.units import GB

Workload = Literal["dev", "throughput", "structured", "cpu", "hopper-production"]
WORKLOADS: tuple[str, ...] = ("dev", "throughput", "structured", "cpu", "hopper-production")

# More than 10 concurrent users, or batching: vLLM (docs/engines.md §10.1).
BATCHING_USERS = 10
# GGUF ladder: start at Q4_K_M, upgrade while VRAM allows (docs/engines.md §10.2).
GGUF_START = "Q4_K_M"
GGUF_UPGRADES: tuple[str, ...] = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M")  # best first
GGUF_TIGHT: tuple[str, ...] = (
    "Q4_K_S",
    "Q3_K_M",
    "Q2_K",
)  # below the start: suggestions only ("last resort")
# Safetensors engines: BF16 when it fits, else FP8 (Ada/Hopper+), else INT4 AWQ (docs/engines.md §10.2).
HF_LADDER: tuple[str, ...] = ("bf16", "fp8", "awq")


def _gpu(gpu: str | Gpu | None) -> Gpu | None:
    if gpu is None or isinstance(gpu, Gpu):
        return gpu
    return gpu_by_name(gpu)


def choose_engine(workload: str | None, gpu: str | Gpu | None = None, concurrency: int = 1) -> str:
    """dev/single user -> ollama; >10 concurrent users -> vllm; structured output -> sglang; CPU only ->
    llamacpp; Hopper production -> nim on Hopper or newer, else vllm (with FP8 where the GPU has it)."""
    if workload is not None and workload not in WORKLOADS:
        raise InputError("workload", workload, f"Use one of: {', '.join(WORKLOADS)}.")
    g = _gpu(gpu)
    if workload == "cpu":
        return "llamacpp"
    if workload == "structured":
        return "sglang"
    if workload == "hopper-production":
        return "nim" if g is None or g.is_hopper_or_newer else "vllm"
    if workload == "throughput" or concurrency > BATCHING_USERS:
        return "vllm"
    return "ollama"


def quant_candidates(engine: str, gpu: Gpu | None) -> tuple[str, ...]:
    """Formats the decision framework will pick for `engine` on `gpu`, best first."""
    eng = engine_by_name(engine)
    if eng.memory_model == "ggml":
        return GGUF_UPGRADES
    out = []
    for q in HF_LADDER:
        if not eng.serves(q):
            continue
        if q == "fp8" and (gpu is None or not gpu.fp8):
            continue
        out.append(q)
    return tuple(out)


def choose_quant(
    engine: str,
    gpu: str | Gpu,
    model: ModelArch,
    context: int,
    concurrency: int = 1,
    *,
    tensor_parallel: int = 1,
    kv_dtype: str = "auto",
) -> str:
    """The best format that fits: GGUF engines start at Q4_K_M and upgrade to Q5_K_M/Q6_K/Q8_0 while it still
    fits; safetensors engines take bf16, else fp8 (FP8-capable GPUs), else awq. When nothing fits this returns
    the smallest candidate (Q4_K_M or awq) and `estimate_memory` says why it does not fit."""
    from llmstack.planner.engines_memory import estimate_memory

    g = _gpu(gpu)
    assert g is not None
    candidates = quant_candidates(engine, g)
    for q in candidates:
        est = estimate_memory(model, q, engine, context, concurrency, g, tensor_parallel, kv_dtype)
        if est.fits:
            return q
    return candidates[-1]


# Model load budget (docs/engines.md §3, §10.3; vllm-project/vllm PR #45551): ~40 s from GPU allocation to ready for
# a 7B vLLM replica (BF16, ~15.2 GB), ~17 min for 72B at TP=4 (BF16, ~145 GB). Formula:
#   seconds = 40 x (weight_bytes / 15.23 GB) x (1 + log2(TP)), at least 30 s;
# it gives 40 s and 1,146 s (19 min, +12% margin over the measured 17 min) at the two measured points. The practical
# rule (same §3: ">= 10 min for >= 30B models") sets a 600 s floor at 60 GB of weights and more.
_REF_SECONDS = 40
_REF_BYTES = 15.23 * GB
_MIN_SECONDS = 30
_BIG_BYTES = 60 * GB
_BIG_FLOOR = 600


# Cold start: the first boot downloads the weights before loading them (docs/engines.md §3: start_period ≈
# weight_bytes / download_bandwidth + load_time). The same section's practical values (">= 10 min for >= 30B models,
# 20 min with cold downloads") put the download of ~60 GB of BF16 30B weights at ~10 min: ~100 MB/s.
_DOWNLOAD_BYTES_PER_S = 100 * 10**6


def cold_start_seconds(weights_bytes: int, tensor_parallel: int = 1, *, loaded_bytes: int | None = None) -> int:
    """`startup_seconds` plus downloading the weights: the `start_period` of a container whose cache may be empty.
    With Docker's `start_interval` probing every few seconds, a long start period costs nothing once it is ready.
    `loaded_bytes`: what the slowest node loads (a pipeline stage), when not all of the weights."""
    loaded = weights_bytes if loaded_bytes is None else loaded_bytes
    return startup_seconds(loaded, tensor_parallel) + math.ceil(weights_bytes / _DOWNLOAD_BYTES_PER_S)


def startup_seconds(weights_bytes: int, tensor_parallel: int = 1) -> int:
    """Health-check `start_period` budget in seconds for loading `weights_bytes` at `tensor_parallel`."""
    if weights_bytes < 0 or tensor_parallel < 1:
        raise InputError("weights_bytes", weights_bytes, "Give non-negative bytes and tensor_parallel >= 1.")
    seconds = _REF_SECONDS * (weights_bytes / _REF_BYTES) * (1 + math.log2(tensor_parallel))
    if weights_bytes >= _BIG_BYTES:
        seconds = max(seconds, _BIG_FLOOR)
    return max(_MIN_SECONDS, math.ceil(seconds))
