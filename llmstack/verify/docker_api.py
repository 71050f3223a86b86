"""The Docker Engine API, over a unix socket or TCP, for `llmstack verify --fallback`: stop and start a container."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from llmstack.errors import InputError
from llmstack.verify.report import CheckFailed, expect

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


def resolve_docker_host(declared: str | None, override: str | None, env: Mapping[str, str]) -> str:
    """Which Docker API to talk to: `--docker-host`, else the outputs' `docker_host` (an ssh:// host needs
    a tunnel named in `DOCKER_HOST`), else `DOCKER_HOST`, else the local socket."""
    if override:
        return override
    if declared and declared.startswith("ssh://"):
        tunnel = env.get("DOCKER_HOST", "")
        if tunnel and not tunnel.startswith("ssh://"):
            return tunnel
        host = declared.removeprefix("ssh://")
        raise CheckFailed(
            f"docker_host is {declared}: the Docker API over ssh needs a tunnel. Run "
            f"`ssh -nNT -L /tmp/llmstack-docker.sock:/var/run/docker.sock {host} &` and set "
            "DOCKER_HOST=unix:///tmp/llmstack-docker.sock (or pass --docker-host)."
        )
    return declared or env.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def docker_client(host: str, timeout: float) -> httpx.AsyncClient:
    parts = urlsplit(host)
    if parts.scheme == "unix":
        transport = httpx.AsyncHTTPTransport(uds=parts.path)
        return httpx.AsyncClient(transport=transport, base_url="http://docker", timeout=timeout, trust_env=False)
    if parts.scheme in ("tcp", "http") and parts.hostname:
        base = f"http://{parts.hostname}:{parts.port or 2375}"
        return httpx.AsyncClient(base_url=base, timeout=timeout, trust_env=False)
    raise InputError(
        "--docker-host", host, "Use unix:///path/to/docker.sock or tcp://host:port (TLS is not supported)."
    )


async def docker_container(client: httpx.AsyncClient, container: str, action: str, timeout_s: int) -> str:
    """POST /containers/{id}/{stop|start}: 204 done, 304 already in that state; anything else fails."""
    params = {"t": str(timeout_s)} if action == "stop" else None
    resp = await client.post(f"/containers/{container}/{action}", params=params)
    if resp.status_code == 204:
        return f"{action}ped" if action == "stop" else "started"
    if resp.status_code == 304:
        return "already stopped" if action == "stop" else "already running"
    expect(resp, (204, 304))
    return ""  # unreachable: _expect raised
