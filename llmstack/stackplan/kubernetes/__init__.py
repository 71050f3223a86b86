"""The Kubernetes target's plan: the stack plan as Kubernetes objects and Helm add-ons, pure and computed once.

`plan_kubernetes(stack_plan)` maps each planned object: a backend `Service` -> NodePool (+ EC2NodeClass), Deployment,
ClusterIP Service, ScaledObject, staging Job; the embeddings -> Deployment + Service on CPU nodes; the `GatewayPlan` ->
ConfigMap, Deployment (>= 2 replicas outside dev), Service, PodDisruptionBudget, HPA and an optional Ingress; the
`MonitoringPlan` -> PrometheusRule, PodMonitors and the DCGM DaemonSet. The builder (components/kubernetes/) only
creates them; the policies read them; tests validate every object against the API and CRD schemas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from llmstack.engines import engine
from llmstack.errors import InputError
from llmstack.labels import Role
from llmstack.planner.units import GIB
from llmstack.spec import EksTarget, KubernetesTarget
from llmstack.stackplan.kubernetes import addons, capacity, multinode, observability, workloads
from llmstack.stackplan.kubernetes.addons import HelmRelease
from llmstack.stackplan.kubernetes.objects import NODE_POOL, Manifest, metadata, service_dns
from llmstack.stackplan.kubernetes.pods import GPU_TOLERATION, Placement
from llmstack.stackplan.stack import StackPlan

SECRET = "llmstack-secrets"
CACHE_CLAIM = "model-cache"
EFS_STORAGE_CLASS = "llmstack-efs"
EFS_PLACEHOLDER = "<file system id>"  # the StorageClass's EFS id, known once the stack creates the file system
CPU_POOL = "cpu"


@dataclass(frozen=True)
class KubernetesPlan:
    namespace: str
    cluster: str | None  # the EKS cluster's name (eks target)
    releases: tuple[HelmRelease, ...]
    objects: tuple[Manifest, ...]
    secret: str
    secret_keys: dict[str, str]  # Secret data key (the engine env var) -> Pulumi config secret
    storage_class: str | None  # the RWX class the model cache claim uses (eks: the EFS class the stack creates)
    depends: dict[str, tuple[str, ...]] = field(default_factory=dict)  # object key -> keys it waits for
    timeouts_s: dict[str, int] = field(default_factory=dict)  # object key -> create timeout (staging Jobs)
    gateway_url: str = ""
    placement_groups: tuple[str, ...] = ()  # cluster placement groups the builder creates (multi-node backends)

    def object(self, key: str) -> Manifest:
        for m in self.objects:
            if m.key == key:
                return m
        raise KeyError(key)


def cluster_name(environment: str) -> str:
    return f"llmstack-{environment}"


def _node_class(target: EksTarget | KubernetesTarget, cluster: str | None) -> capacity.NodeClass | None:
    if isinstance(target, EksTarget):
        if target.compute == "auto-mode":
            return capacity.NodeClass(kind="NodeClass", group="eks.amazonaws.com", name="default")
        assert cluster is not None
        return capacity.NodeClass(kind="EC2NodeClass", group="karpenter.k8s.aws", name=None,
                                  ami_alias=target.node_ami, role=karpenter_node_role(cluster), cluster=cluster,
                                  subnet_ids=target.vpc.subnet_ids)
    if target.karpenter:
        return capacity.NodeClass(kind="EC2NodeClass", group="karpenter.k8s.aws", name=target.node_class)
    return None


def karpenter_node_role(cluster: str) -> str:
    return f"{cluster}-karpenter-node"


def interruption_queue(cluster: str) -> str:
    return f"{cluster}-karpenter"


def plan_kubernetes(plan: StackPlan) -> KubernetesPlan:
    spec, target = plan.spec, plan.spec.target
    assert isinstance(target, EksTarget | KubernetesTarget)
    ns = target.namespace
    eks = isinstance(target, EksTarget)
    cluster = cluster_name(spec.environment) if eks else None
    storage_class = EFS_STORAGE_CLASS if eks else target.model_cache.storage_class
    cpu_pool = CPU_POOL if isinstance(target, EksTarget) and target.compute == "karpenter" else None
    ctx = workloads.Context(namespace=ns, secret=SECRET, cache_claim=CACHE_CLAIM if storage_class else None,
                            cpu_pool=cpu_pool, spread_strictly=isinstance(target, EksTarget) and target.cpu_nodes >= 2)
    node_class = _node_class(target, cluster)
    objects: list[Manifest] = [Manifest({"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": metadata(ns, None, component="namespace")})]
    if eks:
        # The file system id is the builder's to fill in: the stack creates the file system (components/kubernetes).
        objects.append(Manifest({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                                 "metadata": metadata(EFS_STORAGE_CLASS, None, component="model-cache"),
                                 "provisioner": "efs.csi.aws.com", "reclaimPolicy": "Retain",
                                 "parameters": {"provisioningMode": "efs-ap", "fileSystemId": EFS_PLACEHOLDER,
                                                "directoryPerms": "700"}}))
    if ctx.cache_claim:
        objects.append(Manifest({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                 "metadata": metadata(CACHE_CLAIM, ns, component="model-cache"),
                                 "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": storage_class,
                                          "resources": {"requests": {"storage": f"{target.model_cache.size_gi}Gi"}}}}))
    if ctx.cache_claim:
        _check_cache_size(plan, ctx, target.model_cache.size_gi)
    depends: dict[str, tuple[str, ...]] = {}
    timeouts: dict[str, int] = {}
    placement_groups: list[str] = []
    for s in plan.backends:
        assert s.backend is not None
        where = Placement(gpus=s.sizing.tensor_parallel if s.sizing else 1,
                          pool=capacity.pool_name(s) if node_class else None,
                          instance_types=capacity.instance_types(s),
                          capacity_types=capacity.capacity_types(s) if node_class else ())
        spans_nodes = multinode.multi_node(s)
        group = f"{cluster}-{s.name}" if spans_nodes and cluster and node_class and node_class.name is None else None
        if group:
            placement_groups.append(group)
        if node_class:
            objects += capacity.node_pool(s, node_class, placement_group=group)
        replicas = None if s.backend.autoscaled else s.replicas
        workload = (multinode.leader_worker_set(s, workloads.pod_template(s, ctx, where), namespace=ns,
                                                replicas=replicas) if spans_nodes
                    else workloads.deployment(s, ctx, where, replicas=replicas))
        if workloads.staged(s, ctx):
            job = workloads.stage_job(s, ctx)
            objects.append(job)
            timeouts[job.key] = workloads.stage_timeout_s(s)
            depends[workload.key] = (job.key,)
        objects += [workload, workloads.service(s.name, s.launch.port, ctx, component=s.role.value)]
        if s.backend.autoscaled:
            objects.append(capacity.scaled_object(s, ns))
    if plan.embeddings is not None:
        e = plan.embeddings
        objects += [workloads.deployment(e, ctx, Placement(pool=cpu_pool), replicas=1),
                    workloads.service(e.name, e.launch.port, ctx, component=e.role.value)]
    urls = workloads.base_urls(list(plan.services), ns)
    if target.ingress is not None and isinstance(target, EksTarget):
        # EKS Auto Mode's built-in load balancing serves this class (docs.aws.amazon.com/eks/latest/userguide/
        # auto-configure-alb.html).
        objects.append(Manifest({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                                 "metadata": metadata(target.ingress.ingress_class, None, component="ingress"),
                                 "spec": {"controller": "eks.amazonaws.com/alb"}}))
    objects += workloads.gateway_objects(plan.gateway, urls, ctx, replicas=spec.gateway_replicas,
                                         max_replicas=spec.gateway_max_replicas,
                                         ingress=target.ingress,
                                         ingress_class=target.ingress.ingress_class if target.ingress else "")
    releases = _releases(plan, target, cluster, cpu_pool, node_class)
    if plan.monitoring is not None:
        objects.append(observability.alert_rules(ns))
        objects += [observability.engine_pod_monitor(engine(name), ns, SECRET)
                    for name in dict.fromkeys(s.engine.name for s in plan.backends) if engine(name).metrics_path]
        objects.append(observability.gateway_pod_monitor(engine("litellm"), ns, SECRET))
        objects += observability.dcgm(ns)
    secret_keys = {var: key for s in (*plan.services,) for var, key in s.launch.secret_env.items()}
    secret_keys |= plan.gateway.launch.secret_env
    # Clients reach the gateway through the Ingress's host when there is one (HTTPS at the ALB), else in the cluster.
    gateway_url = (f"https://{target.ingress.host}" if target.ingress is not None and target.ingress.host
                   else f"http://{service_dns('gateway', ns)}:{plan.gateway.launch.port}")
    return KubernetesPlan(namespace=ns, cluster=cluster, releases=releases, objects=tuple(objects), secret=SECRET,
                          secret_keys=dict(sorted(secret_keys.items())), storage_class=storage_class,
                          depends=depends, timeouts_s=timeouts, gateway_url=gateway_url,
                          placement_groups=tuple(placement_groups))


def _check_cache_size(plan: StackPlan, ctx: workloads.Context, size_gi: int) -> None:
    """The shared cache holds every staged checkpoint once."""
    staged = {s.source: s.sizing.weights_bytes for s in plan.backends if s.sizing and workloads.staged(s, ctx)}
    need = math.ceil(sum(staged.values()) / GIB)
    if need > size_gi:
        raise InputError("target.model_cache.size_gi", size_gi, f"Raise it to at least {need}.",
                         problem=f"is too small for the {len(staged)} staged checkpoints ({need} GiB)")


def _releases(plan: StackPlan, target: EksTarget | KubernetesTarget, cluster: str | None, cpu_pool: str | None,
              node_class: capacity.NodeClass | None) -> tuple[HelmRelease, ...]:
    """Add-ons in install order: compute first, then scaling and monitoring, then ingress."""
    pool = {NODE_POOL: cpu_pool} if cpu_pool else None
    out: list[HelmRelease] = []
    karpenter_here = isinstance(target, EksTarget) and target.compute == "karpenter"
    if karpenter_here:
        assert cluster is not None
        out.append(addons.karpenter(cluster, interruption_queue(cluster), pool))
    if node_class is not None and node_class.kind == "EC2NodeClass":
        # AL2023 GPU AMIs bring the driver, not the device plugin; Auto Mode runs its own
        # (docs.aws.amazon.com/eks/latest/userguide/ml-eks-k8s-device-plugin.html).
        out.append(addons.release("nvidia-device-plugin"))
    if any(multinode.multi_node(s) for s in plan.backends):
        out.append(addons.release("lws"))
        if any(multinode.efa_per_pod(s) for s in plan.backends if multinode.multi_node(s)):
            # The GPU nodes are tainted: the plugin must tolerate it (its chart tolerates nothing by default).
            out.append(addons.release("aws-efa-k8s-device-plugin", {"tolerations": [GPU_TOLERATION]}))
    if any(s.backend is not None and s.backend.autoscaled for s in plan.backends):
        out.append(addons.release("keda"))
    if plan.monitoring is not None:
        out.append(addons.release("kube-prometheus-stack", observability.prometheus_values(pool)))
    return tuple(out)


__all__ = ["HelmRelease", "KubernetesPlan", "Manifest", "Role", "cluster_name", "plan_kubernetes"]
