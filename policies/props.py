"""Reading resource properties the way the engine hands them to a policy (camelCase inputs, ints as floats).

Every engine fact comes from the engine table (`llmstack/catalog/engines.yaml` via `llmstack.engines`) and every
instance/GPU fact from the catalog; nothing here hard-codes a port, image or GPU.

Values that are unknown during `pulumi preview` raise `UnknownValueError` when read; pulumi_policy then reports the
policy as "can't run during preview" (advisory) and it runs for real on `pulumi up`. The helpers read only the keys
a policy needs, so one unknown output (a RemoteImage's image id) does not stop checks that never look at it.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from llmstack.catalog import Instance, cpu_instances, instances
from llmstack.engines import Engine, engines
from llmstack.images import parse_image, same_repo
from llmstack.labels import CONTAINER, JOB, LEADER_WORKER_SET, POD_KINDS, Key, Role


def labels(props: Mapping[str, Any]) -> dict[str, str]:
    """Container/network labels: pulumi_docker sends a list of {label, value}."""
    raw = props.get("labels")
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    out: dict[str, str] = {}
    for item in raw or []:
        if isinstance(item, Mapping) and "label" in item:
            out[str(item["label"])] = str(item.get("value", ""))
    return out


def label(props: Mapping[str, Any], key: Key) -> str | None:
    return labels(props).get(key.label)


def envs(props: Mapping[str, Any]) -> dict[str, str]:
    """Container environment: a list of "K=V" strings."""
    out: dict[str, str] = {}
    for item in props.get("envs") or []:
        key, sep, value = str(item).partition("=")
        out[key] = value if sep else ""
    return out


def argv(props: Mapping[str, Any]) -> list[str]:
    """Entrypoint + command as argument tokens; shell scripts (`sh -c "..."`) are split into words too."""
    raw = [str(a) for a in [*(props.get("entrypoints") or []), *(props.get("command") or [])]]
    out: list[str] = []
    for arg in raw:
        out.append(arg)
        if any(c.isspace() for c in arg):
            try:
                out += shlex.split(arg)
            except ValueError:  # unbalanced quotes in a script: fall back to whitespace words
                out += arg.split()
    return out


def flag_value(args: list[str], *names: str) -> str | None:
    """The value of `--flag value` or `--flag=value` (last one wins, as with argparse)."""
    found: str | None = None
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                found = args[i + 1]
            elif arg.startswith(name + "="):
                found = arg[len(name) + 1:]
    return found



def container_image(props: Mapping[str, Any]) -> str | None:
    """The image reference of a container: the `llmstack.image` label (a pod container's view carries its own image
    there), else the `image` input when it is a reference. The label comes first because a Docker container's
    `image` is the RemoteImage's id, unknown during `pulumi preview`: reading it would stop every policy that asks."""
    ref = label(props, Key.IMAGE)
    if ref:
        return ref
    image = props.get("image")
    return image if isinstance(image, str) and image and not image.startswith("sha256:") else None



def engine_for_image(ref: str | None) -> Engine | None:
    if not ref:
        return None
    repo = parse_image(ref).repo
    for eng in engines().values():
        if same_repo(repo, eng.image):
            return eng
    if repo.endswith("/litellm") or repo == "litellm":  # docker.litellm.ai mirror (docs/engines.md §1)
        return engines()["litellm"]
    return None


def container_engine(props: Mapping[str, Any]) -> Engine | None:
    """The engine a container runs: the `llmstack.engine` label, else recognised from its image."""
    name = label(props, Key.ENGINE)
    if name:
        return engines().get(name)
    return engine_for_image(container_image(props))


def is_stock_image(eng: Engine, ref: str | None) -> bool:
    """Whether `ref` is the engine table's image for `eng` (any tag), i.e. not a custom build."""
    return ref is not None and same_repo(parse_image(ref).repo, eng.image)


def role(props: Mapping[str, Any]) -> Role | None:
    """What a container is for: its `llmstack.role` label, or (unlabelled) its engine's role in the engine table."""
    value = label(props, Key.ROLE)
    if value:
        return Role(value) if value in Role.__members__.values() else None
    eng = container_engine(props)
    return eng.role if eng is not None else None


def is_gateway(props: Mapping[str, Any]) -> bool:
    eng = container_engine(props)
    return role(props) is Role.GATEWAY or (eng is not None and eng.role is Role.GATEWAY)


def requests_gpu(props: Mapping[str, Any]) -> bool:
    """`gpus` (all / device=...) or a GPU device request (nvidia driver, gpu capability, CDI nvidia.com/gpu)."""
    gpus = props.get("gpus")
    if isinstance(gpus, str) and gpus.strip() and gpus.strip() not in ("0", "none"):
        return True
    for req in props.get("deviceRequests") or []:
        caps = [c for group in (req.get("capabilities") or []) for c in (group if isinstance(group, list) else [group])]
        ids = [str(i) for i in req.get("deviceIds") or []]
        if req.get("driver") == "nvidia" or "gpu" in caps or any("nvidia.com/gpu" in i for i in ids):
            return True
    return False


def duration_seconds(value: Any) -> float | None:
    """Docker durations: "600s", "10m", "1h30m", "500ms", "1m30s"; a bare number is nanoseconds-free seconds."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        try:
            return float(text)
        except ValueError:
            return None
    scale = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


def gpu_instance(instance_type: str) -> Instance | None:
    return instances().get(instance_type)


def gpu_families() -> set[str]:
    """Instance families with GPUs in the catalog (g5, g6e, p5, ...), to recognise sizes the catalog lacks."""
    return {t.split(".", 1)[0] for t in instances()}


def is_gpu_instance_type(instance_type: str) -> bool:
    if instance_type in cpu_instances():
        return False
    return instance_type in instances() or instance_type.split(".", 1)[0] in gpu_families()


def environment(props: Mapping[str, Any]) -> str | None:
    """The environment of a resource: the container label, the EC2 tag, else the stack being analysed."""
    value = label(props, Key.ENVIRONMENT)
    if value:
        return value
    tags = props.get("tags")
    if isinstance(tags, Mapping) and tags.get(Key.ENVIRONMENT.tag):
        return str(tags[Key.ENVIRONMENT.tag])
    return os.environ.get("PULUMI_STACK")  # set by the CLI for the analyzer process (pulumi.policy.__main__)


def config_list(config: Mapping[str, Any], key: str, default: Iterable[str]) -> list[str]:
    value = config.get(key)
    return [str(v) for v in value] if isinstance(value, list) else list(default)


# -- containers, whatever runs them ----------------------------------------------------------------------------------
#
# A Docker container is judged by its inputs. A Kubernetes workload's containers are judged by the same rules: each
# is presented in the Docker container's shape (the plan's intent from the pod's annotations as labels, "K=V" env,
# `gpus` from the nvidia.com/gpu limit, the startup probe as the health check with its window as start_period), with
# what only Kubernetes has (tolerations, the instance types a pod may land on) beside it.


@dataclass(frozen=True)
class ContainerView:
    name: str  # the resource's name, `/<container>` appended for a pod's containers
    props: Mapping[str, Any]  # in the Docker container's shape
    kubernetes: bool = False
    tolerations: tuple[Mapping[str, Any], ...] = ()
    instance_types: tuple[str, ...] = ()  # node affinity (`node.kubernetes.io/instance-type In [...]`)
    plain_secrets: tuple[str, ...] = ()  # credential variables given by value (Kubernetes: `env[].value`)
    secret_refs: tuple[str, ...] = ()  # variables read from a Secret (Kubernetes: `env[].valueFrom.secretKeyRef`)
    runs_to_completion: bool = False  # a Job's container: no probes, no restarts
    stage_worker: bool = False  # a LeaderWorkerSet worker: it joins the leader's engine and parses no serving flags


def pod_templates(resource_type: str, props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The pod templates of a workload (a LeaderWorkerSet has a leader's and a worker's)."""
    spec: Any = props.get("spec") or {}
    if resource_type == LEADER_WORKER_SET:
        lwt: Any = spec.get("leaderWorkerTemplate") or {}
        return [t for t in (lwt.get("leaderTemplate"), lwt.get("workerTemplate")) if t]
    template = spec.get("template")
    return [template] if template else []


def containers(resource_type: str, name: str, props: Mapping[str, Any]) -> list[ContainerView]:
    if resource_type == CONTAINER:
        return [ContainerView(name, props)]
    if resource_type not in POD_KINDS:
        return []
    out = []
    worker: Any = ((props.get("spec") or {}).get("leaderWorkerTemplate") or {}).get("workerTemplate")
    for template in pod_templates(resource_type, props):
        meta: Any = template.get("metadata") or {}
        pod: Any = template.get("spec") or {}
        intent = {**(meta.get("labels") or {}), **(meta.get("annotations") or {})}
        types = _affinity_values(pod, "node.kubernetes.io/instance-type")
        for c in pod.get("containers") or []:
            view = _view(f"{name}/{c.get('name', '')}", c, intent, pod, types, resource_type)
            out.append(replace(view, stage_worker=template is worker))
    return out


def pod_instance_types(pod: Mapping[str, Any]) -> tuple[str, ...]:
    """The instance types a pod's required node affinity allows (empty: any)."""
    return _affinity_values(pod, "node.kubernetes.io/instance-type")


def _affinity_values(pod: Mapping[str, Any], key: str) -> tuple[str, ...]:
    required: Any = (((pod.get("affinity") or {}).get("nodeAffinity") or {})
                     .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    values: list[str] = []
    for term in required.get("nodeSelectorTerms") or []:
        for expr in term.get("matchExpressions") or []:
            if expr.get("key") == key and expr.get("operator") == "In":
                values += [str(v) for v in expr.get("values") or []]
    return tuple(dict.fromkeys(values))


def _probe_window(probe: Mapping[str, Any]) -> float:
    """How long a probe may fail before it counts: initialDelaySeconds + periodSeconds x failureThreshold."""
    return float(probe.get("initialDelaySeconds") or 0) + float(probe.get("periodSeconds") or 10) * float(
        probe.get("failureThreshold") or 3)


def _probe_as_healthcheck(c: Mapping[str, Any]) -> dict[str, Any] | None:
    """The startup probe (else readiness) as a Docker health check: its command, and the window the model has to
    load. Without a startup probe the liveness probe runs from the start and restarts the container when its window
    runs out, so that window (else the readiness one) is the load window."""
    probe: Any = c.get("startupProbe") or c.get("readinessProbe")
    if not probe:
        return None
    if "exec" in probe:
        tests = ["CMD", *[str(x) for x in (probe["exec"] or {}).get("command") or []]]
    elif "httpGet" in probe:
        tests = ["HTTP", str((probe["httpGet"] or {}).get("path", "/"))]
    else:
        tests = ["TCP"]
    window = _probe_window(c.get("startupProbe") or c.get("livenessProbe") or probe)
    return {"tests": tests, "startPeriod": f"{int(window)}s"}


def _view(name: str, c: Mapping[str, Any], intent: Mapping[str, Any], pod: Mapping[str, Any],
          types: tuple[str, ...], resource_type: str) -> ContainerView:
    env_items: Any = c.get("env") or []
    plain = {str(e.get("name")): str(e["value"]) for e in env_items if isinstance(e, Mapping) and "value" in e}
    limits: Any = (c.get("resources") or {}).get("limits") or {}
    gpus = limits.get("nvidia.com/gpu")
    # The container's own image, not the pod's llmstack.image annotation (a sidecar, or an image changed by hand).
    own = {Key.IMAGE.label: str(c["image"])} if c.get("image") else {}
    shaped: dict[str, Any] = {
        "labels": [{"label": str(k), "value": str(v)} for k, v in {**intent, **own}.items()],
        "envs": [f"{k}={v}" for k, v in plain.items()],
        "entrypoints": list(c.get("command") or []),
        "command": list(c.get("args") or []),
        "gpus": "all" if gpus and float(gpus) > 0 else None,
        # Deployments, DaemonSets, StatefulSets and LWS restart their pods; a Job's pods run to completion.
        "restart": "always" if resource_type != JOB else "on-failure",
        "maxRetryCount": 1,
    }
    if c.get("image"):
        shaped["image"] = str(c["image"])
    if (health := _probe_as_healthcheck(c)) is not None:
        shaped["healthcheck"] = health
    credentials = {var for e in engines().values() for var in e.secrets}
    refs = tuple(sorted(str(e.get("name")) for e in env_items
                        if isinstance(e, Mapping) and ((e.get("valueFrom") or {}).get("secretKeyRef"))))
    return ContainerView(name, shaped, kubernetes=True, tolerations=tuple(pod.get("tolerations") or ()),
                         instance_types=types, plain_secrets=tuple(sorted(set(plain) & credentials)),
                         secret_refs=refs, runs_to_completion=resource_type == JOB)


def tolerates_gpu(view: ContainerView) -> bool:
    return any(str(t.get("key")) == "nvidia.com/gpu" or (t.get("operator") == "Exists" and not t.get("key"))
               for t in view.tolerations)
