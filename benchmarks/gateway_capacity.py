"""How many streamed tokens per second one LiteLLM worker relays before it adds more than 5 ms to the p99
inter-token latency, with 1 and 2 workers (`--num_workers`). The figure the stack plan sizes the gateway from.

    uv run python benchmarks/gateway_capacity.py [--workers 1,2] [--itl-ms 20] [--write]

Re-measure on your own CPU node (the planner's figure is from the machine named in the results): copy the repo
there, `uv sync`, and run this script; it needs nothing but loopback. Compare `tokens_per_s_per_worker` in
`benchmarks/results/gateway_capacity.json` with `llmstack/catalog/gateway.yaml`.

Setup: the vLLM stand-in in its own process (uvloop) streams every request on a fixed schedule (`--itl-ms` per
token, `--tokens` tokens); the proxy runs the config `LiteLLMGateway` renders for `stacks/Pulumi.prod.yaml` (its
other deployments have stand-ins too, so background health checks run as deployed). The client is `llmstack bench`
(`llmstack.bench.warm_up` + `run_level`: each level warms its own connections first). For each concurrency level
the client runs the same load straight to the stand-in and through the proxy, alternately; the proxy's added ITL
p99 = proxy ITL p99 - direct ITL p99. A level "holds" while that stays <= 5 ms and nothing fails.

With `--pin` (default on a 2-core machine, 1 worker only) the proxy's processes run on the last core and the
client and stand-in on the others, so one worker has one core to itself. Proxy CPU is read from /proc for its
process group.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gateway_results import RESULTS, kind_for, machine, measured_on, prod_config, prod_env, write_section  # noqa: E402

from llmstack.bench import (  # noqa: E402
    BenchConfig,
    ConnectionPool,
    LevelResult,
    percentile,
    run_level,
    synthetic_prompts,
    warm_up,
)
from tests.gateway.rendered import served_model, to_loopback  # noqa: E402
from tests.standins import LiteLLMProxy, StandInProcess, TokenSchedule  # noqa: E402

LIMIT_S = 0.005  # the added p99 ITL at which a level no longer holds (issue 14)
TICK = os.sysconf("SC_CLK_TCK")


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return pids


def group_cpu_s(pgid: int) -> float:
    total = 0
    for pid in group_pids(pgid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICK


def pin(pids: list[int], cpus: set[int]) -> None:
    for pid in pids:
        os.sched_setaffinity(pid, cpus)


async def one_level(url: str, model: str, c: int, count: int, tokens: int, api_key: str | None,
                    prompts: list[str]) -> LevelResult:
    cfg = BenchConfig(url + "/v1/chat/completions", model, max_tokens=tokens, api_key=api_key, timeout=120)
    requests = cfg.requests(prompts)
    async with ConnectionPool(cfg.endpoint, cfg.timeout) as pool:
        await warm_up(pool, requests, c, 1)
        return await run_level(pool, requests, c, num_requests=count)


def stats(level: LevelResult) -> dict[str, Any]:
    ok = [r for r in level.results if r.ok]
    itl = [g for r in ok for g in r.itl]
    tokens = sum(r.output_tokens for r in ok)
    return {"requests": len(level.results), "errors": len(level.results) - len(ok),
            "tok_s": tokens / level.wall, "req_s": len(ok) / level.wall,
            "itl_p50": percentile(itl, 50), "itl_p99": percentile(itl, 99),
            "ttft_p50": percentile([r.ttft for r in ok if r.ttft is not None], 50),
            "ttft_p99": percentile([r.ttft for r in ok if r.ttft is not None], 99)}


def measure(workers: int, levels: list[int], args: argparse.Namespace) -> dict[str, Any]:
    prod = prod_config()
    itl = args.itl_ms / 1000
    standins = {d["model_name"]: StandInProcess(kind_for(d), TokenSchedule(0.02, itl, args.tokens),
                                                model=served_model(d)) for d in prod["model_list"]}
    cores = sorted(os.sched_getaffinity(0))
    pinned = args.pin and workers == 1 and len(cores) >= 2
    rows: list[dict[str, Any]] = []
    try:
        for s in standins.values():
            s.start()
        config = to_loopback(prod, {name: s.url for name, s in standins.items()})
        with LiteLLMProxy(config, args=("--num_workers", str(workers)), boot_timeout=300,
                          env=prod_env()) as proxy:
            assert proxy.pid is not None
            primary = standins["chat"]
            if pinned:
                pin(group_pids(proxy.pid), {cores[-1]})
                pin([os.getpid(), *(s.pid for s in standins.values() if s.pid is not None)], set(cores[:-1]))
            for c in levels:
                count = max(c * args.rounds, args.min_requests)  # enough gaps for a stable p99 at few streams
                prompts = synthetic_prompts(count + c, 32, seed=c)
                runs: dict[str, list[dict[str, Any]]] = {"direct": [], "proxy": []}
                cpu: list[float] = []
                for _ in range(args.repeats):  # direct, proxy, direct, proxy, ...
                    runs["direct"].append(stats(asyncio.run(one_level(
                        primary.url, primary.model or "", c, count, args.tokens, None, prompts))))
                    cpu0, wall0 = group_cpu_s(proxy.pid), time.perf_counter()
                    runs["proxy"].append(stats(asyncio.run(one_level(
                        proxy.url, "chat", c, count, args.tokens, proxy.master_key, prompts))))
                    cpu.append((group_cpu_s(proxy.pid) - cpu0) / (time.perf_counter() - wall0))
                d = {k: statistics.median(r[k] for r in runs["direct"]) for k in runs["direct"][0]}
                p = {k: statistics.median(r[k] for r in runs["proxy"]) for k in runs["proxy"][0]}
                added = [pr["itl_p99"] - dr["itl_p99"] for pr, dr in zip(runs["proxy"], runs["direct"], strict=True)]
                row = {"streams": c, "direct": d, "proxy": p, "added_itl_p99_s": statistics.median(added),
                       "added_itl_p99_s_each": added, "proxy_cpu_cores": statistics.median(cpu),
                       "errors": sum(r["errors"] for r in runs["proxy"] + runs["direct"])}
                row["holds"] = row["added_itl_p99_s"] <= LIMIT_S and row["errors"] == 0
                rows.append(row)
                print(f"workers={workers} c={c}: proxy {p['tok_s']:.0f} tok/s, ITL p99 direct "
                      f"{d['itl_p99'] * 1000:.2f} proxy {p['itl_p99'] * 1000:.2f} ms (added "
                      f"{row['added_itl_p99_s'] * 1000:.2f}), TTFT p50 {p['ttft_p50'] * 1000:.1f} ms, proxy CPU "
                      f"{row['proxy_cpu_cores']:.2f} cores, errors {row['errors']}", flush=True)
                if not row["holds"] and len(rows) >= 2 and not rows[-2]["holds"]:
                    break  # two levels in a row over the limit: the ceiling is behind us
    finally:
        for s in standins.values():
            s.stop()
    ceiling = max((r for r in rows if r["holds"] and all(x["holds"] for x in rows[: rows.index(r)])),
                  key=lambda r: r["streams"], default=None)
    return {"workers": workers, "pinned_to_one_core": pinned, "rows": rows,
            "ceiling": None if ceiling is None else {
                "streams": ceiling["streams"], "tokens_per_s": round(ceiling["proxy"]["tok_s"]),
                "requests_per_s": round(ceiling["proxy"]["req_s"], 1),
                "proxy_cpu_cores": round(ceiling["proxy_cpu_cores"], 2)}}


def render_md(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "## Streaming capacity of one LiteLLM process (`benchmarks/gateway_capacity.py`)", "",
        f"{measured_on(meta)} Stand-in schedule: "
        f"{meta['tokens']} tokens per request, one every {meta['itl_ms']:g} ms ({1000 / meta['itl_ms']:.0f} "
        f"tokens/s per stream); config: the rendered prod config; client: `llmstack bench` ({meta['rounds']} "
        f"requests per stream per run, at least {meta['min_requests']}; {meta['repeats']} direct/proxy pairs per "
        "level, medians shown). A level holds "
        "while the proxy adds <= 5 ms to the p99 inter-token latency (proxy p99 - direct p99) and nothing fails. "
        "Raw data: `gateway_capacity.json`.", "",
    ]
    for res in results:
        where = ("pinned to 1 core; client and stand-ins on the other" if res["pinned_to_one_core"]
                 else "sharing all cores with the client and the stand-ins")
        lines += [f"### {res['workers']} worker(s), {where}", "",
                  "| streams | tokens/s through proxy | req/s | ITL p99 direct / proxy ms | added ITL p99 ms | "
                  "TTFT p50 direct / proxy ms | proxy CPU (cores) | errors | holds |",
                  "|---:|---:|---:|---|---:|---|---:|---:|---|"]
        for r in res["rows"]:
            d, p = r["direct"], r["proxy"]
            lines.append(f"| {r['streams']} | {p['tok_s']:.0f} | {p['req_s']:.1f} | {d['itl_p99'] * 1000:.2f} / "
                         f"{p['itl_p99'] * 1000:.2f} | {r['added_itl_p99_s'] * 1000:.2f} | "
                         f"{d['ttft_p50'] * 1000:.1f} / {p['ttft_p50'] * 1000:.1f} | {r['proxy_cpu_cores']:.2f} | "
                         f"{r['errors']} | {'yes' if r['holds'] else '**no**'} |")
        ceiling = res["ceiling"]
        lines += ["", f"Ceiling: {ceiling['streams']} streams, {ceiling['tokens_per_s']} tokens/s, "
                      f"{ceiling['requests_per_s']} requests/s." if ceiling else "Ceiling: below the first level.", ""]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--levels", default="1,2,3,4,5,6,8,10,12,16,24,32")
    parser.add_argument("--itl-ms", type=float, default=20.0, help="stand-in inter-token latency")
    parser.add_argument("--tokens", type=int, default=64, help="tokens per request")
    parser.add_argument("--rounds", type=int, default=3, help="requests per stream per run")
    parser.add_argument("--min-requests", type=int, default=16, help="requests per run at least")
    parser.add_argument("--repeats", type=int, default=2, help="direct/proxy pairs per level")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    load_before = round(os.getloadavg()[0], 2)
    levels = [int(v) for v in args.levels.split(",")]
    results = [measure(int(w), levels, args) for w in args.workers.split(",")]
    meta = {"machine": machine(), "load_before": load_before, "itl_ms": args.itl_ms, "tokens": args.tokens,
            "rounds": args.rounds, "min_requests": args.min_requests, "repeats": args.repeats,
            "limit_ms": LIMIT_S * 1000}
    text = render_md(results, meta)
    print(text)
    if args.write:
        one = next((r for r in results if r["workers"] == 1 and r["ceiling"]), None)
        summary = {"tokens_per_s_per_worker": one["ceiling"]["tokens_per_s"] if one else None,
                   "cpu_at_ceiling": one["ceiling"]["proxy_cpu_cores"] if one else None}
        (RESULTS / "gateway_capacity.json").write_text(json.dumps(
            {"meta": meta, "summary": summary, "results": results}, indent=1) + "\n")
        write_section("gateway_capacity", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
