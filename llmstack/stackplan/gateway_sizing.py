"""Gateway sizing: LiteLLM workers, the CPU node (aws) or pod replicas (kubernetes) from the expected streaming load.

Pure. Expected load = every backend's sequences (concurrency x replicas, or x max_replicas when autoscaled) x an
expected decode rate per sequence; capacity = workers x what one worker relays on one vCPU before it adds 5 ms to
the p99 inter-token latency. Both figures and their sources are in `llmstack/catalog/gateway.yaml` (measured by
`benchmarks/gateway_capacity.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from llmstack.catalog import CpuInstance, cpu_instances
from llmstack.datafiles import load_yaml
from llmstack.spec import AwsTarget, Gateway, StackSpec


class GatewayCapacity(BaseModel):
    """`llmstack/catalog/gateway.yaml`: the measured per-worker figure and the expected decode rate, with sources."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    litellm: str
    tokens_per_s_per_worker: float = Field(gt=0)
    cpu_at_ceiling: float = Field(gt=0, le=1)
    measured_on: str
    source: str
    decode_tokens_per_s: float = Field(gt=0)
    decode_source: str


@cache
def gateway_capacity() -> GatewayCapacity:
    return GatewayCapacity(**load_yaml("llmstack.catalog", "gateway.yaml"))


@dataclass(frozen=True)
class GatewaySizing:
    sequences: int  # streams the backends can run at once
    decode_tokens_per_s: float  # expected per sequence
    needed_workers: int  # to carry sequences x decode rate
    workers: int  # LiteLLM --num_workers per gateway process (1 per pod on kubernetes)
    replicas: int  # gateway pods that carry the load (kubernetes, at most max_replicas); 1 elsewhere
    instance_type: str | None  # the CPU node (aws); None elsewhere
    warning: str | None  # set when the gateway would be the bottleneck

    @property
    def expected_tokens_per_s(self) -> float:
        return self.sequences * self.decode_tokens_per_s

    @property
    def capacity_tokens_per_s(self) -> float:
        return self.workers * self.replicas * gateway_capacity().tokens_per_s_per_worker

    @property
    def hpa_cpu_percent(self) -> int:
        """A CPU utilization target for a 1-vCPU gateway pod: what one worker used at its measured ceiling."""
        return math.floor(gateway_capacity().cpu_at_ceiling * 100)


def _family(instance_type: str) -> list[CpuInstance]:
    """The catalog's CPU instances of `instance_type`'s family (`m7i.xlarge` -> m7i.*), fewest vCPUs first."""
    family = instance_type.split(".", 1)[0] + "."
    return sorted((r for r in cpu_instances().values() if r.type.startswith(family)), key=lambda r: r.vcpu)


def _bottleneck(sizing: GatewaySizing, where: str, fix: str) -> str:
    cap = gateway_capacity()
    return (
        f"the gateway would be the bottleneck: the backends can stream {sizing.sequences} sequences x "
        f"{sizing.decode_tokens_per_s:g} tokens/s = {sizing.expected_tokens_per_s:,.0f} tokens/s, but {where} relay "
        f"about {sizing.capacity_tokens_per_s:,.0f} tokens/s before adding 5 ms to the p99 inter-token latency "
        f"({cap.tokens_per_s_per_worker:,.0f} per worker and vCPU, measured on {cap.measured_on}: {cap.source}); "
        f"{sizing.needed_workers} workers are needed: {fix}"
    )


def size_gateway(spec: StackSpec) -> GatewaySizing:
    """Workers (and, on aws, the CPU instance that holds them; on kubernetes, pods) for the expected load.

    aws: the node also runs the embeddings server and Prometheus. They keep what the default node leaves them
    (`target.cpu_instance_type`'s default, minus one worker), and each extra worker adds one vCPU, in the default's
    family. A pinned instance (`gateway.instance_type`, or `target.cpu_instance_type` when set) is kept and checked.
    A given host (local Docker) keeps LiteLLM's single worker: its cores are not the plan's to count.
    kubernetes: one worker per pod (LiteLLM's advice: docs.litellm.ai/docs/proxy/server_tuning), one pod per needed
    worker, checked against the most pods the HPA may run (`spec.gateway_max_replicas`).
    """
    cap = gateway_capacity()
    sequences = sum(b.concurrency * (b.max_replicas or b.replicas) for b in spec.backends)
    rate = cap.decode_tokens_per_s
    needed = max(1, math.ceil(sequences * rate / cap.tokens_per_s_per_worker))
    target, g = spec.target, spec.gateway
    if spec.on_kubernetes:  # the HPA scales the gateway up to max_replicas pods (kubernetes/workloads.py)
        pods = min(needed, spec.gateway_max_replicas)
        sizing = GatewaySizing(sequences, rate, needed, 1, pods, None, None)
        if pods >= needed:
            return sizing
        limit = next(m.le for m in Gateway.model_fields["max_replicas"].metadata if hasattr(m, "le"))
        fix = (f"set gateway.max_replicas to {needed}" if needed <= limit else
               f"set gateway.max_replicas to {limit} (its maximum) and split the backends across stacks")
        return GatewaySizing(sequences, rate, needed, 1, pods, None, _bottleneck(
            sizing, f"{pods} gateway pods (gateway.max_replicas)", fix))
    if not isinstance(target, AwsTarget):  # a given host (local Docker): one worker, LiteLLM's default
        return GatewaySizing(sequences, rate, needed, 1, 1, None, None)
    default = AwsTarget.model_fields["cpu_instance_type"].default
    family = _family(default)
    others = cpu_instances()[default].vcpu - 1
    fit = next((r for r in family if r.vcpu >= others + needed), None)
    pinned = g.instance_type or (target.cpu_instance_type if "cpu_instance_type" in target.model_fields_set else None)
    if pinned is None:
        if fit is not None:
            return GatewaySizing(sequences, rate, needed, needed, 1, fit.type, None)
        pinned = family[-1].type  # even the biggest is too small: take it, and warn below
    known = cpu_instances().get(pinned)
    room = max(1, known.vcpu - others) if known else needed  # an instance outside the catalog: trust the pin
    workers = min(needed, room)
    sizing = GatewaySizing(sequences, rate, needed, workers, 1, pinned, None)
    if workers >= needed:
        return sizing
    fix = (f"pin a bigger gateway.instance_type ({fit.type}: {fit.vcpu} vCPUs) or remove the pin" if fit else
           "split the backends across several stacks, or run the gateway on kubernetes with more replicas")
    return GatewaySizing(sequences, rate, needed, workers, 1, pinned,
                         _bottleneck(sizing, f"{workers} LiteLLM worker(s) on {pinned}", fix))
