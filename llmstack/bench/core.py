"""The benchmark client: fixed-concurrency streaming chat completions with `httpx` (see `ClientPool`).

Definitions (all times `time.perf_counter()` on the client):

- **TTFT**: request start -> the network read that carried the first non-empty content (or
  `reasoning_content`) delta.
- **ITL**: gaps between successive content-bearing reads of one stream (one per chunk, as vLLM's
  `benchmark_serving.py` measures it; several SSE events that arrive in one read share a timestamp, so they
  count as one gap of ~0 for the second and later events).
- **TPOT**: `(e2e - ttft) / (output_tokens - 1)`.
- **Output tokens**: the final `usage.completion_tokens` when the server sends it (we ask with
  `stream_options.include_usage`), else the number of content-bearing chunks (one delta ~ one token, as vLLM's
  serving benchmark assumes when usage is absent). `RequestResult.token_source` says which.
- **Per-request output tokens/s**: output tokens / e2e latency (llmperf's `request_output_throughput`);
  aggregate: all output tokens of a level / the level's wall time.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class RequestResult:
    ok: bool
    start: float
    end: float
    ttft: float | None = None
    chunk_times: list[float] = field(default_factory=list)
    chunks: int = 0
    usage_tokens: int | None = None
    prompt_tokens: int | None = None
    error: str | None = None
    prompt_index: int = -1

    @property
    def latency(self) -> float:
        return self.end - self.start

    @property
    def output_tokens(self) -> int:
        return self.usage_tokens if self.usage_tokens is not None else self.chunks

    @property
    def token_source(self) -> str:
        return "usage" if self.usage_tokens is not None else "chunks"

    @property
    def itl(self) -> list[float]:
        t = self.chunk_times
        return [b - a for a, b in itertools.pairwise(t)]

    @property
    def tpot(self) -> float | None:
        if self.ttft is None or self.output_tokens < 2:
            return None
        return (self.latency - self.ttft) / (self.output_tokens - 1)


@dataclass(frozen=True)
class BenchConfig:
    url: str
    model: str
    max_tokens: int = 128
    api_key: str | None = None
    timeout: float = 300.0
    ignore_eos: bool = False
    extra_body: dict[str, Any] = field(default_factory=dict)

    def payload(self, prompt: str) -> bytes:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": self.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.ignore_eos:
            body["ignore_eos"] = True
        body.update(self.extra_body)
        return json.dumps(body).encode()

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers


def _content(event: dict[str, Any]) -> str | None:
    choices = event.get("choices")
    if not choices:
        return None
    choice = choices[0]
    delta = choice.get("delta")
    if delta is not None:
        text = delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning")
    else:
        text = choice.get("text")
    return text if isinstance(text, str) and text else None


async def stream_request(client: httpx.AsyncClient, cfg: BenchConfig, payload: bytes) -> RequestResult:
    """One streaming request. Never raises for transport/protocol errors: they become `ok=False` results."""
    start = time.perf_counter()
    result = RequestResult(ok=False, start=start, end=start)
    times = result.chunk_times
    try:
        async with client.stream("POST", cfg.url, content=payload, headers=cfg.headers) as resp:
            if resp.status_code != 200:
                body = (await resp.aread()).decode("utf-8", "replace").strip()
                result.error = f"HTTP {resp.status_code}: {body[:200]}"
                result.end = time.perf_counter()
                return result
            buf = b""
            done = False
            async for data in resp.aiter_bytes():
                now = time.perf_counter()
                buf += data
                while (nl := buf.find(b"\n")) >= 0:
                    line, buf = buf[:nl], buf[nl + 1 :]
                    if not line.startswith(b"data:"):
                        continue
                    raw = line[5:].strip()
                    if raw == b"[DONE]":
                        done = True
                        continue
                    event = json.loads(raw)
                    if "error" in event:
                        result.error = f"error event: {str(event['error'])[:200]}"
                        continue
                    if _content(event) is not None:
                        result.chunks += 1
                        times.append(now)  # events that arrived in one read share its timestamp
                    usage = event.get("usage")
                    if usage:
                        result.usage_tokens = usage.get("completion_tokens")
                        result.prompt_tokens = usage.get("prompt_tokens")
            result.end = time.perf_counter()
            if times:
                result.ttft = times[0] - start
            if result.error is None and not done:
                result.error = "stream ended without data: [DONE]"
            if result.error is None and result.chunks == 0:
                result.error = "stream carried no content"
            result.ok = result.error is None
    except httpx.HTTPError as err:
        result.end = time.perf_counter()
        result.error = f"{type(err).__name__}: {err}"
    except ValueError as err:  # json.JSONDecodeError: a malformed data: line
        result.end = time.perf_counter()
        result.error = f"malformed SSE event: {err}"
    return result


@dataclass
class LevelResult:
    concurrency: int
    wall: float
    results: list[RequestResult]


def make_client(timeout: float, connections: int = 1) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        limits=limits, timeout=httpx.Timeout(timeout, connect=min(timeout, 30.0), pool=None), trust_env=False
    )


class ClientPool:
    """One single-connection `httpx.AsyncClient` per concurrency slot, created once and reused by every level.

    Why not one client with `max_connections=N`: httpcore's pool re-scans every pooled connection each time a
    request is assigned or released (`AsyncConnectionPool._assign_requests_to_connections`), so its cost per
    request grows with N; measured at 64 streams on 2 cores it tripled the client's CPU per token (430 vs
    128 us) and made the client the bottleneck (docs/bench.md, benchmarks/results/bench_client_capacity.md).
    """

    def __init__(self, size: int, timeout: float) -> None:
        self.clients = [make_client(timeout) for _ in range(size)]

    async def __aenter__(self) -> list[httpx.AsyncClient]:
        return self.clients

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients))


async def run_level(
    clients: Sequence[httpx.AsyncClient],
    cfg: BenchConfig,
    payloads: Sequence[bytes],
    concurrency: int,
    *,
    num_requests: int | None = None,
    duration: float | None = None,
    on_done: Callable[[RequestResult], None] | None = None,
) -> LevelResult:
    """Closed loop: `concurrency` workers (worker i on `clients[i]`) each send one request at a time, until
    `num_requests` were sent or `duration` seconds passed (requests in flight then finish; each is bounded by
    the client timeout)."""
    if (num_requests is None) == (duration is None):
        raise ValueError("give exactly one of num_requests and duration")
    if len(clients) < concurrency:
        raise ValueError(f"{concurrency} workers need {concurrency} clients, got {len(clients)}")
    results: list[RequestResult] = []
    issued = 0
    began = time.perf_counter()
    deadline = began + duration if duration is not None else None

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal issued
        while True:
            if num_requests is not None and issued >= num_requests:
                return
            if deadline is not None and time.perf_counter() >= deadline:
                return
            index = issued % len(payloads)
            issued += 1
            result = await stream_request(client, cfg, payloads[index])
            result.prompt_index = index
            results.append(result)
            if on_done is not None:
                on_done(result)

    await asyncio.gather(*(worker(client) for client in clients[:concurrency]))
    return LevelResult(concurrency, time.perf_counter() - began, results)
