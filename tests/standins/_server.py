"""The common part of every stand-in: an aiohttp server on 127.0.0.1 in its own thread and event loop.

`start()` binds (an ephemeral port the first time, the same port afterwards), `stop()` closes the listening
socket and aborts every open connection with a TCP reset (what a killed container looks like to a client),
`restart()` is `stop()` then `start()` on the same port. Every request is logged as a `RequestRecord` with
server-side `time.perf_counter()` timestamps (CLOCK_MONOTONIC on Linux, so they compare across processes).

aiohttp enables TCP_NODELAY on every accepted socket (`aiohttp/base_protocol.py`), and each response/SSE event
is written with one `write()` call, so no Nagle + delayed-ACK stall (reference §7.12) distorts latencies.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RequestRecord:
    """One request as the server saw it. Times are `time.perf_counter()` seconds in the server process."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    arrival: float
    status: int = 0
    first_token: float | None = None
    token_times: list[float] = field(default_factory=list)
    end: float | None = None
    peer: str = ""  # the client's address:port, i.e. which connection carried the request

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


RECORD = web.RequestKey("record", RequestRecord)
BODY: web.RequestKey[Any] = web.RequestKey("json", object)


class StandIn(ABC):
    """A real HTTP server on loopback. Subclasses add routes in `routes()`."""

    kind = "standin"

    def __init__(self, *, port: int = 0, host: str = "127.0.0.1", unix_path: str | None = None) -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError(f"stand-ins listen on loopback only, not {host!r}")
        self.host = host
        self.port = port
        #: Listen on this unix socket instead of TCP (the Docker Engine API stand-in).
        self.unix_path = unix_path
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        #: Set to an HTTP status to make every non-health route fail with it (a broken backend).
        self.fail_status: int | None = None
        #: Status the health route answers with (200, or 503 for "loading"/"dead engine").
        self.health_status: int = 200

    # ---------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        if self.unix_path:
            return f"unix://{self.unix_path}"
        if not self.port:
            raise RuntimeError(f"{self.kind} stand-in was never started")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> StandIn:
        if self.running:
            return self
        self._started.clear()
        self._start_error = None
        self._thread = threading.Thread(target=self._serve, name=f"standin-{self.kind}", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise TimeoutError(f"{self.kind} stand-in did not start within {timeout}s")
        if self._start_error is not None:
            self._thread.join(timeout)
            self._thread = None
            raise RuntimeError(f"{self.kind} stand-in failed to start") from self._start_error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close the listening socket and reset every open connection, like a container that died."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None or stopping is None:
            return
        loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"{self.kind} stand-in did not stop within {timeout}s")
        self._thread = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as err:  # reported to start(), which re-raises it in the caller's thread
            self._start_error = err
            self._started.set()
            raise
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(middlewares=[self._log_middleware])
        app.router.add_get("/_standin/requests", self._requests_route)
        self.routes(app)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        try:
            await runner.setup()
            site: web.BaseSite
            if self.unix_path:
                site = web.UnixSite(runner, self.unix_path)
                await site.start()
            else:
                site = web.TCPSite(runner, self.host, self.port)
                await site.start()
                server = site._server  # the asyncio (or uvloop) server, to read the bound port
                sockets = getattr(server, "sockets", None)
                if not sockets:
                    raise OSError(f"no listening socket for {self.host}:{self.port}")
                self.port = sockets[0].getsockname()[1]
        except OSError as err:
            self._start_error = err
            self._started.set()
            await runner.cleanup()
            return
        self._runner = runner
        self._started.set()
        await self._stopping.wait()
        await site.stop()  # listening socket closed: new connections are refused
        assert runner.server is not None
        for handler in runner.server.connections:
            transport = handler.transport
            if transport is None:
                continue
            sock = transport.get_extra_info("socket")
            if (
                sock is not None and sock.family != socket.AF_UNIX
            ):  # SO_LINGER 0: close() sends RST, as the kernel does for a killed process
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        await runner.cleanup()

    # ---------------------------------------------------------------- request log
    @web.middleware
    async def _log_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_standin/"):
            return await handler(request)
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
        record = RequestRecord(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            arrival=time.perf_counter(),
            peer=_peer(request),
        )
        request[RECORD] = record
        request[BODY] = body
        with self._lock:
            self._records.append(record)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            record.status = exc.status
            record.end = time.perf_counter()
            raise
        record.status = response.status
        record.end = time.perf_counter()
        return response

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._records)

    def count(self, path: str | None = None, method: str | None = None) -> int:
        return sum(
            1 for r in self.requests if (path is None or r.path == path) and (method is None or r.method == method)
        )

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    async def _requests_route(self, request: web.Request) -> web.Response:
        return web.json_response([r.to_json() for r in self.requests])

    # ---------------------------------------------------------------- helpers for subclasses
    @abstractmethod
    def routes(self, app: web.Application) -> None:
        """Add this engine's routes to `app`."""

    def failure(self) -> web.Response | None:
        """The injected failure response, if `fail_status` is set."""
        if self.fail_status is None:
            return None
        return web.json_response(
            {"error": {"message": f"stand-in failure injected ({self.fail_status})", "type": "server_error"}},
            status=self.fail_status,
        )


def _peer(request: web.Request) -> str:
    peername = request.transport.get_extra_info("peername") if request.transport else None
    return f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else ""


def json_body(request: web.Request) -> dict[str, Any]:
    body = request.get(BODY)
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": {"message": "request body must be a JSON object"}}),
            content_type="application/json",
        )
    return body


def words(text: str) -> int:
    """The stand-ins' tokenizer: whitespace-separated words (good enough for usage counts)."""
    return len(text.split())


def prompt_tokens(body: dict[str, Any]) -> int:
    if "messages" in body:
        total = 0
        for message in body["messages"]:
            content = message.get("content", "")
            if isinstance(content, list):
                content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
            total += words(str(content))
        return total
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        return sum(words(str(p)) for p in prompt)
    return words(str(prompt))
