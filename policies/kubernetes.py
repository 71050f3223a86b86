"""Kubernetes and EKS policies: nothing exposes an engine, the gateway's Ingress needs TLS and client CIDRs, the EKS
API is not open to the internet, the gateway stays available through node drains.

The container rules (formats, probes, context limits, fit, pinned images, secrets) are the same policies as on Docker:
they read each pod's containers (policies/props.py `containers`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from llmstack.engines import engines
from llmstack.labels import AWS_EKS_CLUSTER, DEPLOYMENT, EKS_CLUSTER, HPA, INGRESS, K8S_SERVICE, PDB, Role
from llmstack.stackplan.kubernetes.objects import COMPONENT
from policies import props as p
from policies.registry import Report, resource_policy, stack_policy

_PUBLIC = ("0.0.0.0/0", "::/0")
TLS_ANNOTATION = "alb.ingress.kubernetes.io/certificate-arn"
CIDRS_ANNOTATION = "alb.ingress.kubernetes.io/inbound-cidrs"
LISTEN_ANNOTATION = "alb.ingress.kubernetes.io/listen-ports"


def _engine_ports() -> set[int]:
    return {e.port for e in engines().values() if e.role is not Role.GATEWAY}


def _target_port(port: Any) -> int:
    """The pod port a Service port sends to: a numeric targetPort (the engine sends numbers as floats), else the
    Service port (a named targetPort is the container port of that name, which the plan sets to the same number)."""
    target = port.get("targetPort")
    if isinstance(target, int | float) or str(target).isdigit():
        return int(float(target))
    return int(port.get("port") or 0)


@resource_policy(
    "no-exposed-engine-services",
    types=(K8S_SERVICE,),
    description="No LoadBalancer or NodePort Service exposes an engine (its selector picks inference or embedding "
    "pods, or it serves an engine port): engines answer without the gateway's key. Only the gateway is exposed, "
    "through its Ingress.",
)
def no_exposed_engine_services(args: ResourceValidationArgs, report: Report) -> None:
    spec: Any = args.props.get("spec") or {}
    kind = str(spec.get("type") or "ClusterIP")
    if kind not in ("LoadBalancer", "NodePort"):
        return
    component = str((spec.get("selector") or {}).get(COMPONENT, ""))
    ports = {_target_port(x) for x in spec.get("ports") or []}
    engine_ports = ports & _engine_ports() if component != Role.GATEWAY.value else set()
    if component in (Role.INFERENCE.value, Role.EMBEDDING.value) or engine_ports:
        report(f"Service '{args.name}' is type {kind} in front of {component or 'engine port'} "
               f"{', '.join(map(str, sorted(engine_ports))) or ''}; engines have no auth on /health, /metrics and "
               "more. Fix: type ClusterIP; clients reach the models through the gateway.")


@resource_policy(
    "ingress-tls-and-cidrs",
    types=(INGRESS,),
    description="An Ingress serves HTTPS only (an ACM certificate, or spec.tls) and admits only listed client CIDRs "
    "(alb.ingress.kubernetes.io/inbound-cidrs, never 0.0.0.0/0).",
)
def ingress_tls_and_cidrs(args: ResourceValidationArgs, report: Report) -> None:
    meta: Any = args.props.get("metadata") or {}
    annotations: Any = meta.get("annotations") or {}
    spec: Any = args.props.get("spec") or {}
    if not annotations.get(TLS_ANNOTATION) and not spec.get("tls"):
        report(f"Ingress '{args.name}' has no TLS: the master key would cross the network in clear. Fix: set "
               f"{TLS_ANNOTATION} (target.ingress.certificate_arn) or spec.tls.")
    listen = str(annotations.get(LISTEN_ANNOTATION, ""))
    if '"HTTP"' in listen:
        report(f"Ingress '{args.name}' listens on plain HTTP ({listen}). Fix: listen on HTTPS 443 only.")
    cidrs = [c.strip() for c in str(annotations.get(CIDRS_ANNOTATION, "")).split(",") if c.strip()]
    if not cidrs:
        report(f"Ingress '{args.name}' admits every address (no {CIDRS_ANNOTATION}). Fix: list your client "
               "networks (target.ingress.allowed_cidrs).")
    elif public := [c for c in cidrs if c in _PUBLIC or c.endswith("/0")]:
        report(f"Ingress '{args.name}' admits {', '.join(public)}: the whole internet. Fix: list your client "
               "networks instead.")


@resource_policy(
    "eks-api-endpoint-restricted",
    types=(EKS_CLUSTER, AWS_EKS_CLUSTER),
    description="An EKS cluster's API endpoint is private, or public only to listed CIDRs (never 0.0.0.0/0).",
)
def eks_api_endpoint_restricted(args: ResourceValidationArgs, report: Report) -> None:
    props: Any = args.props
    vpc: Any = props.get("vpcConfig") or props  # aws:eks/cluster:Cluster nests it; pulumi-eks takes it flat
    public = vpc.get("endpointPublicAccess")
    if public is False:
        return
    cidrs = [str(c) for c in vpc.get("publicAccessCidrs") or []]
    if not cidrs or any(c in _PUBLIC or c.endswith("/0") for c in cidrs):
        report(f"EKS cluster '{args.name}' opens its API endpoint to the internet "
               f"({', '.join(cidrs) or 'default: 0.0.0.0/0'}). Fix: endpoint.public: false (reach it through the "
               "VPC), or list your CI and office networks in endpoint.public_cidrs.")


def _scaled_minimum(resources: Any) -> dict[tuple[str, str], int]:
    """(namespace, Deployment name) -> the minReplicas of the HorizontalPodAutoscaler that scales it (default 1)."""
    out: dict[tuple[str, str], int] = {}
    for r in resources:
        if r.resource_type == HPA:
            spec: Any = r.props.get("spec") or {}
            target: Any = spec.get("scaleTargetRef") or {}
            if target.get("kind") == "Deployment":
                namespace = str((r.props.get("metadata") or {}).get("namespace") or "default")
                out[(namespace, str(target.get("name")))] = int(float(spec.get("minReplicas") or 1))
    return out


def _pods(value: Any, replicas: int) -> int:
    """A PodDisruptionBudget count (an int, or a percentage of the replicas, rounded up) in pods."""
    text = str(value).strip()
    if text.endswith("%"):
        return -(-int(float(text[:-1]) * replicas) // 100)
    return int(float(text))


def _keeps_one_up(budget: Any, replicas: int) -> bool:
    """Whether a PodDisruptionBudget keeps at least one of `replicas` pods up through voluntary evictions."""
    if budget.get("minAvailable") is not None:
        return _pods(budget["minAvailable"], replicas) >= 1
    if budget.get("maxUnavailable") is not None:
        return _pods(budget["maxUnavailable"], replicas) < replicas
    return False


@stack_policy(
    "gateway-highly-available",
    description="Outside the exempt environments, the gateway Deployment runs at least 2 replicas (spec.replicas, "
    "default 1, or the minReplicas of the HorizontalPodAutoscaler that scales it) and a PodDisruptionBudget keeps one "
    "up through node drains (minAvailable >= 1, or maxUnavailable below the replicas).",
    config={"exemptEnvironments": {"type": "array", "items": {"type": "string"}, "default": ["dev"]}},
)
def gateway_highly_available(args: StackValidationArgs, report: Report) -> None:
    exempt = p.config_list(args.get_config(), "exemptEnvironments", ["dev"])
    budgets: dict[str, list[Any]] = defaultdict(list)
    for r in args.resources:
        if r.resource_type == PDB:
            selector: Any = ((r.props.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            budgets[str(selector.get(COMPONENT, ""))].append(r.props.get("spec") or {})
    scaled = _scaled_minimum(args.resources)
    for r in args.resources:
        if r.resource_type != DEPLOYMENT:
            continue
        views = p.containers(r.resource_type, r.name, r.props)
        if not views or not p.is_gateway(views[0].props) or p.environment(views[0].props) in exempt:
            continue
        meta: Any = r.props.get("metadata") or {}
        key = (str(meta.get("namespace") or "default"), str(meta.get("name") or r.name))
        spec_replicas = (r.props.get("spec") or {}).get("replicas")
        replicas = scaled.get(key, int(float(spec_replicas if spec_replicas is not None else 1)))
        if replicas < 2:
            source = "its HorizontalPodAutoscaler's minReplicas" if key in scaled else "spec.replicas"
            report(f"gateway Deployment '{r.name}' runs {replicas} replica ({source}): one node drain or crash "
                   "takes every model offline. Fix: gateway.replicas: 2 or more.", r.urn)
        if not any(_keeps_one_up(b, max(replicas, 1)) for b in budgets[Role.GATEWAY.value]):
            report(f"gateway Deployment '{r.name}' has no PodDisruptionBudget keeping a replica up, so a node "
                   "drain may evict them all at once. Fix: a PodDisruptionBudget with minAvailable: 1.", r.urn)
