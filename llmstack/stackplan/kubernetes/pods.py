"""Pods from launches: the container, probes, volumes and placement of one planned service.

A `Launch` (what Docker runs) maps one to one: entrypoint -> `command`, command -> `args`, env, secret env ->
`secretKeyRef`s, the engine port, the health check -> probes, shared memory -> a memory `emptyDir`, the model cache
-> a volume, GPUs -> `nvidia.com/gpu` limits. Placement: GPU pods tolerate the GPU taint and may land only on the
planner's instance types; CPU pods tolerate nothing and never land on GPU nodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from llmstack.engines import Engine
from llmstack.stackplan.kubernetes.objects import (
    CAPACITY_TYPE,
    GPU_PRESENT,
    GPU_RESOURCE,
    INSTANCE_TYPE,
    NODE_POOL,
)
from llmstack.stackplan.launch import Launch

PROBE_PERIOD_S = 10
# Readiness and liveness: three misses in a row (the kubelet's default failureThreshold, kubernetes.io/docs/tasks/
# configure-pod-container/configure-liveness-readiness-startup-probes/); liveness every 30 s, as the Docker checks.
READY_FAILURES = 3
LIVE_PERIOD_S = 30
PROBE_TIMEOUT_S = 10
GPU_TAINT = {"key": GPU_RESOURCE, "value": "true", "effect": "NoSchedule"}
GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
CACHE_VOLUME = "model-cache"
SHM_VOLUME = "dshm"


@dataclass(frozen=True)
class Placement:
    """Where a pod may run. `pool`: the node pool label value (None: any node of the right kind); `instance_types`
    and `capacity_types`: node requirements (empty: none); `gpus`: GPUs per pod."""

    gpus: int = 0
    pool: str | None = None
    instance_types: tuple[str, ...] = ()
    capacity_types: tuple[str, ...] = ()


def _handler(engine: Engine, launch: Launch) -> dict[str, Any]:
    """How the kubelet checks the engine: HTTP on its health path, or (Ollama: healthy is not model present) the
    engine table's own command, which also fails until the model is pulled (docs/engines.md §1)."""
    if any("{model}" in part for part in engine.health):
        test = list(launch.health)
        command = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
        return {"exec": {"command": command}}
    return {"httpGet": {"path": engine.health_path, "port": "http"}}


def probes(engine: Engine, launch: Launch, start_window_s: int) -> dict[str, Any]:
    """Startup probe covering the planned start window, then readiness (gates traffic) and liveness."""
    handler = _handler(engine, launch)
    return {
        "startupProbe": {**handler, "periodSeconds": PROBE_PERIOD_S, "timeoutSeconds": PROBE_TIMEOUT_S,
                         "failureThreshold": max(1, math.ceil(start_window_s / PROBE_PERIOD_S))},
        "readinessProbe": {**handler, "periodSeconds": PROBE_PERIOD_S, "timeoutSeconds": PROBE_TIMEOUT_S,
                           "failureThreshold": READY_FAILURES},
        "livenessProbe": {**handler, "periodSeconds": LIVE_PERIOD_S, "timeoutSeconds": PROBE_TIMEOUT_S,
                          "failureThreshold": READY_FAILURES},
    }


def env(launch: Launch, secret: str) -> list[dict[str, Any]]:
    """Plain variables by value; secret ones only by reference to the stack's Secret (optional: a secret the stack
    was not given stays unset, as with Docker)."""
    plain = [{"name": k, "value": v} for k, v in sorted(launch.env.items())]
    refs = [{"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": var, "optional": True}}}
            for var in sorted(launch.secret_env)]
    return plain + refs


def container(name: str, engine: Engine, launch: Launch, *, secret: str, start_window_s: int, gpus: int,
              cache: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "image": launch.image}
    if launch.entrypoint:
        body["command"] = list(launch.entrypoint)
    if launch.command:
        body["args"] = list(launch.command)
    body["env"] = env(launch, secret)
    body["ports"] = [{"name": "http", "containerPort": launch.port, "protocol": "TCP"}]
    if gpus:
        body["resources"] = {"limits": {GPU_RESOURCE: gpus}}
    body |= probes(engine, launch, start_window_s)
    mounts = []
    if cache and launch.cache_dir:
        mounts.append({"name": CACHE_VOLUME, "mountPath": launch.cache_dir})
    if launch.shm_size_mb:
        mounts.append({"name": SHM_VOLUME, "mountPath": "/dev/shm"})
    if mounts:
        body["volumeMounts"] = mounts
    return body


def volumes(launch: Launch, cache_claim: str | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if launch.cache_dir:
        out.append({"name": CACHE_VOLUME, "persistentVolumeClaim": {"claimName": cache_claim}} if cache_claim
                   else {"name": CACHE_VOLUME, "emptyDir": {}})
    if launch.shm_size_mb:
        out.append({"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": f"{launch.shm_size_mb}Mi"}})
    return out


def placement(where: Placement) -> dict[str, Any]:
    """nodeSelector, affinity and tolerations of a pod."""
    spec: dict[str, Any] = {}
    if where.pool:
        spec["nodeSelector"] = {NODE_POOL: where.pool}
    terms: list[dict[str, Any]] = []
    if where.gpus:
        if where.instance_types:
            terms.append({"key": INSTANCE_TYPE, "operator": "In", "values": list(where.instance_types)})
        if where.capacity_types:
            terms.append({"key": CAPACITY_TYPE, "operator": "In", "values": list(where.capacity_types)})
        spec["tolerations"] = [GPU_TOLERATION]
    else:
        terms.append({"key": GPU_PRESENT, "operator": "DoesNotExist"})
    if terms:
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": terms}]}}}
    return spec
