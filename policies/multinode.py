"""Multi-node serving policies: a replica across nodes runs only as a LeaderWorkerSet on Kubernetes, each of its pods
holds exactly one stage's GPUs, and its nodes sit together (one zone, one placement group, EFA where the type has it).

The model's fit on its worst pipeline stage is `model-fits-gpu` (policies/compute.py), which sizes a pod labelled
`llmstack.pipeline-parallel` per stage. Facts: docs/kubernetes.md "Replicas larger than one node".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from llmstack.catalog import instances
from llmstack.labels import CONTAINER, EC2_NODE_CLASS, LEADER_WORKER_SET, NODE_POOL, Key
from llmstack.stackplan.kubernetes.multinode import EFA_RESOURCE, GROUP_KEY, ZONE
from llmstack.stackplan.kubernetes.objects import GPU_RESOURCE
from llmstack.stackplan.kubernetes.objects import NODE_POOL as POOL_LABEL
from policies import props as p
from policies.registry import Report, resource_policy, stack_policy


def _flag(args: list[str], flag: str) -> int | None:
    """The integer after `flag` in an engine's argv, or in a `sh -c` script that runs it."""
    words = [w for a in args for w in str(a).split()]
    for i, word in enumerate(words[:-1]):
        if word == flag and words[i + 1].isdigit():
            return int(words[i + 1])
    return None


def _stages(props: Mapping[str, Any]) -> int:
    """Only the labels and the command are read: a container's `image` is unknown during a real preview."""
    command = [str(x) for x in props.get("command") or []]
    return int(p.label(props, Key.PIPELINE_PARALLEL) or _flag(command, "--pipeline-parallel-size") or 1)


@resource_policy(
    "multi-node-on-kubernetes",
    types=(CONTAINER,),
    description="A replica that spans nodes (pipeline parallel > 1: label llmstack.pipeline-parallel or "
    "--pipeline-parallel-size) is not a Docker container: one host holds one stage, and nothing starts the others.",
)
def multi_node_on_kubernetes(args: ResourceValidationArgs, report: Report) -> None:
    stages = _stages(args.props)
    if stages > 1:
        report(f"container '{args.name}' serves a model split over {stages} pipeline stages, but a Docker host runs "
               "one of them. Fix: deploy it on a kubernetes target (target.kind: eks or kubernetes), where the "
               "backend becomes a LeaderWorkerSet of one pod per stage, or pick a format that fits one node.")


def _templates(props: dict[str, Any]) -> dict[str, Any]:
    group: Any = (props.get("spec") or {}).get("leaderWorkerTemplate") or {}
    return {role: group.get(f"{role}Template") or {} for role in ("leader", "worker")} | {"size": group.get("size")}


def _main(template: Any) -> dict[str, Any]:
    containers = ((template.get("spec") or {}).get("containers") or [{}])
    return dict(containers[0])


@resource_policy(
    "multi-node-gpus-per-pod",
    types=(LEADER_WORKER_SET,),
    description="A LeaderWorkerSet serving one replica has one pod per pipeline stage (size = "
    "--pipeline-parallel-size) and every pod, leader and workers, requests exactly the tensor-parallel size in "
    "nvidia.com/gpu: fewer and the stage can't start, more and GPUs sit idle.",
)
def multi_node_gpus_per_pod(args: ResourceValidationArgs, report: Report) -> None:
    t = _templates(dict(args.props))
    leader = _main(t["leader"])
    command = [str(x) for x in [*(leader.get("command") or []), *(leader.get("args") or [])]]
    tp, pp = _flag(command, "--tensor-parallel-size"), _flag(command, "--pipeline-parallel-size")
    if tp is None or pp is None:
        report(f"LeaderWorkerSet '{args.name}': its leader runs no `vllm serve` with --tensor-parallel-size and "
               "--pipeline-parallel-size, so its GPUs can't be checked. Fix: render the leader from the plan "
               "(llmstack.stackplan.kubernetes.multinode).")
        return
    size = int(float(t["size"] or 1))
    if size != pp:
        report(f"LeaderWorkerSet '{args.name}' has {size} pod(s) per group but the leader starts {pp} pipeline "
               f"stages: every stage needs its own pod. Fix: leaderWorkerTemplate.size = {pp}.")
    for role in ("leader", "worker"):
        limits: Any = (_main(t[role]).get("resources") or {}).get("limits") or {}
        gpus = int(float(limits.get(GPU_RESOURCE) or 0))
        if gpus != tp:
            report(f"LeaderWorkerSet '{args.name}': each {role} pod requests {gpus} GPU(s), but the replica runs "
                   f"tensor parallel {tp} on every stage. Fix: resources.limits.{GPU_RESOURCE} = {tp}.")


def _zone_affinity(pod: Any) -> bool:
    terms: Any = (((pod.get("affinity") or {}).get("podAffinity") or {})
                  .get("requiredDuringSchedulingIgnoredDuringExecution") or [])
    return any(t.get("topologyKey") == ZONE and GROUP_KEY in (t.get("matchLabelKeys") or []) for t in terms)


@stack_policy(
    "multi-node-placement",
    description="The pods of one multi-node replica share a zone (required pod affinity on the LWS group, "
    "topology.kubernetes.io/zone); where every instance type they may use has EFA, they request it "
    "(vpc.amazonaws.com/efa); and their Karpenter EC2NodeClass launches into a cluster placement group.",
)
def multi_node_placement(args: StackValidationArgs, report: Report) -> None:
    pools = {r.name: r for r in args.resources if r.resource_type == NODE_POOL}
    classes = {str((r.props.get("metadata") or {}).get("name")): r for r in args.resources
               if r.resource_type == EC2_NODE_CLASS}
    for r in args.resources:
        if r.resource_type != LEADER_WORKER_SET:
            continue
        t = _templates(dict(r.props))
        node_classes: set[str] = set()
        for role in ("leader", "worker"):
            pod: Any = t[role].get("spec") or {}
            if not _zone_affinity(pod):
                report(f"LeaderWorkerSet '{r.name}': its {role} pods may land in another zone than the rest of the "
                       f"group, and every pipeline step crosses zones. Fix: a required podAffinity on {ZONE} with "
                       f"matchLabelKeys [{GROUP_KEY}].")
            types = [str(v) for v in p.pod_instance_types(pod)]
            limits: Any = (_main(t[role]).get("resources") or {}).get("limits") or {}
            with_efa = bool(types) and all(instances().get(x) is not None and instances()[x].efa for x in types)
            if with_efa and not float(limits.get(EFA_RESOURCE) or 0):
                report(f"LeaderWorkerSet '{r.name}': its {role} pods run on EFA instance types "
                       f"({', '.join(types)}) but request no {EFA_RESOURCE}, so NCCL goes over TCP. Fix: request the "
                       "node's EFA interfaces (the AWS EFA device plugin advertises them).")
            node_classes.add(_node_class(pools, str((pod.get("nodeSelector") or {}).get(POOL_LABEL, ""))))
        for node_class in sorted(node_classes & set(classes)):
            if not (classes[node_class].props.get("spec") or {}).get("placementGroupSelector"):
                report(f"EC2NodeClass '{node_class}' launches the nodes of LeaderWorkerSet '{r.name}' anywhere in "
                       "the region's subnets. Fix: a cluster placement group (spec.placementGroupSelector).")


def _node_class(pools: dict[str, Any], pool: str) -> str:
    for r in pools.values():
        meta: Any = r.props.get("metadata") or {}
        if meta.get("name") == pool:
            ref: Any = (((r.props.get("spec") or {}).get("template") or {}).get("spec") or {}).get("nodeClassRef")
            return str((ref or {}).get("name", ""))
    return ""
