"""What the LiteLLM gateway costs: added latency over calling the backend directly, and the failover penalty.

Run: `uv run python benchmarks/gateway_latency.py` (writes its section of benchmarks/results/gateway.md and
gateway.json). The proxy runs with the worker count the gateway plan gives the prod stack (`--num_workers`).
`--variant before` renders the router values the stacks shipped with before tuning (issue #5), `--variant after`
(the default) the current `spec.Gateway` defaults; `--variant both` runs both and writes the comparison.

Everything runs on loopback with the real proxy (the venv's `litellm`, 1.108.7) and the config the
`LiteLLMGateway` component renders for `stacks/Pulumi.prod.yaml` (`llmstack.preview.run_program`), api_base hosts
rewritten to stand-ins. Each stand-in runs in its own process (`python -m tests.standins.serve`, own GIL, aiohttp
with TCP_NODELAY: docs/engines.md §7.12 Nagle pitfall does not apply), so the client does not slow the servers.

1. Overhead: N sequential non-streaming chat requests straight to the stand-in, then N through the proxy (same
   body, keep-alive client, warm-up excluded). Added latency = proxy percentile - direct percentile.
2. Failover: C concurrent clients send non-streaming chat requests to `chat` in a closed loop; the primary's
   process is SIGKILLed (the kernel resets its connections and refuses new ones, as for a crashed container).
   Recorded: every request's start, latency, status and the backend that answered (`x-litellm-model-api-base`).
   Then the primary is started again on the same port and the run continues until it serves a request again
   (bounded by cooldown_time + health_check_interval + a margin). Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gateway_results import prod_config, prod_env, prod_plan, write_section  # noqa: E402

from llmstack.spec import Gateway  # noqa: E402
from tests.gateway.rendered import served_model, to_loopback  # noqa: E402
from tests.standins import LiteLLMProxy, StandInProcess, TokenSchedule, free_port  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
STACK = "prod"
PRIMARY, FALLBACK = "chat", "chat-fallback"
# What the stand-ins do per request: 8 tokens, 5 ms to the first, 1 ms apart (a short, fast completion, so the
# proxy's own cost dominates and in-flight requests exist when the primary dies).
TTFT, ITL, TOKENS = 0.005, 0.001, 8
BODY = {"model": PRIMARY, "messages": [{"role": "user", "content": "say hi"}], "max_tokens": TOKENS}

# The router values rendered before tuning (spec.Gateway defaults + stacks at commit time of issue #5).
BEFORE: dict[str, dict[str, Any]] = {
    "router_settings": {"num_retries": 0, "timeout": 120.0, "allowed_fails": 1, "cooldown_time": 30.0},
    "general_settings": {"background_health_checks": True, "health_check_interval": 15,
                         "enable_health_check_routing": True},
    "litellm_settings": {"request_timeout": 120.0},
}
DROP_BEFORE: dict[str, tuple[str, ...]] = {"router_settings": ("retry_policy", "allowed_fails_policy")}


def child_standin(kind: str, model: str) -> StandInProcess:
    """A stand-in in its own process on a fixed loopback port: `kill()` is SIGKILL, `start()` binds it again."""
    return StandInProcess(kind, TokenSchedule(TTFT, ITL, TOKENS), model=model, port=free_port())


def kind_for(dep: dict[str, Any]) -> str:
    if dep.get("model_info", {}).get("mode") == "embedding":
        return "tei"
    return "ollama" if dep["litellm_params"]["model"].startswith("ollama_chat/") else "vllm"


def proxy_config(rendered: dict[str, Any], variant: str, standins: dict[str, StandInProcess]) -> dict[str, Any]:
    config = to_loopback(rendered, {name: s.url for name, s in standins.items()})
    if variant == "before":
        for section, values in BEFORE.items():
            config[section].update(values)
        for section, keys in DROP_BEFORE.items():
            for key in keys:
                config[section].pop(key, None)
    return config


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summary_ms(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50": round(pct(ms, 50), 2), "p90": round(pct(ms, 90), 2), "p99": round(pct(ms, 99), 2),
            "mean": round(statistics.fmean(ms), 2), "max": round(max(ms), 2)}


def timed_requests(client: httpx.Client, url: str, headers: dict[str, str], body: dict[str, Any], n: int,
                   deadline: float) -> tuple[list[float], list[float]]:
    """n sequential requests (bounded by `deadline`); returns latencies and the proxy's own overhead header (s)."""
    latencies, overheads = [], []
    for _ in range(n):
        if time.monotonic() > deadline:
            raise RuntimeError(f"overhead run exceeded its time budget after {len(latencies)} requests")
        began = time.perf_counter()
        response = client.post(url, headers=headers, json=body)
        latencies.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {response.status_code} {response.text[:300]}")
        if "x-litellm-overhead-duration-ms" in response.headers:
            overheads.append(float(response.headers["x-litellm-overhead-duration-ms"]) / 1000)
    return latencies, overheads


def overhead(proxy: LiteLLMProxy, primary: StandInProcess, n: int, warmup: int) -> dict[str, Any]:
    direct_body = dict(BODY, model=primary.model)
    deadline = time.monotonic() + 300
    with httpx.Client(timeout=30) as client:
        timed_requests(client, primary.url + "/v1/chat/completions", {}, direct_body, warmup, deadline)
        direct, _ = timed_requests(client, primary.url + "/v1/chat/completions", {}, direct_body, n, deadline)
        timed_requests(client, proxy.url + "/v1/chat/completions", proxy.auth_headers, BODY, warmup, deadline)
        proxied, header = timed_requests(client, proxy.url + "/v1/chat/completions", proxy.auth_headers, BODY, n,
                                         deadline)
    d, p = summary_ms(direct), summary_ms(proxied)
    return {"direct_ms": d, "proxy_ms": p,
            "added_ms": {k: round(p[k] - d[k], 2) for k in ("p50", "p90", "p99")},
            "litellm_overhead_header_ms": summary_ms(header) if header else None}


@dataclass
class Sample:
    client: int
    start: float  # seconds since the load started
    latency: float
    status: int
    backend: str  # "primary", "fallback", "" (failed) or the raw api_base
    fallbacks_attempted: str = ""
    error: str = ""


@dataclass
class LoadRun:
    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def load_client(idx: int, proxy: LiteLLMProxy, bases: dict[str, str], t0: float, stop: threading.Event,
                run: LoadRun, max_requests: int) -> None:
    with httpx.Client(timeout=150) as client:
        for _ in range(max_requests):
            if stop.is_set():
                return
            began = time.perf_counter()
            try:
                r = client.post(proxy.url + "/v1/chat/completions", headers=proxy.auth_headers, json=BODY)
                status, api_base, error = r.status_code, r.headers.get("x-litellm-model-api-base", ""), ""
                attempted = r.headers.get("x-litellm-attempted-fallbacks", "")
                if status != 200:
                    error = r.text[:300]
            except httpx.HTTPError as exc:  # a client-visible failure: recorded, counted, reported
                status, api_base, attempted, error = 0, "", "", repr(exc)
            backend = next((name for name, base in bases.items() if api_base and api_base.startswith(base)),
                           api_base)
            sample = Sample(idx, began - t0, time.perf_counter() - began, status, backend, attempted, error)
            with run.lock:
                run.samples.append(sample)


def failover(proxy: LiteLLMProxy, primary: StandInProcess, fallback: StandInProcess, gateway: dict[str, Any],
             clients: int, pre_kill_s: float, dead_s: float) -> dict[str, Any]:
    bases = {"primary": primary.url, "fallback": fallback.url}
    run, stop = LoadRun(), threading.Event()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=load_client, args=(i, proxy, bases, t0, stop, run, 20_000), daemon=True)
               for i in range(clients)]
    for t in threads:
        t.start()
    try:
        time.sleep(pre_kill_s)
        primary.kill()
        killed_at = time.perf_counter() - t0
        time.sleep(dead_s)
        primary.start()
        restarted_at = time.perf_counter() - t0
        bound = gateway["cooldown_time"] + gateway["health_check_interval"] + 20
        returned_at: float | None = None
        while time.perf_counter() - t0 - restarted_at < bound:
            with run.lock:
                back = [s for s in run.samples if s.start > restarted_at and s.backend == "primary"]
            if back:
                returned_at = min(s.start for s in back)
                break
            time.sleep(0.1)
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=160)
    samples = sorted(run.samples, key=lambda s: s.start)
    before = [s for s in samples if s.start + s.latency < killed_at]
    inflight = [s for s in samples if s.start < killed_at < s.start + s.latency]
    after = [s for s in samples if killed_at <= s.start < restarted_at]
    first = after[: clients * 2]
    failed = [s for s in samples if s.status != 200]
    baseline = summary_ms([s.latency for s in before]) if before else None
    return {
        "clients": clients,
        "killed_at_s": round(killed_at, 3),
        "restarted_at_s": round(restarted_at, 3),
        "requests": len(samples),
        "failed": len(failed),
        "failures": [asdict(s) for s in failed[:10]],
        "baseline_under_load_ms": baseline,
        "inflight_at_kill": [{"latency_ms": round(s.latency * 1000, 1), "status": s.status, "backend": s.backend}
                             for s in inflight],
        "first_after_kill": [{"start_s": round(s.start - killed_at, 3), "latency_ms": round(s.latency * 1000, 1),
                              "status": s.status, "backend": s.backend} for s in first],
        "first_request_penalty_ms": round(first[0].latency * 1000, 1) if first else None,
        "max_latency_first_second_ms": round(max((s.latency for s in after if s.start - killed_at < 1.0),
                                                 default=0.0) * 1000, 1),
        "while_dead_ms": summary_ms([s.latency for s in after]) if after else None,
        "while_dead_backends": {b: sum(1 for s in after if s.backend == b) for b in {s.backend for s in after}},
        "primary_back_after_restart_s": round(returned_at - restarted_at, 2) if returned_at is not None else None,
        "return_bound_s": bound,
    }


def worker_args() -> tuple[str, ...]:
    """`--num_workers N` as the prod gateway's planned command has it (nothing when it runs one worker)."""
    command = prod_plan().gateway.launch.command
    return tuple(command[command.index("--num_workers"):][:2]) if "--num_workers" in command else ()


def run_variant(variant: str, n: int, warmup: int, clients: int) -> dict[str, Any]:
    config = prod_config()
    standins = {dep["model_name"]: child_standin(kind_for(dep), served_model(dep)) for dep in config["model_list"]}
    try:
        for s in standins.values():
            s.start()
        cfg = proxy_config(config, variant, standins)
        gateway = {**cfg["router_settings"], **cfg["general_settings"]}
        with LiteLLMProxy(cfg, args=worker_args(), env=prod_env()) as proxy:
            result: dict[str, Any] = {
                "variant": variant, "boot_s": round(proxy.boot_seconds or 0.0, 1), "proxy_args": list(proxy.args),
                "router_settings": {k: v for k, v in cfg["router_settings"].items() if k != "fallbacks"},
                "general_settings": {k: v for k, v in cfg["general_settings"].items() if k != "master_key"},
                "litellm_settings": cfg["litellm_settings"],
            }
            result["overhead"] = overhead(proxy, standins[PRIMARY], n, warmup)
            result["failover"] = failover(proxy, standins[PRIMARY], standins[FALLBACK], gateway, clients,
                                          pre_kill_s=3.0, dead_s=8.0)
            log = proxy.log_text()
            result["log_warnings"] = [line[:300] for line in log.splitlines()
                                      if "not a valid argument" in line or "Ignoring this key" in line]
        return result
    finally:
        for s in standins.values():
            s.stop()


def render_md(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = ["## Latency and failover (`benchmarks/gateway_latency.py`)", "",
             f"Generated by `benchmarks/gateway_latency.py` on {meta['machine']} ({meta['cpus']} CPUs), "
             f"{meta['date']}, load average {meta.get('loadavg_1m', '?')} after the run. Raw data: `gateway.json`.", "",
             f"Config: what `LiteLLMGateway` renders for `stacks/Pulumi.{STACK}.yaml`, api_base hosts on loopback. "
             f"Stand-ins: own processes, {TOKENS} tokens, TTFT {TTFT * 1000:.0f} ms, ITL {ITL * 1000:.0f} ms. "
             f"Proxy arguments: `{' '.join(results[0].get('proxy_args', [])) or 'none'}`. "
             f"Overhead: {meta['n']} sequential non-streaming requests each way after {meta['warmup']} warm-up "
             f"requests. Failover: {meta['clients']} concurrent closed-loop clients, primary SIGKILLed, restarted "
             "8 s later.", "",
             "| variant | direct p50 / p99 ms | proxy p50 / p99 ms | added p50 / p99 ms | LiteLLM overhead header p50 "
             "| first request after kill ms | worst in 1st s ms | failed | primary back after restart s | boot s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        o, f = r["overhead"], r["failover"]
        hdr = o["litellm_overhead_header_ms"]
        lines.append(
            f"| {r['variant']} | {o['direct_ms']['p50']} / {o['direct_ms']['p99']} | {o['proxy_ms']['p50']} / "
            f"{o['proxy_ms']['p99']} | {o['added_ms']['p50']} / {o['added_ms']['p99']} | "
            f"{hdr['p50'] if hdr else 'n/a'} | {f['first_request_penalty_ms']} | {f['max_latency_first_second_ms']} "
            f"| {f['failed']} of {f['requests']} | {f['primary_back_after_restart_s']} (bound {f['return_bound_s']}) "
            f"| {r['boot_s']} |")
    lines += ["", "Router values per variant:", ""]
    for r in results:
        lines.append(f"- **{r['variant']}**: router_settings `{json.dumps(r['router_settings'])}`, "
                     f"general_settings `{json.dumps(r['general_settings'])}`")
    lines += ["", "First requests started after the kill (latency ms, backend):", ""]
    for r in results:
        firsts = ", ".join(f"{s['latency_ms']} ({s['backend'] or s['status']})"
                           for s in r["failover"]["first_after_kill"])
        inflight = ", ".join(f"{s['latency_ms']} ({s['backend'] or s['status']})"
                             for s in r["failover"]["inflight_at_kill"])
        lines.append(f"- **{r['variant']}**: {firsts}; in flight at the kill: {inflight or 'none'}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", choices=["before", "after", "both"], default="both")
    parser.add_argument("-n", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS / "gateway")
    args = parser.parse_args(argv)
    variants = ["before", "after"] if args.variant == "both" else [args.variant]
    results = []
    for variant in variants:
        results.append(run_variant(variant, args.n, args.warmup, args.clients))
        print(json.dumps({k: results[-1][k] for k in ("variant", "boot_s", "overhead")}, indent=1))
        print(json.dumps({k: v for k, v in results[-1]["failover"].items() if k != "failures"}, indent=1))
    meta = {"machine": f"{platform.machine()} {platform.system()}", "loadavg_1m": round(os.getloadavg()[0], 2),
            "cpus": len(os.sched_getaffinity(0)),
            "date": time.strftime("%Y-%m-%d"), "n": args.n, "warmup": args.warmup, "clients": args.clients,
            "litellm": __import__("importlib.metadata").metadata.version("litellm"),
            "defaults": Gateway().model_dump(mode="json")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    if args.out == RESULTS / "gateway":
        write_section("gateway_latency", render_md(results, meta))
    else:
        args.out.with_suffix(".md").write_text(render_md(results, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
