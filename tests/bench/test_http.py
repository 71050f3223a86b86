"""The bench client's HTTP/1.1 layer against a raw loopback server that writes exactly the bytes a test gives it:
every framing (chunked in any split, Content-Length, close-delimited), keep-alive and reconnects, timeouts,
protocol errors, TLS."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from llmstack.bench import BenchConfig, Connection, Endpoint, HttpError, Slot, stream_request

SSE = (
    b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n'
    b'data: {"choices":[{"delta":{"content":"Hello"}}]}\n\n'
    b'data: {"choices":[{"delta":{"content":" world"}}]}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n'
    b"data: [DONE]\n\n"
)
SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


# A reply: the writes the server makes for one request (bytes, or a float = sleep that long), then whether it closes.
@dataclass
class Reply:
    writes: Sequence[bytes | float]
    close: bool = False


@dataclass
class RawServer:
    """Answers the n-th request (on any connection) with replies[n]; records each connection's peer."""

    replies: list[Reply]
    peers: list[str] = field(default_factory=list)
    port: int = 0
    served: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = writer.get_extra_info("peername")[:2]
        self.peers.append(f"{host}:{port}")
        try:
            while self.served < len(self.replies):
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                reply = self.replies[self.served]
                self.served += 1
                for item in reply.writes:
                    if isinstance(item, float):
                        await asyncio.sleep(item)
                    else:
                        writer.write(item)
                        await writer.drain()
                if reply.close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away: nothing more to serve on this connection
        writer.close()


Serve = Callable[..., Awaitable[RawServer]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(replies: list[Reply], tls: ssl.SSLContext | None = None) -> RawServer:
        raw = RawServer(replies)
        server = await asyncio.start_server(raw.handle, "127.0.0.1", 0, ssl=tls)
        servers.append(server)
        raw.port = server.sockets[0].getsockname()[1]
        return raw

    yield start
    for s in servers:
        s.close()


def slot_for(raw: RawServer, timeout: float = 5.0, scheme: str = "http") -> tuple[Slot, bytes]:
    cfg = BenchConfig(f"{scheme}://127.0.0.1:{raw.port}/v1/chat/completions", "m")
    return Slot(cfg.endpoint, timeout), cfg.request(cfg.payload("hi"))


async def test_chunked_sse_split_anywhere_is_parsed(serve: Serve) -> None:
    body = chunked(*(SSE[i : i + 7] for i in range(0, len(SSE), 7)))  # events and lines span chunks
    one_byte = [bytes([b]) for b in SSE_HEAD + body]
    raw = await serve([Reply([SSE_HEAD + chunked(SSE)]), Reply(one_byte), Reply([SSE_HEAD, body])])
    slot, request = slot_for(raw)
    for _ in range(3):
        result = await stream_request(slot, 5.0, request)
        assert result.ok, result.error
        assert result.chunks == 2 and result.usage_tokens == 2 and result.prompt_tokens == 3
        assert result.ttft is not None and result.ttft >= 0
    assert len(raw.peers) == 1  # one keep-alive connection carried all three


async def test_content_length_close_delimited_and_connection_close(
    serve: Serve,
) -> None:
    error = b'{"error": "busy"}'
    raw = await serve([
        Reply([b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: %d\r\n\r\n%s" % (len(error), error)]),
        Reply([b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n", SSE], close=True),
        Reply([b"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(SSE)]),
        Reply([b"HTTP/1.1 100 Continue\r\n\r\n" + SSE_HEAD + chunked(SSE)]),
    ])
    slot, request = slot_for(raw)
    first = await stream_request(slot, 5.0, request)
    assert not first.ok and first.error == 'HTTP 429: {"error": "busy"}'
    second = await stream_request(slot, 5.0, request)  # same connection; the body ends when the server closes
    assert second.ok and second.chunks == 2 and second.connect == 0
    third = await stream_request(slot, 5.0, request)  # a new connection, timed apart
    assert third.ok and third.connect > 0
    fourth = await stream_request(slot, 5.0, request)  # the last one said Connection: close
    assert fourth.ok and fourth.connect > 0
    assert len(raw.peers) == 3 and slot.opened == 3


async def test_stream_without_done_or_content_is_an_error(serve: Serve) -> None:
    no_done = SSE.replace(b"data: [DONE]\n\n", b"")
    raw = await serve([Reply([SSE_HEAD + chunked(no_done)]),
                       Reply([SSE_HEAD + chunked(b"data: [DONE]\n\n")]),
                       Reply([SSE_HEAD + chunked(b"data: {not json}\n\n", b'data: {"error": {"m": 1}}\n\n')]),
                       Reply([SSE_HEAD + chunked(b'data: {"error": {"message": "overloaded"}}\n\n', SSE)])])
    slot, request = slot_for(raw)
    assert (await stream_request(slot, 5.0, request)).error == "stream ended without data: [DONE]"
    assert (await stream_request(slot, 5.0, request)).error == "stream carried no content"
    third = await stream_request(slot, 5.0, request)
    assert third.error is not None and third.error.startswith("malformed SSE event")  # the first error is kept
    fourth = await stream_request(slot, 5.0, request)
    assert fourth.error == "error event: {'message': 'overloaded'}" and not fourth.ok


async def test_failures_name_their_kind(serve: Serve) -> None:
    raw = await serve([
        Reply([SSE_HEAD, 0.6]),  # headers, then silence past the read timeout
        Reply([b"SPDY/3 200 OK\r\n\r\n"]),
        Reply([SSE_HEAD + b"5\r\nhel"], close=True),  # dies mid-chunk
        Reply([SSE_HEAD + b"zz\r\n"]),  # a chunk size that is not hex
    ])
    slot, request = slot_for(raw, timeout=0.3)
    errors = [(await stream_request(slot, 0.3, request)).error for _ in range(4)]
    assert errors[0] == "ReadTimeout: no bytes for 0.3 s"
    assert errors[1] is not None and errors[1].startswith("RemoteProtocolError: not an HTTP/1.x status line")
    assert errors[2] == "RemoteProtocolError: server closed the connection mid-response"
    assert errors[3] is not None and errors[3].startswith("RemoteProtocolError")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = Slot(Endpoint("127.0.0.1", s.getsockname()[1], "/", False), 1.0)
        refused = await stream_request(dead, 1.0, request)
    assert refused.error is not None and refused.error.startswith("ConnectError: 127.0.0.1:")


async def test_server_closing_an_idle_connection_means_a_timed_reconnect(
    serve: Serve,
) -> None:
    raw = await serve([Reply([SSE_HEAD + chunked(SSE)], close=True), Reply([SSE_HEAD + chunked(SSE)])])
    slot, request = slot_for(raw)
    assert (await stream_request(slot, 5.0, request)).ok
    await asyncio.sleep(0.05)  # the server's FIN arrives while the connection is idle
    again = await stream_request(slot, 5.0, request)
    assert again.ok and again.connect > 0 and len(raw.peers) == 2


async def test_tls(serve: Serve, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    raw = await serve([Reply([SSE_HEAD + chunked(SSE)])], tls=server_tls)
    slot, request = slot_for(raw, scheme="https")
    untrusted = await stream_request(slot, 5.0, request)
    assert untrusted.error is not None and untrusted.error.startswith("ConnectError")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # ssl.create_default_context() trusts it now
    result = await stream_request(slot, 5.0, request)
    assert result.ok and result.chunks == 2


async def test_endpoint_and_request_bytes() -> None:
    e = Endpoint.parse("https://gw.example:4443/v1/chat/completions?x=1")
    assert (e.host, e.port, e.target, e.tls, e.authority) == ("gw.example", 4443, "/v1/chat/completions?x=1", True,
                                                              "gw.example:4443")
    assert Endpoint.parse("http://h/v1").authority == "h" and Endpoint.parse("http://[::1]:80/").authority == "[::1]"
    head, body = e.post(b'{"a":1}', {"Authorization": "Bearer k"}).split(b"\r\n\r\n")
    assert head.split(b"\r\n") == [b"POST /v1/chat/completions?x=1 HTTP/1.1", b"Host: gw.example:4443",
                                   b"Content-Length: 7", b"Authorization: Bearer k"]
    assert body == b'{"a":1}'
    with pytest.raises(ValueError, match="not an http"):
        Endpoint.parse("ftp://h/")
    conn = Connection()
    with pytest.raises(RuntimeError, match="not idle"):
        conn.exchange(b"", None, 1.0)  # type: ignore[arg-type]
    assert str(HttpError("ReadError", "x")) == "ReadError: x"
