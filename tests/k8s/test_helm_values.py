"""The values the stack passes to each Helm release, checked offline against the chart's own default `values.yaml`.

None of the charts the stack installs publishes a `values.schema.json` (tests/k8s/helm/README.md), so Helm itself
accepts any key: a misspelled one is silently ignored. The next best check uses the chart's default values, committed
as tests/k8s/helm/<chart>-<version>.values.yaml at the pinned version: every key path the stack sets must exist
there with a value of the same kind. Below a map the chart leaves open (default `{}`, `[]` or null) or a Kubernetes
string map (`nodeSelector`, labels, annotations) any key is allowed; list items are never descended into. Then the
chart-specific constraints the README lists, evaluated on the values Helm would render with (defaults coalesced
with ours).
"""

from __future__ import annotations

import difflib
import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from llmstack.datafiles import load_yaml
from llmstack.preview import Registration
from llmstack.stackplan.kubernetes import HelmRelease, KubernetesPlan, interruption_queue, plan_kubernetes
from llmstack.stackplan.kubernetes.objects import Manifest
from tests.k8s.schemas import plain
from tests.k8s.stacks import K8sStack

HELM = Path(__file__).resolve().parent / "helm"
RELEASE = "kubernetes:helm.sh/v3:Release"
# Kubernetes `map[string]string` fields: open whatever the chart's default holds (karpenter's `nodeSelector` defaults
# to `kubernetes.io/os: linux`, and Helm merges ours into it).
STRING_MAPS = frozenset({"nodeSelector", "labels", "annotations", "podLabels", "podAnnotations", "additionalLabels",
                         "additionalAnnotations", "commonLabels"})
# prometheus-operator's selector fields for each kind the stack creates (kube-prometheus-stack 88.5.3,
# values.yaml prometheus.prometheusSpec).
MONITOR_SELECTORS = {"PodMonitor": "podMonitor", "ServiceMonitor": "serviceMonitor", "PrometheusRule": "rule"}


def catalog() -> dict[str, dict[str, str]]:
    entries: dict[str, dict[str, str]] = load_yaml("llmstack.catalog", "addons.yaml")["addons"]
    return entries


@cache
def chart_defaults(chart: str, version: str) -> dict[str, Any]:
    """The chart's default values.yaml at `version`, as committed."""
    values: dict[str, Any] = yaml.safe_load((HELM / f"{chart}-{version}.values.yaml").read_text())
    return values


def _kind(value: Any) -> str:
    """A value's kind as templates see it: a quoted "false" is a truthy string, hence bool apart from string."""
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "string"


def key_problems(values: dict[str, Any], defaults: dict[str, Any], path: str = "") -> list[str]:
    """Every key path in `values` the chart's `defaults` lack, or hold with another kind (empty: all known)."""
    out: list[str] = []
    for key, value in values.items():
        where = f"{path}.{key}" if path else key
        if key not in defaults:
            near = difflib.get_close_matches(key, list(defaults), n=1)
            out.append(f"{where}: not a key of the chart's values" + (f" (did you mean {near[0]}?)" if near else ""))
            continue
        default = defaults[key]
        if default is None or value is None:  # untyped in the chart, or ours removes the default
            continue
        if _kind(value) != _kind(default):
            out.append(f"{where}: {_kind(value)} where the chart has a {_kind(default)} ({default!r})")
        elif key in STRING_MAPS:
            out += [f"{where}.{k}: {v!r} is not a string" for k, v in value.items() if not isinstance(v, str)]
        elif isinstance(value, dict) and default:
            out += key_problems(value, default, where)
    return out


def coalesced(defaults: Any, values: Any) -> Any:
    """The values Helm renders with: maps merge key by key, anything else replaces, a null removes the key."""
    if not (isinstance(defaults, dict) and isinstance(values, dict)):
        return values
    out = dict(defaults)
    for key, value in values.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = coalesced(defaults.get(key), value)
    return out


def rendered(release: HelmRelease) -> dict[str, Any]:
    merged: dict[str, Any] = coalesced(chart_defaults(release.chart, release.version), release.values)
    return merged


def releases(stack: K8sStack) -> dict[str, Registration]:
    return {r.inputs["name"]: r for r in stack.result.registrations if r.type == RELEASE}


def planned(stack: K8sStack) -> dict[str, HelmRelease]:
    return {a.name: a for a in plan_kubernetes(stack.plan).releases}


def test_a_values_file_per_catalog_chart_at_its_pinned_version() -> None:
    """A chart bump in addons.yaml fails here until the chart's values.yaml is refreshed (and its README row)."""
    wanted = {f"{e['chart']}-{e['version']}.values.yaml" for e in catalog().values()}
    assert {p.name for p in HELM.glob("*.values.yaml")} == wanted
    readme = (HELM / "README.md").read_text()
    assert not [name for name in wanted if f"`{name}`" not in readme]
    assert all(isinstance(chart_defaults(e["chart"], e["version"]), dict) for e in catalog().values())


def test_the_fixtures_exercise_every_chart_specific_constraint(k8s_stacks: dict[str, K8sStack]) -> None:
    """The constraint tests below return early for a stack without their release: some stack must have each."""
    installed = {name for stack in k8s_stacks.values() for name in releases(stack)}
    assert installed >= {"karpenter", "nvidia-device-plugin", "kube-prometheus-stack"}


def test_registered_release_values_are_the_planned_values(k8s: K8sStack) -> None:
    registered, plan = releases(k8s), planned(k8s)
    assert registered.keys() == plan.keys()
    for name, addon in plan.items():
        inputs = registered[name].inputs
        assert (inputs["version"], plain(inputs.get("values", {}))) == (addon.version, addon.values), name
        assert inputs["chart"] in (addon.chart, f"{addon.repository}/{addon.chart}"), name


def test_every_key_the_stack_sets_is_a_key_of_the_chart(k8s: K8sStack) -> None:
    for name, registration in releases(k8s).items():
        addon = planned(k8s)[name]
        values = plain(registration.inputs.get("values", {}))
        assert key_problems(values, chart_defaults(addon.chart, addon.version)) == [], (k8s.name, name)


def test_the_check_rejects_misspelled_and_mistyped_keys() -> None:
    defaults = chart_defaults("karpenter", catalog()["karpenter"]["version"])
    good = {"settings": {"clusterName": "c", "interruptionQueue": "q"}, "nodeSelector": {"pool": "cpu"},
            "tolerations": [{"key": "any", "operator": "Exists"}], "podAnnotations": {"a": "b"}}
    assert key_problems(good, defaults) == []
    assert [p.split(":")[0] for p in key_problems({"settings": {"clustername": "c"}}, defaults)] == [
        "settings.clustername"]
    bad = {"settings": {"featureGates": {"spotToSpotConsolidation": "true"}}, "replicas": "2", "nodeSelector": {"a": 1},
           "tolerations": {"key": "x"}, "serviceAccount": {"create": True, "nmae": "k"}}
    assert sorted(p.split(":")[0] for p in key_problems(bad, defaults)) == [
        "nodeSelector.a", "replicas", "serviceAccount.nmae", "settings.featureGates.spotToSpotConsolidation",
        "tolerations"]


def _service_account(release: HelmRelease, values: dict[str, Any]) -> str:
    """charts/karpenter/templates/_helpers.tpl @ v1.14.1: karpenter.serviceAccountName (create: true)."""
    assert values["serviceAccount"]["create"] is True
    if values["serviceAccount"]["name"]:
        return str(values["serviceAccount"]["name"])
    if values["fullnameOverride"]:
        return str(values["fullnameOverride"])
    chart = values["nameOverride"] or release.chart
    return release.name if chart in release.name else f"{release.name}-{chart}"


def test_karpenter_is_told_its_cluster_and_queue_and_runs_as_the_associated_account(k8s: K8sStack) -> None:
    """`settings.clusterName` is `required` by the chart's deployment.yaml; the queue and the Pod Identity
    association must be the ones the stack creates."""
    addon = planned(k8s).get("karpenter")
    if addon is None:
        return
    values, kplan = rendered(addon), plan_kubernetes(k8s.plan)
    assert kplan.cluster and values["settings"]["clusterName"] == kplan.cluster
    assert values["settings"]["interruptionQueue"] == interruption_queue(kplan.cluster)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in k8s.result.registrations:
        by_type.setdefault(r.type, []).append(r.inputs)
    assert {q["name"] for q in by_type["aws:sqs/queue:Queue"]} >= {values["settings"]["interruptionQueue"]}
    assert {c["name"] for c in by_type["eks:index:Cluster"]} == {kplan.cluster}
    associations = {(a["clusterName"], a["namespace"], a["serviceAccount"])
                    for a in by_type["aws:eks/podIdentityAssociation:PodIdentityAssociation"]}
    assert (kplan.cluster, addon.namespace, _service_account(addon, values)) in associations


def _selects(values: dict[str, Any], release: HelmRelease, m: Manifest) -> list[str]:
    """Why the chart's Prometheus would not pick up `m` (empty: it does)."""
    spec, field = values["prometheus"]["prometheusSpec"], MONITOR_SELECTORS[m.kind]
    labels = m.body["metadata"].get("labels", {})
    out = []
    if spec[f"{field}SelectorNilUsesHelmValues"] and labels.get("release") != release.name:
        out.append(f"{field}SelectorNilUsesHelmValues is true and {m.key} has no label release={release.name}")
    if spec[f"{field}Selector"] not in ({}, None):
        out.append(f"{field}Selector is set: {spec[f'{field}Selector']}")
    if spec[f"{field}NamespaceSelector"] != {} and m.body["metadata"].get("namespace") != release.namespace:
        out.append(f"{field}NamespaceSelector {spec[f'{field}NamespaceSelector']!r} misses {m.key}'s namespace")
    return out


def test_prometheus_picks_up_every_monitor_and_rule_the_stack_creates(k8s: K8sStack) -> None:
    kplan: KubernetesPlan = plan_kubernetes(k8s.plan)
    addon = planned(k8s).get("kube-prometheus-stack")
    monitors = [m for m in kplan.objects if m.kind in MONITOR_SELECTORS]
    assert bool(monitors) == (addon is not None)
    if addon is not None:
        values = rendered(addon)
        assert [p for m in monitors for p in _selects(values, addon, m)] == []


def _matches(e: dict[str, Any], labels: dict[str, str]) -> bool:
    """One node selector requirement (In, NotIn, Exists, DoesNotExist) against node labels."""
    op, key = str(e["operator"]), str(e["key"])
    if op in ("Exists", "DoesNotExist"):
        return (key in labels) == (op == "Exists")
    return (labels.get(key) in list(e["values"])) == (op == "In")


def _admits(terms: list[dict[str, Any]], labels: dict[str, str]) -> bool:
    """Whether node labels satisfy a required node affinity (any term; all its expressions)."""
    return any(all(_matches(e, labels) for e in t.get("matchExpressions", [])) for t in terms)


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, str]) -> bool:
    return any((t.get("key") in (None, taint["key"])) and t.get("effect") in (None, taint["effect"])
               and (t.get("operator") == "Exists" or t.get("value") == taint.get("value")) for t in tolerations)


def test_the_device_plugin_schedules_on_every_gpu_node_pool(k8s: K8sStack) -> None:
    """The chart's default affinity wants an NFD/GFD label or `nvidia.com/gpu.present=true` (README): every
    NodePool the stack creates must carry one and have its taints tolerated."""
    addon = planned(k8s).get("nvidia-device-plugin")
    if addon is None:
        return
    pools = [m.body["spec"]["template"] for m in plan_kubernetes(k8s.plan).objects if m.kind == "NodePool"]
    assert pools, k8s.name
    values = rendered(addon)
    terms = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    for pool in pools:
        labels = pool["metadata"]["labels"]
        assert _admits(terms, labels), labels
        assert all(labels.get(k) == v for k, v in values["nodeSelector"].items()), labels
        assert all(_tolerates(values["tolerations"], t) for t in pool["spec"].get("taints", [])), pool["spec"]


def test_the_values_files_are_upstreams_byte_for_byte() -> None:
    """Each committed file has the sha256 its README row records for the upstream file at the pinned tag."""
    rows = [line for line in (HELM / "README.md").read_text().splitlines() if line.startswith("|")]
    for path in HELM.glob("*.values.yaml"):
        row = next(line for line in rows if f"`{path.name}`" in line)
        assert f"`{hashlib.sha256(path.read_bytes()).hexdigest()}`" in row, path.name
