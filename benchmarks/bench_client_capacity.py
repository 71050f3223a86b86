"""Can the `llmstack bench` client sustain N concurrent streams on this machine without being the bottleneck?

The server is the vLLM stand-in in its own process (own GIL, uvloop) with a fixed token schedule; it records
when it sent each token (`time.perf_counter()`, CLOCK_MONOTONIC, so comparable across processes). For each
concurrency level we run the real client (`llmstack.bench.run_level`) and compare, per token, the time the
client saw it with the time the server sent it. If the client kept up, that lag stays ~constant and small at
every level, and the client's TTFT/ITL equal the server's. We also report the client process's CPU use.

    uv run python benchmarks/bench_client_capacity.py [--levels 1,64,256] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmstack.bench import (  # noqa: E402
    BenchConfig,
    ConnectionPool,
    percentile,
    run_level,
    synthetic_prompts,
    warm_up,
)
from tests.standins import StandInProcess, TokenSchedule  # noqa: E402

MODEL = "Qwen/Qwen3-8B"
RESULTS = ROOT / "benchmarks" / "results" / "bench_client_capacity.md"


def ms(v: float) -> str:
    return f"{v * 1000:.2f}"


async def level(server: StandInProcess, c: int, rounds: int, sched: TokenSchedule) -> dict[str, Any]:
    prompts = synthetic_prompts(c * rounds, 64, seed=c)
    warm = synthetic_prompts(c, 8, seed=10_000 + c)
    cfg = BenchConfig(server.url + "/v1/chat/completions", MODEL, max_tokens=sched.output_tokens, timeout=60)
    requests = cfg.requests(prompts)
    async with ConnectionPool(cfg.endpoint, 60) as pool:
        await warm_up(pool, cfg.requests(warm), c, 1)  # open and use c connections
        cpu0, wall0 = time.process_time(), time.perf_counter()
        result = await run_level(pool, requests, c, num_requests=c * rounds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    records = {r["body"]["messages"][0]["content"]: r for r in server.requests() if r["path"] == "/v1/chat/completions"}
    lags: list[float] = []
    slips: list[float] = []
    client_ttft: list[float] = []
    server_ttft: list[float] = []
    client_itl: list[float] = []
    server_itl: list[float] = []
    errors = 0
    for res in result.results:
        if not res.ok:
            errors += 1
            continue
        rec = records[prompts[res.prompt_index]]
        sent = rec["token_times"]
        lags += [got - s for got, s in zip(res.chunk_times, sent, strict=True)]
        slips += [s - (rec["arrival"] + sched.ttft + i * sched.itl) for i, s in enumerate(sent)]
        client_ttft.append(res.ttft or 0.0)
        server_ttft.append(rec["first_token"] - res.start)
        client_itl += res.itl
        server_itl += [b - a for a, b in itertools.pairwise(sent)]
    tokens = sum(r.output_tokens for r in result.results if r.ok)
    return {
        "c": c,
        "requests": len(result.results),
        "errors": errors,
        "tok_s": tokens / wall,
        "cpu": cpu / wall,
        "lag": (percentile(lags, 50), percentile(lags, 99), max(lags)),
        "slip": (percentile(slips, 50), percentile(slips, 99)),
        "ttft": (percentile(client_ttft, 50), percentile(client_ttft, 99)),
        "ttft_srv": (percentile(server_ttft, 50), percentile(server_ttft, 99)),
        "itl": (percentile(client_itl, 50), percentile(client_itl, 99)),
        "itl_srv": (percentile(server_itl, 50), percentile(server_itl, 99)),
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| streams | requests | errors | tokens/s | client CPU (1 core = 100%) | lag p50 / p99 / max ms "
        "| TTFT p50 / p99 ms client | TTFT p50 / p99 ms server | ITL p50 / p99 ms client "
        "| ITL p50 / p99 ms server | server slip p50 / p99 ms |\n"
        "|---:|---:|---:|---:|---:|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        lines.append(
            f"| {r['c']} | {r['requests']} | {r['errors']} | {r['tok_s']:.0f} | {r['cpu']:.0%} "
            f"| {' / '.join(ms(v) for v in r['lag'])} "
            f"| {' / '.join(ms(v) for v in r['ttft'])} | {' / '.join(ms(v) for v in r['ttft_srv'])} "
            f"| {' / '.join(ms(v) for v in r['itl'])} | {' / '.join(ms(v) for v in r['itl_srv'])} "
            f"| {' / '.join(ms(v) for v in r['slip'])} |"
        )
    return head + "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="1,64,256")
    parser.add_argument("--rounds", type=int, default=2, help="requests per stream per level")
    parser.add_argument("--ttft", type=float, default=0.2)
    parser.add_argument("--itl", type=float, default=0.025)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where --write writes")
    parser.add_argument("--where", default="", help="a note on the machine, for the results file")
    parser.add_argument("--append", action="store_true", help="add a section to the results file instead")
    args = parser.parse_args()
    sched = TokenSchedule(args.ttft, args.itl, args.tokens)
    rows = []
    with StandInProcess("vllm", sched, model=MODEL) as server:
        for c in (int(v) for v in args.levels.split(",")):
            row = asyncio.run(level(server, c, args.rounds, sched))
            print(f"c={c}: {row}", flush=True)
            rows.append(row)
    load = os.getloadavg()
    text = table(rows)
    print(text)
    if args.write:
        settings = (
            f"schedule TTFT {args.ttft * 1000:.0f} ms, ITL {args.itl * 1000:.0f} ms ({1 / args.itl:.0f} tok/s per "
            f"stream), {args.tokens} tokens per request, `--levels {args.levels} --rounds {args.rounds}`"
        )
        if args.append and args.out.exists():
            args.out.write_text(args.out.read_text() + f"\n### {settings}\n\n" + text)
            return 0
        args.out.write_text(
            "# `llmstack bench` client capacity\n\n"
            f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {len(os.sched_getaffinity(0))} "
            f"usable cores {args.where} (load average after the run: {load[0]:.2f}), Python "
            f"{platform.python_version()}, `python benchmarks/bench_client_capacity.py --write ...`.\n\n"
            "Server: the vLLM stand-in in its own process (uvloop). Client: `llmstack.bench.run_level` (one "
            "keep-alive connection per stream on `llmstack.bench.http`, stdlib asyncio), connections opened "
            "and used once by `warm_up` first.\n\n"
            "- **lag** = client receive time - server send time, per token (same CLOCK_MONOTONIC): the "
            "client's own delay. Constant and small = the client keeps up.\n"
            "- **server slip** = server send time - scheduled time: how late the *server* was.\n"
            "- client TTFT/ITL vs server TTFT (server first-token send - client start) / server gaps.\n\n"
            f"### {settings}\n\n" + text
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
