"""A Kubernetes cluster as `llmstack verify` sees it from outside, for the tests: a resolver that knows no cluster
name, and `kubectl` (tests/verify/kubectl_standin.py) whose Services forward, for real, to loopback stand-ins."""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.standins import StandIn
from tests.verify.on_path import on_path
from tests.verify.stack import Stack

CLUSTER_DOMAIN = ".svc.cluster.local"
STANDIN_MODULE = "tests.verify.kubectl_standin"


def urls_of(exports: dict[str, Any]) -> list[str]:
    endpoints = exports["endpoints"]
    embeddings = [endpoints["embeddings"]["url"]] if endpoints["embeddings"] else []
    return [exports["gateway_url"], *(b["url"] for b in endpoints["backends"].values()), *embeddings]


def service_of(url: str) -> tuple[str, str, int]:
    """(namespace, name, port) of `http://<name>.<namespace>.svc.cluster.local:<port>`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    assert host.endswith(CLUSTER_DOMAIN) and parts.port, url  # nothing here is ever contacted as exported
    name, namespace = host.removesuffix(CLUSTER_DOMAIN).split(".")
    return namespace, name, parts.port


def with_key(exports: dict[str, Any], live: Stack, path: Path) -> Path:
    """The exports as they are (cluster DNS URLs), with the stand-in gateway's key, written to `path`."""
    data = copy.deepcopy(exports)
    data["master_key"] = live.proxy.master_key
    path.write_text(json.dumps(data))
    return path


def resolver_outside_the_cluster(monkeypatch: pytest.MonkeyPatch, *, inside: bool = False) -> list[str]:
    """This machine's resolver knows no cluster name, as on an operator's laptop (`inside`: every cluster name is
    127.0.0.1, as cluster DNS answers in a pod, here for Services whose ports are the stand-ins'). The names asked
    for are returned; none is ever looked up for real."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host  # anyio (httpx) passes the IDNA-encoded bytes
        if isinstance(name, str) and name.endswith(CLUSTER_DOMAIN):
            asked.append(name)
            if not inside:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@dataclass
class Cluster:
    """The kubectl stand-in on PATH, its Services, and what each run of it was asked."""

    env: dict[str, str]
    log: Path
    services: dict[str, dict[str, Any]]

    def runs(self) -> dict[int, list[str]]:
        """argv per pid of every kubectl run."""
        return {int(p.stem): json.loads(p.read_text()) for p in self.log.glob("*.json")}

    def assert_stopped(self) -> None:
        """Every port-forward verify started has ended and been reaped."""
        for pid in self.runs():
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        table = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,args="], capture_output=True, text=True, check=True)
        mine = [line for line in table.stdout.splitlines()
                if STANDIN_MODULE in line and int(line.split()[1]) == os.getpid()]
        assert not mine, mine


def kubectl_on_path(folder: Path, exports: dict[str, Any], live: Stack, pods: dict[tuple[str, str], StandIn],
                    **extra: str) -> Cluster:
    """The cluster of `exports`: the gateway Service to the live LiteLLM proxy, each backend's to the stand-in for its
    (engine, model), the embeddings' to the live TEI stand-in."""
    endpoints = exports["endpoints"]
    targets = {exports["gateway_url"]: live.proxy.url, endpoints["embeddings"]["url"]: live.tei.url}
    targets |= {b["url"]: pods[(b["engine"], b["model"])].url for b in endpoints["backends"].values()}
    services = {}
    for url, target in targets.items():
        namespace, name, port = service_of(url)
        services[f"{namespace}/{name}"] = {"port": port, "to": urlsplit(target).netloc}
    (folder / "bin").mkdir()
    (folder / "kubectl-runs").mkdir()
    (folder / "services.json").write_text(json.dumps(services))
    env = on_path(folder / "bin", "kubectl", STANDIN_MODULE) | {
        "KUBECTL_STANDIN_SERVICES": str(folder / "services.json"), "KUBECTL_STANDIN_LOG": str(folder / "kubectl-runs"),
        **extra}
    return Cluster(env, folder / "kubectl-runs", services)


def on_standin_ports(exports: dict[str, Any], cluster: Cluster) -> dict[str, Any]:
    """The exports with each Service's port set to its stand-in's (the names stay cluster names)."""
    def moved(url: str) -> str:
        namespace, name, _ = service_of(url)
        port = cluster.services[f"{namespace}/{name}"]["to"].rsplit(":", 1)[1]
        return f"{url.rsplit(':', 1)[0]}:{port}"

    data = copy.deepcopy(exports)
    endpoints = data["endpoints"]
    data["gateway_url"] = endpoints["gateway_url"] = moved(data["gateway_url"])
    for endpoint in [*endpoints["backends"].values(), endpoints["embeddings"]]:
        endpoint["url"] = moved(endpoint["url"])
    return data
