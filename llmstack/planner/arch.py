"""Model architecture from a config.json, its tensor list and exact parameter count.

Formulas: docs/sizing.md §4.2 ("Params ... reproduces the official Llama-3.1-8B count,
8,030,261,248"). Tensor names follow llama.cpp's GGUF names (`src/llama-arch.cpp`) so that the GGUF
quantization
rules (planner/gguf.py) can match them.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from llmstack.errors import InputError

Family = Literal["dense", "moe", "mla", "encoder"]

# model_type -> family: the architectures the planner sizes.
MODEL_TYPES: dict[str, Family] = {
    "llama": "dense",
    "mistral": "dense",
    "qwen2": "dense",
    "qwen3": "dense",
    "gemma": "dense",
    "gemma2": "dense",
    "phi3": "dense",
    "mixtral": "moe",
    "qwen3_moe": "moe",
    "deepseek_v3": "mla",
    "bert": "encoder",
    "nomic_bert": "encoder",
}

TensorKind = Literal["linear", "embedding", "output", "vector", "router", "position"]


class Tensor(NamedTuple):
    """One weight tensor. `ne0` is the row length (input dim, llama.cpp `ne[0]`), `rows` the output dim."""

    name: str  # GGUF-style: "token_embd", "blk.3.attn_v", "blk.3.ffn_down_exps", "output"
    kind: TensorKind
    ne0: int
    rows: int = 1
    experts: int = 1

    @property
    def numel(self) -> int:
        return self.ne0 * self.rows * self.experts

    @property
    def role(self) -> str:
        """The name without the `blk.N.` prefix: `attn_v`, `ffn_down_exps`, `token_embd`."""
        return self.name.split(".", 2)[2] if self.name.startswith("blk.") else self.name


class ModelArch(BaseModel):
    """The architecture facts the planner needs, parsed from a config.json."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    model_type: str
    family: Family
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool
    max_position_embeddings: int
    torch_dtype: str = "bfloat16"
    # attention details
    attention_bias: bool = False  # q/k/v biases (Qwen2/Qwen2.5)
    qk_norm: bool = False  # per-head q/k RMSNorm (Qwen3)
    fused_qkv: bool = False  # Phi-3 qkv_proj / gate_up_proj
    norms_per_layer: int = 2  # Gemma 2: 4 (pre/post attention and feed-forward)
    sliding_window: int | None = None
    sliding_layers: int = 0  # layers that use the window (Gemma 2: every other layer)
    # MoE
    num_experts: int = 0
    experts_per_token: int = 0
    moe_intermediate: int = 0
    shared_experts: int = 0
    first_dense_layers: int = 0  # DeepSeek `first_k_dense_replace`
    router_bias: bool = False  # DeepSeek-V3 `e_score_correction_bias` (noaux_tc)
    # MLA (DeepSeek-V2/V3)
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    # encoders (BERT family)
    type_vocab_size: int = 0
    absolute_positions: bool = False
    gated_mlp: bool = True
    linear_bias: bool = False
    pooler: bool = False
    # provenance
    native_format: str = "bf16"  # what the checkpoint stores: bf16/fp16/fp32/fp8/awq/gptq
    safetensors_total_bytes: int | None = None  # exact, from model.safetensors.index.json metadata.total_size
    source: str = ""

    @property
    def is_embedding(self) -> bool:
        return self.family == "encoder"

    @property
    def embedding_dim(self) -> int:
        return self.hidden

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def moe_layers(self) -> int:
        return self.layers - self.first_dense_layers if self.is_moe else 0

    @property
    def params(self) -> int:
        """Exact parameter count (sum of every tensor)."""
        return sum(t.numel for t in tensors(self))

    @property
    def active_params(self) -> int:
        """Parameters used per token (MoE: routed top-k + shared experts only)."""
        if not self.is_moe:
            return self.params
        total = 0
        for t in tensors(self):
            total += t.ne0 * t.rows * (min(t.experts, self.experts_per_token) if t.experts > 1 else 1)
        return total

    @classmethod
    def from_config(cls, config: dict[str, Any], *, name: str = "", source: str = "") -> ModelArch:
        return _from_config(config, name=name, source=source)


def llama_ffn_dim(dim: int, ffn_dim_multiplier: float, multiple_of: int) -> int:
    """Llama FFN size from Meta's params.json (docs/sizing.md §4.2): 14336 (8B), 28672 (70B), 53248 (405B)."""
    return multiple_of * math.ceil(ffn_dim_multiplier * int(8 * dim / 3) / multiple_of)


def _req(config: dict[str, Any], field: str, *keys: str) -> int:
    for key in keys:
        if config.get(key) is not None:
            return int(config[key])
    raise InputError(
        f"config.json:{keys[0]}",
        None,
        f"The config has no {' / '.join(keys)}; pass a complete Hugging Face config.json ({field}).",
    )


def _native_format(config: dict[str, Any]) -> str:
    qc = config.get("quantization_config") or {}
    method = str(qc.get("quant_method", "")).lower()
    if method in {"awq", "gptq", "fp8"}:
        return method
    if method == "compressed-tensors":
        return "fp8"  # RedHatAI/neuralmagic -FP8 checkpoints (docs/sizing.md §3.4)
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16").lower()
    return {"float16": "fp16", "float32": "fp32", "bfloat16": "bf16"}.get(dtype, "bf16")


def _from_config(config: dict[str, Any], *, name: str, source: str) -> ModelArch:
    model_type = str(config.get("model_type", ""))
    if model_type not in MODEL_TYPES:
        raise InputError(
            "config.json:model_type",
            model_type or None,
            f"Supported model_type values: {', '.join(sorted(MODEL_TYPES))}.",
        )
    family = MODEL_TYPES[model_type]
    hidden = _req(config, "hidden size", "hidden_size", "n_embd", "d_model")
    layers = _req(config, "layers", "num_hidden_layers", "n_layer", "num_layers")
    heads = _req(config, "attention heads", "num_attention_heads", "n_head")
    kv_heads = int(config.get("num_key_value_heads") or heads)
    # docs/sizing.md §4.2: read head_dim from the config; hidden/heads is wrong for Gemma 2 and Qwen3-32B.
    head_dim = int(config.get("head_dim") or hidden // heads)
    if "intermediate_size" in config or "n_inner" in config:
        intermediate = _req(config, "FFN size", "intermediate_size", "n_inner")
    elif config.get("ffn_dim_multiplier") and config.get("multiple_of"):
        intermediate = llama_ffn_dim(hidden, float(config["ffn_dim_multiplier"]), int(config["multiple_of"]))
    elif family == "encoder":
        intermediate = 4 * hidden
    else:
        intermediate = _req(config, "FFN size", "intermediate_size")
    vocab = _req(config, "vocabulary", "vocab_size")
    # Gemma ties embeddings by default (transformers GemmaConfig tie_word_embeddings=True).
    tied = bool(config.get("tie_word_embeddings", model_type in {"gemma", "gemma2", "bert", "nomic_bert"}))
    max_pos = int(
        config.get("max_position_embeddings")
        or config.get("n_positions")
        or config.get("max_seq_len")
        or 4096
    )
    fields: dict[str, Any] = {
        "name": name or config.get("_name_or_path") or model_type,
        "model_type": model_type,
        "family": family,
        "layers": layers,
        "hidden": hidden,
        "heads": heads,
        "kv_heads": kv_heads,
        "head_dim": head_dim,
        "intermediate": intermediate,
        "vocab": vocab,
        "tied": tied,
        "max_position_embeddings": max_pos,
        "torch_dtype": str(config.get("torch_dtype") or config.get("dtype") or "bfloat16"),
        "native_format": _native_format(config),
        "source": source,
    }
    if model_type == "qwen2":
        fields["attention_bias"] = True  # Qwen2 q/k/v projections carry biases (transformers Qwen2Attention)
    if model_type in {"qwen3", "qwen3_moe"}:
        fields["qk_norm"] = True  # Qwen3Attention q_norm/k_norm over head_dim
    if model_type == "phi3":
        fields["fused_qkv"] = True
    if model_type == "gemma2":
        fields["norms_per_layer"] = 4
        window = config.get("sliding_window")
        if window:
            # Gemma 2 alternates sliding-window and global layers (docs/sizing.md §4.3); even layers slide.
            fields["sliding_window"] = int(window)
            fields["sliding_layers"] = (layers + 1) // 2
    elif model_type in {"mistral", "mixtral"} and config.get("sliding_window"):
        # Mistral-7B v0.1 windowed every layer; v0.3 has sliding_window null (docs/sizing.md §4.3).
        fields["sliding_window"] = int(config["sliding_window"])
        fields["sliding_layers"] = layers
    if model_type == "mixtral":
        fields["num_experts"] = _req(config, "experts", "num_local_experts")
        fields["experts_per_token"] = int(config.get("num_experts_per_tok", 2))
        fields["moe_intermediate"] = intermediate
    if model_type == "qwen3_moe":
        fields["num_experts"] = _req(config, "experts", "num_experts")
        fields["experts_per_token"] = int(config.get("num_experts_per_tok", 8))
        fields["moe_intermediate"] = _req(config, "expert FFN size", "moe_intermediate_size")
        if config.get("mlp_only_layers") or int(config.get("decoder_sparse_step", 1)) != 1:
            raise InputError(
                "config.json:mlp_only_layers",
                config.get("mlp_only_layers"),
                "Only Qwen3-MoE configs with every layer sparse are supported (decoder_sparse_step 1).",
            )
    if model_type == "deepseek_v3":
        fields["num_experts"] = _req(config, "experts", "n_routed_experts")
        fields["experts_per_token"] = int(config.get("num_experts_per_tok", 8))
        fields["moe_intermediate"] = _req(config, "expert FFN size", "moe_intermediate_size")
        fields["shared_experts"] = int(config.get("n_shared_experts") or 0)
        fields["first_dense_layers"] = int(config.get("first_k_dense_replace") or 0)
        fields["router_bias"] = config.get("topk_method") == "noaux_tc"
        fields["q_lora_rank"] = int(config.get("q_lora_rank") or 0)
        fields["kv_lora_rank"] = _req(config, "MLA latent", "kv_lora_rank")
        fields["qk_nope_head_dim"] = _req(config, "MLA", "qk_nope_head_dim")
        fields["qk_rope_head_dim"] = _req(config, "MLA", "qk_rope_head_dim")
        fields["v_head_dim"] = _req(config, "MLA", "v_head_dim")
        if int(config.get("moe_layer_freq", 1)) != 1:
            raise InputError("config.json:moe_layer_freq", config["moe_layer_freq"], "Only 1 is supported.")
    if model_type == "bert":
        fields.update(
            type_vocab_size=int(config.get("type_vocab_size", 2)),
            absolute_positions=True,
            gated_mlp=False,
            linear_bias=True,
            pooler=True,  # BertModel adds a pooler (sentence-transformers checkpoints ship it)
        )
    if model_type == "nomic_bert":
        fields.update(
            type_vocab_size=int(config.get("type_vocab_size", 2)),
            absolute_positions=float(config.get("rotary_emb_fraction", 1.0)) == 0.0,
            gated_mlp=str(config.get("activation_function", "swiglu")) in {"swiglu", "geglu"},
            linear_bias=bool(config.get("qkv_proj_bias", False)),
            fused_qkv=True,
        )
    return ModelArch(**fields)


def _dense_mlp(
    p: str, h: int, inter: int, *, fused: bool, suffix: str = "", experts: int = 1
) -> list[Tensor]:
    if fused:  # Phi-3 gate_up_proj, stored as one ffn_up of 2*I rows in GGUF
        return [
            Tensor(f"{p}ffn_up{suffix}", "linear", h, 2 * inter, experts),
            Tensor(f"{p}ffn_down{suffix}", "linear", inter, h, experts),
        ]
    return [
        Tensor(f"{p}ffn_gate{suffix}", "linear", h, inter, experts),
        Tensor(f"{p}ffn_up{suffix}", "linear", h, inter, experts),
        Tensor(f"{p}ffn_down{suffix}", "linear", inter, h, experts),
    ]


def _decoder_layer(m: ModelArch, i: int) -> list[Tensor]:
    p = f"blk.{i}."
    h = m.hidden
    out: list[Tensor] = [Tensor(f"{p}attn_norm", "vector", h)]
    if m.is_mla:
        qk_head = m.qk_nope_head_dim + m.qk_rope_head_dim
        if m.q_lora_rank:
            out += [
                Tensor(f"{p}attn_q_a", "linear", h, m.q_lora_rank),
                Tensor(f"{p}attn_q_a_norm", "vector", m.q_lora_rank),
                Tensor(f"{p}attn_q_b", "linear", m.q_lora_rank, m.heads * qk_head),
            ]
        else:
            out.append(Tensor(f"{p}attn_q", "linear", h, m.heads * qk_head))
        out += [
            Tensor(f"{p}attn_kv_a_mqa", "linear", h, m.kv_lora_rank + m.qk_rope_head_dim),
            Tensor(f"{p}attn_kv_a_norm", "vector", m.kv_lora_rank),
            Tensor(f"{p}attn_kv_b", "linear", m.kv_lora_rank, m.heads * (m.qk_nope_head_dim + m.v_head_dim)),
            Tensor(f"{p}attn_output", "linear", m.heads * m.v_head_dim, h),
        ]
    else:
        q, kv = m.heads * m.head_dim, m.kv_heads * m.head_dim
        if m.fused_qkv:
            out.append(Tensor(f"{p}attn_qkv", "linear", h, q + 2 * kv))
        else:
            out += [
                Tensor(f"{p}attn_q", "linear", h, q),
                Tensor(f"{p}attn_k", "linear", h, kv),
                Tensor(f"{p}attn_v", "linear", h, kv),
            ]
        if m.attention_bias:
            out += [
                Tensor(f"{p}attn_q.bias", "vector", q),
                Tensor(f"{p}attn_k.bias", "vector", kv),
                Tensor(f"{p}attn_v.bias", "vector", kv),
            ]
        if m.qk_norm:
            out += [
                Tensor(f"{p}attn_q_norm", "vector", m.head_dim),
                Tensor(f"{p}attn_k_norm", "vector", m.head_dim),
            ]
        out.append(Tensor(f"{p}attn_output", "linear", q, h))
    if m.norms_per_layer == 4:
        out += [Tensor(f"{p}post_attention_norm", "vector", h), Tensor(f"{p}post_ffw_norm", "vector", h)]
    out.append(Tensor(f"{p}ffn_norm", "vector", h))
    if m.is_moe and i >= m.first_dense_layers:
        out.append(Tensor(f"{p}ffn_gate_inp", "router", h, m.num_experts))
        if m.router_bias:
            out.append(Tensor(f"{p}exp_probs_b", "vector", m.num_experts))
        out += _dense_mlp(p, h, m.moe_intermediate, fused=False, suffix="_exps", experts=m.num_experts)
        if m.shared_experts:
            out += _dense_mlp(p, h, m.moe_intermediate * m.shared_experts, fused=False, suffix="_shexp")
    else:
        out += _dense_mlp(p, h, m.intermediate, fused=m.fused_qkv)
    return out


def _encoder_layer(m: ModelArch, i: int) -> list[Tensor]:
    p = f"blk.{i}."
    h = m.hidden
    out: list[Tensor] = []
    if m.fused_qkv:
        out.append(Tensor(f"{p}attn_qkv", "linear", h, 3 * h))
    else:
        out += [Tensor(f"{p}attn_{x}", "linear", h, h) for x in "qkv"]
    out.append(Tensor(f"{p}attn_output", "linear", h, h))
    if m.linear_bias:
        out += [Tensor(f"{p}attn_{x}.bias", "vector", h) for x in ("q", "k", "v", "output")]
    out += [Tensor(f"{p}attn_output_norm", "vector", h), Tensor(f"{p}attn_output_norm.bias", "vector", h)]
    if m.gated_mlp:
        out += _dense_mlp(p, h, m.intermediate, fused=False)
    else:
        out += [
            Tensor(f"{p}ffn_up", "linear", h, m.intermediate),
            Tensor(f"{p}ffn_down", "linear", m.intermediate, h),
        ]
    if m.linear_bias:
        out += [Tensor(f"{p}ffn_up.bias", "vector", m.intermediate), Tensor(f"{p}ffn_down.bias", "vector", h)]
    out += [Tensor(f"{p}layer_output_norm", "vector", h), Tensor(f"{p}layer_output_norm.bias", "vector", h)]
    return out


@cache
def tensors(m: ModelArch) -> tuple[Tensor, ...]:
    """Every weight tensor of the model, in GGUF order (embedding, layers, final norm, output)."""
    h = m.hidden
    out: list[Tensor] = [Tensor("token_embd", "embedding", h, m.vocab)]
    if m.family == "encoder":
        if m.absolute_positions:
            out.append(Tensor("position_embd", "position", h, m.max_position_embeddings))
        if m.type_vocab_size:
            out.append(Tensor("token_types", "position", h, m.type_vocab_size))
        out += [Tensor("token_embd_norm", "vector", h), Tensor("token_embd_norm.bias", "vector", h)]
        for i in range(m.layers):
            out += _encoder_layer(m, i)
        if m.pooler:
            out += [Tensor("pooler", "linear", h, h), Tensor("pooler.bias", "vector", h)]
        return tuple(out)
    for i in range(m.layers):
        out += _decoder_layer(m, i)
    out.append(Tensor("output_norm", "vector", h))
    if not m.tied:
        out.append(Tensor("output", "output", h, m.vocab))
    return tuple(out)
