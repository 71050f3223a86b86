"""Planned Kubernetes objects and Helm add-ons as Pulumi resources, one resource per object.

Every object registers the way pulumi-kubernetes registers it: type `kubernetes:<group>/<version>:<kind>` (the token
of `apps.v1.Deployment`, `core.v1.Service`, `apiextensions.CustomResource`, ...) with the object's top-level fields,
camelCase, as inputs; the provider handles every kind through that one path. Doing it directly (rather than through
the typed classes) passes any top-level field (`data`, `stringData`, `provisioner`) and skips loading the typed SDK,
over half a second of every preview. The engine, the policy pack and the tests see each object on its own (a
`helm.v4.Chart` or `yaml.v2.ConfigGroup` would hide them: both are remote components). Add-ons install as
`helm.v3.Release`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import version
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from llmstack.stackplan.kubernetes import KubernetesPlan
from llmstack.stackplan.kubernetes.addons import HelmRelease
from llmstack.stackplan.kubernetes.objects import Manifest

# The add-on that installs each custom resource's definition: the resource waits for it.
CRD_FROM = {"karpenter.sh": "karpenter", "karpenter.k8s.aws": "karpenter", "keda.sh": "keda",
            "monitoring.coreos.com": "kube-prometheus-stack", "leaderworkerset.x-k8s.io": "lws"}
# Fields the provider keeps secret in its outputs and state (as its typed `core.v1.Secret` does).
SECRET_FIELDS = {"Secret": ["data", "stringData"]}
PROVIDER_VERSION = version("pulumi-kubernetes")  # the plugin the engine loads, as the typed classes ask for it


class KubernetesObject(pulumi.CustomResource):
    """One Kubernetes object, as the kubernetes provider registers it."""

    def __init__(self, name: str, body: Mapping[str, Any], opts: pulumi.ResourceOptions) -> None:
        kind, api = str(body["kind"]), str(body["apiVersion"])
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            version=PROVIDER_VERSION, additional_secret_outputs=SECRET_FIELDS.get(kind)))
        # The core group has no name in apiVersion (`v1`) but one in the token (`kubernetes:core/v1:Service`).
        super().__init__(f"kubernetes:{api if '/' in api else f'core/{api}'}:{kind}", name, dict(body), opts)


def resource(manifest: Manifest, opts: pulumi.ResourceOptions,
             overrides: Mapping[str, Any] | None = None) -> pulumi.CustomResource:
    """One object; `overrides` replaces top-level fields with Pulumi values (a Secret's `stringData`)."""
    return KubernetesObject(f"{manifest.kind.lower()}-{manifest.name}", {**manifest.body, **(overrides or {})}, opts)


def release(addon: HelmRelease, opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
    oci = addon.repository.startswith("oci://")
    return k8s.helm.v3.Release(
        addon.name, name=addon.name, chart=f"{addon.repository}/{addon.chart}" if oci else addon.chart,
        repository_opts=None if oci else k8s.helm.v3.RepositoryOptsArgs(repo=addon.repository),
        version=addon.version, namespace=addon.namespace, create_namespace=True, values=addon.values,
        # Wait for the add-on's pods, so the custom resources that need its controller come after it.
        skip_await=False, opts=opts)


def apply(plan: KubernetesPlan, *, parent: pulumi.Resource, provider: pulumi.ProviderResource,
          secrets: Mapping[str, pulumi.Input[str]], after: Sequence[pulumi.Resource] = (),
          overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, pulumi.Resource]:
    """Every add-on, the stack's Secret and every planned object, in dependency order; returns them by key.
    `overrides` fills in top-level fields only known at deploy time (`{object key: {field: value}}`)."""
    def opts(depends: Sequence[pulumi.Resource] = (), timeout_s: int | None = None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(
            parent=parent, provider=provider, depends_on=[*after, *depends],
            custom_timeouts=pulumi.CustomTimeouts(create=f"{timeout_s}s") if timeout_s else None)

    releases = {a.name: release(a, opts()) for a in plan.releases}
    created: dict[str, pulumi.Resource] = {}
    namespace = resource(plan.objects[0], opts())
    created[plan.objects[0].key] = namespace
    secret = Manifest({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                       "metadata": {"name": plan.secret, "namespace": plan.namespace}})
    given = {var: pulumi.Output.secret(secrets[key]) for var, key in plan.secret_keys.items() if key in secrets}
    created[secret.key] = resource(secret, opts([namespace]), {"stringData": given})
    for m in plan.objects[1:]:
        waits: list[pulumi.Resource] = [namespace] if "namespace" in m.body["metadata"] else []
        group = m.api_version.split("/")[0] if "/" in m.api_version else ""
        if group in CRD_FROM and CRD_FROM[group] in releases:
            waits.append(releases[CRD_FROM[group]])
        waits += [created[k] for k in plan.depends.get(m.key, ())]
        if m.kind in ("Deployment", "Job", "DaemonSet"):
            waits.append(created[secret.key])
        created[m.key] = resource(m, opts(waits, plan.timeouts_s.get(m.key)), (overrides or {}).get(m.key))
    return {**created, **{f"HelmRelease/{k}": v for k, v in releases.items()}}
