"""Compare the planner with real GPU memory measured by measure.py (runs here, no GPU needed).

    .venv/bin/python benchmarks/gpu_memory/compare.py [--json benchmarks/results/gpu_memory.json]
                                                      [--md benchmarks/results/gpu_memory.md]

Error % = (planner - measured) / measured. Rows off by more than FLAG_PCT are marked and explained in Notes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from llmstack.catalog import gpu_by_name
from llmstack.planner import (
    ModelArch,
    kv_bytes_for_sequence,
    kv_bytes_per_token,
    load_model,
    weight_bytes,
)
from llmstack.planner.engines_memory import CUDA_CONTEXT_BYTES, activation_bytes

ROOT = Path(__file__).resolve().parents[2]
MIB = 2**20
FLAG_PCT = 3.0
# Byte figures that must agree between runs for a model to count as reproduced.
REPRO_KEYS = ("kv_logical_bytes", "kv_storage_bytes", "peak_over_base_bytes")


def pct(planner: float, measured: float) -> float:
    return 100.0 * (planner - measured) / measured


def fmt_pct(p: float) -> str:
    mark = " ⚠" if abs(p) > FLAG_PCT else ""
    return f"{p:+.2f}%{mark}"


def mib(n: float) -> str:
    return f"{n / MIB:,.1f}"


def table(head: list[str], rows: Iterable[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def load_runs(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text())
    return list(data["runs"]) if "runs" in data else [data]


def gpu_label(run: dict[str, Any]) -> str:
    return f"run {run.get('run', {}).get('id', '?')} ({run['env']['gpu_name']})"


def by_model(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in run["models"] if "error" not in m}


def first_measured(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each model from the first run that measured it (a model too big for run 1's GPU comes from a later run),
    tagged with that run's id under `_run`."""
    out: dict[str, dict[str, Any]] = {}
    for r in runs:
        for name, m in by_model(r).items():
            out.setdefault(name, {**m, "_run": r.get("run", {}).get("id", "?")})
    return out


def reproduced(name: str, runs: list[dict[str, Any]]) -> str:
    """Which runs measured the same bytes for this model (weights and every prefill)."""

    def sig(m: dict[str, Any]) -> tuple[Any, ...]:
        pre = tuple(tuple(p.get(k) for k in REPRO_KEYS) for p in m["prefill"])
        return (m["weights"]["allocated_delta_bytes"], pre)

    have = [(r, by_model(r).get(name)) for r in runs]
    present = [(r, m) for r, m in have if m is not None]
    ref = sig(present[0][1])
    same = [str(r["run"]["id"]) for r, m in present if sig(m) == ref]
    diff = [str(r["run"]["id"]) for r, m in present if sig(m) != ref]
    return "runs " + ",".join(same) + (f" (differs: {','.join(diff)})" if diff else "")


def context_section(runs: list[dict[str, Any]]) -> list[str]:
    rows = []
    for r in runs:
        c = r["context"]
        models = [m for m in r["models"] if "error" not in m]
        non_torch = [m["weights"]["non_torch_after_load_bytes"] for m in models]
        non_torch += [
            p["non_torch_after_forward_bytes"]
            for m in models
            for p in m["prefill"]
            if "non_torch_after_forward_bytes" in p
        ]
        smi_ctx_mm = c["smi_used_mib_after_first_matmul"] * MIB
        rows.append(
            [
                gpu_label(r),
                f"{c['context_mib_smi']}",
                f"{c['context_plus_first_tensor_mib_smi']}",
                f"{c['smi_used_mib_after_first_matmul']}",
                f"{mib(min(non_torch))}-{mib(max(non_torch))}",
                f"{mib(CUDA_CONTEXT_BYTES)}",
                fmt_pct(pct(CUDA_CONTEXT_BYTES, smi_ctx_mm)),
                fmt_pct(pct(CUDA_CONTEXT_BYTES, max(non_torch))),
            ]
        )
    head = [
        "run",
        "context only (smi MiB)",
        "+ first tensor (smi MiB)",
        "+ first bf16 matmul (smi MiB)",
        "non-torch during runs (MiB)",
        "planner CUDA_CONTEXT_BYTES (MiB)",
        "err vs smi after matmul",
        "err vs max non-torch",
    ]
    out = ["## CUDA context", ""]
    out += table(head, rows)
    out += [
        "",
        "non-torch = device used (`mem_get_info`) minus `memory_reserved`, sampled after every model load and "
        "prefill: context + anything outside PyTorch's allocator. PyTorch allocates the cuBLAS workspace through "
        "its own allocator (counted in reserved, not here): after the first matmul it held "
        f"{mib(runs[0]['context']['torch_reserved_bytes_after_first_matmul'])} MiB. The planner constant "
        "(docs/sizing.md §7: 621 + 162 MiB) is conservative by the difference in the matmul step (162 vs 118 MiB "
        "here); a bigger matmul (4096², 8192²) did not grow non-torch memory.",
        "",
    ]
    return out


def gpu_section(runs: list[dict[str, Any]]) -> list[str]:
    rows = []
    for r in runs:
        e = r["env"]
        key = "h100" if "H100" in e["gpu_name"] else "h200" if "H200" in e["gpu_name"] else e["gpu_name"]
        planned = gpu_by_name(key).visible_mib
        visible_mib = e["torch_total_bytes"] / MIB
        rows.append(
            [
                gpu_label(r),
                f"{e['smi_total_mib']:,}",
                f"{visible_mib:,.1f}",
                f"{visible_mib / 1024:.2f}",
                f"{planned:,}",
                fmt_pct(pct(planned, visible_mib)),
            ]
        )
    head = ["run", "nvidia-smi total MiB", "torch-visible MiB", "torch-visible GiB", "gpus.yaml visible_mib", "err"]
    return ["## GPU totals", "", *table(head, rows), ""]


def weights_section(primary: dict[str, dict[str, Any]], archs: dict[str, ModelArch]) -> list[str]:
    rows = []
    for name, arch in archs.items():
        m = primary[name]["weights"]
        planned = weight_bytes(arch, "bf16")
        rows.append(
            [
                f"{name} (run {primary[name]['_run']})",
                f"{m['param_count']:,}",
                f"{arch.params:,}",
                f"{m['param_count'] - arch.params:+,}",
                mib(m["param_bytes"]),
                mib(m["allocated_delta_bytes"]),
                mib(planned),
                fmt_pct(pct(planned, m["param_bytes"])),
                fmt_pct(pct(planned, m["allocated_delta_bytes"])),
                "yes" if m["tied_embeddings"] else "no",
                mib(m["peak_allocated_during_load_bytes"]),
            ]
        )
    head = [
        "model",
        "params (torch)",
        "params (planner)",
        "Δ params",
        "param bytes MiB",
        "allocated MiB",
        "planner bf16 MiB",
        "err vs param bytes",
        "err vs allocated",
        "tied",
        "load peak MiB",
    ]
    return ["## Weights (bf16)", "", *table(head, rows), ""]


def kv_section(primary: dict[str, dict[str, Any]], archs: dict[str, ModelArch]) -> list[str]:
    rows = []
    for name, arch in archs.items():
        per_tok = kv_bytes_per_token(arch, "bf16")
        for p in primary[name]["prefill"]:
            if "error" in p:
                rows.append([name, f"{p['batch']}x{p['tokens']}", p["error"], *[""] * 8])
                continue
            b, t = p["batch"], p["tokens"]
            full = per_tok * t * b
            windowed = kv_bytes_for_sequence(arch, t, "bf16", window=True) * b
            layers = ", ".join(f"{n}x{s}" for s, n in p["seq_len_by_layers"].items())
            rows.append(
                [
                    name,
                    f"{b}x{t}",
                    layers,
                    mib(p["kv_logical_bytes"]),
                    mib(p["kv_storage_bytes"]),
                    mib(full),
                    fmt_pct(pct(full, p["kv_storage_bytes"])),
                    mib(windowed),
                    fmt_pct(pct(windowed, p["kv_logical_bytes"])),
                    mib(p["peak_over_base_bytes"]),
                    mib(p["transient_peak_bytes"]),
                ]
            )
    head = [
        "model",
        "batchxtokens",
        "cached layersxtokens",
        "KV logical MiB",
        "KV storage MiB",
        "planner full KV MiB",
        "err vs storage",
        "planner windowed MiB",
        "err vs logical",
        "peak over base MiB",
        "transient MiB",
    ]
    out = ["## KV cache (bf16) and prefill peak", ""]
    out += table(head, rows)
    out += [
        "",
        "*full* = `kv_bytes_per_token(m, 'bf16') x tokens x batch`; *windowed* = "
        "`kv_bytes_for_sequence(m, tokens, window=True) x batch`. *logical* = sum of numelx2 of the cached K/V "
        "tensors; *storage* = their backing storages (deduplicated). *peak over base* = allocator peak "
        "during the prefill minus what was allocated before it; *transient* = that peak minus what the "
        "forward left allocated (cache + last-token logits).",
        "",
    ]
    return out


def activation_section(primary: dict[str, dict[str, Any]], archs: dict[str, ModelArch]) -> list[str]:
    """Informational: HF prefill transient vs the planner's vLLM profile-run activation estimate, plus the
    per-token fit the measurements follow for dense models: tokens x (3 x intermediate + 4 x hidden) x 2 B."""
    gpu = gpu_by_name("h100")
    rows = []
    for name, arch in archs.items():
        p8 = next(
            (p for p in primary[name]["prefill"] if (p["batch"], p["tokens"]) == (1, 8192) and "error" not in p),
            None,
        )
        if p8 is None:
            continue
        measured = p8["transient_peak_bytes"]
        planned = activation_bytes(arch, gpu)
        fit = 8192 * (3 * arch.intermediate + 4 * arch.hidden) * 2
        rows.append(
            [
                name,
                mib(measured),
                mib(planned),
                f"{pct(planned, measured):+.1f}%",
                "-" if arch.is_moe else mib(fit),
                "-" if arch.is_moe else f"{pct(fit, measured):+.1f}%",
            ]
        )
    head = [
        "model",
        "HF transient @8192 tok MiB",
        "planner activation_bytes (H100: 8192 tok) MiB",
        "planner diff",
        "fit 8192x(3I+4h)x2 B MiB",
        "fit diff",
    ]
    return [
        "## Activations (informational, not like-for-like)",
        "",
        "HF transformers prefill (sdpa, last-token logits only) vs the planner's vLLM profile-run estimate "
        "(docs/sizing.md §5, PR #10511 scaled by tokens x (hidden + intermediate + vocab)). vLLM's profile runs "
        "its own kernels and a sampler pass, so this is not a check of the planner; it shows what the transient "
        "of a plain bf16 prefill scales with. Dense models follow tokens x (3 x intermediate + 4 x hidden) x 2 B "
        "(MLP gate/up/act plus a few hidden-size buffers), independent of vocab; MoE (HF expert loop) is higher.",
        "",
        *table(head, rows),
        "",
    ]


def notes_section(primary: dict[str, dict[str, Any]], archs: dict[str, ModelArch]) -> list[str]:
    """Data-driven explanations of each flagged difference."""
    out = ["## Notes", ""]
    for name, arch in archs.items():
        m = primary[name]
        w = m["weights"]
        extra = w["allocated_delta_bytes"] - w["param_bytes"] - w["buffer_bytes"]
        if extra > w["param_bytes"] // 1000:  # > 0.1%
            out.append(
                f"- **{name} weights**: allocated exceeds param bytes by {mib(extra)} MiB "
                f"({100 * extra / w['param_bytes']:.2f}%). PyTorch's caching allocator rounds each "
                "large tensor up to whole 2 MiB segments and keeps a remainder under 1 MiB inside the block; "
                "tensors whose byte size is not a 2 MiB multiple (hidden 3584/5120/896) waste up to 1 MiB "
                "each. Real memory, but allocator overhead, not weights."
            )
        transient = w["peak_allocated_during_load_bytes"] - w["allocated_delta_bytes"]
        if transient > MIB:
            out.append(
                f"- **{name} load**: peak during `from_config` was {mib(transient)} MiB above the "
                "final weights: the tied lm_head is allocated before it is tied to the embedding and "
                "then freed (transformers init order; a checkpoint load path may differ)."
            )
        for p in m["prefill"]:
            if "error" in p or p["kv_storage_bytes"] <= 1.01 * p["kv_logical_bytes"]:
                continue
            windowed = kv_bytes_for_sequence(arch, p["tokens"], "bf16", window=True) * p["batch"]
            out.append(
                f"- **{name} {p['batch']}x{p['tokens']} KV**: transformers caches {p['seq_len_by_layers']} "
                f"(layers by kept tokens) = {mib(p['kv_logical_bytes'])} MiB logical, but the kept tokens are a "
                f"*view* of the prefill's full K/V, so {mib(p['kv_storage_bytes'])} MiB stays allocated until "
                f"the next update (`DynamicSlidingWindowLayer.update` slices `[-window+1:]`). Config "
                f"`sliding_window` = {m['config'].get('sliding_window')}; "
                f"planner: sliding_window={arch.sliding_window}, "
                f"sliding_layers={arch.sliding_layers}, windowed estimate {mib(windowed)} MiB."
            )
        windowed_layers = {k for p in m["prefill"] for k in p.get("layer_classes", {}) if "Sliding" in k}
        if windowed_layers and not arch.sliding_window:
            out.append(
                f"- **{name} catalog**: the real config.json has `sliding_window: "
                f"{m['config'].get('sliding_window')}`, which "
                "the catalog entry / ModelArch drops, so the planner counts every layer as full "
                "attention. transformers honours the window (see above)."
            )
    return [*out, ""]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/gpu_memory.json")
    ap.add_argument("--md", type=Path, default=ROOT / "benchmarks/results/gpu_memory.md")
    args = ap.parse_args()
    runs = load_runs(args.json)
    primary = first_measured(runs)
    names = list(primary)
    archs = {n: load_model(n) for n in names}
    e = runs[0]["env"]

    lines = [
        "# Planner vs real GPU memory",
        "",
        "Generated by `benchmarks/gpu_memory/compare.py` from `benchmarks/results/gpu_memory.json` (raw output "
        "of `benchmarks/gpu_memory/measure.py`, one entry per device run). Full-size models built from their "
        "config.json with random bf16 weights directly on the GPU; prefill with `use_cache=True`. Device command: "
        "`PYTHONUNBUFFERED=1 python3 benchmarks/gpu_memory/measure.py --out $OUT/gpu_memory.json --budget-s 480`.",
        "",
        "| run | date (UTC) | GPU | driver | torch | CUDA | transformers | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        env = r["env"]
        lines.append(
            f"| {r.get('run', {}).get('id', '?')} | {r['date_utc']} | {env['gpu_name']} | "
            f"{env['driver']} | {env['torch']} | {env['torch_cuda']} | {env['transformers']} | "
            f"{r.get('run', {}).get('note', '')} |"
        )
    lines += [
        "",
        f"Tables below use run {runs[0].get('run', {}).get('id', 1)} ({e['gpu_name']}) for every "
        "model it measured, else the first run that did. Byte figures per model (weights allocated, KV "
        "logical/storage, prefill peak) reproduced across runs: "
        + "; ".join(f"{n}: {reproduced(n, runs)}" for n in names)
        + ".",
        "",
    ]
    lines += context_section(runs)
    lines += gpu_section(runs)
    lines += weights_section(primary, archs)
    lines += kv_section(primary, archs)
    lines += activation_section(primary, archs)
    lines += notes_section(primary, archs)
    text = "\n".join(lines)
    args.md.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
