"""Kubernetes Services in a stack's outputs: which URLs are cluster DNS names, whether this machine resolves them,
and the `kubectl port-forward` commands that reach them from outside.

A Kubernetes target exports every endpoint as its ClusterIP Service, `http://<service>.<namespace>.svc.cluster.local:
<port>` (kubernetes.io/docs/concepts/services-networking/dns-pod-service/). Inside the cluster (a CI pod) or under a
tool that resolves cluster DNS those answer directly; from anywhere else `llmstack verify` skips them and prints the
commands, and `--via-kubectl` (llmstack.verify.portforward) runs them.
"""

from __future__ import annotations

import shlex
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from llmstack.outputs import StackOutputs
from llmstack.verify.forward import LOOPBACK, HostPort, endpoints_of

CLUSTER_DOMAIN = "svc.cluster.local"
RESOLVE_TIMEOUT_S = 2.0  # a resolver that sends `.local` to mDNS may take seconds to say no


@dataclass(frozen=True)
class ClusterService:
    """A Service as `kubectl port-forward` names it: `-n <namespace> svc/<name>`, and its service port."""

    name: str
    namespace: str
    port: int

    def command(self, local: int, *, context: str | None = None, kubectl: str = "kubectl") -> list[str]:
        """`kubectl [--context C] port-forward --address 127.0.0.1 -n NS svc/NAME LOCAL:PORT` (kubectl maps the
        service port to its pods' targetPort)."""
        chosen = ["--context", context] if context else []
        return [kubectl, *chosen, "port-forward", "--address", LOOPBACK, "-n", self.namespace, f"svc/{self.name}",
                f"{local}:{self.port}"]


def cluster_service(host: str, port: int) -> ClusterService | None:
    """The Service behind `<name>.<namespace>.svc.cluster.local`, or None for any other host."""
    labels = host.lower().split(".")
    if len(labels) == 5 and ".".join(labels[2:]) == CLUSTER_DOMAIN and all(labels[:2]):
        return ClusterService(labels[0], labels[1], port)
    return None


def cluster_services(outputs: StackOutputs) -> dict[HostPort, ClusterService]:
    """Every endpoint of the outputs that is a cluster Service (an Ingress URL is not: it is reached directly)."""
    found = {key: cluster_service(*key) for key in endpoints_of(outputs)}
    return {key: svc for key, svc in found.items() if svc is not None}


def suggested_ports(services: Iterable[HostPort]) -> dict[HostPort, int]:
    """Local ports for the commands printed for a person: the service port (plus 8000 below 1024, which needs root),
    the next one up where two Services share it."""
    taken: set[int] = set()
    ports: dict[HostPort, int] = {}
    for key in services:
        local = key[1] if key[1] >= 1024 else key[1] + 8000
        while local in taken:
            local += 1
        taken.add(local)
        ports[key] = local
    return ports


def resolvable(hosts: Iterable[str], timeout: float = RESOLVE_TIMEOUT_S) -> set[str]:
    """The hosts this machine resolves within `timeout` (daemon threads: a resolver that hangs never holds up exit)."""
    found: set[str] = set()

    def look(host: str) -> None:
        try:
            socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return
        found.add(host)

    threads = [threading.Thread(target=look, args=(host,), daemon=True) for host in set(hosts)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return set(found)


def shell(command: Sequence[str]) -> str:
    return shlex.join(command)


def skip_detail(svc: ClusterService, local: int) -> str:
    """Why a check of a Service this machine can't resolve did not run, and the one command that reaches it."""
    return (f"cluster Service {svc.namespace}/{svc.name}, not resolvable here: add --via-kubectl, or "
            f"`{shell(svc.command(local))}` and use http://{LOOPBACK}:{local}")


def skip_hint(count: int, services: dict[HostPort, ClusterService], ports: dict[HostPort, int]) -> str:
    """The report's note: what was skipped, and every port-forward command (`ports`: distinct local ports)."""
    commands = "\n".join(f"  {shell(svc.command(ports[key]))} &" for key, svc in services.items())
    return (f"{count} checks skipped: {', '.join(f'svc/{s.name}' for s in services.values())} are cluster Services "
            "this machine does not resolve; --via-kubectl [CONTEXT] checks them through `kubectl port-forward`, or "
            f"forward them yourself:\n{commands}")


def fallback_detail(name: str, namespace: str, primary: str, chain: Sequence[str]) -> str:
    """Why `--fallback` does not drill a Kubernetes backend, and how to do it by hand."""
    ns = f"-n {shlex.quote(namespace)}"
    keda = f"`kubectl annotate scaledobject/{name} autoscaling.keda.sh/paused-replicas"
    return (f"Kubernetes: not drilled (no container to stop; scaled to zero, a GPU backend may lose its node). By "
            f"hand: `kubectl scale deployment/{name} --replicas 0 {ns}` (multi-node: leaderworkerset/{name}; "
            f"KEDA-scaled: {keda}=0 {ns}`), check the gateway still answers {primary!r} (from {', '.join(chain)}), "
            f"then restore the replicas (KEDA: {keda}- {ns}`)")
