"""Weight bytes per format against published files (docs/sizing.md §3)."""

from __future__ import annotations

import pytest

from llmstack.errors import InputError
from llmstack.planner import format_family, load_model, normalize_quant, weight_bytes
from llmstack.planner.gguf import tensor_types, use_more_bits

# bartowski per-quant sizes (GB) for a Llama-3.1-8B architecture model, docs/sizing.md §3.3
BARTOWSKI_8B = {
    "F16": 16.07,
    "Q8_0": 8.54,
    "Q6_K": 6.60,
    "Q5_K_M": 5.73,
    "Q5_K_S": 5.60,
    "Q4_K_M": 4.92,
    "Q4_K_S": 4.69,
    "Q4_0": 4.68,
    "Q3_K_L": 4.32,
    "Q3_K_M": 4.02,
    "Q3_K_S": 3.66,
    "Q2_K": 3.18,
}


def test_llama_8b_q4_k_m_file_size() -> None:
    assert weight_bytes(load_model("llama-3.1-8b"), "Q4_K_M") == pytest.approx(4_920_739_232, rel=0.01)


def test_qwen25_7b_q4_k_m_file_size() -> None:
    assert weight_bytes(load_model("qwen2.5-7b"), "Q4_K_M") == pytest.approx(4_683_074_240, rel=0.01)


@pytest.mark.parametrize(("quant", "gb"), sorted(BARTOWSKI_8B.items()))
def test_bartowski_sizes(quant: str, gb: float) -> None:
    assert weight_bytes(load_model("llama-3.1-8b"), quant) / 1e9 == pytest.approx(gb, rel=0.01)


def test_q4_k_m_more_bits_layers() -> None:
    m = load_model("llama-3.1-8b")
    types = {t.name: ty for t, ty in tensor_types(m, "Q4_K_M")}
    six = [i for i in range(32) if types[f"blk.{i}.attn_v"] == "Q6_K"]
    assert len(six) == 16 and six == [i for i in range(32) if use_more_bits(i, 32)]
    assert types["output"] == "Q6_K" and types["token_embd"] == "Q4_K" and types["blk.0.attn_norm"] == "F32"


def test_odd_shapes_fall_back() -> None:
    q05 = {t.name: ty for t, ty in tensor_types(load_model("qwen2.5-0.5b"), "Q4_K_M")}
    assert q05["token_embd"] == "Q8_0"  # tied and 896 not divisible by 256
    assert q05["blk.1.attn_q"] == "Q5_0"
    q72 = {t.name: ty for t, ty in tensor_types(load_model("qwen2.5-72b"), "Q4_K_M")}
    assert q72["blk.20.ffn_down"] in {"Q5_0", "Q8_0"}  # 29568 % 256 != 0
    assert q72["blk.20.attn_v"] == "Q5_K"  # 80-layer class


def test_moe_8_experts_attn_v_q8() -> None:
    types = {t.name: ty for t, ty in tensor_types(load_model("mixtral-8x7b"), "Q4_K_M")}
    assert types["blk.5.attn_v"] == "Q8_0" and types["blk.5.attn_k"] == "Q8_0"
    assert types["blk.5.ffn_gate_inp"] == "F32"


def test_tied_embedding_takes_output_type() -> None:
    types = {t.name: ty for t, ty in tensor_types(load_model("llama-3.2-3b"), "Q4_K_M")}
    assert types["token_embd"] == "Q6_K" and "output" not in types


def test_awq_fp8_bf16_footprints() -> None:
    llama, qwen = load_model("llama-3.1-8b"), load_model("qwen2.5-7b")
    assert weight_bytes(llama, "awq") / 1e9 == pytest.approx(5.73, rel=0.01)
    assert weight_bytes(qwen, "gptq") / 1e9 == pytest.approx(5.57, rel=0.01)
    assert weight_bytes(llama, "fp8") / 1e9 == pytest.approx(9.08, rel=0.01)
    assert weight_bytes(qwen, "fp8") / 1e9 == pytest.approx(8.71, rel=0.01)
    assert weight_bytes(llama, "bf16") / 2**30 == pytest.approx(14.96, abs=0.01)
    assert weight_bytes(llama, "bf16") == 2 * llama.params


def test_exact_safetensors_size_wins() -> None:
    m = load_model("llama-3.1-8b").model_copy(update={"safetensors_total_bytes": 16_060_522_496 + 123})
    assert weight_bytes(m, "bf16") == 16_060_522_619
    assert weight_bytes(m, "awq") == weight_bytes(load_model("llama-3.1-8b"), "awq")


@pytest.mark.parametrize(
    ("raw", "canon", "fam"),
    [
        ("q4_k_m", "Q4_K_M", "gguf"),
        ("BF16", "bf16", "bf16"),
        ("awq", "awq", "awq"),
        ("FP8", "fp8", "fp8"),
        ("f16", "F16", "gguf"),
        ("fp16", "fp16", "fp16"),
        ("bfloat16", "bf16", "bf16"),
    ],
)
def test_normalize_and_family(raw: str, canon: str, fam: str) -> None:
    assert normalize_quant(raw) == canon
    assert format_family(raw) == fam


def test_unknown_quant_lists_valid() -> None:
    with pytest.raises(InputError) as err:
        normalize_quant("q7_k")
    assert "Q4_K_M" in str(err.value) and err.value.field == "quant"
