"""`llmstack verify --via-ssh`: reach a stack's private endpoints through the gateway's node.

On AWS every engine port answers only the gateway's and Prometheus's security groups, and a stack in its own VPC may
have no route from the operator's machine at all: the one way in is SSH to the gateway's node (`access.ssh` in the
outputs). This opens one `ssh -N` with a local forward per endpoint (OpenSSH ssh(1), `-L
[bind_address:]port:host:hostport`; connections leave from the gateway's node, so its security group lets them in),
and hands the checks the same outputs with every URL on 127.0.0.1. The manual equivalent is `tunnel_command`, which
docs/aws.md prints. Kubernetes stacks use `--via-kubectl` (llmstack.verify.portforward) instead.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from llmstack.errors import InputError
from llmstack.outputs import StackOutputs
from llmstack.verify.forward import LOOPBACK, Forwarder, HostPort, endpoints_of, free_port, stop_all, through, wait_up

__all__ = ["LOOPBACK", "SSH_OPTIONS", "endpoints_of", "ssh_tunnel", "through", "tunnel_command"]

# Fail instead of prompting, and give up on a forward that can't be set up (ssh(1) ExitOnForwardFailure).
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "ConnectTimeout=30",
               "-o", "ServerAliveInterval=15")


def tunnel_command(ssh_host: str, forwards: dict[HostPort, int], ssh: str = "ssh") -> list[str]:
    """`ssh -N -L 127.0.0.1:<local>:<host>:<port> ... user@gateway-node`."""
    specs = [f"-L{LOOPBACK}:{local}:{host}:{port}" for (host, port), local in forwards.items()]
    return [ssh, "-N", *SSH_OPTIONS, *specs, ssh_host]


@contextmanager
def ssh_tunnel(outputs: StackOutputs, ssh_host: str | None, *, timeout: float = 60.0) -> Iterator[StackOutputs]:
    """Open the forwards through `ssh_host` (default: the outputs' `access.ssh`), yield the rewritten outputs, and
    close the tunnel whatever happens."""
    host = ssh_host or outputs.access.ssh
    if not host:
        if outputs.access.namespace:
            raise InputError("--via-ssh", "(no host)", "these are a Kubernetes stack's outputs (namespace "
                             f"{outputs.access.namespace!r}): reach its Services with --via-kubectl [CONTEXT]")
        raise InputError("--via-ssh", "(no host)", "the outputs name no SSH host for the gateway's node (a local "
                         "stack needs no tunnel); give one: --via-ssh ubuntu@<address>")
    ssh = shutil.which("ssh")
    if ssh is None:
        raise InputError("--via-ssh", host, "the OpenSSH client (ssh) is not on PATH; install it, or open the "
                         "tunnel yourself (docs/aws.md, 'Checking a deployed stack')")
    forwards = {endpoint: free_port() for endpoint in endpoints_of(outputs)}
    tunnel = Forwarder(f"ssh to {host}", tunnel_command(host, forwards, ssh), set(forwards.values()))
    try:
        tunnel.start()
        wait_up([tunnel], timeout=timeout, secret=outputs.master_key.get_secret_value(), fix="")
        yield through(outputs, forwards)
    finally:
        stop_all([tunnel])
