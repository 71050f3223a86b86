"""What each setting the gateway renders costs per request, over a bare config, measured in one run.

    uv run python benchmarks/gateway_config_cost.py [--rounds 6] [-n 300] [--write]

Variants (`variants()`): `bare` is one `hosted_vllm/` deployment and the master key (`bare, second copy` is the
same config again: the control that shows what two identical proxies differ by); each other variant adds one
group of settings exactly as `render_config` writes them for `stacks/Pulumi.prod.yaml`; `prod` is the whole
rendered prod config (`--previous` adds the config rendered before issue 14, for the before/after comparison).
`direct` calls the stand-in without a proxy. Environment: LiteLLM's defaults, except the `prod` variants, which
get the gateway container's (`plan.gateway.launch.env`).

Method, built so that a 1 ms difference is resolved on a shared 2-core machine:
- every round boots one proxy per variant (fresh processes, so start-to-start differences are sampled), then
  sends `n` sequential non-streaming chat requests to each, interleaved in blocks of `--block` requests with the
  variant order shuffled per cycle, so drift on the machine hits every variant alike;
- a variant's figure per round is its p50; its cost is its p50 minus `bare`'s p50 in the same round; the table
  gives the median over rounds and the spread (min-max) of those paired differences.
Stand-ins run in their own processes (uvloop, TCP_NODELAY), answering 8 tokens at once.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gateway_capacity import group_cpu_s  # noqa: E402
from gateway_results import RESULTS, kind_for, machine, measured_on, prod_config, prod_env, write_section  # noqa: E402

from tests.gateway.rendered import served_model, to_loopback  # noqa: E402
from tests.standins import LiteLLMProxy, StandInProcess, TokenSchedule  # noqa: E402

UVICORN_KEEP_ALIVE_S = 5  # LiteLLM runs uvicorn with its default timeout_keep_alive
BODY = {"model": "chat", "messages": [{"role": "user", "content": "say hi"}], "max_tokens": 8}

# The prod config as rendered before issue 14 (git show 94df372:llmstack/stackplan/litellm_config.py): the
# litellm_settings block differed; everything else is unchanged.
PREVIOUS_LITELLM_SETTINGS = {"callbacks": ["prometheus"], "require_auth_for_metrics_endpoint": True,
                             "force_ipv4": True, "request_timeout": 120.0}


def _pick(section: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: copy.deepcopy(section[k]) for k in keys if k in section}


def variants(prod: dict[str, Any], env: dict[str, str], *,
             previous: bool = False) -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
    """name -> (config, extra environment): bare, bare + one group of rendered settings, and the whole config with
    the gateway container's environment (`env`)."""
    deps = {d["model_name"]: d for d in prod["model_list"]}
    router, general = prod["router_settings"], prod["general_settings"]
    settings = prod.get("litellm_settings", {})

    def config(models: tuple[str, ...] = ("chat",), router_settings: dict[str, Any] | None = None,
               general_settings: dict[str, Any] | None = None,
               litellm_settings: dict[str, Any] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"model_list": [copy.deepcopy(deps[m]) for m in models],
                               "general_settings": {"master_key": general["master_key"], **(general_settings or {})}}
        if router_settings:
            out["router_settings"] = router_settings
        if litellm_settings:
            out["litellm_settings"] = litellm_settings
        return out

    fallbacks = [entry for entry in router.get("fallbacks", []) if "chat" in entry]
    out: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
        "bare": (config(), {}),
        "bare, second copy": (config(), {}),  # the control: what two identical configs differ by
        "prometheus callback": (config(litellm_settings=_pick(
            settings, "callbacks", "require_auth_for_metrics_endpoint", "prometheus_metrics_config")), {}),
        "prometheus callback (every series)": (config(litellm_settings=_pick(
            PREVIOUS_LITELLM_SETTINGS, "callbacks", "require_auth_for_metrics_endpoint")), {}),
        "background health checks": (config(general_settings=_pick(
            general, "background_health_checks", "health_check_interval")), {}),
        "health-check routing": (config(general_settings=_pick(
            general, "background_health_checks", "health_check_interval", "enable_health_check_routing")), {}),
        "fallbacks": (config(("chat", "chat-fallback"), router_settings={"fallbacks": fallbacks}), {}),
        "routing strategy": (config(router_settings=_pick(router, "routing_strategy")), {}),
        "router values": (config(router_settings=_pick(router, "num_retries", "timeout", "allowed_fails",
                                                       "cooldown_time"),
                                 litellm_settings=_pick(settings, "request_timeout")), {}),
        "force_ipv4": (config(litellm_settings=_pick(settings, "force_ipv4")), {}),
        "logging (access log off)": (config(), {"LITELLM_LOG": "WARNING"}),
        "prod": (copy.deepcopy(prod), dict(env)),
    }
    if "LITELLM_LOG" not in env:
        out["prod, access log off"] = (copy.deepcopy(prod), {**env, "LITELLM_LOG": "WARNING"})
    if previous:
        before = copy.deepcopy(prod)
        before["litellm_settings"] = dict(PREVIOUS_LITELLM_SETTINGS)
        out["prod before issue 14"] = (before, {k: v for k, v in env.items() if k != "LITELLM_LOG"})
    return out


def boot_all(configs: dict[str, tuple[dict[str, Any], dict[str, str]]], env: dict[str, str],
             parallel: int, rng: random.Random) -> dict[str, LiteLLMProxy]:
    """Boot every variant's proxy, `parallel` at a time (boot is CPU-bound) in a shuffled order; raise if any
    fails."""
    proxies = {name: LiteLLMProxy(cfg, env={**env, **extra}, boot_timeout=600) for name, (cfg, extra) in
               configs.items()}
    errors: list[BaseException] = []
    gate = threading.Semaphore(parallel)

    def boot(proxy: LiteLLMProxy) -> None:
        with gate:
            try:
                proxy.start()
            except Exception as err:  # noqa: BLE001 - re-raised below, after every boot thread ended
                errors.append(err)

    threads = [threading.Thread(target=boot, args=(p,)) for p in proxies.values()]
    rng.shuffle(threads)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for p in proxies.values():
            p.close()
        raise errors[0]
    return proxies


def run_round(proxies: dict[str, LiteLLMProxy], direct_url: str, model: str, n: int, warmup: int, block: int,
              rng: random.Random) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Latencies per variant, and the proxy's CPU seconds per request while its blocks ran (from /proc)."""
    targets = {name: (p.url + "/v1/chat/completions", p.auth_headers, BODY) for name, p in proxies.items()}
    targets["direct"] = (direct_url + "/v1/chat/completions", {}, dict(BODY, model=model))
    latencies: dict[str, list[float]] = {name: [] for name in targets}
    cpu: dict[str, float] = dict.fromkeys(proxies, 0.0)
    # A variant's connection idles while the others run their blocks. The proxy's uvicorn closes keep-alive
    # connections idle for 5 s (uvicorn/config.py, `timeout_keep_alive`), and a request sent as it does fails with
    # "Server disconnected": drop idle connections on our side first (a fresh loopback connect costs well under 1 ms).
    limits = httpx.Limits(keepalive_expiry=UVICORN_KEEP_ALIVE_S - 2)
    with httpx.Client(timeout=30, limits=limits) as client:
        for url, headers, body in targets.values():
            for _ in range(warmup):
                client.post(url, headers=headers, json=body).raise_for_status()
        for _ in range(0, n, block):
            order = list(targets)
            rng.shuffle(order)
            for name in order:
                url, headers, body = targets[name]
                pgid = proxies[name].pid if name in proxies else None
                cpu0 = group_cpu_s(pgid) if pgid else 0.0
                for _ in range(block):
                    began = time.perf_counter()
                    response = client.post(url, headers=headers, json=body)
                    latencies[name].append(time.perf_counter() - began)
                    if response.status_code != 200:
                        raise RuntimeError(f"{name}: HTTP {response.status_code} {response.text[:300]}")
                if pgid:
                    cpu[name] += group_cpu_s(pgid) - cpu0
    return latencies, {name: total / len(latencies[name]) for name, total in cpu.items()}


def summarize(rounds: list[dict[str, list[float]]], cpus: list[dict[str, float]]) -> list[dict[str, Any]]:
    rows = []
    for name in rounds[0]:
        cpu_ms = [c[name] * 1000 for c in cpus if name in c]
        p50 = [statistics.median(r[name]) * 1000 for r in rounds]
        cost = [statistics.median(r[name]) * 1000 - statistics.median(r["bare"]) * 1000 for r in rounds]
        rows.append({"variant": name, "p50_ms": [round(v, 2) for v in p50],
                     "cost_ms": [round(v, 2) for v in cost],
                     "cost_median_ms": round(statistics.median(cost), 2),
                     "cost_min_ms": round(min(cost), 2), "cost_max_ms": round(max(cost), 2),
                     "p50_median_ms": round(statistics.median(p50), 2),
                     "cpu_ms_per_request": round(statistics.median(cpu_ms), 2) if cpu_ms else None})
    return rows


def render_md(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "## What each rendered setting costs (`benchmarks/gateway_config_cost.py`)", "",
        f"{measured_on(meta)} {meta['rounds']} "
        f"rounds; each round boots one fresh proxy per variant and sends {meta['n']} sequential non-streaming "
        f"requests to each after {meta['warmup']} warm-up requests, interleaved in blocks of {meta['block']} in a "
        "shuffled order. Cost = the variant's p50 minus `bare`'s p50 in the same round; median over rounds and "
        "(min to max). Proxy CPU: the proxy process's CPU time (/proc) during its own blocks, per request, median over "
        "rounds (less sensitive to other load than latency). Raw data: `gateway_config_cost.json`.", "",
        "| variant | what it adds to bare | p50 ms (median of rounds) | cost over bare, ms: median (min to max) "
        "| proxy CPU ms per request |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        cpu = "" if row["cpu_ms_per_request"] is None else f"{row['cpu_ms_per_request']}"
        lines.append(f"| {row['variant']} | {meta['adds'].get(row['variant'], '')} | {row['p50_median_ms']} | "
                     f"{row['cost_median_ms']} ({row['cost_min_ms']} to {row['cost_max_ms']}) | {cpu} |")
    return "\n".join(lines) + "\n"


def describe(configs: dict[str, tuple[dict[str, Any], dict[str, str]]]) -> dict[str, str]:
    bare = configs["bare"][0]
    out = {"direct": "no proxy: the stand-in itself"}
    for name, (cfg, env) in configs.items():
        if name.startswith("bare"):
            out[name] = "one deployment + master key" + (" (the same config again: the noise floor)"
                                                          if name != "bare" else "")
            continue
        if name.startswith("prod"):
            out[name] = f"the whole rendered config ({len(cfg['model_list'])} deployments)"
            continue
        parts = [f"`{k}: {json.dumps(v)}`" for section in ("router_settings", "general_settings", "litellm_settings")
                 for k, v in cfg.get(section, {}).items() if k not in bare.get(section, {})]
        if len(cfg["model_list"]) > 1:
            parts.insert(0, "a 2nd deployment")
        parts += [f"env `{k}={v}`" for k, v in env.items()]
        out[name] = ", ".join(parts)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("-n", type=int, default=300, help="timed requests per variant per round")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--block", type=int, default=10)
    parser.add_argument("--parallel-boots", type=int, default=3)
    parser.add_argument("--only", help="semicolon-separated variants (bare and its copy are always included)")
    parser.add_argument("--previous", action="store_true", help="add the prod config rendered before issue 14")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    import os

    load_before = round(os.getloadavg()[0], 2)
    prod = prod_config()
    standins = {d["model_name"]: StandInProcess(kind_for(d), TokenSchedule(0.0, 0.0, 8), model=served_model(d))
                for d in prod["model_list"]}
    rng = random.Random(14)
    rounds: list[dict[str, list[float]]] = []
    cpus: list[dict[str, float]] = []
    try:
        for s in standins.values():
            s.start()
        loopback = to_loopback(prod, {name: s.url for name, s in standins.items()})
        configs = variants(loopback, prod_env(), previous=args.previous)
        if args.only:
            keep = {"bare", "bare, second copy", *args.only.split(";")}
            configs = {k: v for k, v in configs.items() if k in keep}
        for r in range(args.rounds):
            proxies = boot_all(configs, {}, args.parallel_boots, rng)
            try:
                latencies, cpu = run_round(proxies, standins["chat"].url, standins["chat"].model or "", args.n,
                                      args.warmup, args.block, rng)
            finally:
                for p in proxies.values():
                    p.close()
            rounds.append(latencies)
            cpus.append(cpu)
            print(f"round {r + 1}: " + ", ".join(f"{k} {statistics.median(v) * 1000:.2f}"
                                                  for k, v in latencies.items()), flush=True)
    finally:
        for s in standins.values():
            s.stop()
    rows = summarize(rounds, cpus)
    meta = {"machine": machine(), "load_before": load_before, "rounds": args.rounds, "n": args.n,
            "warmup": args.warmup, "block": args.block, "adds": describe(configs)}
    text = render_md(rows, meta)
    print(text)
    if args.write:
        (RESULTS / "gateway_config_cost.json").write_text(json.dumps(
            {"meta": meta, "rows": rows, "configs": {k: v[0] for k, v in configs.items()},
             "env": {k: v[1] for k, v in configs.items()}, "cpu_s_per_request": cpus,
             "latencies_ms": [{k: [round(x * 1000, 3) for x in v] for k, v in r.items()} for r in rounds]},
            indent=1) + "\n")
        write_section("gateway_config_cost", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
