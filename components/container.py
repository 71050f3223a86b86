"""One engine container from a `Launch`: the shared recipe behind every service component.

pulumi_docker v5 facts: docs/pulumi.md §5 (labels are {label, value} lists, envs are "K=V" strings, `gpus` conflicts
with device_requests, shm_size in MB, `wait` needs a health check).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from llmstack.errors import InputError
from llmstack.labels import Key
from llmstack.stackplan import Launch

# Docker's json-file driver grows without bound by default; rotate (docs.docker.com/engine/logging/drivers/json-file).
LOG_OPTS = {"max-size": "50m", "max-file": "5"}
# Health-check cadence: LiteLLM's upstream compose uses 30 s / 10 s / 3 retries (docs/engines.md §3);
# start_interval (Docker 25+) probes every 5 s during the start period so a ready engine turns healthy quickly.
HEALTH_INTERVAL, HEALTH_TIMEOUT, HEALTH_RETRIES, START_INTERVAL = "30s", "10s", 3, "5s"
# Where a published port binds: loopback on the local Docker engine; on an EC2 node the host's interfaces, with the
# security group as the boundary; or not published at all.
PUBLISH_IPS: dict[str, str | None] = {"loopback": "127.0.0.1", "host": "0.0.0.0", "none": None}


def publish_ip(component: str, publish: str) -> str | None:
    if publish not in PUBLISH_IPS:
        raise InputError(f"{component}: publish", publish, f"use one of: {', '.join(PUBLISH_IPS)}")
    return PUBLISH_IPS[publish]


@dataclass(frozen=True)
class Placement:
    """Where a service's container runs and how it is reached: a Docker host, the network it joins (None: the default
    bridge), and how its port is published (`loopback`, `host` or `none`, on `host_port` or the engine's own port)."""

    docker_host: pulumi.Input[str]
    network: pulumi.Input[str] | None
    publish: str = "loopback"
    host_port: int | None = None


# An `ssh://` host that no node of this program made (a machine the caller brings): trust its key on first use and
# refuse a changed one later, never prompt. A node's own host goes through `NodeAccess` instead.
SSH_OPTS = ["-o", "StrictHostKeyChecking=accept-new", "-o", "ConnectTimeout=30", "-o", "BatchMode=yes"]


@dataclass(frozen=True)
class NodeAccess:
    """How Pulumi reaches one EC2 node's Docker daemon, and the instance its Docker resources live and die with.

    `ssh_opts` carry the key and the node's pinned host key (components/nodes.py); `instance` is what every Docker
    resource on the node is tied to (`tie_to_node`)."""

    instance: pulumi.CustomResource
    ssh_opts: pulumi.Output[list[str]]


# Which node a `docker_host` Output belongs to, and which node a Docker provider talks to. Keyed by the objects
# themselves (weakly): the node's `docker_host` Output travels unchanged through `Placement` to `docker_provider`.
_NODE_OF_HOST: weakref.WeakKeyDictionary[object, NodeAccess] = weakref.WeakKeyDictionary()
_NODE_OF_PROVIDER: weakref.WeakKeyDictionary[docker.Provider, NodeAccess] = weakref.WeakKeyDictionary()


def bind_node(docker_host: pulumi.Output[str], access: NodeAccess) -> None:
    """Declare `docker_host` (a node's `ssh://` endpoint) as that node's: providers for it use the node's SSH options
    and resources on it are tied to its instance."""
    _NODE_OF_HOST[docker_host] = access


def node_of(provider: docker.Provider) -> NodeAccess | None:
    return _NODE_OF_PROVIDER.get(provider)


def docker_provider(name: str, host: pulumi.Input[str], parent: pulumi.Resource) -> docker.Provider:
    """A Docker provider for one host: the local socket, a node's `docker_host` (its key and pinned host key), or any
    other `ssh://user@host`."""
    access = _NODE_OF_HOST.get(host) if isinstance(host, pulumi.Output) else None
    local = isinstance(host, str) and not host.startswith("ssh://")
    ssh_opts: pulumi.Input[list[str]] | None = access.ssh_opts if access else None if local else SSH_OPTS
    provider = docker.Provider(name, host=host, ssh_opts=ssh_opts, opts=pulumi.ResourceOptions(parent=parent))
    if access is not None:
        _NODE_OF_PROVIDER[provider] = access
    return provider


def tie_to_node(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
    """Every Docker resource on a node lives and dies with the node's instance (docs/aws.md, "Replacing a node"):

    - `replace_with=[instance]`: a new instance (AMI roll, user-data change) gets new containers, images, volumes and
      networks. A changed Docker provider `host` alone is an in-place provider update, so without this they would
      diff as unchanged and the new node would stay empty (pulumi-docker bridges terraform-provider-docker, whose
      `host` does not force a provider replacement);
    - `deleted_with=instance`: when the instance goes (destroy, or the old half of a replacement), the engine skips
      their Delete calls, which would otherwise each try SSH to a node that is gone (pulumi/pulumi
      `pkg/resource/deploy/step.go`, `DeleteStep.Apply` / `isDeletedWith`).

    A legacy transformation, so that it reaches the resources other components create and runs under the mock engine
    too (docs/pulumi.md §1.4 gotcha 5)."""
    if not args.type_.startswith("docker:") or args.opts is None or not isinstance(args.opts.provider, docker.Provider):
        return None
    access = node_of(args.opts.provider)
    if access is None:
        return None
    tied = pulumi.ResourceOptions(replace_with=[access.instance], deleted_with=access.instance)
    return pulumi.ResourceTransformationResult(args.props, pulumi.ResourceOptions.merge(args.opts, tied))


def environment(launch: Launch, secrets: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[list[str]]:
    """Container env as "K=V" strings; any secret value keeps the whole list secret in state and previews."""
    plain = [f"{k}={v}" for k, v in sorted(launch.env.items())]
    secret = [pulumi.Output.concat(var, "=", secrets[key]) for var, key in sorted(launch.secret_env.items())
              if key in secrets]
    return pulumi.Output.all(*plain, *secret).apply(list)


def engine_container(
    name: str,
    container_name: str,
    launch: Launch,
    placement: Placement,
    *,
    parent: pulumi.Resource,
    provider: docker.Provider,
    alias: str,
    secrets: Mapping[str, pulumi.Input[str]],
    uploads: list[docker.ContainerUploadArgs] | None = None,
) -> docker.Container:
    """The image, the cache volume and the container of one planned process on one Docker host."""
    bind_ip = publish_ip(name, placement.publish)
    on_host = pulumi.ResourceOptions(parent=parent, provider=provider)
    image = docker.RemoteImage(f"{name}-image", name=launch.image, keep_locally=True, opts=on_host)
    cache = docker.Volume(f"{name}-cache", name=f"{container_name}-cache", opts=on_host) if launch.cache_dir else None
    return docker.Container(
        name,
        name=container_name,
        image=image.image_id,
        entrypoints=list(launch.entrypoint) if launch.entrypoint else None,
        command=list(launch.command),
        envs=environment(launch, secrets),
        labels=[docker.ContainerLabelArgs(label=k, value=v)
                for k, v in sorted((launch.labels | {Key.IMAGE.label: launch.image}).items())],
        gpus="all" if launch.gpus else None,
        shm_size=launch.shm_size_mb,
        capabilities=docker.ContainerCapabilitiesArgs(adds=list(launch.capabilities)) if launch.capabilities else None,
        ports=[docker.ContainerPortArgs(internal=launch.port, external=placement.host_port or launch.port, ip=bind_ip)]
        if bind_ip is not None else None,
        networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=placement.network, aliases=[alias])]
        if placement.network is not None else None,
        volumes=[docker.ContainerVolumeArgs(volume_name=cache.name, container_path=launch.cache_dir)]
        if cache is not None else None,
        uploads=uploads,
        restart="unless-stopped",
        log_driver="json-file",
        log_opts=LOG_OPTS,
        healthcheck=docker.ContainerHealthcheckArgs(
            tests=list(launch.health),
            interval=HEALTH_INTERVAL,
            timeout=HEALTH_TIMEOUT,
            retries=HEALTH_RETRIES,
            start_period=f"{launch.start_period_s}s",
            start_interval=START_INTERVAL,
        ),
        # Creation waits for "healthy", so `pulumi up` fails loudly on a model that never loads.
        wait=True,
        wait_timeout=launch.start_period_s + 120,
        opts=on_host,
    )
