"""The stack spec: one pydantic model of what a stack file asks for, validated before anything is built.

A stack file (`stacks/Pulumi.<env>.yaml`) holds Pulumi config under the project's namespace; each top-level key
below is one config key (`llm-inference-stack:backends`, ...). Errors name the field path, the value and the fix.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llmstack.engines import EngineName
from llmstack.errors import InputError
from llmstack.images import check_pinned

PROJECT = "llm-inference-stack"
_DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")
_SOURCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,200}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _pinned_image(value: str | None) -> str | None:
    return None if value is None else check_pinned(value)


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError("use lowercase letters, digits and '-', starting with a letter (at most 40 characters)")
    return value


Name = Annotated[str, Field(min_length=1, max_length=40)]


class Backend(_Strict):
    """One model served by one engine; `replicas` identical copies share its gateway model name."""

    name: Name
    engine: EngineName
    model: str = Field(min_length=1, description="catalog name (llama-3.1-8b) or Hugging Face repo id")
    quant: str = "auto"
    context: int = Field(ge=256, le=1_048_576, description="max tokens per sequence the engine is started with")
    concurrency: int = Field(default=1, ge=1, le=4096, description="concurrent sequences at full context")
    replicas: int = Field(default=1, ge=1, le=16)
    kv_dtype: Literal["auto", "bf16", "fp16", "fp8", "q8_0", "q4_0"] = "auto"
    instance_type: str | None = Field(default=None, description="pin the GPU instance (aws); else the planner picks")
    tensor_parallel: int | None = Field(default=None, ge=1, le=8)
    gpu_memory_utilization: float | None = Field(default=None, gt=0.1, le=0.98)
    gateway_model: str | None = Field(default=None, description="model name clients use; default: backend name")
    served_model_name: str | None = None
    source: str | None = Field(
        default=None,
        description="what the engine loads: HF repo id (vllm/sglang/tgi/nim), repo:QUANT (llamacpp), tag (ollama)",
    )
    image: str | None = Field(default=None, description="override the engine table's pinned image")
    extra_args: tuple[str, ...] = ()
    allow_gguf_on_vllm: bool = Field(default=False, description="explicit override; needs a custom image")

    _name = field_validator("name")(_dns_label)

    @field_validator("source")
    @classmethod
    def _source_safe(cls, value: str | None) -> str | None:
        # It reaches a shell in the Ollama entrypoint and health check: repo ids, tags and paths only.
        if value is not None and not _SOURCE.match(value):
            raise ValueError("use a repo id, repo:QUANT, an Ollama tag or a path (letters, digits and ._:/@+-)")
        return value

    _image = field_validator("image")(lambda value: _pinned_image(value))

    @property
    def route(self) -> str:
        return self.gateway_model or self.name


class Embeddings(_Strict):
    """The embedding service: its own container, never on an inference GPU."""

    engine: Literal["tei", "ollama"] = "tei"
    model: str = "bge-small-en-v1.5"
    gateway_model: str = "embed"
    image: str | None = None

    _model_name = field_validator("gateway_model")(_dns_label)
    _image = field_validator("image")(lambda value: _pinned_image(value))


class Gateway(_Strict):
    """The LiteLLM gateway. Router values are tuned and measured: see benchmarks/results/gateway.md."""

    fallbacks: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # 0: the fallback is the retry. A retry on the same dead deployment adds LiteLLM's backoff before the fallback
    # runs (~2.1 s with num_retries 1, reference §7.12); with 0 the first request after a kill took ~0.4 s under load.
    num_retries: int = Field(default=0, ge=0, le=5)
    # Whole-request budget for non-streaming generations (a long completion on a busy vLLM). LiteLLM 1.108.7 uses it
    # as the connect timeout too, so only a dead *host* (not a refused connection) costs this much: docs/gateway.md.
    timeout: float = Field(default=120.0, gt=0, le=3600)
    stream_timeout: float | None = Field(default=None, gt=0, le=3600)
    # Cool a deployment down after the 2nd 5xx/timeout within a minute. Connection errors never count (LiteLLM skips
    # cooldown for APIConnectionError): a dead backend is cooled down by the failing health check instead.
    allowed_fails: int = Field(default=1, ge=0, le=100)
    # How long a deployment marked dead stays out of routing, i.e. how long traffic stays on the fallback after the
    # primary is back (measured: 19 s with 30 s). 15 s = 1.5 health-check intervals: a dead primary stays excluded
    # even if one check runs late, and a restarted one gets traffic back within ~15 s.
    cooldown_time: float = Field(default=15.0, ge=1, le=3600)
    # Seconds between background health checks (one 1-token call per deployment). Must stay below cooldown_time.
    health_check_interval: int = Field(default=10, ge=5, le=3600)
    routing_strategy: Literal["simple-shuffle", "least-busy", "latency-based-routing", "usage-based-routing-v2"] = (
        "simple-shuffle"
    )
    instance_type: str | None = None
    image: str | None = None

    _image = field_validator("image")(lambda value: _pinned_image(value))

    @model_validator(mode="after")
    def _cooldown_exceeds_health_interval(self) -> Gateway:
        # LiteLLM docs (proxy/health_check_routing.md): with health-check routing, cooldown_time must exceed
        # health_check_interval or failures never accumulate.
        if self.cooldown_time <= self.health_check_interval:
            raise ValueError(
                f"cooldown_time ({self.cooldown_time}) must exceed health_check_interval "
                f"({self.health_check_interval}); raise cooldown_time"
            )
        return self


class LocalTarget(_Strict):
    """The local Docker engine: dev on a laptop. `gpus: none` runs engines on the CPU; `auto` gives them the GPUs
    when the machine running Pulumi has an NVIDIA driver (`nvidia-smi` on PATH) and uses the CPU otherwise."""

    kind: Literal["local"]
    docker_host: str = "unix:///var/run/docker.sock"
    gpus: Literal["auto", "none", "all"] = "auto"


class Ssh(_Strict):
    key_name: str | None = Field(default=None, description="EC2 key pair for the node's authorized_keys")
    user: str = "ubuntu"
    via: Literal["public-ip", "private-ip"] = "private-ip"
    allowed_cidrs: tuple[str, ...] = ()

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_cidrs(value)


class Vpc(_Strict):
    """Use an existing VPC (`id` + `subnet_ids`), or create one (`cidr`)."""

    id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    cidr: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Vpc:
        if (self.id is None) == (self.cidr is None):
            raise ValueError("give either id + subnet_ids (existing VPC) or cidr (create one), not both or neither")
        if self.id is not None and not self.subnet_ids:
            raise ValueError("an existing VPC needs subnet_ids")
        if self.cidr is not None:
            _check_cidrs((self.cidr,))
        return self


class AwsTarget(_Strict):
    kind: Literal["aws"]
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    vpc: Vpc
    ssh: Ssh = Ssh()
    allowed_cidrs: tuple[str, ...] = Field(
        default=(),
        description="private client networks (VPN, peered VPCs) that may reach the gateway port and, for "
        "`llmstack verify`, the engine ports; an engine port is otherwise open only to the gateway",
    )
    root_volume_gb: int | None = Field(default=None, ge=30, le=16384)
    cpu_instance_type: str = "m7i.xlarge"

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in _check_cidrs(value):
            # Engines have no authentication of their own (Ollama none; vLLM's --api-key leaves /health, /metrics
            # open): their ports are for private networks only.
            if not ipaddress.ip_network(cidr).is_private:
                raise ValueError(f"{cidr} is a public network; engine ports are unauthenticated, so list private "
                                 "networks (VPN, peered VPCs) and let public clients use the gateway through one")
        return value


def _check_cidrs(values: tuple[str, ...]) -> tuple[str, ...]:
    for cidr in values:
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError as err:
            raise ValueError(f"{cidr!r} is not a CIDR block ({err}); write e.g. 10.0.0.0/16") from err
        if network.prefixlen == 0:
            raise ValueError(f"{cidr} opens the port to the whole internet; list your client networks instead")
    return values


class StackSpec(_Strict):
    """What one environment asks for."""

    environment: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,19}$")]
    target: LocalTarget | AwsTarget = Field(discriminator="kind")
    backends: tuple[Backend, ...] = Field(min_length=1)
    embeddings: Embeddings | None = Embeddings()
    gateway: Gateway = Gateway()
    monitoring: bool = True
    tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> StackSpec:
        names = [b.name for b in self.backends]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise _FieldError(f"backends[{i}].name", name, "backend names must be unique; rename one")
        routes = {b.route for b in self.backends}
        if self.embeddings and self.embeddings.gateway_model in routes:
            raise _FieldError("embeddings.gateway_model", self.embeddings.gateway_model,
                              "it is also a chat model name; pick another name for the embedding model")
        known = f"known models: {', '.join(sorted(routes))}"
        for primary, targets in self.gateway.fallbacks.items():
            if primary not in routes:
                raise _FieldError("gateway.fallbacks", primary, f"it is not a backend's model name; {known}")
            for i, target in enumerate(targets):
                where = f"gateway.fallbacks.{primary}[{i}]"
                if target == primary:
                    raise _FieldError(where, target, "a model can't fall back to itself; name another model")
                if target not in routes:
                    raise _FieldError(where, target, f"it is not a backend's model name; {known}")
        return self

    @property
    def is_local(self) -> bool:
        return isinstance(self.target, LocalTarget)


def resolve_local_gpus(spec: StackSpec, *, has_gpu: bool) -> StackSpec:
    """Turn a local target's `gpus: auto` into `all` or `none` (the face detects the GPU; the plan stays pure)."""
    target = spec.target
    if not isinstance(target, LocalTarget) or target.gpus != "auto":
        return spec
    resolved = target.model_copy(update={"gpus": "all" if has_gpu else "none"})
    return spec.model_copy(update={"target": resolved})


class _FieldError(ValueError):
    """A cross-field problem that knows its own field path and value."""

    def __init__(self, path: str, value: object, fix: str) -> None:
        super().__init__(fix)
        self.path, self.value, self.fix = path, value, fix


def input_error(err: ValidationError, source: str) -> InputError:
    """The first validation problem as field path + value + fix (pydantic's message is the fix)."""
    first = err.errors()[0]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, _FieldError):
        return InputError(f"{source}: {cause.path}", cause.value, cause.fix)
    path = ".".join(str(p) for p in first["loc"] if not str(p).startswith(("function-", "tagged-union")))
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "union_tag_invalid":  # pydantic quotes the whole wrong value here
        message = f"use one of: {first.get('ctx', {}).get('expected_tags', '')}"
    elif len(message) > 300:
        message = message[:297] + "..."
    more = f" ({len(err.errors()) - 1} more problem(s) after this one)" if len(err.errors()) > 1 else ""
    value = first.get("input")
    if first["type"] == "extra_forbidden":
        message = "this key is not part of the stack spec; remove it or check its spelling (see README 'Stacks')"
    if first["type"] == "missing":
        value = None
        message = "this key is required"
    return InputError(f"{source}: {path or '<root>'}", value, message + more)


def parse_spec(config: Mapping[str, Any], source: str = "stack config") -> StackSpec:
    """Validate un-namespaced config values (`backends`, `target`, ...) into a StackSpec."""
    try:
        return StackSpec.model_validate(dict(config))
    except ValidationError as err:
        raise input_error(err, source) from None


SECRET_KEYS = ("masterKey", "hfToken", "ngcApiKey", "sshPrivateKey")


def spec_keys() -> tuple[str, ...]:
    """The config keys a stack file may set (besides the secrets)."""
    return tuple(StackSpec.model_fields)


def config_values(raw: Mapping[str, str | None]) -> dict[str, Any]:
    """Config values as the Pulumi CLI passes them (JSON text for objects, lists, numbers and booleans; plain text for
    strings) decoded for `parse_spec`."""
    values: dict[str, Any] = {}
    for key, text in raw.items():
        if text is None:
            continue
        try:
            values[key] = json.loads(text)
        except json.JSONDecodeError:
            values[key] = text
    return values


def stack_config(path: Path) -> dict[str, Any]:
    """Read a `Pulumi.<env>.yaml` and return the project's config keys without the namespace (secrets left out)."""
    if not path.is_file():
        raise InputError("--stack-file", str(path), "give the path of an existing Pulumi.<env>.yaml stack file")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise InputError(str(path), "YAML", f"the file is not valid YAML: {_yaml_problem(err)}; fix the syntax there",
                         problem="cannot be read") from None
    raw = document.get("config", {}) if isinstance(document, dict) else None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: config", raw, "a stack file needs a top-level `config:` mapping")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        namespace, _, name = str(key).partition(":")
        if namespace != PROJECT or not name:
            continue
        if name in SECRET_KEYS:
            continue
        if name not in spec_keys():
            raise InputError(f"{path.name}: config.{key}", value,
                             f"not a stack setting; use one of: {', '.join(spec_keys() + SECRET_KEYS)}")
        values[name] = value
    return values


def _yaml_problem(err: yaml.YAMLError) -> str:
    """One line: what went wrong and where (line/column, 1-based), e.g. an unclosed list and where it started."""
    parts = []
    for text, mark in ((getattr(err, "context", None), getattr(err, "context_mark", None)),
                       (getattr(err, "problem", None), getattr(err, "problem_mark", None))):
        if text:
            parts.append(f"{text} at line {mark.line + 1}, column {mark.column + 1}" if mark else str(text))
    return ": ".join(parts) or type(err).__name__


def load_spec(path: Path) -> StackSpec:
    return parse_spec(stack_config(path), source=path.name)
