"""`StackOutputs`: the one typed shape of what a deployed stack exports (`pulumi stack output --json`).

`__main__.py` exports exactly these keys; `llmstack verify` reads them from `--stack`, `--outputs FILE` or
builds them from explicit endpoints. Unknown top-level keys are ignored (a stack may export more).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
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


class StackOutputs(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    gateway_url: str
    master_key: SecretStr
    gateway_models: list[str]
    fallbacks: dict[str, list[str]] = {}
    backends: dict[str, Endpoint] = {}
    embeddings: Endpoint | None = None

    @field_validator("gateway_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("master_key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() in ("", "[secret]"):
            raise ValueError("the master key is missing or masked; export outputs with --show-secrets")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> StackOutputs:
        known = set(self.gateway_models)
        for primary, chain in self.fallbacks.items():
            for name in (primary, *chain):
                if name not in known:
                    raise ValueError(f"fallbacks name {name!r}, which is not in gateway_models {sorted(known)}")
        for key, backend in self.backends.items():
            if backend.gateway_model not in known:
                raise ValueError(f"backends.{key}.gateway_model {backend.gateway_model!r} is not in gateway_models")
        return self

    def backend_for(self, gateway_model: str) -> tuple[str, Endpoint] | None:
        for name, backend in self.backends.items():
            if backend.gateway_model == gateway_model:
                return name, backend
        return None

    # ------------------------------------------------------------------ loading
    @classmethod
    def parse(cls, data: Any, source: str) -> StackOutputs:
        """Validate raw outputs; errors name the source and the field path."""
        if not isinstance(data, dict):
            raise InputError(source, type(data).__name__, "Stack outputs must be a JSON object.")
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            path = ".".join(str(p) for p in first["loc"]) or "(root)"
            value = first.get("input")
            if path == "master_key":
                value = "***"
            raise InputError(
                f"{source}: {path}",
                value,
                f"{first['msg']}. The outputs need gateway_url, master_key, gateway_models, fallbacks, "
                "backends, embeddings (see docs/bench.md, 'Stack outputs').",
            ) from err

    @classmethod
    def from_file(cls, path: Path) -> StackOutputs:
        try:
            text = path.read_text()
        except OSError as err:
            raise InputError("--outputs", str(path), f"Cannot read it ({err.strerror}).") from err
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(
                "--outputs",
                str(path),
                f"Not JSON ({err.msg} at line {err.lineno}); write it with "
                "`pulumi stack output --json --show-secrets > outputs.json`.",
            ) from err
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
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=PULUMI_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as err:
            raise LlmstackError(f"`{' '.join(cmd[1:])}` did not finish in {PULUMI_TIMEOUT_S}s") from err
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip()[-800:]
            raise InputError("--stack", stack, f"`pulumi {' '.join(cmd[1:])}` failed: {tail}")
        try:
            data = json.loads(done.stdout)
        except json.JSONDecodeError as err:
            raise LlmstackError(f"pulumi printed no JSON for stack {stack!r}: {done.stdout[:200]!r}") from err
        return cls.parse(data, f"--stack {stack}")
