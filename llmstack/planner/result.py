"""What the planner is asked (`PlanRequest`) and what it answers (`Plan`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from llmstack.catalog import Gpu
from llmstack.planner.arch import ModelArch
from llmstack.planner.engines_memory import MemoryEstimate
from llmstack.planner.pipeline import Stage
from llmstack.planner.units import MIB


class PlanRequest(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    model: str | ModelArch
    quant: str = "auto"
    context: int | None = None
    concurrency: int = 1
    engine: str = "auto"
    gpu: str | None = None
    vram: str | int | None = None
    kv_dtype: str = "auto"
    tensor_parallel: int | None = None
    workload: Literal["dev", "throughput", "structured", "cpu", "hopper-production"] | None = None
    instance_type: str | None = None
    max_nodes: int = 1  # allow a model larger than one node to span up to this many (pipeline parallel)


class InstanceRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: str
    gpu: str | None
    gpus: int
    hourly_usd: float | None


class Alternative(BaseModel):
    """An instance type where the chosen format and TP fit too: `replicas` copies per node, at `usd_per_replica`."""

    model_config = ConfigDict(frozen=True)

    type: str
    gpu: str
    gpus: int
    hourly_usd: float
    replicas: int
    usd_per_replica: float


class Rejection(BaseModel):
    model_config = ConfigDict(frozen=True)

    instance: str
    reason: str


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    params: int
    weights_bytes: int  # whole model, all GPUs
    kv_bytes_per_token: int  # per GPU
    kv_cache_bytes: int  # per GPU, context x concurrency
    total_bytes: int  # per GPU
    engine: str
    quant: str
    tensor_parallel: int
    kv_dtype: str
    context: int
    concurrency: int
    instance: InstanceRef | None
    fits: bool
    memory: MemoryEstimate
    rejected: list[Rejection]
    suggestions: list[str]
    startup_seconds: int
    notes: list[str] = []
    # Every catalog instance type the same launch (format, TP, KV type) fits on, cheapest per replica first: what a
    # Kubernetes node pool may offer (`llmstack plan` lists it). Empty when no instance fits.
    alternatives: list[Alternative] = []
    # Nodes per replica: >1 is pipeline parallel over `nodes` stages of `tensor_parallel` GPUs each (vLLM + Ray);
    # `instance` is one node, `memory` the worst stage, `stages` every stage's per-GPU breakdown.
    nodes: int = 1
    pipeline_parallel: int = 1
    stages: list[Stage] = []

    @property
    def hourly_usd(self) -> float | None:
        """One replica: every node it spans."""
        if self.instance is None or self.instance.hourly_usd is None:
            return None
        return round(self.instance.hourly_usd * self.nodes, 4)

    def to_json(self) -> dict[str, Any]:
        return {**self.model_dump(mode="json"), "hourly_usd": self.hourly_usd}


def virtual_gpu(vram: int) -> Gpu:
    # A GPU given only by its size: the size is the visible total; FP8 unknown, so not assumed.
    return Gpu(
        name=f"custom-{vram // MIB}MiB",
        aws_mib=vram // MIB,
        visible_mib=vram // MIB,
        architecture="ampere",
        compute_capability="8.0",
        fp8=False,
    )
