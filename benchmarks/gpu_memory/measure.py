"""Measure real GPU memory of full-size random-weight models (runs on the device machine).

Needs only torch + transformers. For each architecture in architectures.json: build the model from its
config directly on the GPU in bf16, record weight bytes, then prefill with a KV cache at a few context
lengths and record the exact cache tensor bytes and the allocator peak. CUDA context overhead is measured
once, first, in a fresh process. Results go to $OUT/gpu_memory.json (rewritten after every model, so a
timeout keeps what was done). One model failing is recorded with its traceback; the script goes on.

    python3 benchmarks/gpu_memory/measure.py --out "$OUT/gpu_memory.json" [--only a,b] [--budget-s 480]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
MIB = 2**20
CONTEXTS = (2048, 8192, 16384)  # batch 1; capped at max_position_embeddings
BATCHED = ((4, 2048),)  # (batch, tokens per sequence)


def smi() -> dict[str, Any]:
    """nvidia-smi view of GPU 0 (what an operator sees)."""
    q = "memory.used,memory.total,name,driver_version"
    res = subprocess.run(
        ["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader,nounits", "-i", "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    used, total, name, driver = (f.strip() for f in res.stdout.strip().split(","))
    return {"used_mib": int(used), "total_mib": int(total), "name": name, "driver": driver}


def mem_state() -> dict[str, int]:
    free, total = torch.cuda.mem_get_info()
    return {
        "allocated": torch.cuda.memory_allocated(),
        "reserved": torch.cuda.memory_reserved(),
        "device_used": total - free,  # whole device as the driver counts it (this process only here)
    }


def free_all() -> None:
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()


def measure_context() -> dict[str, Any]:
    """CUDA context + first tensor + first cuBLAS bf16 matmul, as deltas of nvidia-smi and mem_get_info."""
    s0 = smi()  # before this process touches CUDA
    torch.cuda.init()
    free_ctx, total = torch.cuda.mem_get_info()  # creates the primary context
    s1 = smi()
    x = torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
    free_t, _ = torch.cuda.mem_get_info()
    s2 = smi()
    a = torch.randn(1024, 1024, device="cuda", dtype=torch.bfloat16)
    b = a @ a
    torch.cuda.synchronize()
    free_mm, _ = torch.cuda.mem_get_info()
    s3 = smi()
    reserved_after_mm = torch.cuda.memory_reserved()
    del x, a, b
    free_all()
    # Non-torch memory (context + cuBLAS/cuBLASLt workspaces) after bf16 matmuls of growing size.
    non_torch: dict[str, int] = {}
    for n in (1024, 4096, 8192):
        a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        b = a @ a
        torch.cuda.synchronize()
        del a, b
        free_all()
        non_torch[str(n)] = mem_state()["device_used"] - torch.cuda.memory_reserved()
    return {
        "smi_used_mib_before_cuda": s0["used_mib"],
        "smi_used_mib_after_context": s1["used_mib"],
        "smi_used_mib_after_first_tensor": s2["used_mib"],
        "smi_used_mib_after_first_matmul": s3["used_mib"],
        "context_mib_smi": s1["used_mib"] - s0["used_mib"],
        "context_plus_first_tensor_mib_smi": s2["used_mib"] - s0["used_mib"],
        "first_matmul_extra_mib_smi": s3["used_mib"] - s2["used_mib"],
        "device_used_bytes_after_context": total - free_ctx,
        "device_used_bytes_after_first_tensor": total - free_t,
        "device_used_bytes_after_first_matmul": total - free_mm,
        "torch_reserved_bytes_after_first_matmul": reserved_after_mm,
        "non_torch_bytes_after_matmul_n": non_torch,
        "cuda_module_loading": os.environ.get("CUDA_MODULE_LOADING", "<unset: torch default LAZY>"),
    }


def cache_bytes(cache: Any) -> dict[str, Any]:
    """Exact K/V tensor bytes of a transformers cache: logical (numel) and backing storage (deduplicated).

    transformers' DynamicSlidingWindowLayer keeps a *view* of the last window-1 tokens after a prefill, so
    the storage still holds the full prompt until the next update: both numbers matter.
    """
    pairs: list[tuple[torch.Tensor, torch.Tensor]] = []
    kinds: Counter[str] = Counter()
    if hasattr(cache, "layers"):  # transformers >= 4.56
        for layer in cache.layers:
            kinds[type(layer).__name__] += 1
            if getattr(layer, "keys", None) is not None:
                pairs.append((layer.keys, layer.values))
    else:  # older DynamicCache
        kinds[type(cache).__name__] += len(cache.key_cache)
        pairs = list(zip(cache.key_cache, cache.value_cache, strict=True))
    logical = 0
    storages: dict[int, int] = {}
    seq_lens: Counter[int] = Counter()
    dtypes: set[str] = set()
    for k, v in pairs:
        seq_lens[int(k.shape[-2])] += 1
        for t in (k, v):
            logical += t.numel() * t.element_size()
            st = t.untyped_storage()
            storages[st.data_ptr()] = st.nbytes()
            dtypes.add(str(t.dtype))
    return {
        "cache_class": type(cache).__name__,
        "layer_classes": dict(kinds),
        "n_layers_with_kv": len(pairs),
        "seq_len_by_layers": {str(s): n for s, n in sorted(seq_lens.items())},
        "kv_dtypes": sorted(dtypes),
        "kv_logical_bytes": logical,
        "kv_storage_bytes": sum(storages.values()),
        "example_key_shape": list(pairs[0][0].shape) if pairs else None,
    }


def build_config(spec: dict[str, Any]) -> Any:
    from transformers import AutoConfig

    fields = dict(spec["config"])
    model_type = fields.pop("model_type")
    return AutoConfig.for_model(model_type, **fields)


def contexts_for(max_pos: int) -> list[tuple[int, int]]:
    ctx = sorted({min(c, max_pos) for c in CONTEXTS})
    return [(1, c) for c in ctx] + [(b, t) for b, t in BATCHED if t <= max_pos]


def measure_model(name: str, spec: dict[str, Any], deadline: float) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM

    rec: dict[str, Any] = {"name": name, "hf_id": spec.get("hf_id"), "config": spec["config"]}
    t0 = time.monotonic()
    cfg = build_config(spec)
    free_all()
    torch.cuda.reset_peak_memory_stats()
    before = mem_state()
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16, attn_implementation="sdpa")
    model.eval()
    torch.cuda.synchronize()
    after = mem_state()
    params = list(model.parameters())  # deduplicated: tied embeddings count once
    bufs = list(model.buffers())
    rec["weights"] = {
        "model_class": type(model).__name__,
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "param_count": sum(p.numel() for p in params),
        "param_bytes": sum(p.numel() * p.element_size() for p in params),
        "param_dtypes": sorted({str(p.dtype) for p in params}),
        "buffer_bytes": sum(b.numel() * b.element_size() for b in bufs),
        "tied_embeddings": bool(
            model.get_output_embeddings() is not None
            and model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
        ),
        "allocated_delta_bytes": after["allocated"] - before["allocated"],
        "reserved_delta_bytes": after["reserved"] - before["reserved"],
        "peak_allocated_during_load_bytes": torch.cuda.max_memory_allocated() - before["allocated"],
        "device_used_after_load_bytes": after["device_used"],
        "non_torch_after_load_bytes": after["device_used"] - after["reserved"],
        "smi_used_mib_after_load": smi()["used_mib"],
        "load_s": round(time.monotonic() - t0, 2),
    }
    print(
        f"  {name}: {rec['weights']['param_count'] / 1e9:.3f}B params, load {rec['weights']['load_s']}s",
        flush=True,
    )

    runs: list[dict[str, Any]] = []
    max_pos = int(cfg.max_position_embeddings)
    for batch, tokens in contexts_for(max_pos):
        run: dict[str, Any] = {"batch": batch, "tokens": tokens}
        if time.monotonic() > deadline:
            run["error"] = "skipped: time budget exhausted"
            runs.append(run)
            continue
        t1 = time.monotonic()
        ids: torch.Tensor | None = None
        out: Any = None
        try:
            free_all()
            ids = torch.randint(0, int(cfg.vocab_size), (batch, tokens), device="cuda")
            torch.cuda.reset_peak_memory_stats()
            base = mem_state()
            with torch.inference_mode():
                # logits_to_keep=1: last-token logits only, as a serving engine does after prefill.
                out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
            torch.cuda.synchronize()
            held = mem_state()
            run.update(cache_bytes(out.past_key_values))
            run["retained_after_forward_bytes"] = held["allocated"] - base["allocated"]
            run["logits_bytes"] = out.logits.numel() * out.logits.element_size()
            run["peak_over_base_bytes"] = torch.cuda.max_memory_allocated() - base["allocated"]
            run["peak_reserved_bytes"] = torch.cuda.max_memory_reserved()
            run["transient_peak_bytes"] = (
                run["peak_over_base_bytes"] - run["retained_after_forward_bytes"]
            )  # activations freed by the end of the forward
            run["device_used_after_forward_bytes"] = held["device_used"]
            run["non_torch_after_forward_bytes"] = held["device_used"] - held["reserved"]
            run["smi_used_mib_after_forward"] = smi()["used_mib"]
            run["forward_s"] = round(time.monotonic() - t1, 2)
        except Exception as exc:  # noqa: BLE001 - recorded in the JSON (e.g. OOM, unsupported arch)
            run["error"] = f"{type(exc).__name__}: {exc}"
            run["traceback"] = traceback.format_exc()
        finally:
            ids = out = None  # drop the cache before the next length
            free_all()
        runs.append(run)
        print(
            f"    b={batch} t={tokens}: kv={run.get('kv_logical_bytes', 0) / MIB:.1f} MiB "
            f"peak+={run.get('peak_over_base_bytes', 0) / MIB:.1f} MiB {run.get('error', '')}",
            flush=True,
        )
    rec["prefill"] = runs
    del model, params, bufs
    free_all()
    rec["after_free_allocated_bytes"] = torch.cuda.memory_allocated()
    rec["elapsed_s"] = round(time.monotonic() - t0, 2)
    return rec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")) / "gpu_memory.json")
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--budget-s", type=float, default=480.0, help="stop starting new work after this")
    args = ap.parse_args()
    start = time.monotonic()
    deadline = start + args.budget_s

    specs: dict[str, Any] = {
        k: v for k, v in json.loads((HERE / "architectures.json").read_text()).items() if not k.startswith("_")
    }
    if args.only:
        specs = {k: specs[k] for k in args.only.split(",")}

    import transformers

    result: dict[str, Any] = {
        "schema": 1,
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "context": measure_context(),
    }
    gpu = smi()
    props = torch.cuda.get_device_properties(0)
    result["env"] = {
        "gpu_name": gpu["name"],
        "driver": gpu["driver"],
        "smi_total_mib": gpu["total_mib"],
        "torch_total_bytes": props.total_memory,
        "mem_get_info_total_bytes": torch.cuda.mem_get_info()[1],
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "contexts": list(CONTEXTS),
        "batched": [list(b) for b in BATCHED],
        "prefill_mode": "inference_mode, sdpa, use_cache=True (DynamicCache(config)), logits_to_keep=1",
    }
    result["models"] = []
    print(json.dumps(result["context"], indent=1), flush=True)
    total_gib = props.total_memory / 2**30
    for name, spec in specs.items():
        rec: dict[str, Any]
        if time.monotonic() > deadline:
            rec = {"name": name, "error": "skipped: time budget exhausted"}
        elif total_gib < spec.get("min_total_gib", 0):
            rec = {
                "name": name,
                "error": f"skipped: needs {spec['min_total_gib']} GiB, GPU has {total_gib:.1f}",
            }
        else:
            print(f"[{time.monotonic() - start:6.1f}s] {name}", flush=True)
            try:
                rec = measure_model(name, spec, deadline)
            except Exception as exc:  # noqa: BLE001 - recorded; one arch failing must not stop the rest
                rec = {
                    "name": name,
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(),
                }
                print(f"  ERROR {rec['error']}", flush=True)
            free_all()
        result["models"].append(rec)
        result["elapsed_s"] = round(time.monotonic() - start, 1)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"done in {time.monotonic() - start:.1f}s -> {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
