"""Planner GGUF sizes vs the real llama.cpp quantizer (`llama-quantize --dry-run`), per tensor.

For each model: write a sparse all-zero F16 GGUF (make_gguf.py), run `llama-quantize --dry-run` for each
file type, parse the per-tensor log (name, shape, chosen ggml type), and compute each tensor's exact bytes as
nrows * ggml_row_size(type, ne0) (what llama-quant.cpp's dry run sums). Compare with the planner's
`tensor_types` / `tensor_bytes` (tensor data only: `gguf_bytes` minus its GGUF_METADATA_BYTES allowance).

Run (see README.md for the llama.cpp build):
  .venv/bin/python benchmarks/gguf_quantizer/run_check.py --quantize /tmp/lcpp/build/bin/llama-quantize
Writes benchmarks/results/gguf_quantizer.md and benchmarks/results/gguf_quantizer.json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_gguf import CONFIGS, LLAMA_CPP, write_gguf

from llmstack.planner import load_model
from llmstack.planner.arch import ModelArch
from llmstack.planner.gguf import GGUF_METADATA_BYTES, tensor_bytes, tensor_types

ROOT = Path(__file__).resolve().parents[2]
# ggml type -> (elements per block, bytes per block): ggml/src/ggml-common.h
GGML_BLOCK: dict[str, tuple[int, int]] = {
    "f32": (1, 4),
    "f16": (1, 2),
    "bf16": (1, 2),
    "q4_0": (32, 18),
    "q4_1": (32, 20),
    "q5_0": (32, 22),
    "q5_1": (32, 24),
    "q8_0": (32, 34),
    "iq4_nl": (32, 18),
    "q2_K": (256, 84),
    "q3_K": (256, 110),
    "q4_K": (256, 144),
    "q5_K": (256, 176),
    "q6_K": (256, 210),
}
LINE = re.compile(r"\[\s*\d+/\s*\d+\]\s+(\S+)\s+-\s+\[([^\]]*)\],\s+type\s+=\s+(\w+),\s+size\s+=(.*)$")
QUANT_SIZE = re.compile(r"quant size\s+=\s+([\d.]+) MiB")
FTYPES = ["Q4_K_M", "Q5_K_M", "Q8_0", "Q4_0", "Q6_K", "Q4_K_S", "Q5_K_S", "Q3_K_M", "Q2_K"]
MAIN_FTYPES = ["Q4_K_M", "Q5_K_M", "Q8_0", "Q4_0", "Q6_K"]


@dataclass(frozen=True)
class QTensor:
    name: str
    ne: tuple[int, ...]
    type: str

    @property
    def nbytes(self) -> int:
        per, size = GGML_BLOCK[self.type]
        rows = 1
        for d in self.ne[1:]:
            rows *= d
        return rows * (self.ne[0] // per) * size


def dry_run(quantize: Path, gguf: Path, ftype: str) -> tuple[list[QTensor], float, str]:
    proc = subprocess.run(
        [str(quantize), "--dry-run", str(gguf), ftype], capture_output=True, text=True, check=True, timeout=600
    )
    log = proc.stdout + proc.stderr
    out: list[QTensor] = []
    mib = float("nan")
    for line in log.splitlines():
        m = LINE.search(line)
        if m:
            name, shape, cur, rest = m.groups()
            ne = tuple(int(x) for x in shape.split(","))
            while len(ne) > 1 and ne[-1] == 1:
                ne = ne[:-1]
            new = re.search(r"\((\w+)\)\s*$", rest)
            out.append(QTensor(name, ne, new.group(1) if new else cur))
        q = QUANT_SIZE.search(line)
        if q:
            mib = float(q.group(1))
    if not out:
        raise RuntimeError(f"no tensor lines parsed from llama-quantize output:\n{log[-3000:]}")
    return out, mib, log


def planner_model(name: str) -> ModelArch:
    if name == "qwen2.5-1.5b":  # not in the catalog: the HF config fields
        return ModelArch.from_config(CONFIGS[name], name=name, source="Qwen/Qwen2.5-1.5B-Instruct config.json")
    return load_model(name)


def planner_tensors(m: ModelArch, ftype: str) -> dict[str, tuple[str, int]]:
    return {t.name: (ty.lower().replace("_k", "_K"), tensor_bytes(t, ty)) for t, ty in tensor_types(m, ftype)}


def _role(name: str) -> str:
    """`blk.12.attn_v.weight` -> `attn_v`; `blk.3.attn_q.bias` -> `attn_q.bias`; `output.weight` -> `output`."""
    base = name.removesuffix(".weight")
    return base.split(".", 2)[2] if base.startswith("blk.") else base


def compare(name: str, ftype: str, real: list[QTensor]) -> dict[str, object]:
    """Totals, plus per-role multisets of (type, bytes).

    Per-role multisets compare what a size depends on; `name_swaps` counts tensors whose type differs by
    name only (e.g. the planner giving Q6_K to a different layer than llama-quantize's `use_more_bits`).
    """
    m = planner_model(name)
    plan = planner_tensors(m, ftype)
    real_by = {t.name.removesuffix(".weight"): t for t in real}
    per_role_real: dict[str, Counter[tuple[str, int]]] = defaultdict(Counter)
    per_role_plan: dict[str, Counter[tuple[str, int]]] = defaultdict(Counter)
    for key, r in real_by.items():
        per_role_real[_role(key)][(r.type, r.nbytes)] += 1
    for key, (ty, b) in plan.items():
        per_role_plan[_role(key)][(ty, b)] += 1
    diffs: list[dict[str, object]] = []
    for role in sorted(set(per_role_real) | set(per_role_plan)):
        rc, pc = per_role_real.get(role, Counter()), per_role_plan.get(role, Counter())
        if rc != pc:
            diffs.append(
                {"role": role, "real": _fmt(rc), "planner": _fmt(pc),
                 "real_bytes": sum(b * n for (_, b), n in rc.items()),
                 "planner_bytes": sum(b * n for (_, b), n in pc.items())}
            )  # fmt: skip
    swaps = sum(1 for k, r in real_by.items() if k in plan and plan[k][0] != r.type)
    real_total = sum(t.nbytes for t in real)
    plan_total = sum(b for _, b in plan.values())
    return {
        "model": name,
        "ftype": ftype,
        "real_bytes": real_total,
        "planner_bytes": plan_total,
        "planner_gguf_bytes": plan_total + GGUF_METADATA_BYTES,
        "error_pct": 100.0 * (plan_total - real_total) / real_total,
        "real_types": _hist(real),
        "diffs": diffs,
        "name_swaps": swaps,
    }


def _fmt(c: Counter[tuple[str, int]]) -> str:
    return ", ".join(f"{n}x {ty} ({b:,} B)" for (ty, b), n in sorted(c.items()))


def _hist(real: list[QTensor]) -> dict[str, int]:
    h: dict[str, int] = {}
    for t in real:
        if len(t.ne) >= 2:
            h[t.type] = h.get(t.type, 0) + 1
    return dict(sorted(h.items()))


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(LLAMA_CPP), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "0c1e570 (vendored in llama-cpp-python 0.3.36 sdist; cmake reports `ggml commit: 0c1e570-dirty`)"


NOTES = """## Checks and findings

- **Shapes:** make_gguf.py's tensor lists reproduce each model's official parameter count exactly (the
  converter-generated `rope_freqs` of Llama-3.x excluded), e.g. Llama-3.2-1B 1,235,814,400, Gemma-2-9B
  9,241,705,984, Phi-3-mini 3,821,079,552.
- **Dry run = real file:** a real (non-dry-run) `llama-quantize` of the zero GGUFs gave Qwen2.5-0.5B Q4_K_M
  391,876,864 B = 17,152 B header/KV/tensor-info + 391,859,712 B tensor data, and Llama-3.2-1B Q4_K_M
  799,872,256 B = 9,344 + 799,862,912 (verify_file.py; 0 B alignment padding), i.e. exactly the dry-run sums
  in the table.
- **Calibration:** Llama-3.1-8B Q4_K_M tensor data 4,912,898,304 B; the published bartowski file is
  4,920,739,232 B, so its tokenizer + KV metadata + tensor info is 7,840,928 B (docs/sizing.md §12: 7.8 MB).
- **Planner vs quantizer:** identical totals for every tensor data row except the Llama-3.x rows, where the
  planner omits the converter-generated F32 `rope_freqs` tensor (head_dim/2 floats: 128 B for Llama-3.2-1B,
  256 B for head_dim 128). Nothing is near the 2% threshold: the largest error is -2.2e-5 % (Llama-3.2-1B
  Q2_K, -128 B). Llama-3.1-8B is the calibration row (its real file is published), not one of the new checks.
- **Type-label difference (no size effect):** for k-quant rows not divisible by 256 with target Q2_K/Q3_K
  (Qwen2.5-0.5B, hidden 896, Q2_K and Q3_K_M), llama-quantize 0c1e570 falls back to **Q4_0**
  (`tensor_type_fallback`: `case GGML_TYPE_Q2_K: case GGML_TYPE_Q3_K: ... return_type = GGML_TYPE_Q4_0`),
  while planner/gguf.py `_FALLBACK` says IQ4_NL. Both are 18 B per 32 weights and both count as repacked
  in `cpu_repack_bytes`, so sizes are unaffected; only `type_histogram` labels differ.
- **Not covered:** the planner's flat 7,000,000 B metadata allowance (no tokenizers offline; vocab sizes
  differ: 32k-vocab Mistral/Phi-3 carry much less than the 7.8 MB of Llama-3), MoE/MLA/encoder models,
  IQ* types and imatrix-dependent choices.
"""


def write_md(rows: list[dict[str, object]], path: Path, quantize: Path) -> None:
    lines = [
        "# Planner GGUF sizes vs the real llama.cpp quantizer",
        "",
        f"llama.cpp {_commit()}; run {date.today().isoformat()}. Built CPU-only; `llama-quantize --dry-run` on "
        "all-zero F16 GGUFs with each model's real tensor names/shapes (benchmarks/gguf_quantizer/). Bytes are "
        "**tensor data only**: the planner's flat GGUF_METADATA_BYTES "
        f"({GGUF_METADATA_BYTES:,} B) allowance is excluded, as is the real tokenizer/KV metadata. "
        "Reproduce: benchmarks/gguf_quantizer/README.md.",
        "",
        "| model | quant | real quantizer bytes | planner bytes | planner - real (B) | error % | roles differing |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    # main file types first (model order kept: sort is stable), then the extra ones
    ordered = sorted(rows, key=lambda r: str(r["ftype"]) not in MAIN_FTYPES)
    for r in ordered:
        diffs = r["diffs"]
        assert isinstance(diffs, list)
        delta = int(str(r["planner_bytes"])) - int(str(r["real_bytes"]))
        lines.append(
            f"| {r['model']} | {r['ftype']} | {r['real_bytes']:,} | {r['planner_bytes']:,} | {delta:+,} | "
            f"{r['error_pct']:+.2e} | {len(diffs)} |"
        )
    lines += ["", "## Per-role differences (tensor type x count, per tensor bytes)", ""]
    seen: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        diffs = r["diffs"]
        assert isinstance(diffs, list)
        for d in diffs:
            text = (
                f"`{d['role']}`: real [{d['real']}] = {d['real_bytes']:,} B; planner [{d['planner']}] = "
                f"{d['planner_bytes']:,} B"
            )
            seen.setdefault((str(r["model"]), text), []).append(str(r["ftype"]))
    if not seen:
        lines.append("None: every tensor got the same type and byte count.")
    for (model, text), ftypes in seen.items():
        lines.append(f"- {model} ({', '.join(ftypes)}): {text}")
    lines += ["", NOTES]
    path.write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    scratch = Path(tempfile.gettempdir())
    ap.add_argument("--quantize", type=Path, default=scratch / "lcpp/build/bin/llama-quantize")
    ap.add_argument("--work", type=Path, default=scratch / "gq")
    ap.add_argument("--models", nargs="*", default=list(CONFIGS))
    ap.add_argument("--ftypes", nargs="*", default=FTYPES)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/gguf_quantizer.md")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    for name in args.models:
        gguf = args.work / f"{name}-f16.gguf"
        write_gguf(name, gguf)
        for ftype in args.ftypes:
            real, mib, log = dry_run(args.quantize, gguf, ftype)
            (args.work / f"{name}-{ftype}.log").write_text(log)
            row = compare(name, ftype, real)
            # cross-check the parsed per-tensor sum against the quantizer's own total (2 decimals of MiB)
            row["quantizer_total_mib"] = mib
            assert abs(int(row["real_bytes"]) / 2**20 - mib) < 0.01, (name, ftype, row["real_bytes"], mib)  # type: ignore[call-overload]
            rows.append(row)
            print(f"{name:16} {ftype:7} real {row['real_bytes']:>14,} planner {row['planner_bytes']:>14,} "
                  f"err {row['error_pct']:+.4f}% diffs {len(row['diffs'])}", flush=True)  # type: ignore[arg-type]  # fmt: skip
        gguf.unlink()
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    write_md(rows, args.out, args.quantize)


if __name__ == "__main__":
    main()
