"""The two load models: a closed loop (N streams, each sends its next request when the last one ended) and an open
loop (requests arrive on a Poisson schedule whatever the server does, as `vllm bench serve --request-rate`).

Both take prebuilt requests (`BenchConfig.requests`), so a timed request costs the client one buffer write.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llmstack.bench.core import ConnectionPool, RequestResult, Slot, stream_request


@dataclass
class LevelResult:
    concurrency: int  # closed loop: streams; open loop: the most requests in flight at once
    wall: float
    results: list[RequestResult]
    request_rate: float | None = None  # open loop: the arrival rate asked for (req/s)
    connections_opened: int = 0  # connections opened inside the timed part (0 after a full warm-up)


def poisson_arrivals(rate: float, *, count: int | None = None, duration: float | None = None,
                     seed: int = 0) -> list[float]:
    """Arrival offsets (s from the level's start) of a Poisson process: exponential gaps with mean 1/rate. The first
    request goes at 0. Bounded by `count` requests or by `duration` seconds."""
    if not rate > 0 or math.isinf(rate):
        raise ValueError(f"request rate must be a positive finite number, got {rate}")
    if (count is None) == (duration is None):
        raise ValueError("give exactly one of count and duration")
    rng = random.Random(seed)
    times: list[float] = []
    t = 0.0
    while (count is None or len(times) < count) and (duration is None or t < duration):
        times.append(t)
        t += rng.expovariate(rate)
    return times


async def run_level(
    pool: ConnectionPool,
    requests: Sequence[bytes],
    concurrency: int,
    *,
    num_requests: int | None = None,
    duration: float | None = None,
    on_done: Callable[[RequestResult], None] | None = None,
) -> LevelResult:
    """Closed loop: `concurrency` workers (worker i on slot i) each send one request at a time, until
    `num_requests` were sent or `duration` seconds passed (requests in flight then finish; each is bounded by the
    read timeout)."""
    if (num_requests is None) == (duration is None):
        raise ValueError("give exactly one of num_requests and duration")
    slots = pool.grow(concurrency)
    opened = pool.opened
    results: list[RequestResult] = []
    issued = 0
    began = time.perf_counter()
    deadline = began + duration if duration is not None else None

    async def worker(slot: Slot) -> None:
        nonlocal issued
        while True:
            if num_requests is not None and issued >= num_requests:
                return
            if deadline is not None and time.perf_counter() >= deadline:
                return
            index = issued % len(requests)
            issued += 1
            result = await stream_request(slot, pool.timeout, requests[index])
            result.prompt_index = index
            results.append(result)
            if on_done is not None:
                on_done(result)

    await asyncio.gather(*(worker(slot) for slot in slots))
    return LevelResult(concurrency, time.perf_counter() - began, results, connections_opened=pool.opened - opened)


async def run_open_level(
    pool: ConnectionPool,
    requests: Sequence[bytes],
    rate: float,
    *,
    num_requests: int | None = None,
    duration: float | None = None,
    max_concurrency: int | None = None,
    seed: int = 0,
    on_done: Callable[[RequestResult], None] | None = None,
) -> LevelResult:
    """Open loop: request k is due at `start + arrivals[k]` (Poisson, `rate` per second) and goes out then on an
    idle connection, most recently used first; the pool grows when all are busy. With `max_concurrency`, a request
    due while that many are in flight waits for one to end (its send lag shows the wait)."""
    arrivals = poisson_arrivals(rate, count=num_requests, duration=duration, seed=seed)
    idle = list(reversed(pool.slots))  # a stack: pop() takes the most recently used
    free = asyncio.Condition()
    in_flight = peak = 0
    results: list[RequestResult] = []
    opened = pool.opened

    async def one(index: int, scheduled: float) -> None:
        nonlocal in_flight, peak
        async with free:
            await free.wait_for(lambda: max_concurrency is None or in_flight < max_concurrency)
            in_flight += 1
        peak = max(peak, in_flight)
        slot = idle.pop() if idle else pool.grow(len(pool.slots) + 1)[-1]
        try:
            result = await stream_request(slot, pool.timeout, requests[index], scheduled)
        finally:
            idle.append(slot)
            async with free:
                in_flight -= 1
                free.notify()
        result.prompt_index = index
        results.append(result)
        if on_done is not None:
            on_done(result)

    began = time.perf_counter()
    tasks = []
    for k, offset in enumerate(arrivals):
        due = began + offset
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(k % len(requests), due)))
    await asyncio.gather(*tasks)
    return LevelResult(peak, time.perf_counter() - began, results, request_rate=rate,
                       connections_opened=pool.opened - opened)
