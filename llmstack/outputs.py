"""The one schema of what a deployed stack exports (`pulumi stack output --json --show-secrets`), and the flat view
`llmstack verify` checks.

`StackExports` is the document: `__main__.py` exports exactly its keys (`EXPORT_KEYS`), `llmstack verify --stack` /
`--outputs FILE` parse it, and a test runs `verify` on the exports of a real preview of each shipped stack.
`StackOutputs` is the same data flattened for the checks (and what explicit `--gateway/--backend` endpoints build).

No error from here ever shows a secret: the master key, and any value that contains it, is masked.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator, model_validator

from llmstack.engines import engines
from llmstack.errors import InputError, LlmstackError

PULUMI_TIMEOUT_S = 120


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s)://host[:port] URL")
    return value.rstrip("/")


class Endpoint(BaseModel):
    """One engine endpoint: a chat backend or the embeddings server."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    url: str
    engine: str
    model: str
    gateway_model: str
    container: str | None = None
    docker_host: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("engine")
    @classmethod
    def _engine(cls, value: str) -> str:
        if value not in engines():
            raise ValueError(f"unknown engine {value!r}; use one of: {', '.join(sorted(engines()))}")
        return value


class Access(BaseModel):
    """How `llmstack verify` reaches the endpoints: `ssh` is the gateway's node (`user@address`) that `--via-ssh`
    tunnels through; `private` names the endpoints (backend names, `embeddings`) whose port only the gateway's and
    Prometheus's security groups reach; `namespace` (Kubernetes targets): every URL is a ClusterIP Service of this
    namespace, reached from outside with `kubectl port-forward`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ssh: str | None = None
    private: list[str] = []
    namespace: str | None = None


class Endpoints(BaseModel):
    """The `endpoints` export: every service of the stack, as the gateway and `llmstack verify` reach it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    gateway_url: str
    gateway_models: list[str]
    fallbacks: dict[str, list[str]] = {}
    backends: dict[str, Endpoint] = {}
    embeddings: Endpoint | None = None

    @field_validator("gateway_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    @model_validator(mode="after")
    def _consistent(self) -> Endpoints:
        _check_routes(self.gateway_models, self.fallbacks, self.backends)
        return self


def _check_routes(models: list[str], fallbacks: dict[str, list[str]], backends: dict[str, Endpoint]) -> None:
    known = set(models)
    for primary, chain in fallbacks.items():
        for name in (primary, *chain):
            if name not in known:
                raise ValueError(f"fallbacks name {name!r}, which is not in gateway_models {sorted(known)}")
    for key, backend in backends.items():
        if backend.gateway_model not in known:
            raise ValueError(f"backends.{key}.gateway_model {backend.gateway_model!r} is not in gateway_models")


def _real_key(value: SecretStr) -> SecretStr:
    if value.get_secret_value() in ("", "[secret]"):
        raise ValueError("the master key is missing or masked; export outputs with --show-secrets")
    return value


class StackExports(BaseModel):
    """What the program exports, key for key (`pulumi stack output --json --show-secrets`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    gateway_url: str
    endpoints: Endpoints
    master_key: SecretStr
    access: Access = Access()

    _key = field_validator("master_key")(_real_key)

    @field_validator("gateway_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)


EXPORT_KEYS: tuple[str, ...] = tuple(StackExports.model_fields)
"""The program's top-level exports, in this order: `__main__.py` exports exactly these."""


class StackOutputs(BaseModel):
    """The exports, flattened for the checks."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    gateway_url: str
    master_key: SecretStr
    gateway_models: list[str]
    fallbacks: dict[str, list[str]] = {}
    backends: dict[str, Endpoint] = {}
    embeddings: Endpoint | None = None
    access: Access = Access()

    @field_validator("gateway_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    _key = field_validator("master_key")(_real_key)

    @model_validator(mode="after")
    def _consistent(self) -> StackOutputs:
        _check_routes(self.gateway_models, self.fallbacks, self.backends)
        return self

    @staticmethod
    def flat(exports: StackExports) -> dict[str, Any]:
        ep = exports.endpoints
        return {"gateway_url": exports.gateway_url, "master_key": exports.master_key.get_secret_value(),
                "gateway_models": ep.gateway_models, "fallbacks": ep.fallbacks,
                "backends": {k: b.model_dump() for k, b in ep.backends.items()},
                "embeddings": ep.embeddings.model_dump() if ep.embeddings else None,
                "access": exports.access.model_dump()}

    def is_private(self, name: str) -> bool:
        return name in self.access.private

    def backend_for(self, gateway_model: str) -> tuple[str, Endpoint] | None:
        for name, backend in self.backends.items():
            if backend.gateway_model == gateway_model:
                return name, backend
        return None

    # ------------------------------------------------------------------ loading
    @classmethod
    def parse(cls, data: Any, source: str) -> StackOutputs:
        """Validate the program's exports (`StackExports`); errors name the source and the field path, never a
        secret."""
        return validate(cls, cls.flat(validate(StackExports, data, source)), source)

    @classmethod
    def from_file(cls, path: Path) -> StackOutputs:
        try:
            text = path.read_text()
        except OSError as err:
            raise InputError("--outputs", str(path), f"Cannot read it ({err.strerror}).") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(
                "--outputs",
                str(path),
                f"Not JSON ({err.msg} at line {err.lineno}); write it with "
                "`pulumi stack output --json --show-secrets > outputs.json`.",
            ) from None
        return cls.parse(data, f"--outputs {path}")

    @classmethod
    def from_stack(cls, stack: str, *, cwd: Path | None = None) -> StackOutputs:
        pulumi = shutil.which("pulumi")
        if pulumi is None:
            raise InputError(
                "--stack",
                stack,
                "The pulumi CLI is not on PATH. Install it, or export the outputs where it is "
                "(`pulumi stack output --json --show-secrets --stack <env> > outputs.json`) "
                "and pass --outputs FILE.",
            )
        cmd = [pulumi, "stack", "output", "--json", "--show-secrets", "--stack", stack]
        shown = f"pulumi {' '.join(cmd[1:])}"
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=PULUMI_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise LlmstackError(f"`{shown}` did not finish in {PULUMI_TIMEOUT_S}s") from None
        if done.returncode != 0:
            # Its stdout may hold the secrets it was asked to show: report stderr only, masked.
            tail = mask(done.stderr.strip()[-800:], secrets_in(done.stdout))
            raise InputError("--stack", stack, f"`{shown}` failed (exit {done.returncode}): {tail}")
        try:
            data = json.loads(done.stdout)
        except json.JSONDecodeError as err:
            raise LlmstackError(f"`{shown}` printed no JSON ({err.msg} at line {err.lineno}); its output is not "
                                "shown, as it may hold secrets") from None
        return cls.parse(data, f"--stack {stack}")


# -- errors that never show a secret --------------------------------------------------------------------------------

SECRET_FIELDS = ("master_key",)
_MASK = "***"


def secrets_in(data: Any) -> list[str]:
    """The secret values in raw outputs (or in text that may be them): every `master_key`, at any depth, and any
    `sk-...` key-shaped string."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key in SECRET_FIELDS and isinstance(value, str) and value:
                found.append(value)
            else:
                found += secrets_in(value)
    elif isinstance(data, list):
        for value in data:
            found += secrets_in(value)
    elif isinstance(data, str):
        found += re.findall(r"sk-[A-Za-z0-9_-]{8,}", data)
    return found


def mask(text: str, secrets: list[str]) -> str:
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, _MASK)
    return text


def _shown(value: Any, secrets: list[str]) -> Any:
    """What an error may show of a bad value: scalars (masked); for an object or a list only its shape."""
    if isinstance(value, dict):
        return f"an object with keys {sorted(str(k) for k in value)}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, str):
        return mask(value, secrets)
    return value


Model = TypeVar("Model", bound=BaseModel)


def validate(model: type[Model], data: Any, source: str) -> Model:
    """`model` from raw data; the first problem as field path + value + fix, with every secret masked."""
    if not isinstance(data, dict):
        raise InputError(source, type(data).__name__, "Stack outputs must be a JSON object.")
    secrets = secrets_in(data)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        path = ".".join(str(p) for p in first["loc"]) or "(root)"
        value = _MASK if path.split(".")[-1] in SECRET_FIELDS else _shown(first.get("input"), secrets)
        fix = (f"{mask(first['msg'], secrets)}. The outputs are what the program exports "
               f"({', '.join(EXPORT_KEYS)}): write them with `pulumi stack output --json --show-secrets` "
               "(docs/aws.md, 'Checking a deployed stack').")
        raise InputError(f"{source}: {path}", value, fix) from None


def masked(err: InputError, secrets: list[str]) -> InputError:
    """The same error with every secret masked (for errors raised where the secret was not known)."""
    value = _shown(err.value, secrets) if isinstance(err.value, str | dict | list) else err.value
    return InputError(mask(err.field, secrets), value, mask(err.fix, secrets))
