"""Typed, cached views of the catalog data files (models, GPUs, instances).

The data lives in the YAML files next to this module, each with its sources and dates in a header. Engine
facts
are in `engines.yaml`, read by `llmstack.engines`.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmstack.datafiles import load_yaml
from llmstack.errors import NotFoundError

__all__ = [
    "CpuInstance",
    "Gpu",
    "Instance",
    "ModelEntry",
    "cpu_instances",
    "gpu_by_name",
    "gpus",
    "instance_by_type",
    "instances",
    "model_by_ref",
    "models",
]

MIB = 1 << 20
CATALOG_REGION = "us-east-1"  # instances.yaml: prices are us-east-1 on-demand (docs/sizing.md §8)


class ModelEntry(BaseModel):
    """One built-in model: catalog name, aliases and the config.json fields the planner reads."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    hf_repo: str
    ollama: str | None = None
    kind: Literal["chat", "embedding"] = "chat"
    config: dict[str, Any]


class Gpu(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    aliases: tuple[str, ...] = ()
    aws_mib: int
    visible_mib: int
    architecture: Literal["turing", "ampere", "ada", "hopper", "blackwell"]
    compute_capability: str
    fp8: bool

    @property
    def visible_bytes(self) -> int:
        """Total memory the driver exposes per GPU (what vLLM multiplies by gpu_memory_utilization)."""
        return self.visible_mib * MIB

    @property
    def is_hopper_or_newer(self) -> bool:
        return float(self.compute_capability) >= 9.0


class Instance(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    gpu: str
    gpus: int = Field(ge=1)
    vcpu: int
    ram_gib: int
    hourly_usd: float | None
    region: str = CATALOG_REGION
    note: str | None = None
    efa: int = Field(default=0, ge=0)  # EFA interfaces (0: no EFA, so no multi-node serving)

    @property
    def selectable(self) -> bool:
        """On-demand in the catalog region (p5e: Capacity Blocks only; p6-b300: us-west-2 only)."""
        return self.hourly_usd is not None and self.region == CATALOG_REGION


class CpuInstance(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    vcpu: int
    ram_gib: int
    hourly_usd: float


def _load(name: str) -> Any:
    return load_yaml("llmstack.catalog", name)


@cache
def models() -> dict[str, ModelEntry]:
    """Built-in models by catalog name (lowercase kebab, e.g. `llama-3.1-8b`)."""
    raw = _load("models.yaml")["models"]
    return {name: ModelEntry(name=name, **fields) for name, fields in raw.items()}


@cache
def _model_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for entry in models().values():
        for key in (entry.name, entry.hf_repo, entry.ollama):
            if key:
                index[key.lower()] = entry.name
    return index


def model_by_ref(ref: str) -> ModelEntry | None:
    """The catalog model named `ref` (catalog name, HF repo id or Ollama tag, case-insensitive), else None."""
    name = _model_index().get(ref.strip().lower())
    return models()[name] if name else None


@cache
def gpus() -> dict[str, Gpu]:
    raw = _load("gpus.yaml")["gpus"]
    return {name: Gpu(name=name, **fields) for name, fields in raw.items()}


@cache
def _gpu_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for gpu in gpus().values():
        for key in (gpu.name, *gpu.aliases):
            index[key.lower()] = gpu.name
    return index


def gpu_by_name(name: str) -> Gpu:
    """A GPU by name or alias (case-insensitive): `H100`, `l4`, `a100-80gb`."""
    key = _gpu_index().get(name.strip().lower())
    if key is None:
        raise NotFoundError("gpu", name, f"Use one of: {', '.join(gpus())}.")
    return gpus()[key]


@cache
def instances() -> dict[str, Instance]:
    """GPU instance types by type name, cheapest first (unpriced rows last)."""
    rows = [Instance(**row) for row in _load("instances.yaml")["instances"]]
    for row in rows:
        gpu_by_name(row.gpu)  # every instance must name a catalog GPU
    rows.sort(key=lambda r: (r.hourly_usd is None, r.hourly_usd or 0.0, r.type))
    return {row.type: row for row in rows}


@cache
def cpu_instances() -> dict[str, CpuInstance]:
    """CPU-only instance types (gateway, embeddings, CPU llama.cpp) by type name, cheapest first."""
    rows = [CpuInstance(**row) for row in _load("instances.yaml")["cpu_instances"]]
    rows.sort(key=lambda r: (r.hourly_usd, r.type))
    return {row.type: row for row in rows}


def instance_by_type(type_: str) -> Instance:
    """A GPU instance type (`g6.xlarge`)."""
    table = instances()
    if type_ not in table:
        raise NotFoundError("instance_type", type_, f"Use one of: {', '.join(table)}.")
    return table[type_]
