"""Gateway policies: LiteLLM on a CPU node, its master key only as a secret env var, a config LiteLLM really reads,
and a LiteLLM release that is pinned and not one of the compromised ones.

Facts: docs/engines.md §7 (master key, valid keys, dropped keys, provider prefixes, embedding mode, supply-chain
incident 1.82.7/1.82.8).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml
from pulumi_policy import ResourceValidationArgs

from llmstack.catalog import model_by_ref
from llmstack.images import MOVING_TAGS, parse_image
from llmstack.labels import (
    CONFIGMAP,
    CONTAINER,
    INSTANCE,
    LAUNCH_TEMPLATE,
    POD_KINDS,
    REMOTE_COMMAND,
    REMOTE_IMAGE,
    Key,
    Role,
)
from llmstack.stackplan.kubernetes.objects import COMPONENT
from llmstack.stackplan.kubernetes.workloads import GATEWAY_CONFIG_FILE as GATEWAY_CONFIG_KEY
from llmstack.stackplan.litellm_config import DROPPED_KEYS, MASTER_KEY_ENV, unknown_keys
from policies import props as p
from policies.props import ContainerView
from policies.registry import Report, container_policy, resource_policy

PERMIT_WEAK = "dangerously_permit_weak_or_unset_master_key"
PERMIT_WEAK_ENV = "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY"
# Publicly known keys LiteLLM refuses (master_key_boot_check.py; the docs' example is sk-1234).
WEAK_KEYS = frozenset({"sk-1234", "sk-12345", "sk-123456", "sk-admin", "sk-test", "sk-master", "sk-litellm"})
KEY_RE = re.compile(r"\bsk-[A-Za-z0-9_\-]{4,}")
COMPROMISED = ("1.82.7", "1.82.8")  # BerriAI/litellm#24512, OSV MAL-2026-2144
_VERSION_RE = re.compile(r"v?(\d+\.\d+\.\d+)")
_PIP_PIN_RE = re.compile(r"litellm(?:\[[^\]]*\])?\s*(?:==|===|@)\s*v?(\d+\.\d+\.\d+)", re.IGNORECASE)


@container_policy(
    "gateway-on-cpu-node",
    description="The LiteLLM gateway requests no GPU, its llmstack.instance-type (if any) is not a GPU instance in "
    "the catalog, and on Kubernetes its pods tolerate no GPU taint.",
)
def gateway_on_cpu_node(c: ContainerView, args: ResourceValidationArgs, report: Report) -> None:
    if not p.is_gateway(c.props):
        return
    if p.requests_gpu(c.props):
        report(f"gateway container '{c.name}' requests GPUs; LiteLLM never loads weights. Fix: remove "
               "gpus/device_requests (nvidia.com/gpu) and run it on the CPU node.")
    if c.kubernetes and p.tolerates_gpu(c):
        report(f"gateway pod '{c.name}' tolerates the GPU taint, so it can land on a GPU node. Fix: remove the "
               "nvidia.com/gpu toleration.")
    instance_type = p.label(c.props, Key.INSTANCE_TYPE)
    if instance_type and p.is_gpu_instance_type(instance_type):
        report(f"gateway container '{c.name}' is placed on {instance_type}, a GPU instance. Fix: run the "
               "gateway on a CPU instance (gateway.instance_type, e.g. m7i.xlarge) and keep GPUs for engines.")


def _config_text(args: ResourceValidationArgs) -> tuple[str | None, str | None]:
    """(where the config is, its text) of a gateway: a Docker container's upload at its llmstack.config-path, or a
    gateway ConfigMap's `config.yaml` (Kubernetes). (None, None): not a gateway config holder."""
    if args.resource_type == CONFIGMAP:
        labels: Any = (args.props.get("metadata") or {}).get("labels") or {}
        data: Any = args.props.get("data") or {}
        if labels.get(COMPONENT) != Role.GATEWAY.value or GATEWAY_CONFIG_KEY not in data:
            return None, None
        text = data[GATEWAY_CONFIG_KEY]
        return f"ConfigMap {args.name} {GATEWAY_CONFIG_KEY}", text if isinstance(text, str) else None
    path = p.label(args.props, Key.CONFIG_PATH)
    if not path:
        return None, None
    for upload in args.props.get("uploads") or []:
        if upload.get("file") == path:
            content = upload.get("content")
            return path, content if isinstance(content, str) else None
    return path, None


def _strings(value: Any, where: str = "") -> list[tuple[str, str]]:
    """(path, string) for every string in a parsed YAML document."""
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, Mapping):
        return [x for k, v in value.items() for x in _strings(v, f"{where}.{k}" if where else str(k))]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in _strings(v, f"{where}[{i}]")]
    return []


def _mentions(value: Any, key: str) -> bool:
    if isinstance(value, Mapping):
        return any(k == key or _mentions(v, key) for k, v in value.items())
    if isinstance(value, list):
        return any(_mentions(v, key) for v in value)
    return False


@resource_policy(
    "gateway-master-key-secret",
    types=(CONTAINER, *POD_KINDS, CONFIGMAP),
    description=f"The LiteLLM master key reaches the container only as env {MASTER_KEY_ENV} (a Pulumi secret; on "
    f"Kubernetes a secretKeyRef), the config says master_key: os.environ/{MASTER_KEY_ENV} and holds no literal key, "
    f"and {PERMIT_WEAK} is absent.",
)
def gateway_master_key_secret(args: ResourceValidationArgs, report: Report) -> None:
    for c in p.containers(args.resource_type, args.name, args.props):
        if p.is_gateway(c.props):
            _master_key_reaches(c, report)
    path, text = _config_text(args)
    if path is None:
        if args.resource_type == CONTAINER and p.is_gateway(args.props):
            args.not_applicable("no llmstack.config-path label: the uploaded config cannot be found")
        return
    if text is None:
        report(f"gateway '{args.name}' has no config at {path}.")
        return
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError:
        config = None  # unreadable: gateway-config-valid reports it with the parser's message
    if not isinstance(config, Mapping):
        return
    general = config.get("general_settings") or {}
    ref = f"os.environ/{MASTER_KEY_ENV}"
    if not isinstance(general, Mapping) or general.get("master_key") != ref:
        report(f"{path}: general_settings.master_key is not {ref}. Fix: set master_key: {ref} so the key is "
               "read from the secret env var, never written into the file.")
    literals = [w for w, s in _strings(config) if KEY_RE.search(s)]
    if literals:
        report(f"{path} holds a literal key at {', '.join(literals)}. Fix: use os.environ/<VAR> references.")
    if _mentions(config, PERMIT_WEAK):
        report(f"{path} sets {PERMIT_WEAK}, which lets LiteLLM start with a weak or no master key. Fix: remove "
               "it.")


def _master_key_reaches(c: ContainerView, report: Report) -> None:
    env = p.envs(c.props)
    if PERMIT_WEAK_ENV in env:
        report(f"gateway container '{c.name}' sets {PERMIT_WEAK_ENV}, the local-dev escape hatch. Fix: remove "
               "it and set a strong master key.")
    if c.kubernetes:
        if MASTER_KEY_ENV in c.plain_secrets:
            report(f"gateway pod '{c.name}' gets {MASTER_KEY_ENV} as a plain value, readable in the Deployment. "
                   "Fix: read it from the stack's Secret (valueFrom.secretKeyRef).")
        elif MASTER_KEY_ENV not in c.secret_refs:
            report(f"gateway pod '{c.name}' gets no {MASTER_KEY_ENV}; LiteLLM 1.108 refuses to start without a "
                   "master key. Fix: read it from the stack's Secret (valueFrom.secretKeyRef).")
        return
    key = env.get(MASTER_KEY_ENV, "")
    if not key:
        report(f"gateway container '{c.name}' gets no {MASTER_KEY_ENV}; LiteLLM 1.108 refuses to start "
               f"without a master key. Fix: pass the key as a Pulumi secret into env {MASTER_KEY_ENV} "
               "(pulumi config set --secret masterKey \"sk-$(openssl rand -hex 32)\").")
        return
    if not key.startswith("sk-") or key in WEAK_KEYS:
        what = "a publicly known default" if key in WEAK_KEYS else "missing the sk- prefix"
        report(f"gateway container '{c.name}': the master key is {what}, which LiteLLM refuses. Fix: use "
               "sk-$(openssl rand -hex 32).")
    places = [w for w, text in (("labels", " ".join(p.labels(c.props).values())),
                                ("command", " ".join(p.argv(c.props))),
                                ("healthcheck", str(c.props.get("healthcheck") or "")))
              if key in text]
    places += [f"upload {u.get('file')}" for u in c.props.get("uploads") or []
               if isinstance(u.get("content"), str) and key in u["content"]]
    if places:
        report(f"gateway container '{c.name}': the master key appears in {', '.join(places)}; it must "
               f"reach the container only as the secret env {MASTER_KEY_ENV}. Fix: remove it from there.")


def _fallback_names(section: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(setting, model name) for every primary and target in fallback settings."""
    out: list[tuple[str, str]] = []
    for setting in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks"):
        for entry in section.get(setting) or []:
            if isinstance(entry, Mapping):
                for primary, targets in entry.items():
                    out.append((setting, str(primary)))
                    out += [(setting, str(t)) for t in (targets if isinstance(targets, list) else [targets])]
    out += [("default_fallbacks", str(t)) for t in section.get("default_fallbacks") or []]
    return out


def _is_embedding(entry: Mapping[str, Any]) -> bool:
    params = entry.get("litellm_params") or {}
    model = str(params.get("model", ""))
    served = model.split("/", 1)[1] if "/" in model else model
    catalog = model_by_ref(served)
    if catalog is not None:
        return catalog.kind == "embedding"
    return "embed" in served.lower() or "embed" in str(entry.get("model_name", "")).lower()


def config_problems(config: Any) -> list[str]:
    """Everything wrong with a LiteLLM proxy config, each with its fix (also used by the tests)."""
    if not isinstance(config, Mapping):
        return ["the config is not a YAML mapping. Fix: render it with llmstack.stackplan.render_config."]
    problems: list[str] = []
    models = config.get("model_list") or []
    names = {str(m.get("model_name")) for m in models if isinstance(m, Mapping)}
    if not models:
        problems.append("model_list is empty. Fix: add one deployment per backend.")
    for section in ("router_settings", "litellm_settings"):
        values = config.get(section) or {}
        if isinstance(values, Mapping):
            for setting, name in _fallback_names(values):
                if name not in names:
                    problems.append(f"{section}.{setting} names '{name}', which is not a model_name in model_list "
                                    f"({', '.join(sorted(names))}). Fix: use a model_name from model_list.")
    for key in unknown_keys(config):
        leaf = key.rsplit(".", 1)[-1]
        if leaf in DROPPED_KEYS:
            problems.append(f"{key} is not a LiteLLM setting and is dropped at start-up, silently turning the "
                            "feature off. Fix: fallbacks are active once router_settings.fallbacks: "
                            "[{primary: [fallback]}] is set; health checks are general_settings."
                            "background_health_checks: true + health_check_interval.")
        else:
            problems.append(f"{key} is not a setting LiteLLM reads there (it is dropped, or refused at start-up). "
                            "Fix: remove it or move it to its section (docs/engines.md §7.3).")
    for i, entry in enumerate(models):
        if not isinstance(entry, Mapping):
            problems.append(f"model_list[{i}] is not a mapping.")
            continue
        name = entry.get("model_name", f"model_list[{i}]")
        params = entry.get("litellm_params") or {}
        model, base = str(params.get("model", "")), str(params.get("api_base", ""))
        if not model:
            problems.append(f"{name}: litellm_params.model is missing.")
        if model.startswith("ollama/") and not _is_embedding(entry):  # embeddings: LiteLLM knows only ollama/
            problems.append(f"{name}: model {model} uses /api/generate. Fix: use ollama_chat/{model[7:]}.")
        if model.startswith(("ollama/", "ollama_chat/")) and base.rstrip("/").endswith("/v1"):
            problems.append(f"{name}: api_base {base} ends in /v1, but LiteLLM appends /api/chat (404). Fix: use "
                            f"{base.rstrip('/')[:-3]} without /v1.")
        mode = (entry.get("model_info") or {}).get("mode")
        if _is_embedding(entry) and mode != "embedding":
            problems.append(f"{name}: an embedding deployment without model_info.mode: embedding gets chat health "
                            "checks and fails them. Fix: add model_info: {mode: embedding}.")
    return problems


@resource_policy(
    "gateway-config-valid",
    types=(CONTAINER, CONFIGMAP),
    description="The LiteLLM config (uploaded at llmstack.config-path, or a gateway ConfigMap's config.yaml) is one "
    "LiteLLM really reads: fallbacks name "
    "model_list entries, no dropped or unknown keys (enable_fallback, fallback_route_order, "
    "health_check_enabled...), Ollama via ollama_chat/ without /v1, embeddings with model_info.mode: embedding.",
)
def gateway_config_valid(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == CONTAINER and not p.is_gateway(args.props):
        return
    path, text = _config_text(args)
    if path is None:
        if args.resource_type == CONTAINER:
            args.not_applicable("no llmstack.config-path label: the uploaded config cannot be found")
        return
    if text is None:
        report(f"gateway container '{args.name}' uploads no config at {path}. Fix: upload the rendered "
               "config.yaml there.")
        return
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as err:
        report(f"{path} is not valid YAML ({err}). Fix: render it with llmstack.stackplan.render_config.")
        return
    for problem in config_problems(config):
        report(f"{path}: {problem}")


def _litellm_refs(args: ResourceValidationArgs) -> list[str]:
    if args.resource_type == REMOTE_IMAGE:
        name = str(args.props.get("name") or "")
        eng = p.engine_for_image(name)
        return [name] if eng is not None and eng.name == "litellm" else []
    return [ref for c in p.containers(args.resource_type, args.name, args.props)
            if p.is_gateway(c.props) and (ref := p.container_image(c.props))]


def _texts(args: ResourceValidationArgs) -> list[tuple[str, str]]:
    """Where a pip pin could hide: container commands/env/uploads, user data, remote commands."""
    props = args.props
    views = p.containers(args.resource_type, args.name, args.props)
    if views:
        out = [(f"{c.name} {what}", text) for c in views for what, text in (
            ("command", " ".join(p.argv(c.props))), ("envs", " ".join(p.envs(c.props).values())))]
        return out + [(f"upload {u.get('file')}", u["content"]) for u in props.get("uploads") or []
                      if isinstance(u.get("content"), str)]
    if args.resource_type in (INSTANCE, LAUNCH_TEMPLATE):
        return [("userData", str(props.get("userData") or ""))]
    if args.resource_type == REMOTE_COMMAND:
        return [(k, str(props.get(k) or "")) for k in ("create", "update")]
    return []


@resource_policy(
    "litellm-version-safe",
    types=(REMOTE_IMAGE, CONTAINER, *POD_KINDS, INSTANCE, LAUNCH_TEMPLATE, REMOTE_COMMAND),
    description="LiteLLM images and pip pins are never the compromised 1.82.7/1.82.8, and images are pinned to a "
    f"release tag or digest (no {', '.join(MOVING_TAGS)}).",
    config={
        "deniedVersions": {"type": "array", "items": {"type": "string"}, "default": list(COMPROMISED)},
        "movingTags": {"type": "array", "items": {"type": "string"}, "default": list(MOVING_TAGS)},
    },
)
def litellm_version_safe(args: ResourceValidationArgs, report: Report) -> None:
    config = args.get_config()
    denied = p.config_list(config, "deniedVersions", COMPROMISED)
    moving = p.config_list(config, "movingTags", MOVING_TAGS)
    for ref in _litellm_refs(args):
        image = parse_image(ref)
        version = _VERSION_RE.search(image.tag or "")
        if version and version.group(1) in denied:
            report(f"'{args.name}' uses LiteLLM {ref}: {version.group(1)} is a compromised release (credential "
                   "stealer, OSV MAL-2026-2144). Fix: pin a later release by digest, e.g. "
                   "ghcr.io/berriai/litellm:main-v1.108.7-stable@sha256:<digest>, and rotate any credentials "
                   "that host held.")
        elif image.digest is None and (image.tag is None or image.tag in moving or not version):
            report(f"'{args.name}' uses LiteLLM {ref}, a moving or unversioned tag, so a compromised build can "
                   "arrive on the next pull. Fix: pin a release tag (main-vX.Y.Z-stable) and its "
                   "@sha256 digest.")
    seen: set[str] = set()
    for where, text in _texts(args):
        for pin in _PIP_PIN_RE.finditer(text):
            if pin.group(1) in denied and pin.group(0) not in seen:
                seen.add(pin.group(0))
                report(f"'{args.name}' installs {pin.group(0)} in its {where}: a compromised LiteLLM release. "
                       "Fix: pin a safe version with hashes (pip install --require-hashes).")

