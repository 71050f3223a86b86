"""Local forwards for `llmstack verify`: the plumbing `--via-ssh` (llmstack.verify.tunnel) and `--via-kubectl`
(llmstack.verify.portforward) share.

Each opens a child process that listens on 127.0.0.1 ports; `wait_up` waits until every port accepts (or names the
process that ended, with its stderr tail, masked), `stop_all` ends them whatever happened, and `through` hands the
checks the outputs with every forwarded URL on its local port.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO
from urllib.parse import urlsplit, urlunsplit

from llmstack.errors import LlmstackError
from llmstack.outputs import StackOutputs, mask

LOOPBACK = "127.0.0.1"
HostPort = tuple[str, int]
STDERR_TAIL = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def host_port(url: str) -> HostPort:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def endpoints_of(outputs: StackOutputs) -> list[HostPort]:
    """Every distinct host:port the checks talk to: the gateway, the backends, the embeddings."""
    urls = [outputs.gateway_url, *(b.url for b in outputs.backends.values())]
    urls += [outputs.embeddings.url] if outputs.embeddings else []
    seen: list[HostPort] = []
    for url in urls:
        if (key := host_port(url)) not in seen:
            seen.append(key)
    return seen


def rewrite(url: str, forwards: dict[HostPort, int]) -> str:
    """`url` on its local forward; unchanged when it has none (an endpoint reached directly)."""
    local = forwards.get(host_port(url))
    if local is None:
        return url
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, f"{LOOPBACK}:{local}", parts.path, parts.query, parts.fragment))


def through(outputs: StackOutputs, forwards: dict[HostPort, int]) -> StackOutputs:
    """The same outputs with every forwarded URL on 127.0.0.1; nothing is private any more (the forwards reach it),
    and `access.ssh`/`access.namespace` still say where the stack runs."""
    embeddings = outputs.embeddings
    return outputs.model_copy(update={
        "gateway_url": rewrite(outputs.gateway_url, forwards),
        "backends": {n: b.model_copy(update={"url": rewrite(b.url, forwards)}) for n, b in outputs.backends.items()},
        "embeddings": embeddings.model_copy(update={"url": rewrite(embeddings.url, forwards)}) if embeddings else None,
        "access": outputs.access.model_copy(update={"private": []}),
    })


def listening(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Forwarder:
    """One child process (`ssh -N -L...`, `kubectl port-forward ...`) and the local ports it must open."""

    label: str  # what the error names: "ssh to ubuntu@10.0.0.1", "kubectl port-forward -n llm svc/chat"
    command: Sequence[str]
    ports: set[int]
    process: subprocess.Popen[bytes] | None = None
    _stderr: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        # stderr to a file, not a pipe nobody reads while the checks run: a forwarder that logs an error per broken
        # connection never blocks on it. Closed in stop().
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(list(self.command), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=self._stderr)

    def stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()[-STDERR_TAIL:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def wait_up(forwarders: Sequence[Forwarder], *, timeout: float, secret: str, fix: str) -> None:
    """Until every forwarder's ports accept a connection; a forwarder that ended first, or a port still closed after
    `timeout`, is an error naming it, its stderr tail (masked) and `fix`."""
    deadline = time.monotonic() + timeout
    waiting = {id(f): set(f.ports) for f in forwarders}
    while any(waiting.values()):
        for f in forwarders:
            assert f.process is not None, "start() it first"
            if waiting[id(f)] and f.process.poll() is not None:
                error = mask(f.stderr_tail(), [secret]) or "no message"
                raise LlmstackError(f"{f.label} ended (exit {f.process.returncode}) before its forwards were up: "
                                    f"{error}{_then(fix)}")
            waiting[id(f)] = {port for port in waiting[id(f)] if not listening(port)}
        if time.monotonic() > deadline:
            late = ", ".join(f.label for f in forwarders if waiting[id(f)])
            raise LlmstackError(f"not listening after {timeout:.0f}s: {late}{_then(fix)}")
        if any(waiting.values()):
            time.sleep(0.1)


def _then(fix: str) -> str:
    return f" -- {fix}" if fix else ""


def stop_all(forwarders: Iterable[Forwarder]) -> None:
    for f in forwarders:
        f.stop()
