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
from typing import Any

from llmstack.catalog import Instance, cpu_instances, instances
from llmstack.engines import Engine, engines
from llmstack.images import parse_image, same_repo
from llmstack.labels import Key, Role


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
    """The image reference of a container: the `llmstack.image` label (the `image` input is usually the
    RemoteImage's id, unknown during preview), else the `image` input when it is a reference, not an id."""
    ref = label(props, Key.IMAGE)
    if ref:
        return ref
    image = props.get("image")
    if isinstance(image, str) and image and not image.startswith("sha256:"):
        return image
    return None



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
