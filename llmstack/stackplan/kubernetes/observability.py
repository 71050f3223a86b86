"""Monitoring on Kubernetes: kube-prometheus-stack runs Prometheus; the stack adds the same alert rules as a
PrometheusRule, a PodMonitor per engine kind, the gateway and the DCGM exporter, and the exporter as a DaemonSet on
GPU nodes.

PodMonitors give the targets the labels the rules select on, as the Docker targets' static configs do: `job` from the
pod's `llmstack.job` label (`jobLabel`), then `backend`, `engine`, `model`, `node` and, for DCGM, the node's
`gpu_memory_model` (`attachMetadata.node`). prometheus-operator API: Documentation/api-reference/api.md @ v0.93.0.
"""

from __future__ import annotations

from typing import Any

import yaml

from llmstack.engines import Engine
from llmstack.labels import Key, Role
from llmstack.monitoring import alert_rules_text, dcgm_exporter
from llmstack.stackplan.kubernetes.objects import GPU_PRESENT, Manifest, metadata
from llmstack.stackplan.kubernetes.pods import GPU_TOLERATION
from llmstack.stackplan.litellm_config import MASTER_KEY_ENV

_POD_LABEL = "__meta_kubernetes_pod_label_"
_POD_ANNOTATION = "__meta_kubernetes_pod_annotation_"
_SCRAPE_INTERVAL = "15s"  # as the Docker targets' prometheus.yml (llmstack/monitoring/prometheus.py)


def _meta_name(key: str) -> str:
    """Prometheus's name for a label/annotation key in service discovery metadata (non [a-zA-Z0-9_] -> _)."""
    return "".join(c if c.isalnum() else "_" for c in key)


def _relabel(source: str, target: str) -> dict[str, Any]:
    return {"sourceLabels": [source], "targetLabel": target, "action": "replace"}


def engine_pod_monitor(engine: Engine, namespace: str, secret: str) -> Manifest:
    """Scrapes every pod of one engine kind (job `engine-<engine>`), with the engine key where its key guards
    /metrics (llama.cpp; docs/engines.md §1.1)."""
    relabel = [
        _relabel(_POD_LABEL + _meta_name("app.kubernetes.io/instance"), "backend"),
        _relabel(_POD_ANNOTATION + _meta_name(Key.ENGINE.label), "engine"),
        _relabel(_POD_ANNOTATION + _meta_name(Key.SERVED_MODEL.label), "model"),
        _relabel("__meta_kubernetes_pod_node_name", "node"),
    ]
    job = f"engine-{engine.name}"
    return Manifest({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
                     "metadata": metadata(job, namespace, component="monitoring"),
                     "spec": {"jobLabel": Key.JOB.label,
                              "selector": {"matchLabels": {Key.JOB.label: job}},
                              "podMetricsEndpoints": [{"port": "http", "path": engine.metrics_path,
                                                       "interval": _SCRAPE_INTERVAL, "relabelings": relabel,
                                                       **_bearer(engine, secret)}]}})


def _bearer(engine: Engine, secret: str) -> dict[str, Any]:
    if not engine.scrape_needs_key or engine.api_key is None:
        return {}
    return {"authorization": {"type": "Bearer", "credentials": {"name": secret, "key": engine.api_key.env}}}


def gateway_pod_monitor(gateway: Engine, namespace: str, secret: str) -> Manifest:
    """LiteLLM's /metrics needs the key (>= 1.85, docs/engines.md §7.8): read from the stack's Secret."""
    return Manifest({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
                     "metadata": metadata("litellm", namespace, component="monitoring"),
                     "spec": {"jobLabel": Key.JOB.label,
                              "selector": {"matchLabels": {Key.JOB.label: "litellm"}},
                              "podMetricsEndpoints": [{
                                  "port": "http", "path": gateway.metrics_path, "interval": _SCRAPE_INTERVAL,
                                  "authorization": {"type": "Bearer",
                                                    "credentials": {"name": secret, "key": MASTER_KEY_ENV}},
                                  "relabelings": [_relabel("__meta_kubernetes_pod_node_name", "node")]}]}})


def dcgm(namespace: str) -> list[Manifest]:
    """The DCGM exporter on every GPU node, and its PodMonitor (GPU memory for `GpuMemoryHigh`)."""
    exporter = dcgm_exporter()
    name = "dcgm-exporter"
    pod_labels = {"app.kubernetes.io/name": name, Key.JOB.label: "dcgm"}
    container = {
        "name": name, "image": exporter.image_ref(),
        "ports": [{"name": "http", "containerPort": exporter.port, "protocol": "TCP"}],
        # The exporter reads the GPUs through the NVIDIA runtime and maps them to pods through the kubelet's
        # pod-resources socket (NVIDIA/dcgm-exporter deployment/templates/daemonset.yaml @ 924ebb6).
        "env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"},
                {"name": "DCGM_EXPORTER_KUBERNETES", "value": "true"}],
        "securityContext": {"capabilities": {"add": list(exporter.capabilities)}},
        "volumeMounts": [{"name": "pod-resources", "mountPath": "/var/lib/kubelet/pod-resources", "readOnly": True}],
        "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 10},
    }
    daemonset = Manifest({"apiVersion": "apps/v1", "kind": "DaemonSet",
                          "metadata": metadata(name, namespace, component=Role.MONITORING.value),
                          "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                                   "template": {"metadata": {"labels": pod_labels}, "spec": {
                                       "nodeSelector": {GPU_PRESENT: "true"}, "tolerations": [GPU_TOLERATION],
                                       "containers": [container],
                                       "volumes": [{"name": "pod-resources", "hostPath": {
                                           "path": "/var/lib/kubelet/pod-resources"}}]}}}})
    monitor = Manifest({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
                        "metadata": metadata("dcgm", namespace, component="monitoring"),
                        "spec": {"jobLabel": Key.JOB.label, "attachMetadata": {"node": True},
                                 "selector": {"matchLabels": {Key.JOB.label: "dcgm"}},
                                 "podMetricsEndpoints": [{
                                     "port": "http", "path": exporter.metrics_path, "interval": _SCRAPE_INTERVAL,
                                     "relabelings": [
                                         _relabel("__meta_kubernetes_pod_node_name", "node"),
                                         _relabel("__meta_kubernetes_node_label_" + _meta_name(
                                             "llmstack.gpu-memory-model"), "gpu_memory_model")]}]}})
    return [daemonset, monitor]


def alert_rules(namespace: str) -> Manifest:
    """The alert rules the Docker targets load from a file, as a PrometheusRule (the same groups)."""
    groups = yaml.safe_load(alert_rules_text())["groups"]
    return Manifest({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
                     "metadata": metadata("llmstack-alerts", namespace, component="monitoring"),
                     "spec": {"groups": groups}})


def prometheus_values(cpu_pool: dict[str, str] | None) -> dict[str, Any]:
    """kube-prometheus-stack 88.5.3 values: Prometheus picks up every PodMonitor and PrometheusRule (the chart's
    default selects only those labelled `release: <name>`), keeps 15 days, runs on CPU nodes; no Grafana."""
    spec: dict[str, Any] = {
        "ruleSelectorNilUsesHelmValues": False, "podMonitorSelectorNilUsesHelmValues": False,
        "serviceMonitorSelectorNilUsesHelmValues": False, "retention": "15d",
    }
    if cpu_pool:
        spec["nodeSelector"] = dict(cpu_pool)
    return {"grafana": {"enabled": False}, "prometheus": {"prometheusSpec": spec}}
