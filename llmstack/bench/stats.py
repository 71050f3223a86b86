"""Summaries of a benchmark level: percentiles (linear interpolation, numpy's default), rates, error rate, goodput."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from llmstack.bench.core import RequestResult
from llmstack.bench.loops import LevelResult

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
class Slo:
    """Service-level objectives for goodput (seconds; None = not checked). A request meets them when it succeeded,
    its TTFT is <= `ttft` and its TPOT (mean inter-token latency) is <= `itl`, as DistServe and
    `vllm bench serve --goodput tpot:MS` define it. A mean, not every gap: a proxy that relays two tokens in one
    read makes one gap ~0 and the next ~2x, which the user does not see as a stall."""

    ttft: float | None = None
    itl: float | None = None

    @property
    def active(self) -> bool:
        return self.ttft is not None or self.itl is not None

    def met(self, r: RequestResult) -> bool:
        if not r.ok or r.ttft is None:
            return False
        if self.ttft is not None and r.ttft > self.ttft:
            return False
        tpot = r.tpot
        return self.itl is None or tpot is None or tpot <= self.itl


@dataclass(frozen=True)
class LevelSummary:
    mode: str  # "closed" (fixed concurrency) or "open" (Poisson arrivals at request_rate)
    concurrency: int  # closed: streams; open: the most requests in flight at once
    request_rate: float | None
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
    connect_s: Dist  # connections opened inside the timed part (reported apart from TTFT)
    send_lag_s: Dist  # open loop: actual send - scheduled arrival
    slo_ttft_s: float | None
    slo_itl_s: float | None
    goodput: float | None  # share of sent requests that met the SLOs (None without SLOs)
    goodput_rps: float | None  # requests per second that met them
    first_errors: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def summarize(level: LevelResult, slo: Slo | None = None) -> LevelSummary:
    slo = slo or Slo()
    good = [r for r in level.results if r.ok]
    n = len(level.results)
    tokens = sum(r.output_tokens for r in good)
    sources = {r.token_source for r in good}
    wall = level.wall if level.wall > 0 else math.nan
    met = sum(1 for r in level.results if slo.met(r)) if slo.active else None
    return LevelSummary(
        mode="closed" if level.request_rate is None else "open",
        concurrency=level.concurrency,
        request_rate=level.request_rate,
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
        connect_s=Dist.of([r.connect for r in level.results if r.connect > 0]),
        send_lag_s=Dist.of([lag for r in level.results if (lag := r.send_lag) is not None]),
        slo_ttft_s=slo.ttft,
        slo_itl_s=slo.itl,
        goodput=None if met is None else (met / n if n else 0.0),
        goodput_rps=None if met is None else met / wall,
        first_errors=sorted({r.error for r in level.results if r.error})[:5],
    )
