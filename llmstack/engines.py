"""The engine table: one typed view of `catalog/engines.yaml`, the single source of engine facts."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

from llmstack.errors import NotFoundError

EngineName = Literal["ollama", "vllm", "sglang", "llamacpp", "tgi", "nim"]
INFERENCE_ENGINES: tuple[EngineName, ...] = ("ollama", "vllm", "sglang", "llamacpp", "tgi", "nim")


class Engine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
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


@cache
def engines() -> dict[str, Engine]:
    raw = yaml.safe_load(resources.files("llmstack.catalog").joinpath("engines.yaml").read_text())
    return {name: Engine(name=name, **fields) for name, fields in raw["engines"].items()}


def engine(name: str) -> Engine:
    table = engines()
    if name not in table:
        raise NotFoundError("engine", name, f"Use one of: {', '.join(sorted(table))}.")
    return table[name]
