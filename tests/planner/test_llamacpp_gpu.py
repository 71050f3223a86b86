"""The ggml (llama.cpp / Ollama) GPU memory model against a real CUDA llama-server.

Measurements: benchmarks/results/llamacpp_gpu.json (llama.cpp b11312 on an H200, nvidia-smi after one request,
five architectures, 4k-128k, 1 and 4 slots; benchmarks/llamacpp_gpu/). The planner's figures are recomputed
here, not read from the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmstack.planner import load_model
from llmstack.planner.engines_memory import (
    GGML_CUDA_OVERHEAD,
    GGML_MOE_POOL,
    MemoryEstimate,
    estimate_memory,
    ggml_compute_bytes,
    ggml_gpu_overhead_bytes,
    ggml_kv_bytes,
    ggml_kv_cells,
)
from llmstack.planner.units import MIB

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "llamacpp_gpu.json"
POINTS: list[dict[str, Any]] = json.loads(RESULTS.read_text())["points"]
LAUNCH = [p for p in POINTS if p["fa"] != "off"]  # flash attention on, as the recipes launch (auto == on)
FA_OFF = [p for p in POINTS if p["fa"] == "off"]


def _estimate(p: dict[str, Any]) -> MemoryEstimate:
    return estimate_memory(load_model(p["model"]), "Q4_K_M", "llamacpp", p["context"], p["slots"], "H200",
                           kv_dtype=p["kv"])  # fmt: skip


def test_the_measurements_cover_the_brief() -> None:
    assert {p["model"] for p in LAUNCH} >= {"llama-3.1-8b", "mistral-7b-v0.3", "gemma-2-9b", "qwen3-30b-a3b"}
    assert {p["slots"] for p in LAUNCH} == {1, 4}
    assert min(p["context"] for p in LAUNCH) == 4096 and max(p["context"] for p in LAUNCH) == 131072
    # `-fa auto` resolved to flash attention at every point that left it at the default
    auto = [p for p in LAUNCH if p["fa"] == "default" and p["kv"] == "f16"]
    assert auto and all(p["flash_attn_resolved"] == "Flash Attention enabled" for p in auto)
    assert all(p["flash_attn_param"] == "enabled" for p in LAUNCH if p["kv"] != "f16")  # -fa on from the recipe
    assert all(p["kv_unified"] == "false" for p in POINTS)  # an explicit -np: one KV stream per slot


@pytest.mark.parametrize("p", LAUNCH, ids=[p["key"] for p in LAUNCH])
def test_planner_total_within_5_percent_of_nvidia_smi(p: dict[str, Any]) -> None:
    total = _estimate(p).total_bytes / MIB
    err = (total - p["smi_used_mib"]) / p["smi_used_mib"]
    assert 0 <= err <= 0.05, f"{p['key']}: planner {total:.0f} MiB vs nvidia-smi {p['smi_used_mib']} MiB"


@pytest.mark.parametrize("p", LAUNCH, ids=[p["key"] for p in LAUNCH])
def test_components_match_the_buffers_llama_cpp_logged(p: dict[str, Any]) -> None:
    e = _estimate(p)
    assert e.kv_cache_bytes / MIB == pytest.approx(p["gpu_kv_mib"], abs=0.01)
    assert e.activation_bytes / MIB == pytest.approx(p["gpu_compute_mib"], abs=0.1)
    # the planner's GGUF bytes carry a flat metadata allowance (GGUF_METADATA_BYTES) the GPU does not hold
    assert 0 <= e.weights_bytes / MIB - p["gpu_model_mib"] <= 7
    # CUDA context + pool + graphs: what nvidia-smi shows beyond the three buffers
    assert 0 <= (e.cuda_context_bytes + e.other_bytes) / MIB - p["unaccounted_mib"] <= 10


@pytest.mark.parametrize("p", FA_OFF, ids=[p["key"] for p in FA_OFF])
def test_flash_attention_off_for_the_record(p: dict[str, Any]) -> None:
    m = load_model(p["model"])
    e = _estimate(p)
    cuda, other = ggml_gpu_overhead_bytes(m, flash_attn=False)
    compute = ggml_compute_bytes(m, p["context"] * p["slots"], flash_attn=False)
    total = (e.weights_bytes + e.kv_cache_bytes + compute + cuda + other) / MIB
    assert 0 <= (total - p["smi_used_mib"]) / p["smi_used_mib"] <= 0.05
    assert compute / MIB > 2 * e.activation_bytes / MIB  # flash attention is what makes the buffer small


def test_hand_computed_compute_buffers() -> None:
    llama, gemma, moe = load_model("llama-3.1-8b"), load_model("gemma-2-9b"), load_model("qwen3-30b-a3b")
    # Llama-3.1-8B, 32k: F16 mask 32768 x 512 x 2 B = 32 MiB + FFN 512 x 4 B x (3*14336 + 2*4096 + 32*128) = 108
    assert ggml_compute_bytes(llama, 32768, flash_attn=True) == 140 * MIB
    # 4 slots of 32k: the mask is per slot (KV stream), so the same
    assert ggml_compute_bytes(llama, 4 * 32768, flash_attn=True, n_seq=4) == 140 * MIB
    # 128k: 128 MiB of mask; the FFN peak does not grow
    assert ggml_compute_bytes(llama, 131072, flash_attn=True) == 236 * MIB
    # q8_0 KV at 128k: + F16 copies of one layer's K and V (131072 x 8 x 128 x 2 B x 2 = 512 MiB) + the attention
    # peak 512 x 4 B x 2 x (4096 + 4096) = 32 MiB instead of the FFN's 108
    assert ggml_compute_bytes(llama, 131072, flash_attn=True, kv_dtype="q8_0") == (128 + 512 + 32) * MIB
    # Gemma-2-9B, 8k: masks over 8192 full + 4608 sliding-window cells (12.5 MiB) + FFN
    # 512 x 4 B x (3*14336 + 2*3584 + 16*256) = 106 MiB
    assert ggml_compute_bytes(gemma, 8192, flash_attn=True) == int(118.5 * MIB)
    # Qwen3-30B-A3B, 4k: 4 MiB + 512 x 4 B x (3*768*8 + 2048*8 + 2*2048 + 32*128) = 84 MiB
    assert ggml_compute_bytes(moe, 4096, flash_attn=True) == 88 * MIB
    # without flash attention (CPU-measured formula, unchanged): 44 MiB + 32768 x 512 x (4*32 + 4) B
    assert ggml_compute_bytes(llama, 32768) == (44 + 2112) * MIB


def test_kv_cells_follow_llama_cpp_padding_and_windows() -> None:
    llama, gemma = load_model("llama-3.1-8b"), load_model("gemma-2-9b")
    assert ggml_kv_cells(llama, 1000) == (1024, 0)  # n_ctx padded to 256
    assert ggml_kv_cells(gemma, 4096) == (4096, 4096)  # the window covers the whole slot
    assert ggml_kv_cells(gemma, 8192, 4) == (8192, 4608)  # window 4096 + n_ubatch 512 per slot
    # Gemma-2-9B 8k x 4 slots: 21 full layers x 8192 + 21 SWA layers x 4608 cells, 8 KiB per cell and layer
    assert ggml_kv_bytes(gemma, 8192, 4, "f16") == 4 * 21 * (8192 + 4608) * 8192
    assert ggml_kv_bytes(llama, 32768, 1, "q8_0") == 32768 * 32 * 2 * 1024 * 34 // 32


def test_overhead_and_engines() -> None:
    assert ggml_gpu_overhead_bytes(load_model("llama-3.1-8b")) == (GGML_CUDA_OVERHEAD, 0)
    assert ggml_gpu_overhead_bytes(load_model("qwen3-30b-a3b")) == (GGML_CUDA_OVERHEAD, GGML_MOE_POOL)
    m = load_model("llama-3.1-8b")
    cpp = estimate_memory(m, "Q4_K_M", "llamacpp", 32768, 4, "H200")
    oll = estimate_memory(m, "Q4_K_M", "ollama", 32768, 4, "H200")
    assert cpp.total_bytes == oll.total_bytes  # same ggml buffers; only the usable budget differs (fit margin)
    assert "CUDA context and pool" in cpp.reason
