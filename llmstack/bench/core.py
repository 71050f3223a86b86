"""One streaming chat request and what it measured, over keep-alive connections (`llmstack.bench.http`).

Definitions (all times `time.perf_counter()` on the client):

- **start**: just before the request is written on an open connection. Opening a connection is never inside a
  request's TTFT: it is timed on its own (`RequestResult.connect`, 0 on a reused connection) and reported apart.
- **TTFT**: start -> the network read that carried the first non-empty content (or `reasoning_content`) delta.
- **ITL**: gaps between successive content-bearing reads of one stream (one per chunk, as vLLM's serving
  benchmark measures it; several SSE events that arrive in one read share a timestamp, so the second and later
  count as gaps of 0).
- **TPOT**: `(e2e - ttft) / (output_tokens - 1)`.
- **Output tokens**: the final `usage.completion_tokens` when the server sends it (we ask with
  `stream_options.include_usage`), else the number of content-bearing chunks. `RequestResult.token_source` says
  which.
- **Send lag** (open loop): start - the request's scheduled arrival time; how late the client was.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from llmstack.bench.http import Connection, Endpoint, HttpError

ERROR_BODY_LIMIT = 200
_decode = json.JSONDecoder().raw_decode  # skips json.loads' per-call encoding detection


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
    connect: float = 0.0  # seconds spent opening a connection for this request (0: reused)
    scheduled: float | None = None  # open loop: when the request was due

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

    @property
    def send_lag(self) -> float | None:
        return None if self.scheduled is None else self.start - self.scheduled


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
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream", "User-Agent": "llmstack-bench"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint.parse(self.url)

    def request(self, payload: bytes) -> bytes:
        """The whole HTTP request for one payload, built before timing starts."""
        return self.endpoint.post(payload, self.headers)

    def requests(self, prompts: list[str]) -> list[bytes]:
        endpoint, headers = self.endpoint, self.headers
        return [endpoint.post(self.payload(p), headers) for p in prompts]


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


class SseReceiver:
    """Collects an OpenAI SSE stream as it arrives and parses it into a `RequestResult` once it ended (a
    `llmstack.bench.http.Receiver`). A read only costs a list append on the hot path: when many streams' tokens
    arrive at once (256 first tokens within a few ms), the last read's timestamp waits for every read before it,
    so that work is kept to the minimum; parsing after the stream ended gives each event its read's timestamp all
    the same."""

    def __init__(self, result: RequestResult) -> None:
        self.result = result
        self.status = 0
        self.done = False
        self._reads: list[tuple[float, bytes]] = []
        self._error_body = b""

    def head(self, status: int, headers: dict[str, str]) -> None:
        self.status = status

    def body(self, data: bytes, now: float) -> None:
        if self.status == 200:
            self._reads.append((now, data))
        elif len(self._error_body) < ERROR_BODY_LIMIT * 4:
            self._error_body += data

    def parse(self) -> None:
        """Split the collected reads into `data:` events; an event gets the timestamp of the read that ended it."""
        buf = b""
        for now, data in self._reads:
            buf = buf + data if buf else data
            end = buf.rfind(b"\n") + 1
            if not end:
                continue
            for line in buf[:end].split(b"\n"):
                if line.startswith(b"data:"):
                    self._event(line[5:].strip(), now)
            buf = buf[end:]
        self._reads = []

    def _event(self, raw: bytes, now: float) -> None:
        result = self.result
        if raw == b"[DONE]":
            self.done = True
            return
        try:
            event, _ = _decode(raw.decode())
        except ValueError as err:
            result.error = result.error or f"malformed SSE event: {err}"
            return
        if not isinstance(event, dict):
            result.error = result.error or f"malformed SSE event: {raw[:80]!r}"
            return
        if "error" in event:
            result.error = result.error or f"error event: {str(event['error'])[:ERROR_BODY_LIMIT]}"
            return
        if _content(event) is not None:
            result.chunks += 1
            result.chunk_times.append(now)  # events that arrived in one read share its timestamp
        usage = event.get("usage")
        if usage:
            result.usage_tokens = usage.get("completion_tokens")
            result.prompt_tokens = usage.get("prompt_tokens")

    def http_error(self) -> str:
        text = self._error_body.decode("utf-8", "replace").strip()
        return f"HTTP {self.status}: {text[:ERROR_BODY_LIMIT]}"


class Slot:
    """One keep-alive connection that reopens itself when the server closed it (the unit of concurrency)."""

    def __init__(self, endpoint: Endpoint, timeout: float, index: int = 0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.index = index
        self.conn: Connection | None = None
        self.opened = 0  # connections this slot opened

    @property
    def ready(self) -> bool:
        return self.conn is not None and self.conn.open and self.conn.reusable

    async def ensure(self) -> float:
        """Seconds spent connecting (0 when the connection was open already)."""
        if self.ready:
            return 0.0
        if self.conn is not None:
            self.conn.close()
        began = time.perf_counter()
        self.conn = await Connection.connect(self.endpoint, min(self.timeout, 30.0))
        self.opened += 1
        return time.perf_counter() - began

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


async def stream_request(slot: Slot, timeout: float, request: bytes, scheduled: float | None = None) -> RequestResult:
    """One streaming request on `slot`. Never raises for transport or protocol errors: they become `ok=False`."""
    began = time.perf_counter()
    result = RequestResult(ok=False, start=began, end=began, scheduled=scheduled)
    try:
        if not slot.ready:
            result.connect = await slot.ensure()
    except HttpError as err:
        result.start = result.end = time.perf_counter()
        result.error = str(err)
        return result
    receiver = SseReceiver(result)
    assert slot.conn is not None
    result.start = time.perf_counter()
    try:
        await slot.conn.exchange(request, receiver, timeout)
    except HttpError as err:
        result.end = time.perf_counter()
        result.error = str(err)
        return result
    result.end = time.perf_counter()
    receiver.parse()
    if result.chunk_times:
        result.ttft = result.chunk_times[0] - result.start
    if receiver.status != 200:
        result.error = receiver.http_error()
    elif result.error is None and not receiver.done:
        result.error = "stream ended without data: [DONE]"
    elif result.error is None and result.chunks == 0:
        result.error = "stream carried no content"
    result.ok = result.error is None
    return result


class ConnectionPool:
    """Slots to one endpoint, reused by every level (`async with`, closes them all on exit)."""

    def __init__(self, endpoint: Endpoint, timeout: float, size: int = 0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.slots: list[Slot] = []
        self.grow(size)

    def grow(self, size: int) -> list[Slot]:
        while len(self.slots) < size:
            self.slots.append(Slot(self.endpoint, self.timeout, len(self.slots)))
        return self.slots[:size]

    @property
    def opened(self) -> int:
        return sum(s.opened for s in self.slots)

    async def __aenter__(self) -> ConnectionPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await asyncio.sleep(0)  # let the transports' close callbacks run inside the loop

    def close(self) -> None:
        for slot in self.slots:
            slot.close()
