"""Parameter counts (docs/sizing.md §4.1) and KV-cache sizes (§4.3)."""

from __future__ import annotations

import pytest

from llmstack.errors import InputError
from llmstack.planner import ModelArch, kv_bytes_for_sequence, kv_bytes_per_token, load_model
from llmstack.planner.arch import llama_ffn_dim

# docs/sizing.md §4.1 "params" column (and model cards for the rest), in parameters.
REFERENCE_PARAMS = {
    "llama-3.1-8b": 8_030_261_248,  # official count, meta-llama/llama-models sku_list.py
    "llama-3.1-70b": 70.554e9,
    "llama-3.1-405b": 405.85e9,
    "llama-3.2-1b": 1.236e9,
    "llama-3.2-3b": 3.213e9,
    "qwen2.5-0.5b": 0.494e9,
    "qwen2.5-7b": 7.616e9,
    "qwen2.5-14b": 14.770e9,
    "qwen2.5-32b": 32.764e9,
    "qwen2.5-72b": 72.706e9,
    "mistral-7b-v0.3": 7.248e9,
    "mixtral-8x7b": 46.70e9,
    "qwen3-8b": 8.191e9,
    "qwen3-14b": 14.768e9,
    "qwen3-32b": 32.8e9,  # Qwen3 model card
    "qwen3-30b-a3b": 30.5e9,  # Qwen3 model card
    "gemma-2-9b": 9.24e9,  # Gemma 2 report
    "gemma-2-27b": 27.2e9,
    "phi-3-mini": 3.82e9,  # Phi-3 report
    "deepseek-v3": 671e9,  # DeepSeek-V3 report (excluding the 14B MTP module)
    "nomic-embed-text": 137e6,
    "bge-small-en-v1.5": 33.4e6,
    "all-minilm-l6-v2": 22.7e6,
}


@pytest.mark.parametrize(("name", "expected"), sorted(REFERENCE_PARAMS.items()))
def test_param_counts_within_half_percent(name: str, expected: float) -> None:
    assert load_model(name).params == pytest.approx(expected, rel=0.005)


def test_llama_8b_params_exact() -> None:
    assert load_model("llama-3.1-8b").params == 8_030_261_248


def test_moe_active_params() -> None:
    assert load_model("mixtral-8x7b").active_params == pytest.approx(12.88e9, rel=0.005)
    assert load_model("qwen3-30b-a3b").active_params == pytest.approx(3.3e9, rel=0.03)
    assert load_model("deepseek-v3").active_params == pytest.approx(37e9, rel=0.02)


@pytest.mark.parametrize(
    ("name", "kib"),
    [
        ("llama-3.1-8b", 128),
        ("llama-3.1-70b", 320),
        ("llama-3.1-405b", 504),
        ("llama-3.2-1b", 32),
        ("llama-3.2-3b", 112),
        ("qwen2.5-0.5b", 12),
        ("qwen2.5-7b", 56),
        ("qwen2.5-14b", 192),
        ("qwen2.5-32b", 256),
        ("qwen2.5-72b", 320),
        ("mistral-7b-v0.3", 128),
        ("mixtral-8x7b", 128),
        ("qwen3-8b", 144),
        ("qwen3-14b", 160),
    ],
)
def test_kv_per_token_matches_reference(name: str, kib: int) -> None:
    assert kv_bytes_per_token(load_model(name)) == kib * 1024


def test_head_dim_from_config() -> None:
    assert load_model("gemma-2-9b").head_dim == 256  # not 3584/16 = 224
    assert load_model("gemma-2-27b").head_dim == 128  # not 144
    assert load_model("qwen3-32b").head_dim == 128  # not 80


def test_kv_tensor_parallel_and_replication() -> None:
    llama70 = load_model("llama-3.1-70b")
    assert kv_bytes_per_token(llama70, "bf16", 4) == 80 * 1024  # 2 heads per GPU (§4.3)
    qwen7 = load_model("qwen2.5-7b")
    assert kv_bytes_per_token(qwen7, "bf16", 8) == 2 * 28 * 1 * 128 * 2  # 1 head replicated per GPU


def test_kv_dtypes() -> None:
    m = load_model("llama-3.1-8b")
    assert kv_bytes_per_token(m, "fp8") == 64 * 1024
    assert kv_bytes_per_token(m, "q8_0") == 128 * 1024 * 34 // 64
    assert kv_bytes_per_token(m, "q4_0") == 128 * 1024 * 18 // 64
    with pytest.raises(InputError, match="kv_dtype"):
        kv_bytes_per_token(m, "int3")


def test_mla_kv_is_latent_and_replicated() -> None:
    ds = load_model("deepseek-v3")
    per_token = 61 * (512 + 64) * 2
    assert kv_bytes_per_token(ds) == per_token
    assert kv_bytes_per_token(ds, "bf16", 8) == per_token  # replicated on every rank
    naive_mha = 2 * 61 * 128 * 128 * 2  # num_key_value_heads x head_dim: >10x too big (§4.3)
    assert naive_mha > 10 * per_token


def test_sliding_window_gemma2() -> None:
    g = load_model("gemma-2-9b")
    assert g.sliding_window == 4096 and g.sliding_layers == 21
    per_layer = 2 * 8 * 256 * 2
    assert kv_bytes_for_sequence(g, 8192) == per_layer * (21 * 8192 + 21 * 4096)
    assert kv_bytes_for_sequence(g, 8192, window=False) == kv_bytes_per_token(g) * 8192
    assert kv_bytes_for_sequence(g, 2048) == kv_bytes_per_token(g) * 2048


def test_embedding_models_have_no_kv() -> None:
    m = load_model("nomic-embed-text")
    assert m.is_embedding and m.embedding_dim == 768
    assert load_model("bge-small-en-v1.5").embedding_dim == 384
    assert kv_bytes_per_token(m) == 0


def test_aliases_resolve() -> None:
    assert load_model("meta-llama/Llama-3.1-8B-Instruct").name == "llama-3.1-8b"
    assert load_model("llama3.1:8b").name == "llama-3.1-8b"
    assert load_model("LLAMA-3.1-8B").name == "llama-3.1-8b"


def test_unknown_model_type_lists_supported() -> None:
    with pytest.raises(InputError) as err:
        ModelArch.from_config({"model_type": "gpt_neox", "hidden_size": 8})
    assert "qwen3_moe" in str(err.value) and "deepseek_v3" in str(err.value)


def test_missing_field_names_it() -> None:
    with pytest.raises(InputError, match="num_hidden_layers"):
        ModelArch.from_config({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32})


def test_llama_ffn_dim() -> None:
    assert llama_ffn_dim(4096, 1.3, 1024) == 14336
    assert llama_ffn_dim(8192, 1.3, 4096) == 28672
    assert llama_ffn_dim(16384, 1.2, 4096) == 53248
