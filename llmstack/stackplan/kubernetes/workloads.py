"""The stack's own workloads on Kubernetes: one Deployment and ClusterIP Service per backend (and for embeddings), a
Job that stages a model into the shared cache once, and the highly available gateway."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from llmstack.engines import engine
from llmstack.labels import Key, Role
from llmstack.planner import startup_seconds
from llmstack.spec import Ingress
from llmstack.stackplan.gateway_sizing import gateway_capacity
from llmstack.stackplan.kubernetes.objects import HOSTNAME, Manifest, metadata, selector, service_dns
from llmstack.stackplan.kubernetes.pods import Placement, container, placement, volumes
from llmstack.stackplan.litellm_config import CONFIG_PATH, GatewayPlan
from llmstack.stackplan.services import Service

# Reading weights back from the shared cache (EFS, elastic throughput): 894 GiB took ~43 min for vLLM on two
# p5en.48xlarge, ~355 MiB/s (modelplaneai/modelplane issue #204); docs/kubernetes.md "Model cache".
CACHE_READ_BYTES_PER_S = 350 * 10**6
# A model download from the Hub: the same ~100 MB/s as the cold-start budget (docs/engines.md §3, §10.3).
DOWNLOAD_BYTES_PER_S = 100 * 10**6
JOB_MARGIN_S = 600
GATEWAY_CONFIG = "gateway-config"  # the ConfigMap holding the gateway's config, under GATEWAY_CONFIG_FILE
GATEWAY_CONFIG_FILE = "config.yaml"
# The gateway pod's share of a CPU node: one LiteLLM worker per pod (one core), and what its image needs to boot.
GATEWAY_REQUESTS = {"cpu": "1", "memory": "2Gi"}
# HPA: scale out above the CPU one worker used at its measured streaming ceiling (catalog/gateway.yaml).
GATEWAY_CPU_TARGET = math.floor(gateway_capacity().cpu_at_ceiling * 100)


@dataclass(frozen=True)
class Context:
    """What every workload of one stack shares."""

    namespace: str
    secret: str  # the Secret holding the config secrets (HF token, NGC key, master key)
    cache_claim: str | None  # the ReadWriteMany claim for model weights (None: per-pod emptyDir)
    cpu_pool: str | None  # node pool label of the CPU nodes (None: any node without a GPU)
    spread_strictly: bool  # enough CPU nodes to keep gateway replicas on different nodes


def staged(s: Service, ctx: Context) -> bool:
    """Whether a Job fills the shared cache before the engine starts: engines that read the Hub cache at HF_HOME
    (vLLM, SGLang, TGI) and whose image carries `huggingface_hub`."""
    return ctx.cache_claim is not None and s.engine.model_source == "hf" and "HF_HOME" in s.engine.env


def start_window_s(s: Service, ctx: Context) -> int:
    """The startup probe's window: a staged model is read from the cache and loaded; otherwise the first pod may
    download it too (the Docker start period)."""
    if s.sizing is None or not staged(s, ctx):
        return s.launch.start_period_s
    weights, tp = s.sizing.weights_bytes, s.sizing.tensor_parallel
    return startup_seconds(weights, tp) + math.ceil(weights / CACHE_READ_BYTES_PER_S)


def _annotations(s: Service, where: Placement) -> dict[str, str]:
    """The plan's intent, as on Docker labels (annotations: label values can't hold `/` or long lists)."""
    out = dict(s.launch.labels) | {Key.IMAGE.label: s.launch.image, Key.SERVED_MODEL.label: s.served_name}
    if where.instance_types:
        out[Key.INSTANCE_TYPES.label] = ",".join(where.instance_types)
    if where.capacity_types:
        out[Key.CAPACITY.label] = ",".join(where.capacity_types)
    return out


def job_label(s: Service) -> str:
    """The Prometheus job the alert rules expect (`engine-<engine>`, as on Docker)."""
    return f"engine-{s.engine.name}"


def pod_template(s: Service, ctx: Context, where: Placement) -> dict[str, Any]:
    """The engine's pod: its container, volumes and placement."""
    return {
        "metadata": {"labels": {**selector(s.name, s.role.value), Key.JOB.label: job_label(s)},
                     "annotations": _annotations(s, where)},
        "spec": {
            "containers": [container("engine", s.engine, s.launch, secret=ctx.secret, gpus=where.gpus,
                                     start_window_s=start_window_s(s, ctx), cache=True)],
            "volumes": volumes(s.launch, ctx.cache_claim if s.role is Role.INFERENCE else None),
            **placement(where),
        },
    }


def deployment(s: Service, ctx: Context, where: Placement, *, replicas: int | None) -> Manifest:
    """The engine as a Deployment: `replicas` None leaves the count to the autoscaler."""
    component = s.role.value
    spec: dict[str, Any] = {"selector": {"matchLabels": selector(s.name, component)},
                            "template": pod_template(s, ctx, where)}
    if replicas is not None:
        spec = {"replicas": replicas, **spec}
    return Manifest({"apiVersion": "apps/v1", "kind": "Deployment",
                     "metadata": metadata(s.name, ctx.namespace, component=component), "spec": spec})


def service(name: str, port: int, ctx: Context, *, component: str) -> Manifest:
    """A ClusterIP Service: reachable inside the cluster only."""
    return Manifest({"apiVersion": "v1", "kind": "Service",
                     "metadata": metadata(name, ctx.namespace, component=component),
                     "spec": {"type": "ClusterIP", "selector": selector(name, component),
                              "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]}})


def stage_job(s: Service, ctx: Context) -> Manifest:
    """Downloads the backend's checkpoint into the shared cache once, with the engine's own image and environment,
    on a CPU node; the Deployment waits for it."""
    script = f"from huggingface_hub import snapshot_download; snapshot_download({s.source!r})"
    stage = {"name": "stage", "image": s.launch.image, "command": ["python3", "-c", script],
             "env": [e for e in container("stage", s.engine, s.launch, secret=ctx.secret, start_window_s=1, gpus=0,
                                          cache=True)["env"]],
             "volumeMounts": [{"name": "model-cache", "mountPath": s.launch.cache_dir}]}
    spec = {"backoffLimit": 3, "template": {"metadata": {"labels": selector(f"{s.name}-stage", "stage")}, "spec": {
        "restartPolicy": "OnFailure", "containers": [stage],
        "volumes": [{"name": "model-cache", "persistentVolumeClaim": {"claimName": ctx.cache_claim}}],
        **placement(Placement(pool=ctx.cpu_pool))}}}
    return Manifest({"apiVersion": "batch/v1", "kind": "Job",
                     "metadata": metadata(f"{s.name}-stage", ctx.namespace, component="stage"), "spec": spec})


def stage_timeout_s(s: Service) -> int:
    assert s.sizing is not None
    return math.ceil(s.sizing.weights_bytes / DOWNLOAD_BYTES_PER_S) + JOB_MARGIN_S


def gateway_objects(gateway: GatewayPlan, base_urls: dict[str, str], ctx: Context, *, replicas: int,
                    max_replicas: int, ingress: Ingress | None, ingress_class: str) -> list[Manifest]:
    """ConfigMap, Deployment, Service, PodDisruptionBudget, HPA and (optionally) the Ingress of the gateway."""
    name, launch, component = "gateway", gateway.launch, Role.GATEWAY.value
    eng = engine("litellm")
    main = container("gateway", eng, launch, secret=ctx.secret, start_window_s=launch.start_period_s, gpus=0,
                     cache=False)
    main["volumeMounts"] = [{"name": "config", "mountPath": CONFIG_PATH, "subPath": GATEWAY_CONFIG_FILE,
                             "readOnly": True}]
    main["resources"] = {"requests": dict(GATEWAY_REQUESTS)}
    spread = {"maxSkew": 1, "topologyKey": HOSTNAME, "labelSelector": {"matchLabels": selector(name, component)},
              "whenUnsatisfiable": "DoNotSchedule" if ctx.spread_strictly else "ScheduleAnyway"}
    pod_spec = {"containers": [main],
                "volumes": [{"name": "config", "configMap": {"name": GATEWAY_CONFIG}}],
                "topologySpreadConstraints": [spread], **placement(Placement(pool=ctx.cpu_pool))}
    annotations = dict(launch.labels) | {Key.IMAGE.label: launch.image}
    objects = [
        Manifest({"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": metadata(GATEWAY_CONFIG, ctx.namespace, component=component),
                  "data": {GATEWAY_CONFIG_FILE: gateway.config_yaml(base_urls)}}),
        Manifest({"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": metadata(name, ctx.namespace, component=component),
                  "spec": {"replicas": replicas, "selector": {"matchLabels": selector(name, component)},
                           "template": {"metadata": {"labels": {**selector(name, component),
                                                                Key.JOB.label: "litellm"},
                                                     "annotations": annotations},
                                        "spec": pod_spec}}}),
        service(name, launch.port, ctx, component=component),
        Manifest({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                  "metadata": metadata(name, ctx.namespace, component=component),
                  "spec": {"minAvailable": 1 if replicas > 1 else 0,
                           "selector": {"matchLabels": selector(name, component)}}}),
        Manifest({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                  "metadata": metadata(name, ctx.namespace, component=component),
                  "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                           "minReplicas": replicas, "maxReplicas": max_replicas,
                           "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                               "type": "Utilization", "averageUtilization": GATEWAY_CPU_TARGET}}}]}}),
    ]
    if ingress is not None:
        objects.append(_ingress(name, launch.port, eng.health_path, ingress, ingress_class, ctx))
    return objects


def _ingress(name: str, port: int, health_path: str, ingress: Ingress, ingress_class: str, ctx: Context) -> Manifest:
    """An ALB in front of the gateway: HTTPS only with the ACM certificate, open to the spec's CIDRs
    (kubernetes-sigs/aws-load-balancer-controller docs/guide/ingress/annotations.md @ v2.x / v3)."""
    annotations = {
        "alb.ingress.kubernetes.io/scheme": ingress.scheme,
        "alb.ingress.kubernetes.io/target-type": "ip",
        "alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS": 443}]',
        "alb.ingress.kubernetes.io/certificate-arn": ingress.certificate_arn,
        "alb.ingress.kubernetes.io/inbound-cidrs": ",".join(ingress.allowed_cidrs),
        "alb.ingress.kubernetes.io/healthcheck-path": health_path,
    }
    rule: dict[str, Any] = {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": name, "port": {"number": port}}}}]}}
    spec: dict[str, Any] = {"ingressClassName": ingress_class, "rules": [rule]}
    if ingress.host:
        rule["host"] = ingress.host
        spec["tls"] = [{"hosts": [ingress.host]}]
    return Manifest({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                     "metadata": metadata(name, ctx.namespace, component=Role.GATEWAY.value, annotations=annotations),
                     "spec": spec})


def base_urls(services: list[Service], namespace: str) -> dict[str, str]:
    """Where the gateway reaches each planned service: its ClusterIP Service's DNS name and the engine's port."""
    return {s.name: f"http://{service_dns(s.name, namespace)}:{s.launch.port}" for s in services}
