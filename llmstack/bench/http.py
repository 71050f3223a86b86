"""A lean HTTP/1.1 client for streamed responses: one `asyncio.Protocol` per keep-alive connection.

Why not httpx: its per-read path (httpcore + h11's pure-Python state machine + anyio, one coroutine switch per
read) cost ~120 us per SSE event here, so at 256 streams the client, not the server, set the TTFT
(docs/bench.md). Here a read is parsed in `data_received` with `bytes.find`, timestamped before parsing, and handed
to the response's `Receiver`; nothing is awaited per event.

Scope: what a benchmark needs and nothing more. One request at a time per connection, `Content-Length` request
bodies, responses framed by `Transfer-Encoding: chunked`, `Content-Length` or connection close; TLS via `ssl`;
no redirects, proxies, compression or HTTP/2. Every failure is an `HttpError` whose text names its kind
(`ConnectError`, `ReadTimeout`, `ReadError`, `RemoteProtocolError`) so results stay readable.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Protocol, cast
from urllib.parse import urlsplit


class HttpError(Exception):
    """A transport or protocol failure; `str()` starts with its kind, e.g. `ConnectError: ...`."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


class Receiver(Protocol):
    """Where a response goes: the status line and headers once, then body bytes as they arrive."""

    def head(self, status: int, headers: dict[str, str]) -> None: ...

    def body(self, data: bytes, now: float) -> None: ...


@dataclass(frozen=True)
class Endpoint:
    """Where requests go: scheme, host, port and request target, parsed once."""

    host: str
    port: int
    target: str  # path + query
    tls: bool

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        tls = parts.scheme == "https"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.hostname, parts.port or (443 if tls else 80), target, tls)

    @property
    def authority(self) -> str:
        default = 443 if self.tls else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    def post(self, body: bytes, headers: dict[str, str]) -> bytes:
        """The whole request (head and body) as one buffer, written with one call."""
        lines = [f"POST {self.target} HTTP/1.1", f"Host: {self.authority}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# Body framing of the current response.
_HEAD, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _LENGTH, _UNTIL_CLOSE, _IDLE = range(8)


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; `exchange()` sends a request and resolves when its response has ended."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.open = False
        self.reusable = True
        self._state = _IDLE
        self._buf = b""
        self._left = 0
        self._receiver: Receiver | None = None
        self._done: asyncio.Future[None] | None = None
        self._got_bytes = False
        self._last_read = 0.0
        self._watchdog: asyncio.TimerHandle | None = None
        self._timeout = 0.0

    # ------------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self.open = True
        sock = self.transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()  # one timestamp per read, before any parsing
        if self._state == _IDLE:  # bytes nobody asked for: the connection is out of step
            self.reusable = False
            return
        self._last_read = now
        self._got_bytes = True
        try:
            self._feed(data, now)
        except HttpError as err:
            self._finish(err)
        except ValueError as err:  # a malformed head or chunk size, or the receiver refused an event
            self._finish(HttpError("RemoteProtocolError", str(err)))

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self.reusable = False
        if self._state == _UNTIL_CLOSE:
            self._finish(None)
        elif self._state != _IDLE:
            if exc is not None:
                self._finish(HttpError("ReadError", f"{type(exc).__name__}: {exc}"))
            elif self._got_bytes:
                self._finish(HttpError("RemoteProtocolError", "server closed the connection mid-response"))
            else:
                self._finish(HttpError("RemoteProtocolError", "server closed the connection without a response"))

    # ------------------------------------------------------------------ requests
    @classmethod
    async def connect(cls, endpoint: Endpoint, timeout: float) -> Connection:
        loop = asyncio.get_running_loop()
        context = ssl.create_default_context() if endpoint.tls else None
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    cls, endpoint.host, endpoint.port, ssl=context,
                    server_hostname=endpoint.host if context else None,
                ),
                timeout,
            )
        except TimeoutError:
            raise HttpError("ConnectTimeout", f"{endpoint.authority} did not accept within {timeout:g} s") from None
        except OSError as err:
            raise HttpError("ConnectError", f"{endpoint.authority}: {err.strerror or err}") from None
        return conn

    def exchange(self, request: bytes, receiver: Receiver, timeout: float) -> asyncio.Future[None]:
        """Write `request`; the future resolves when the response ended (or fails with an `HttpError`).
        `timeout` bounds every wait for bytes (the gap between reads), as httpx's read timeout does."""
        if not self.open or self.transport is None or self._state != _IDLE:
            raise RuntimeError("connection is not idle")
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self._receiver = receiver
        self._state = _HEAD
        self._buf = b""
        self._got_bytes = False
        self._timeout = timeout
        self._last_read = time.perf_counter()
        self._watchdog = loop.call_later(timeout, self._check_idle)
        self.transport.write(request)
        return self._done

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # ------------------------------------------------------------------ internals
    def _check_idle(self) -> None:
        """Fires at most once per `timeout` of silence; re-arms itself while bytes keep coming."""
        if self._state == _IDLE:
            return
        quiet = time.perf_counter() - self._last_read
        if quiet < self._timeout:
            self._watchdog = asyncio.get_running_loop().call_later(self._timeout - quiet, self._check_idle)
            return
        self._finish(HttpError("ReadTimeout", f"no bytes for {self._timeout:g} s"))
        self.close()

    def _finish(self, error: HttpError | None) -> None:
        if error is not None:
            self.reusable = False
        self._state = _IDLE
        self._receiver = None
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        done, self._done = self._done, None
        if done is not None and not done.done():
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)
        if not self.reusable:
            self.close()

    def _feed(self, data: bytes, now: float) -> None:
        state, receiver = self._state, self._receiver
        assert receiver is not None
        if state == _CHUNK_SIZE and not self._buf:  # fast path: one read = one whole chunk (an SSE event)
            nl = data.find(b"\r\n", 0, 18)
            if (nl > 0 and data[:nl].isalnum() and len(data) == nl + 4 + int(data[:nl], 16) > nl + 4
                    and data.endswith(b"\r\n")):
                receiver.body(data[nl + 2 : -2], now)
                return
        buf = self._buf + data if self._buf else data
        while True:
            if state == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    self._buf = buf
                    return
                head, buf = buf[:end], buf[end + 4 :]
                state = self._head(head, receiver)
                if state == _IDLE:
                    self._buf = b""
                    self._finish(None)
                    return
            elif state == _CHUNK_SIZE:
                nl = buf.find(b"\r\n")
                if nl < 0:
                    self._buf = buf
                    self._state = state
                    return
                size = int(buf[:nl].split(b";", 1)[0].strip() or b"x", 16)
                buf = buf[nl + 2 :]
                self._left = size
                state = _CHUNK_DATA if size else _TRAILER
            elif state == _CHUNK_DATA:
                if not buf:
                    break
                piece = buf[: self._left]
                buf = buf[len(piece) :]
                self._left -= len(piece)
                receiver.body(piece, now)
                if self._left == 0:
                    state = _CHUNK_END
            elif state == _CHUNK_END:
                if len(buf) < 2:
                    break
                if buf[:2] != b"\r\n":
                    raise HttpError("RemoteProtocolError", "chunk not followed by CRLF")
                buf = buf[2:]
                state = _CHUNK_SIZE
            elif state == _TRAILER:
                nl = buf.find(b"\r\n")
                if nl < 0:
                    break
                line, buf = buf[:nl], buf[nl + 2 :]
                if not line:  # the blank line after the (usually absent) trailers: the response is complete
                    self._buf = b""
                    self._finish(None)
                    return
            elif state == _LENGTH:
                piece = buf[: self._left]
                buf = buf[len(piece) :]
                self._left -= len(piece)
                if piece:
                    receiver.body(piece, now)
                if self._left == 0:
                    self._buf = b""
                    self._finish(None)
                    return
                break
            elif state == _UNTIL_CLOSE:
                if buf:
                    receiver.body(buf, now)
                buf = b""
                break
            else:
                break
        self._buf = buf
        self._state = state

    def _head(self, head: bytes, receiver: Receiver) -> int:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise HttpError("RemoteProtocolError", f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200:  # an interim response (100 Continue): the real head follows
            return _HEAD
        if parts[0] == "HTTP/1.0" or "close" in headers.get("connection", "").lower():
            self.reusable = False
        receiver.head(status, headers)
        if status in (204, 304):
            return _IDLE
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return _CHUNK_SIZE
        if "content-length" in headers:
            self._left = int(headers["content-length"])
            return _LENGTH if self._left else _IDLE
        self.reusable = False
        return _UNTIL_CLOSE
