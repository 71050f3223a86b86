"""Run a benchmark: warm-up, then each concurrency level in turn, over one `ClientPool` reused by all levels."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from llmstack.bench.core import BenchConfig, ClientPool, RequestResult, run_level, stream_request
from llmstack.bench.stats import LevelSummary, summarize
from llmstack.errors import LlmstackError

#: Called with (concurrency, total requests or None for a duration run, result) after each request.
ProgressHook = Callable[[int, int | None, RequestResult], None]


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


async def run_benchmark(
    cfg: BenchConfig,
    prompts: Sequence[str],
    concurrencies: Sequence[int],
    *,
    num_requests: int | None = None,
    duration: float | None = None,
    warmup: int = 1,
    progress: ProgressHook | None = None,
    on_level_start: Callable[[int, int | None], None] | None = None,
) -> BenchReport:
    payloads = [cfg.payload(p) for p in prompts]
    levels: list[LevelSummary] = []
    width = max(concurrencies)
    async with ClientPool(width, cfg.timeout) as clients:
        for _ in range(warmup):  # not counted: opens one connection per slot, wakes lazy server paths
            batch = await asyncio.gather(
                *(stream_request(client, cfg, payloads[i % len(payloads)]) for i, client in enumerate(clients))
            )
            failed = [r for r in batch if not r.ok]
            if failed:
                raise LlmstackError(
                    f"warm-up request to {cfg.url} failed ({len(failed)} of {width}): {failed[0].error}"
                )
        for c in concurrencies:
            total = num_requests
            if on_level_start is not None:
                on_level_start(c, total)

            def hook(result: RequestResult, c: int = c, total: int | None = total) -> None:
                if progress is not None:
                    progress(c, total, result)

            level = await run_level(
                clients, cfg, payloads, c, num_requests=num_requests, duration=duration, on_done=hook
            )
            levels.append(summarize(level))
    return BenchReport(cfg.url, cfg.model, cfg.max_tokens, warmup, levels)


def bench(cfg: BenchConfig, prompts: Sequence[str], concurrencies: Sequence[int], **options: Any) -> BenchReport:
    return asyncio.run(run_benchmark(cfg, prompts, concurrencies, **options))
