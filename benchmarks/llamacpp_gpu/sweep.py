"""Measure a CUDA llama-server's GPU memory per (model, context, slots, flash attention, KV type) point.

Runs on the GPU machine (see README.md). Per point: start `llama-server` the way `llmstack/launch.py` renders
it (`-c context*slots -np slots --metrics -ngl 999`, plus `-ctk q8_0 -ctv q8_0 -fa on` for a q8_0 KV cache;
flash attention otherwise left at the server default, `auto`, unless the point names it), wait for /health,
read `nvidia-smi`, send one completion request (a prompt of up to 2048 token ids, 16 generated tokens), read
`nvidia-smi` again (the figure compared with the planner), for 4 slots also after 4 concurrent requests, and
optionally after a request that fills most of one slot. Then stop the server and parse its log: the model,
KV, compute and output buffers it reports per device, the flash-attention decision, n_ctx / n_ctx_seq, the
KV cells. The JSON is rewritten after every point, so a timeout keeps what was measured.

    python3 benchmarks/llamacpp_gpu/sweep.py --server BIN --models DIR --out FILE.json --logs DIR [--only m1,m2]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from points import POINTS, Point  # noqa: E402

PORT = 18080
PROMPT_TOKENS = 2048
N_PREDICT = 16


def smi() -> dict[str, Any]:
    q = "memory.used,memory.total,memory.reserved,name,driver_version"
    r = subprocess.run(
        ["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader,nounits", "-i", "0"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    out: dict[str, Any] = {"raw": r.stdout.strip()}
    f = [x.strip() for x in r.stdout.strip().split(",")]
    if len(f) == 5:
        for k, v in zip(("used_mib", "total_mib", "reserved_mib"), f[:3], strict=True):
            try:
                out[k] = int(v)
            except ValueError:
                out[k] = v
        out["name"], out["driver"] = f[3], f[4]
    r = subprocess.run(
        ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits", "-i", "0"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    apps = []
    for line in r.stdout.strip().splitlines():
        p = [x.strip() for x in line.split(",")]
        if len(p) == 2 and p[1].isdigit():
            apps.append({"pid": int(p[0]), "used_mib": int(p[1])})
    out["apps"] = apps
    return out


def http(path: str, body: dict[str, Any] | None = None, timeout: float = 600) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{PORT}{path}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")[:500]
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
        return 0, str(e)


def complete(n_prompt: int, vocab: int, seed: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    ids = [rnd.randrange(300, min(vocab, 32000)) for _ in range(n_prompt)]
    body = {
        "prompt": ids, "n_predict": N_PREDICT, "ignore_eos": True, "cache_prompt": False,
        "temperature": 0.0, "samplers": ["top_k"], "top_k": 1,
    }  # fmt: skip
    t0 = time.time()
    code, res = http("/completion", body)
    out: dict[str, Any] = {"status": code, "s": round(time.time() - t0, 3), "prompt_tokens": n_prompt}
    if isinstance(res, dict):
        t = res.get("timings") or {}
        out["prompt_n"] = t.get("prompt_n")
        out["predicted_n"] = t.get("predicted_n")
        out["prompt_tok_s"] = t.get("prompt_per_second")
    else:
        out["error"] = str(res)[:300]
    return out


# llama.cpp log lines (src/llama-model.cpp load_tensors, src/llama-kv-cache.cpp, src/llama-context.cpp)
RE_BUF = re.compile(r"(\w+):\s+(\S+)\s+(model|KV|compute|output|RS) buffer size =\s+([\d.]+) MiB")
RE_KV_CELLS = re.compile(r"creating\s+(non-SWA|SWA) KV cache, size = (\d+) cells")
RE_KV_LAYERS = re.compile(r"llama_kv_cache: size =\s+([\d.]+) MiB \(\s*(\d+) cells,\s+(\d+) layers,\s+(\d+)/(\d+) seqs")
RE_CPARAM = re.compile(r"llama_context: (n_ctx|n_ctx_seq|n_seq_max|n_batch|n_ubatch|flash_attn|kv_unified)\s+= (\S+)")
RE_FA = re.compile(r"(Flash Attention (enabled|not supported, set to disabled)|flash_attn is not compatible.*)")


def parse_log(text: str) -> dict[str, Any]:
    bufs: list[dict[str, Any]] = []
    cells: list[dict[str, Any]] = []
    kv_layers: list[dict[str, Any]] = []
    cparams: dict[str, str] = {}
    fa: list[str] = []
    breakdown: list[str] = []
    version = ""
    for line in text.splitlines():
        if m := RE_BUF.search(line):
            bufs.append({"where": m.group(1), "buft": m.group(2), "kind": m.group(3), "mib": float(m.group(4))})
        elif m := RE_KV_CELLS.search(line):
            cells.append({"cache": m.group(1), "cells": int(m.group(2))})
        elif m := RE_KV_LAYERS.search(line):
            kv_layers.append({"mib": float(m.group(1)), "cells": int(m.group(2)), "layers": int(m.group(3)),
                              "seqs": int(m.group(4))})  # fmt: skip
        elif m := RE_CPARAM.search(line):
            cparams.setdefault(m.group(1), m.group(2))
        elif m := RE_FA.search(line):
            fa.append(m.group(1))
        elif "memory_breakdown_print:" in line:
            breakdown.append(line.split("memory_breakdown_print:", 1)[1].strip())
        elif ("build:" in line or "build_info" in line) and not version:
            version = line.strip()[:200]

    def total(kind: str, buft: str) -> float:
        return round(sum(b["mib"] for b in bufs if b["kind"] == kind and b["buft"] == buft), 2)

    return {
        "buffers": bufs,
        "gpu_model_mib": total("model", "CUDA0"),
        "host_model_mib": round(sum(b["mib"] for b in bufs if b["kind"] == "model" and b["buft"] != "CUDA0"), 2),
        "gpu_kv_mib": total("KV", "CUDA0"),
        "gpu_compute_mib": total("compute", "CUDA0"),
        "host_compute_mib": total("compute", "CUDA_Host"),
        "gpu_output_mib": total("output", "CUDA0"),
        "kv_cells": cells,
        "kv_layers": kv_layers,
        "cparams": cparams,
        "flash_attn_decision": fa,
        "memory_breakdown": breakdown,
        "build": version,
    }


def args_for(p: Point, gguf: Path) -> list[str]:
    # -lv 4: llama.cpp's own INFO lines (the buffer sizes) are TRACE in the server's log
    a = ["-m", str(gguf), "--alias", p.model, "-c", str(p.context * p.slots), "-np", str(p.slots), "--metrics"]
    a += ["-ngl", "999", "--host", "127.0.0.1", "--port", str(PORT), "-lv", "4"]
    if p.kv != "f16":
        a += ["-ctk", p.kv, "-ctv", p.kv, "-fa", "on"]  # what launch.py renders for a quantized KV cache
    elif p.fa != "default":
        a += ["-fa", p.fa]
    return a


def run_point(p: Point, server: str, models: Path, logs: Path) -> dict[str, Any]:
    gguf = models / f"{p.model}.gguf"
    rec: dict[str, Any] = {"point": p.as_dict(), "gguf_bytes": gguf.stat().st_size if gguf.exists() else None}
    if not gguf.exists():
        rec["error"] = "gguf missing"
        return rec
    rec["smi_before"] = smi()
    args = args_for(p, gguf)
    rec["args"] = args
    log_path = logs / f"{p.key}.log"
    t0 = time.time()
    with log_path.open("w") as logf:
        proc = subprocess.Popen([server, *args], stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            ok = False
            while time.time() - t0 < 240:
                if proc.poll() is not None:
                    break
                code, _ = http("/health", timeout=2)
                if code == 200:
                    ok = True
                    break
                time.sleep(0.25)
            rec["load_s"] = round(time.time() - t0, 2)
            if not ok:
                rec["error"] = f"server not ready (rc={proc.poll()})"
            else:
                time.sleep(0.5)
                rec["smi_loaded"] = smi()
                vocab = p.vocab
                n = min(PROMPT_TOKENS, p.context - N_PREDICT - 8)
                rec["request"] = complete(n, vocab, seed=1)
                time.sleep(0.5)
                rec["smi_after"] = smi()
                if p.slots > 1:
                    res: list[dict[str, Any]] = []
                    th = [
                        threading.Thread(target=lambda i=i: res.append(complete(n, vocab, seed=10 + i)))
                        for i in range(p.slots)
                    ]
                    for t in th:
                        t.start()
                    for t in th:
                        t.join()
                    rec["requests_concurrent"] = res
                    time.sleep(0.5)
                    rec["smi_after_concurrent"] = smi()
                if p.fill:
                    nf = p.context - N_PREDICT - 64
                    rec["request_fill"] = complete(nf, vocab, seed=99)
                    time.sleep(0.5)
                    rec["smi_after_fill"] = smi()
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
            except Exception:  # noqa: BLE001
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=20)
    rec["rc"] = proc.returncode
    rec["wall_s"] = round(time.time() - t0, 2)
    rec["log"] = parse_log(log_path.read_text(errors="replace"))
    # wait until the GPU is free again before the next point
    for _ in range(40):
        s = smi()
        if not s["apps"]:
            break
        time.sleep(0.25)
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True)
    ap.add_argument("--models", type=Path, required=True, help="folder with <model>.gguf (Q4_K_M)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--logs", type=Path, required=True)
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--budget-s", type=float, default=1e9)
    a = ap.parse_args()
    a.logs.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = json.loads(a.out.read_text()) if a.out.exists() else {}
    data.setdefault("started", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    data.setdefault("smi_idle", smi())
    data.setdefault("points", {})
    only = {m for m in a.only.split(",") if m}
    t_start = time.time()
    for p in POINTS:
        if only and p.model not in only:
            continue
        if p.key in data["points"] and "error" not in data["points"][p.key]:
            continue
        if time.time() - t_start > a.budget_s:
            print("budget reached", flush=True)
            break
        rec = run_point(p, a.server, a.models, a.logs)
        data["points"][p.key] = rec
        data["updated"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        a.out.write_text(json.dumps(data, indent=1))
        lg = rec.get("log", {})
        print(
            f"{p.key:48s} smi_after={rec.get('smi_after', {}).get('used_mib')} "
            f"model={lg.get('gpu_model_mib')} kv={lg.get('gpu_kv_mib')} compute={lg.get('gpu_compute_mib')} "
            f"fa={lg.get('flash_attn_decision')} load={rec.get('load_s')}s err={rec.get('error', '')}",
            flush=True,
        )


if __name__ == "__main__":
    main()
