"""The Kubernetes targets' builder: the stack plan's Kubernetes objects on an EKS cluster it creates (`eks`) or on an
existing cluster (`kubernetes`, from the `kubeconfig` secret). It creates what `plan_kubernetes` planned, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.kubernetes.apply import apply
from components.kubernetes.eks import build_eks
from llmstack.errors import InputError
from llmstack.labels import Key
from llmstack.spec import EksTarget
from llmstack.stackplan import StackPlan
from llmstack.stackplan.kubernetes import EFS_STORAGE_CLASS
from llmstack.stackplan.kubernetes.objects import service_dns


def build_kubernetes(parent: pulumi.Resource, plan: StackPlan, secrets: Mapping[str, pulumi.Input[str]]) -> tuple[
        pulumi.Output[str], dict[str, Any]]:
    """Create the plan's objects; returns the gateway URL and the endpoints (`llmstack verify`'s shape)."""
    spec, target = plan.spec, plan.spec.target
    kplan = plan.kubernetes
    assert kplan is not None, "plan_stack plans the Kubernetes objects of a Kubernetes target"
    child = pulumi.ResourceOptions(parent=parent)
    overrides: dict[str, dict[str, Any]] = {}
    if isinstance(target, EksTarget):
        tags = {Key.ENVIRONMENT.tag: spec.environment, **spec.tags}
        region = aws.Provider("aws", region=target.region, default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
                              opts=child)
        cluster = build_eks(f"{spec.environment}-llm", target, kplan, tags,
                            pulumi.ResourceOptions(parent=parent, providers={"aws": region}))
        provider, after = cluster.provider, cluster.ready
        overrides[f"StorageClass/{EFS_STORAGE_CLASS}"] = {"parameters": {
            "provisioningMode": "efs-ap", "fileSystemId": cluster.file_system_id, "directoryPerms": "700"}}
    else:
        if "kubeconfig" not in secrets:
            raise InputError("kubeconfig", None, "A kubernetes target needs the cluster's kubeconfig as a secret: "
                             "pulumi config set --secret kubeconfig \"$(cat ~/.kube/config)\"", problem="is not set")
        provider = k8s.Provider("k8s", kubeconfig=secrets["kubeconfig"], enable_server_side_apply=True, opts=child)
        after = ()
    apply(kplan, parent=parent, provider=provider, secrets=secrets, after=after, overrides=overrides)
    gateway_url = pulumi.Output.from_input(kplan.gateway_url)
    endpoints = {s.name: {"url": f"http://{service_dns(s.name, kplan.namespace)}:{s.launch.port}",
                          "engine": s.engine.name, "model": s.served_name, "gateway_model": s.route,
                          "container": s.name, "docker_host": None}
                 for s in plan.services}
    return gateway_url, endpoints
