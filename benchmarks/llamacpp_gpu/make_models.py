"""Write loadable all-zero F16 GGUFs for the llama.cpp GPU memory sweep (then quantized by llama-quantize).

GPU memory does not depend on weight values, only on tensor shapes, the types `llama-quantize` picks and the
runtime buffers, so a sparse all-zero F16 file with the model's real llama.cpp tensor names and shapes is
enough. This extends `benchmarks/gguf_quantizer/make_gguf.py` (same dense layouts, reused as is) with:

- a Qwen3-MoE layout (`qwen3moe`: `ffn_gate_inp`, `ffn_{gate,up,down}_exps`, per-head q/k norms;
  llama.cpp `src/models/qwen3moe.cpp` `load_arch_tensors`);
- a placeholder SentencePiece vocabulary with exactly `vocab_size` tokens (`<unk>`, `<s>`, `</s>`, the 256
  byte tokens, then fillers), so that `llama-server` loads the file and serves requests given as token ids.
  Only host memory holds the vocabulary.

    python3 benchmarks/llamacpp_gpu/make_models.py OUT_DIR [model ...]   # default: every model below

Needs numpy and the vendored llama.cpp `gguf-py` (LLAMA_CPP_DIR, default `.lcpp` in the repository root).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
os.environ.setdefault("LLAMA_CPP_DIR", str(ROOT / ".lcpp"))
sys.path.insert(0, str(HERE.parent / "gguf_quantizer"))

import make_gguf  # noqa: E402  (the dense layouts, checked against official parameter counts)
from make_gguf import CONFIGS as DENSE_CONFIGS  # noqa: E402
from make_gguf import TensorSpec, param_count  # noqa: E402

# Qwen/Qwen3-30B-A3B config.json (the catalog row `qwen3-30b-a3b`).
QWEN3_MOE: dict[str, Any] = {
    "model_type": "qwen3_moe", "hidden_size": 2048, "intermediate_size": 6144, "moe_intermediate_size": 768,
    "num_experts": 128, "num_experts_per_tok": 8, "num_hidden_layers": 48, "num_attention_heads": 32,
    "num_key_value_heads": 4, "head_dim": 128, "vocab_size": 151936, "tie_word_embeddings": False,
    "max_position_embeddings": 40960,
}  # fmt: skip
QWEN3_MOE_PARAMS = 30_532_122_624  # HF safetensors total (benchmarks/results/gpu_memory.md, torch count)

CONFIGS: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": DENSE_CONFIGS["qwen2.5-0.5b"],
    "mistral-7b-v0.3": DENSE_CONFIGS["mistral-7b-v0.3"],
    "llama-3.1-8b": DENSE_CONFIGS["llama-3.1-8b"],
    "gemma-2-9b": DENSE_CONFIGS["gemma-2-9b"],
    "qwen3-30b-a3b": QWEN3_MOE,
}
GGUF_ARCH = {**make_gguf.GGUF_ARCH, "qwen3_moe": "qwen3moe"}
ROPE_THETA = {"llama": 500000.0, "mistral": 1000000.0, "qwen2": 1000000.0, "qwen3_moe": 1000000.0}


def qwen3_moe_specs(cfg: dict[str, Any]) -> list[TensorSpec]:
    h, nh, nkv, hd = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    ne, ff, vocab = cfg["num_experts"], cfg["moe_intermediate_size"], cfg["vocab_size"]
    out = [TensorSpec("token_embd.weight", (h, vocab), False)]
    for i in range(cfg["num_hidden_layers"]):
        b = f"blk.{i}."
        out += [
            TensorSpec(b + "attn_norm.weight", (h,), True),
            TensorSpec(b + "attn_q.weight", (h, nh * hd), False),
            TensorSpec(b + "attn_k.weight", (h, nkv * hd), False),
            TensorSpec(b + "attn_v.weight", (h, nkv * hd), False),
            TensorSpec(b + "attn_output.weight", (nh * hd, h), False),
            TensorSpec(b + "attn_q_norm.weight", (hd,), True),
            TensorSpec(b + "attn_k_norm.weight", (hd,), True),
            TensorSpec(b + "ffn_norm.weight", (h,), True),
            TensorSpec(b + "ffn_gate_inp.weight", (h, ne), True),  # the converter keeps the router F32
            TensorSpec(b + "ffn_gate_exps.weight", (h, ff, ne), False),
            TensorSpec(b + "ffn_up_exps.weight", (h, ff, ne), False),
            TensorSpec(b + "ffn_down_exps.weight", (ff, h, ne), False),
        ]
    out.append(TensorSpec("output_norm.weight", (h,), True))
    out.append(TensorSpec("output.weight", (h, vocab), False))
    return out


def specs_for(name: str) -> list[TensorSpec]:
    cfg = CONFIGS[name]
    return qwen3_moe_specs(cfg) if cfg["model_type"] == "qwen3_moe" else make_gguf.tensor_specs(cfg)


def official_params(name: str) -> int:
    return QWEN3_MOE_PARAMS if name == "qwen3-30b-a3b" else make_gguf.OFFICIAL_PARAMS[name]


def _add_vocab(w: Any, gguf: Any, n_vocab: int) -> None:
    """Placeholder SentencePiece vocabulary of exactly n_vocab tokens (llama.cpp `llama-vocab.cpp`, SPM)."""
    tt = gguf.TokenType
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [tt.UNKNOWN, tt.CONTROL, tt.CONTROL] + [tt.BYTE] * 256
    tokens += [f"\u2581t{i}" for i in range(n_vocab - len(tokens))]
    types += [tt.NORMAL] * (n_vocab - len(types))
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * n_vocab)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)


def write_model(name: str, path: Path) -> int:
    """Write the sparse F16 GGUF of `name` to `path`; return its tensor-data bytes."""
    gguf = make_gguf._gguf()
    np = importlib.import_module("numpy")
    cfg = CONFIGS[name]
    mt = cfg["model_type"]
    nh = int(cfg["num_attention_heads"])
    hd = int(cfg.get("head_dim") or int(cfg["hidden_size"]) // nh)
    w = gguf.GGUFWriter(str(path), GGUF_ARCH[mt])
    make_gguf.add_shape(w, name, cfg, nh, hd)
    w.add_layer_norm_rms_eps(1e-6 if mt in ("qwen2", "qwen3_moe", "gemma2") else 1e-5)
    if mt in ROPE_THETA:
        w.add_rope_freq_base(ROPE_THETA[mt])
    w.add_vocab_size(int(cfg["vocab_size"]))
    w.add_file_type(1)  # LLAMA_FTYPE_MOSTLY_F16
    if mt == "gemma2":
        w.add_sliding_window(int(cfg["sliding_window"]))
        w.add_attn_logit_softcapping(50.0)
        w.add_final_logit_softcapping(30.0)
    if mt == "qwen3_moe":
        w.add_expert_count(int(cfg["num_experts"]))
        w.add_expert_used_count(int(cfg["num_experts_per_tok"]))
        w.add_expert_feed_forward_length(int(cfg["moe_intermediate_size"]))
    _add_vocab(w, gguf, int(cfg["vocab_size"]))
    specs = specs_for(name)
    total = 0
    for s in specs:
        n = param_count([s], exclude_generated=False)
        nbytes = n * (4 if s.f32 else 2)
        w.add_tensor_info(s.name, tuple(reversed(s.ne)), np.dtype(np.float32 if s.f32 else np.float16), nbytes)
        total += nbytes
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    fout = w.fout[0]
    fout.write(b"\0" * ((-fout.tell()) % w.data_alignment))
    data_start = fout.tell()
    padded = sum(w.ggml_pad(ti.nbytes, w.data_alignment) for ti in w.tensors[0].values())
    fout.flush()
    fout.truncate(data_start + padded)  # sparse: the zero data takes no disk
    fout.close()
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("models", nargs="*", default=list(CONFIGS))
    args = ap.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        specs = specs_for(name)
        params = param_count(specs)
        if params != official_params(name):
            raise SystemExit(f"{name}: derived {params:,} params, official {official_params(name):,}")
        nbytes = write_model(name, args.out_dir / f"{name}-f16.gguf")
        print(json.dumps({"model": name, "params": params, "f16_tensor_bytes": nbytes}), flush=True)


if __name__ == "__main__":
    main()
