"""`Network`: the Docker network the services of one host share, with IPv6 off.

aiohttp (inside LiteLLM) tries IPv6 first and gets "connection refused" on dual-stack Docker networks; Docker's
`enable_ipv6: false` and LiteLLM's `force_ipv4` both fix it (docs/engines.md §7.6), and both are applied.
"""

from typing import NotRequired, TypedDict

import pulumi
import pulumi_docker as docker

from components.container import docker_provider
from llmstack.labels import Key, Role, component_type


class NetworkArgs(TypedDict):
    docker_host: pulumi.Input[str]
    """Docker endpoint: unix:///var/run/docker.sock or ssh://user@host."""
    network_name: NotRequired[str]
    """Name of the Docker network (default: llmstack)."""


class Network(pulumi.ComponentResource):
    """The Docker network the services of one host share, with IPv6 off."""

    network_name: pulumi.Output[str]
    """The Docker network's name, for containers to join."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(component_type("Network"), name, {}, opts)
        provider = docker_provider(f"{name}-docker", args["docker_host"], self)
        network = docker.Network(
            f"{name}-net", name=args.get("network_name", "llmstack"), driver="bridge", ipv6=False,
            labels=[docker.NetworkLabelArgs(label=Key.ROLE.label, value=Role.NETWORK.value)],
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        self.network_name = network.name
        self.register_outputs({"network_name": self.network_name})
