"""What the planner is asked (`PlanRequest`) and what it answers (`Plan`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from llmstack.catalog import Gpu
from llmstack.planner.arch import ModelArch
from llmstack.planner.engines_memory import MemoryEstimate
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


class InstanceRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: str
    gpu: str | None
    gpus: int
    hourly_usd: float | None


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

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


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
