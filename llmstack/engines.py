"""The engine table: one typed view of `catalog/engines.yaml`, the single source of engine facts."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict

from llmstack.datafiles import load_yaml
from llmstack.errors import NotFoundError
from llmstack.labels import Role

# The inference engines a backend may name (a Literal, so the spec's JSON schema lists them; a test checks it equals
# the table's inference engines).
EngineName = Literal["ollama", "vllm", "sglang", "llamacpp", "tgi", "nim"]


class ContextLimit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    flags: tuple[str, ...]
    env: tuple[str, ...]


class Engine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    role: Role
    needs_gpu: bool
    shm_mb: int | None
    secrets: dict[str, str]
    model_source: Literal["hf", "gguf-repo", "ollama-tag", "none"]
    model_flags: tuple[str, ...]
    context_limit: ContextLimit
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
    api_path: str
    needs_api_key_for_litellm: bool
    legacy: bool

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
