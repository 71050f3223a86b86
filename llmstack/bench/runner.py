"""Run a benchmark: for each level, warm up its own connections, then time it; one `ConnectionPool` for all levels.

Warm-up, per level and before its clock starts: every connection the level will use is opened and carries one
whole request, all at once (`--warmup` rounds, default 1). A closed-loop level of N streams therefore times N
connections that are open and warm, whatever ran before it. An open-loop level cannot know how many connections
it will need; it warms the number that holds its expected in-flight count (M/G/inf: Poisson with mean rate x e2e,
e2e from a probe request; mean + 3 sd), and any connection it still has to open is timed apart from TTFT.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from llmstack.bench.core import BenchConfig, ConnectionPool, RequestResult, stream_request
from llmstack.bench.loops import LevelResult, run_level, run_open_level
from llmstack.bench.stats import LevelSummary, Slo, summarize
from llmstack.errors import LlmstackError

#: Called with (level label, total requests or None for a duration run, result) after each request.
ProgressHook = Callable[[str, int | None, RequestResult], None]


@dataclass(frozen=True)
class Level:
    """One load level: `concurrency` streams (closed loop) or `rate` requests/s (open loop)."""

    concurrency: int | None = None
    rate: float | None = None

    @property
    def label(self) -> str:
        return f"c={self.concurrency}" if self.rate is None else f"rate={self.rate:g}/s"


@dataclass(frozen=True)
class BenchReport:
    url: str
    model: str
    max_tokens: int
    warmup: int
    levels: list[LevelSummary]

    @property
    def errors(self) -> int:
        return sum(level.errors for level in self.levels)

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "model": self.model,
            "max_tokens": self.max_tokens,
            "warmup": self.warmup,
            "levels": [level.to_json() for level in self.levels],
        }


async def warm_up(pool: ConnectionPool, requests: Sequence[bytes], width: int, rounds: int) -> list[RequestResult]:
    """Open `width` connections and send one request on each, all at once, `rounds` times; fail on any error."""
    slots = pool.grow(width)
    results: list[RequestResult] = []
    for _ in range(rounds):
        batch = await asyncio.gather(
            *(stream_request(slot, pool.timeout, requests[i % len(requests)]) for i, slot in enumerate(slots))
        )
        failed = [r for r in batch if not r.ok]
        if failed:
            raise LlmstackError(
                f"warm-up request to {pool.endpoint.authority} failed ({len(failed)} of {width}): {failed[0].error}"
            )
        results += batch
    return results


def open_loop_width(rate: float, e2e: float, cap: int) -> int:
    """Connections an open loop needs: requests in flight are Poisson with mean rate x e2e (M/G/inf)."""
    mean = rate * e2e
    return max(1, min(cap, math.ceil(mean + 3 * math.sqrt(mean)) + 1))


async def run_benchmark(
    cfg: BenchConfig,
    prompts: Sequence[str],
    levels: Sequence[Level],
    *,
    num_requests: int | None = None,
    duration: float | None = None,
    warmup: int = 1,
    max_concurrency: int | None = None,
    slo: Slo | None = None,
    seed: int = 0,
    progress: ProgressHook | None = None,
    on_level_start: Callable[[str, int | None], None] | None = None,
) -> BenchReport:
    requests = cfg.requests(list(prompts))
    summaries: list[LevelSummary] = []
    async with ConnectionPool(cfg.endpoint, cfg.timeout) as pool:
        for level in levels:
            label, total = level.label, num_requests

            def hook(result: RequestResult, label: str = label, total: int | None = total) -> None:
                if progress is not None:
                    progress(label, total, result)

            result: LevelResult
            if level.rate is None:
                assert level.concurrency is not None
                if warmup:
                    await warm_up(pool, requests, level.concurrency, warmup)
                if on_level_start is not None:
                    on_level_start(label, total)
                result = await run_level(pool, requests, level.concurrency, num_requests=num_requests,
                                         duration=duration, on_done=hook)
            else:
                if warmup:
                    (probe,) = await warm_up(pool, requests, 1, 1)
                    cap = min(num_requests or 1 << 30, max_concurrency or 1 << 30)
                    await warm_up(pool, requests, open_loop_width(level.rate, probe.latency, cap), warmup)
                if on_level_start is not None:
                    on_level_start(label, total)
                result = await run_open_level(pool, requests, level.rate, num_requests=num_requests,
                                              duration=duration, max_concurrency=max_concurrency, seed=seed,
                                              on_done=hook)
            summaries.append(summarize(result, slo))
    return BenchReport(cfg.url, cfg.model, cfg.max_tokens, warmup, summaries)


def bench(cfg: BenchConfig, prompts: Sequence[str], levels: Sequence[Level], **options: Any) -> BenchReport:
    return asyncio.run(run_benchmark(cfg, prompts, levels, **options))
