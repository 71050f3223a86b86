"""The engine table: one typed view of `catalog/engines.yaml`, the single source of engine facts."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from llmstack.datafiles import load_yaml
from llmstack.errors import NotFoundError
from llmstack.labels import Role

# The inference engines a backend may name (a Literal, so the spec's JSON schema lists them; a test checks it equals
# the table's inference engines).
EngineName = Literal["ollama", "vllm", "sglang", "llamacpp", "tgi", "nim"]
# The Pulumi config secret holding the key the engines require and the gateway presents (docs/engines.md §1.1).
ENGINE_API_KEY = "engineApiKey"


class ContextLimit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    flags: tuple[str, ...]
    env: tuple[str, ...]


class Autoscaling(BaseModel):
    """The engine's Prometheus series that say it is saturated (for KEDA)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    queue: str
    kv_usage: str | None


class ApiKey(BaseModel):
    """How an engine takes the key clients must present (`api_key` in the engine table; docs/engines.md §1.1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    env: str  # the container variable the key arrives in, always as a secret
    read_by: Literal["engine", "wrapper"]  # the engine's own parser reads `env`, or the launch recipe's shell does
    open: tuple[str, ...]  # paths the key leaves open

    def protects(self, path: str) -> bool:
        return path not in self.open


class Engine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    role: Role
    needs_gpu: bool
    shm_mb: int | None
    secrets: dict[str, str]
    api_key: ApiKey | None
    model_source: Literal["hf", "gguf-repo", "ollama-tag", "none"]
    model_flags: tuple[str, ...]
    context_limit: ContextLimit
    autoscaling: Autoscaling | None
    image: str
    tag: str
    digest: str | None
    cpu_tag: str | None = None
    port: int
    has_curl: bool
    health: tuple[str, ...]
    health_path: str
    metrics_path: str | None
    formats: tuple[str, ...]
    memory_model: Literal["preallocate", "ggml", "none"]
    gpu_memory_utilization: float | None
    cache_dir: str
    env: dict[str, str]
    litellm_provider: str
    litellm_embedding_provider: str | None = None
    api_path: str
    needs_api_key_for_litellm: bool
    legacy: bool

    @model_validator(mode="after")
    def _key_is_a_secret_and_checks_stay_open(self) -> Engine:
        if self.api_key is None:
            return self
        if self.secrets.get(self.api_key.env) != ENGINE_API_KEY:
            raise ValueError(f"{self.name}: api_key.env {self.api_key.env} must be in secrets as "
                             f"{self.api_key.env}: {ENGINE_API_KEY}")
        if self.api_key.protects(self.health_path):
            raise ValueError(f"{self.name}: api_key protects health_path {self.health_path}; the health checks "
                             "carry no key, so name a path the key leaves open")
        return self

    @property
    def scrape_needs_key(self) -> bool:
        """Whether Prometheus must present the engine key on `metrics_path` (llama.cpp: docs/engines.md §1.1)."""
        return self.api_key is not None and self.metrics_path is not None and self.api_key.protects(self.metrics_path)

    def secret_var(self, secret: str) -> str | None:
        """The container variable filled from Pulumi config secret `secret`, if the engine reads one."""
        return next((var for var, key in self.secrets.items() if key == secret), None)

    def image_ref(self, *, gpu: bool = True) -> str:
        """The pinned image reference: `image:tag@digest` when the digest is known, else `image:tag`."""
        if not gpu and self.cpu_tag:
            return f"{self.image}:{self.cpu_tag}"
        return f"{self.image}:{self.tag}@{self.digest}" if self.digest else f"{self.image}:{self.tag}"

    def serves(self, fmt: str) -> bool:
        """Whether the stock image of this engine loads weights of format family `fmt` (gguf, awq, fp8, ...)."""
        return fmt in self.formats

    @property
    def is_inference(self) -> bool:
        return self.role is Role.INFERENCE


@cache
def engines() -> dict[str, Engine]:
    raw = load_yaml("llmstack.catalog", "engines.yaml")
    return {name: Engine(name=name, **fields) for name, fields in raw["engines"].items()}


def engine(name: str) -> Engine:
    table = engines()
    if name not in table:
        raise NotFoundError("engine", name, f"Use one of: {', '.join(sorted(table))}.")
    return table[name]


def inference_engines() -> tuple[str, ...]:
    """The engines that serve generation (role inference), in table order."""
    return tuple(name for name, e in engines().items() if e.is_inference)
