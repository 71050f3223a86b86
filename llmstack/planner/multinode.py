"""Models larger than one node: P nodes (pipeline stages) of T GPUs (tensor parallel within a node).

Searched only when no single node fits and the request allows more nodes (`max_nodes`): fewest nodes first (each
node adds a failure domain and pipeline bubbles), then the cheapest instance type at that count. A node count is
served by vLLM's pipeline parallel over Ray across nodes and tensor parallel over every GPU of a node (vLLM docs,
"Distributed inference and serving": T = GPUs per node, P = nodes). Nodes talk over EFA: a type without it is
refused (NCCL over plain TCP makes every pipeline hop wait on the network: docs/kubernetes.md "Multi-node").
"""

from __future__ import annotations

from dataclasses import dataclass

from llmstack.catalog import Gpu, Instance
from llmstack.planner.arch import ModelArch
from llmstack.planner.decide import quant_candidates
from llmstack.planner.engines_memory import MemoryEstimate
from llmstack.planner.pipeline import PIPELINE_ENGINES, Stage, stage_estimates
from llmstack.planner.quant import format_family
from llmstack.planner.result import Rejection

MAX_NODES = 4  # the most nodes one backend may span; beyond that the model wants a different deployment class
NO_EFA = "no EFA: nodes of a multi-node backend exchange activations every step and need EFA between them"


@dataclass(frozen=True)
class Layout:
    instance: Instance
    gpu: Gpu
    engine: str
    quant: str
    tensor_parallel: int
    nodes: int
    stages: tuple[Stage, ...]
    worst: MemoryEstimate  # the stage with the least memory left


def search(model: ModelArch, quant: str, engine: str, candidates: list[tuple[Instance, Gpu]], max_nodes: int,
           context: int, concurrency: int, kv_dtype: str, rejected: list[Rejection]) -> Layout | None:
    """The first fitting layout with 2..max_nodes nodes, fewest nodes then cheapest; every cheaper layout tried is
    added to `rejected` with its reason."""
    if engine not in PIPELINE_ENGINES:
        return None
    rows = [(inst, gpu, n) for n in range(2, max_nodes + 1) for inst, gpu in candidates
            if inst.hourly_usd is not None]
    rows.sort(key=lambda r: (r[2], (r[0].hourly_usd or 0.0) * r[2], r[0].type))
    for inst, gpu, nodes in rows:
        label = f"{nodes} x {inst.type}"
        if not inst.efa:
            rejected.append(Rejection(instance=label, reason=NO_EFA))
            continue
        tp = inst.gpus
        if model.heads % tp:
            rejected.append(Rejection(instance=label, reason=f"num_attention_heads ({model.heads}) is not divisible "
                                                           f"by the node's {tp} GPUs (tensor parallel)"))
            continue
        quants = (quant,) if quant != "auto" else quant_candidates(engine, gpu)
        closest: MemoryEstimate | None = None
        for q in quants:
            if format_family(q) == "fp8" and not gpu.fp8:
                continue
            stages, worst = stage_estimates(model, q, engine, context, concurrency, gpu, tp, nodes, kv_dtype)
            if worst.fits:
                return Layout(inst, gpu, engine, q, tp, nodes, stages, worst)
            if closest is None or worst.free_bytes > closest.free_bytes:
                closest = worst
        why = closest.reason if closest else f"{gpu.name} has no FP8 support"
        rejected.append(Rejection(instance=label, reason=f"worst stage: {why}"))
    return None
