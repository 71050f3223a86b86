"""What each Kubernetes target needs and creates around the workloads: an existing cluster's kubeconfig, the EKS
cluster's own resources, the add-ons per compute mode."""

from __future__ import annotations

import runpy
from pathlib import Path

import pulumi
import pytest

from llmstack.policy_check import analyze, load_policy_config, mandatory
from llmstack.spec import parse_spec, stack_config
from llmstack.stackplan import plan_stack
from tests.components.helpers import is_secret, record
from tests.conftest import PROGRAM, stack_file
from tests.k8s.stacks import EXISTING_CLUSTER, K8sStack, previewed, write_stack


def test_an_existing_cluster_needs_its_kubeconfig() -> None:
    """Without the secret the program stops before creating anything, with the command that fixes it."""
    config = {**stack_config(stack_file("prod-eks")), "target": EXISTING_CLUSTER}
    with pytest.raises(pulumi.RunError) as caught:
        record(lambda: runpy.run_path(str(PROGRAM), run_name="__main__"), stack="no-kubeconfig", config=config,
               secret_config={"masterKey": "sk-no-kubeconfig-0123456789"})
    assert str(caught.value).startswith("kubeconfig: ")
    assert "pulumi config set --secret kubeconfig" in str(caught.value)


def types(stack: K8sStack) -> set[str]:
    return {r.type for r in stack.result.registrations}


def test_the_kubeconfig_stays_secret(k8s_stacks: dict[str, K8sStack]) -> None:
    (provider,) = [r for r in k8s_stacks["existing-cluster"].result.registrations
                   if r.type == "pulumi:providers:kubernetes"]
    assert is_secret(provider.inputs["kubeconfig"])


def test_eks_with_karpenter_creates_the_cluster_and_its_controller(k8s_stacks: dict[str, K8sStack]) -> None:
    stack = k8s_stacks["prod-eks"]
    assert {"eks:index:Cluster", "aws:sqs/queue:Queue", "aws:eks/podIdentityAssociation:PodIdentityAssociation",
            "aws:efs/fileSystem:FileSystem", "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"} <= types(stack)
    releases = {r.inputs["name"] for r in stack.result.registrations if r.type == "kubernetes:helm.sh/v3:Release"}
    assert {"karpenter", "nvidia-device-plugin", "keda", "kube-prometheus-stack"} <= releases


def test_auto_mode_brings_its_own_nodes_and_device_plugin(k8s_stacks: dict[str, K8sStack]) -> None:
    stack = k8s_stacks["auto-mode"]
    releases = {r.inputs["name"] for r in stack.result.registrations if r.type == "kubernetes:helm.sh/v3:Release"}
    assert not {"karpenter", "nvidia-device-plugin"} & releases
    assert "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass" not in types(stack)
    pools = [r for r in stack.result.registrations if r.type == "kubernetes:karpenter.sh/v1:NodePool"]
    assert pools and all(p.inputs["spec"]["template"]["spec"]["nodeClassRef"] == {
        "group": "eks.amazonaws.com", "kind": "NodeClass", "name": "default"} for p in pools)


def test_an_existing_cluster_gets_no_aws_resources(k8s_stacks: dict[str, K8sStack]) -> None:
    assert not [t for t in types(k8s_stacks["existing-cluster"]) if t.startswith(("aws:", "eks:"))]


def test_a_docker_stack_moves_to_eks_by_its_target_alone(tmp_path: Path) -> None:
    """prod (EC2) with only `target` replaced by prod-eks's: it previews, passes the whole pack, and serves the same
    models with the same launches."""
    prod = stack_config(stack_file("prod"))
    moved = {**prod, "target": stack_config(stack_file("prod-eks"))["target"]}
    result = previewed(write_stack(tmp_path, "prod-moved", moved)).result
    assert mandatory(analyze(result.registrations, load_policy_config(None))) == []
    on_ec2, on_eks = plan_stack(parse_spec(prod)), plan_stack(parse_spec(moved))
    assert [(s.name, s.route, s.launch.image, s.launch.command) for s in on_ec2.services] == [
        (s.name, s.route, s.launch.image, s.launch.command) for s in on_eks.services]
