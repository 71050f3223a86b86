"""Summaries of a benchmark level: percentiles (linear interpolation, numpy's default), rates, error rate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from llmstack.bench.core import LevelResult

PERCENTILES = (50, 90, 99)


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass(frozen=True)
class Dist:
    mean: float
    p50: float
    p90: float
    p99: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Dist:
        mean = sum(values) / len(values) if values else math.nan
        p50, p90, p99 = (percentile(values, p) for p in PERCENTILES)
        return cls(mean, p50, p90, p99, len(values))


@dataclass(frozen=True)
class LevelSummary:
    concurrency: int
    requests: int
    ok: int
    errors: int
    error_rate: float
    duration_s: float
    request_throughput: float
    output_tokens: int
    output_throughput: float
    token_source: str
    ttft_s: Dist
    itl_s: Dist
    tpot_s: Dist
    e2e_s: Dist
    request_output_tps: Dist
    first_errors: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def summarize(level: LevelResult) -> LevelSummary:
    good = [r for r in level.results if r.ok]
    n = len(level.results)
    tokens = sum(r.output_tokens for r in good)
    sources = {r.token_source for r in good}
    wall = level.wall if level.wall > 0 else math.nan
    return LevelSummary(
        concurrency=level.concurrency,
        requests=n,
        ok=len(good),
        errors=n - len(good),
        error_rate=(n - len(good)) / n if n else 0.0,
        duration_s=level.wall,
        request_throughput=len(good) / wall,
        output_tokens=tokens,
        output_throughput=tokens / wall,
        token_source="/".join(sorted(sources)) or "-",
        ttft_s=Dist.of([r.ttft for r in good if r.ttft is not None]),
        itl_s=Dist.of([gap for r in good for gap in r.itl]),
        tpot_s=Dist.of([t for r in good if (t := r.tpot) is not None]),
        e2e_s=Dist.of([r.latency for r in good]),
        request_output_tps=Dist.of([r.output_tokens / r.latency for r in good if r.latency > 0]),
        first_errors=sorted({r.error for r in level.results if r.error})[:5],
    )
