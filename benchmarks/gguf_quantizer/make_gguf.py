"""Write an F16 GGUF with llama.cpp tensor names/shapes for a Hugging Face config, with all-zero (sparse) data.

The shapes are derived here from the HF config the way transformers defines the modules and
`convert_hf_to_gguf.py` renames/fuses them (independently of llmstack/planner/arch.py), so the real
llama-quantize can be run on them without downloading any weights. The data section is a sparse hole
(`truncate`), so a 16 GB F16 model costs no disk.

Layout per architecture (llama.cpp `gguf-py/gguf/constants.py` MODEL_TENSORS, converter per-arch code):
  llama/mistral/qwen2/qwen3: attn_q/k/v/output, ffn_gate/up/down, attn_norm, ffn_norm
    + qwen2 q/k/v biases, + qwen3 attn_q_norm/attn_k_norm, + Llama-3.x `rope_freqs` (rope_type llama3)
  phi3:   fused attn_qkv, ffn_up = gate_up_proj (2*intermediate rows), ffn_down
  gemma2: + post_attention_norm, post_ffw_norm
  token_embd always; output only if the embeddings are not tied.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The vendored llama.cpp of the llama-cpp-python sdist (see README.md); its gguf-py writes the files.
_DEFAULT_LLAMA_CPP = Path(tempfile.gettempdir()) / "lcpp/llama_cpp_python-0.3.36/vendor/llama.cpp"
LLAMA_CPP = Path(os.environ.get("LLAMA_CPP_DIR", _DEFAULT_LLAMA_CPP))


@dataclass(frozen=True)
class TensorSpec:
    name: str  # GGUF name, with .weight/.bias
    ne: tuple[int, ...]  # ggml order: ne[0] is the row length (input dim)
    f32: bool  # 1-D norms/biases/rope factors are F32 in the converter's F16 output


# Configs of the models checked (HF config.json fields; catalog rows plus Qwen2.5-1.5B-Instruct).
CONFIGS: dict[str, dict[str, Any]] = {
    # calibration row: docs/sizing.md §12 has the real file for this one (published 4,920,739,232 B Q4_K_M)
    "llama-3.1-8b": {
        "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128256,
        "tie_word_embeddings": False, "max_position_embeddings": 131072, "rope_type": "llama3",
    },
    "llama-3.2-1b": {
        "model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256,
        "tie_word_embeddings": True, "max_position_embeddings": 131072, "rope_type": "llama3",
    },
    "llama-3.2-3b": {
        "model_type": "llama", "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 28,
        "num_attention_heads": 24, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128256,
        "tie_word_embeddings": True, "max_position_embeddings": 131072, "rope_type": "llama3",
    },
    "qwen2.5-0.5b": {
        "model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
        "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True,
        "max_position_embeddings": 32768,
    },
    "qwen2.5-1.5b": {
        "model_type": "qwen2", "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
        "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True,
        "max_position_embeddings": 32768,
    },
    "phi-3-mini": {
        "model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32064, "tie_word_embeddings": False,
        "max_position_embeddings": 4096,
    },
    "mistral-7b-v0.3": {
        "model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 32768,
        "tie_word_embeddings": False, "max_position_embeddings": 32768,
    },
    "qwen3-8b": {
        "model_type": "qwen3", "hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 36,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
        "tie_word_embeddings": False, "max_position_embeddings": 40960,
    },
    "gemma-2-9b": {
        "model_type": "gemma2", "hidden_size": 3584, "intermediate_size": 14336, "num_hidden_layers": 42,
        "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256, "vocab_size": 256000,
        "tie_word_embeddings": True, "max_position_embeddings": 8192, "sliding_window": 4096,
    },
}  # fmt: skip

GGUF_ARCH = {
    "llama": "llama",
    "mistral": "llama",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
    "phi3": "phi3",
    "gemma2": "gemma2",
}

# Official parameter counts (HF safetensors totals), to check the derived shapes.
OFFICIAL_PARAMS: dict[str, int] = {
    "llama-3.1-8b": 8_030_261_248,
    "llama-3.2-1b": 1_235_814_400,
    "llama-3.2-3b": 3_212_749_824,
    "qwen2.5-0.5b": 494_032_768,
    "qwen2.5-1.5b": 1_543_714_304,
    "phi-3-mini": 3_821_079_552,
    "mistral-7b-v0.3": 7_248_023_552,
    "qwen3-8b": 8_190_735_360,
    "gemma-2-9b": 9_241_705_984,
}


def tensor_specs(cfg: dict[str, Any]) -> list[TensorSpec]:
    mt = cfg["model_type"]
    h = int(cfg["hidden_size"])
    inter = int(cfg["intermediate_size"])
    nh = int(cfg["num_attention_heads"])
    nkv = int(cfg.get("num_key_value_heads", nh))
    hd = int(cfg.get("head_dim") or h // nh)
    vocab = int(cfg["vocab_size"])
    q, kv = nh * hd, nkv * hd
    out: list[TensorSpec] = [TensorSpec("token_embd.weight", (h, vocab), False)]
    if cfg.get("rope_type") == "llama3":
        out.append(TensorSpec("rope_freqs.weight", (hd // 2,), True))
    for i in range(int(cfg["num_hidden_layers"])):
        b = f"blk.{i}."
        out.append(TensorSpec(b + "attn_norm.weight", (h,), True))
        if mt == "phi3":
            out.append(TensorSpec(b + "attn_qkv.weight", (h, q + 2 * kv), False))
        else:
            out += [
                TensorSpec(b + "attn_q.weight", (h, q), False),
                TensorSpec(b + "attn_k.weight", (h, kv), False),
                TensorSpec(b + "attn_v.weight", (h, kv), False),
            ]
            if mt == "qwen2":
                out += [
                    TensorSpec(b + "attn_q.bias", (q,), True),
                    TensorSpec(b + "attn_k.bias", (kv,), True),
                    TensorSpec(b + "attn_v.bias", (kv,), True),
                ]
            if mt == "qwen3":
                out += [
                    TensorSpec(b + "attn_q_norm.weight", (hd,), True),
                    TensorSpec(b + "attn_k_norm.weight", (hd,), True),
                ]
        out.append(TensorSpec(b + "attn_output.weight", (q, h), False))
        if mt == "gemma2":
            out.append(TensorSpec(b + "post_attention_norm.weight", (h,), True))
        out.append(TensorSpec(b + "ffn_norm.weight", (h,), True))
        if mt == "phi3":
            out.append(TensorSpec(b + "ffn_up.weight", (h, 2 * inter), False))
        else:
            out += [
                TensorSpec(b + "ffn_gate.weight", (h, inter), False),
                TensorSpec(b + "ffn_up.weight", (h, inter), False),
            ]
        out.append(TensorSpec(b + "ffn_down.weight", (inter, h), False))
        if mt == "gemma2":
            out.append(TensorSpec(b + "post_ffw_norm.weight", (h,), True))
    out.append(TensorSpec("output_norm.weight", (h,), True))
    if not cfg.get("tie_word_embeddings", False):
        out.append(TensorSpec("output.weight", (h, vocab), False))
    return out


def param_count(specs: list[TensorSpec], *, exclude_generated: bool = True) -> int:
    n = 0
    for s in specs:
        if exclude_generated and s.name.startswith("rope_freqs"):
            continue  # generated by the converter, not a checkpoint parameter
        p = 1
        for d in s.ne:
            p *= d
        n += p
    return n


def _gguf() -> Any:
    sys.path.insert(0, str(LLAMA_CPP / "gguf-py"))
    return importlib.import_module("gguf")


def add_shape(w: Any, name: str, cfg: dict[str, Any], nh: int, hd: int) -> None:
    """The GGUF keys every architecture here shares: name, context, widths, layers and heads."""
    w.add_name(name)
    w.add_context_length(int(cfg["max_position_embeddings"]))
    w.add_embedding_length(int(cfg["hidden_size"]))
    w.add_block_count(int(cfg["num_hidden_layers"]))
    w.add_feed_forward_length(int(cfg["intermediate_size"]))
    w.add_head_count(nh)
    w.add_head_count_kv(int(cfg.get("num_key_value_heads", nh)))
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_rope_dimension_count(hd)


def write_gguf(name: str, path: Path) -> int:
    """Write the sparse F16 GGUF; return its tensor-data bytes (unpadded)."""
    gguf = _gguf()
    np = importlib.import_module("numpy")
    cfg = CONFIGS[name]
    arch = GGUF_ARCH[cfg["model_type"]]
    nh = int(cfg["num_attention_heads"])
    hd = int(cfg.get("head_dim") or int(cfg["hidden_size"]) // nh)
    w = gguf.GGUFWriter(str(path), arch)
    add_shape(w, name, cfg, nh, hd)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(int(cfg["vocab_size"]))
    w.add_file_type(1)  # LLAMA_FTYPE_MOSTLY_F16
    if cfg["model_type"] == "gemma2":
        w.add_sliding_window(int(cfg["sliding_window"]))
        w.add_attn_logit_softcapping(50.0)
        w.add_final_logit_softcapping(30.0)
    specs = tensor_specs(cfg)
    total = 0
    for s in specs:
        n = param_count([s], exclude_generated=False)
        nbytes = n * (4 if s.f32 else 2)
        dtype = np.float32 if s.f32 else np.float16
        # gguf-py takes numpy (row-major) shapes: reversed ggml ne
        w.add_tensor_info(s.name, tuple(reversed(s.ne)), np.dtype(dtype), nbytes)
        total += nbytes
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    fout = w.fout[0]
    pos = fout.tell()
    align = w.data_alignment
    fout.write(b"\0" * ((-pos) % align))
    data_start = fout.tell()
    padded = sum(w.ggml_pad(ti.nbytes, align) for ti in w.tensors[0].values())
    fout.flush()
    fout.truncate(data_start + padded)  # sparse zero data
    fout.close()
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model", choices=sorted(CONFIGS))
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    specs = tensor_specs(CONFIGS[args.model])
    print(json.dumps({"model": args.model, "params": param_count(specs), "official": OFFICIAL_PARAMS[args.model]}))
    print("tensor data bytes:", write_gguf(args.model, args.out))


if __name__ == "__main__":
    main()
