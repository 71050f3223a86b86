"""Is `llmstack bench` right at 1, 32 and 256 streams? It against a minimal reference client, in the same run.

The server is the vLLM stand-in in its own process (uvloop) with a known token schedule, a fresh one for every run.
For each case the two clients take turns in ABBA order (reference, llmstack, llmstack, reference, ...), so drift on
the machine hits both alike:

- **reference**: raw asyncio sockets on uvloop; per read it takes one timestamp, looks for `{"content":"` and
  `[DONE]` in the bytes, and does nothing else. Connections are opened and used once before timing; then a closed
  loop of N streams, each writing its next prebuilt request when `[DONE]` arrives.
- **llmstack**: the real CLI, `llmstack bench URL --concurrency N -n R --json` in a child process,
  with its default per-level warm-up.

Target (issue 14): TTFT p50 within 5 ms of the reference at every level, ITL p50 within 1 ms.

    uv run python benchmarks/bench_reference.py [--rounds 3] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmstack.bench import BenchConfig, Endpoint, percentile, synthetic_prompts  # noqa: E402
from tests.standins import StandInProcess, TokenSchedule  # noqa: E402

MODEL = "Qwen/Qwen3-8B"
RESULTS = ROOT / "benchmarks" / "results" / "bench_reference.md"
PROMPT_TOKENS, TOKENS = 64, 20


@dataclass(frozen=True)
class Case:
    streams: int
    requests: int
    ttft: float
    itl: float

    @property
    def label(self) -> str:
        return f"{self.streams} streams, TTFT {self.ttft * 1000:g} ms, ITL {self.itl * 1000:g} ms, n={self.requests}"


CASES = (Case(1, 32, 0.060, 0.015), Case(32, 256, 0.060, 0.015), Case(256, 512, 0.060, 0.050))


class _Stream(asyncio.Protocol):
    """The reference's per-connection protocol: a timestamp per read, two substring checks, nothing else."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.times: list[float] = []
        self.done: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if b'{"content":"' in data:
            self.times.append(now)
        if b"[DONE]" in data and self.done is not None and not self.done.done():
            self.done.set_result(None)


async def _reference(endpoint: Endpoint, requests: list[bytes], case: Case) -> tuple[list[float], list[float]]:
    loop = asyncio.get_running_loop()
    streams = [(await loop.create_connection(_Stream, endpoint.host, endpoint.port))[1] for _ in range(case.streams)]

    async def one(stream: _Stream, request: bytes) -> tuple[float, list[float]]:
        stream.times = []
        stream.done = loop.create_future()
        assert stream.transport is not None
        start = time.perf_counter()
        stream.transport.write(request)
        await asyncio.wait_for(stream.done, 60)
        t = stream.times
        return t[0] - start, [b - a for a, b in itertools.pairwise(t)]

    await asyncio.gather(*(one(s, requests[i]) for i, s in enumerate(streams)))  # warm-up: every connection once
    ttft: list[float] = []
    itl: list[float] = []
    issued = 0

    async def worker(stream: _Stream) -> None:
        nonlocal issued
        while issued < case.requests:
            request = requests[issued % len(requests)]
            issued += 1
            first, gaps = await one(stream, request)
            ttft.append(first)
            itl.extend(gaps)

    await asyncio.gather(*(worker(s) for s in streams))
    for s in streams:
        assert s.transport is not None
        s.transport.close()
    await asyncio.sleep(0)
    return ttft, itl


def reference(url: str, case: Case) -> dict[str, float]:
    import uvloop

    cfg = BenchConfig(url + "/v1/chat/completions", MODEL, max_tokens=TOKENS)
    requests = cfg.requests(synthetic_prompts(max(case.requests, case.streams * 2, 64), PROMPT_TOKENS))
    ttft, itl = uvloop.run(_reference(cfg.endpoint, requests, case))
    return {"ttft_p50": percentile(ttft, 50), "itl_p50": percentile(itl, 50), "n": len(ttft)}


def llmstack(url: str, case: Case) -> dict[str, float]:
    cmd = [str(Path(sys.executable).with_name("llmstack")), "bench", url, "--model", MODEL,
           "--concurrency", str(case.streams), "-n", str(case.requests), "--max-tokens", str(TOKENS),
           "--prompt-tokens", str(PROMPT_TOKENS), "--json"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"llmstack bench failed ({out.returncode}): {out.stderr[-2000:]}")
    (level,) = json.loads(out.stdout)["levels"]
    if level["errors"]:
        raise RuntimeError(f"llmstack bench had errors: {level['first_errors']}")
    return {"ttft_p50": level["ttft_s"]["p50"], "itl_p50": level["itl_s"]["p50"], "n": level["requests"]}


def run_case(case: Case, rounds: int) -> dict[str, Any]:
    """`rounds` pairs in ABBA order (reference, llmstack, llmstack, reference, ...), each run against a fresh
    stand-in process: the server's request log and heap grow with every request, and at 256 streams its GC pauses
    would otherwise drift TTFT upwards run after run."""
    pairs: list[dict[str, dict[str, float]]] = [{} for _ in range(rounds)]
    for r in range(rounds):
        for who in ("reference", "llmstack") if r % 2 == 0 else ("llmstack", "reference"):
            with StandInProcess("vllm", TokenSchedule(case.ttft, case.itl, TOKENS), model=MODEL) as server:
                pairs[r][who] = (reference if who == "reference" else llmstack)(server.url, case)
        ref, ours = pairs[r]["reference"], pairs[r]["llmstack"]
        print(f"{case.label} round {r + 1}: reference TTFT {ref['ttft_p50'] * 1000:.1f} ms ITL "
              f"{ref['itl_p50'] * 1000:.2f} ms | llmstack TTFT {ours['ttft_p50'] * 1000:.1f} ms ITL "
              f"{ours['itl_p50'] * 1000:.2f} ms", flush=True)
    return {"case": case.__dict__, "label": case.label, "rounds": pairs}


def _ms(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"{statistics.median(ms):.1f} ({min(ms):.1f}-{max(ms):.1f})"


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| case | reference TTFT p50 | llmstack TTFT p50 | TTFT difference | reference ITL p50 | llmstack ITL p50 "
             "| ITL difference | verdict |", "|---|---|---|---|---|---|---|---|"]
    for res in results:
        pairs = res["rounds"]

        def get(who: str, key: str, pairs: list[dict[str, Any]] = pairs) -> list[float]:
            return [p[who][key] for p in pairs]

        d_ttft = [p["llmstack"]["ttft_p50"] - p["reference"]["ttft_p50"] for p in pairs]
        d_itl = [p["llmstack"]["itl_p50"] - p["reference"]["itl_p50"] for p in pairs]
        ok = abs(statistics.median(d_ttft)) <= 0.005 and abs(statistics.median(d_itl)) <= 0.001
        lines.append(f"| {res['label']} | {_ms(get('reference', 'ttft_p50'))} | {_ms(get('llmstack', 'ttft_p50'))} "
                     f"| {_ms(d_ttft)} | {_ms(get('reference', 'itl_p50'))} | {_ms(get('llmstack', 'itl_p50'))} "
                     f"| {_ms(d_itl)} | {'within target' if ok else '**outside target**'} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4, help="reference/llmstack pairs per case (ABBA order)")
    parser.add_argument("--cases", default="1,32,256", help="which stream counts of the built-in cases to run")
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.relative_to(ROOT)} (and .json)")
    args = parser.parse_args()
    wanted = {int(v) for v in args.cases.split(",")}
    load_before = os.getloadavg()[0]
    results = [run_case(case, args.rounds) for case in CASES if case.streams in wanted]
    text = table(results)
    print(text)
    if args.write:
        RESULTS.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
        RESULTS.write_text(
            "# `llmstack bench` against a reference client\n\n"
            f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
            f"Python {platform.python_version()}; load average {load_before:.2f} before, "
            f"{os.getloadavg()[0]:.2f} after. `python benchmarks/bench_reference.py --rounds {args.rounds} "
            "--write`.\n\n"
            "Server: the vLLM stand-in in its own process (uvloop), 20 tokens per request. Reference: raw asyncio "
            "sockets on uvloop, one timestamp and two substring checks per read. llmstack: the CLI in a child "
            "process, default per-level warm-up. The two alternate in ABBA order within each case, each run against a "
            "fresh stand-in process. "
            "Cells: median of the rounds' p50s (min-max); difference = llmstack - reference, per round.\n\n"
            + text
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
