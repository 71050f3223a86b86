"""A stand-in for the `kubectl` `llmstack verify --via-kubectl` starts: `kubectl [--context C] port-forward
[--address A] [-n NS] svc/NAME [LOCAL:]REMOTE...`, done for real over TCP (tests/verify/tcp_relay.py).

What can't exist here is the cluster: `$KUBECTL_STANDIN_SERVICES` (a JSON file) is its Services, `{"<ns>/<name>":
{"port": <service port>, "to": "127.0.0.1:<port>"}}`, each `to` a loopback stand-in for the Service's pods. Like
kubectl it refuses a Service that does not exist or a port it does not have, and prints `Forwarding from ...` once it
listens; unlike it, it refuses to listen or forward anywhere but loopback. Each run writes its argv to
`$KUBECTL_STANDIN_LOG/<pid>.json`; `$KUBECTL_STANDIN_FAIL=<name>=<message>` makes the port-forward of that Service
print the message and exit 1 (a pod that is not running). Run as `python -m tests.verify.kubectl_standin`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.verify.tcp_relay import is_loopback, serve

VALUED = {"--context": "context", "--address": "address", "-n": "namespace", "--namespace": "namespace",
          "--kubeconfig": "kubeconfig", "--pod-running-timeout": "pod-running-timeout"}


class Refused(Exception):
    """What kubectl would print to stderr before exiting 1."""


def parse(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    flags: dict[str, str] = {}
    positional: list[str] = []
    args = iter(argv)
    for arg in args:
        name, eq, value = arg.partition("=")
        if name in VALUED:
            flags[VALUED[name]] = value if eq else next(args, "")
        elif arg.startswith("-"):
            raise Refused(f"error: unknown flag: {arg}")
        else:
            positional.append(arg)
    return flags, positional


def forwards_for(argv: list[str], services: dict[str, dict[str, object]]) -> list[tuple[str, int, str, int]]:
    flags, positional = parse(argv)
    if positional[:1] != ["port-forward"] or len(positional) < 3:
        raise Refused(f"kubectl stand-in: only `port-forward TYPE/NAME [LOCAL:]REMOTE...`, not {argv}")
    kind, _, name = positional[1].partition("/")
    if kind not in ("svc", "service", "services"):
        raise Refused(f"kubectl stand-in: only Services, not {positional[1]}")
    namespace = flags.get("namespace", "default")
    service = services.get(f"{namespace}/{name}")
    if service is None:
        raise Refused(f'Error from server (NotFound): services "{name}" not found')
    if (failure := os.environ.get("KUBECTL_STANDIN_FAIL", "")).partition("=")[0] == name:
        raise Refused(failure.partition("=")[2])
    address = flags.get("address", "localhost").replace("localhost", "127.0.0.1")  # kubectl's default, IPv4 half
    if not is_loopback(address):
        raise Refused(f"kubectl stand-in: refusing to listen on {address}: tests stay on loopback")
    to_host, _, to_port = str(service["to"]).rpartition(":")
    if not is_loopback(to_host):
        raise Refused(f"kubectl stand-in: refusing to forward to {to_host}: tests stay on loopback")
    forwards = []
    for spec in positional[2:]:
        local, _, remote = spec.rpartition(":")
        if int(remote) != service["port"]:
            raise Refused(f"error: Service {namespace}/{name} does not have a service port {remote}")
        forwards.append((address, int(local or remote), to_host, int(to_port)))
    return forwards


def main(argv: list[str]) -> int:
    if log := os.environ.get("KUBECTL_STANDIN_LOG"):
        (Path(log) / f"{os.getpid()}.json").write_text(json.dumps(argv))
    services = json.loads(Path(os.environ["KUBECTL_STANDIN_SERVICES"]).read_text())
    try:
        forwards = forwards_for(argv, services)
    except Refused as err:
        print(err, file=sys.stderr)
        return 1

    def listening() -> None:
        for bind, local, _, _ in forwards:
            print(f"Forwarding from {bind}:{local} -> {local}", flush=True)

    try:
        asyncio.run(serve(forwards, listening))
    except OSError as err:
        print(f"Unable to listen on any of the requested ports: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
