"""`GpuNode` and `CpuNode` on their own: sizing, AMI, IMDSv2, disks, IAM, security-group rules, user data."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components import CpuNode, GpuNode
from components.nodes import CPU_AMI_PARAMETER, GPU_AMI_PARAMETER, SSM_POLICY_ARN
from llmstack import preview
from llmstack.errors import InputError
from llmstack.planner import PlanRequest, plan
from llmstack.preview import PreviewResult
from tests.components.conftest import Invoke
from tests.components.helpers import COMMAND, EGRESS, INGRESS, INSTANCE, SSM_INVOKE, one, record, unwrap

FAKE_AMI = "ami-0123456789abcdef0"  # what llmstack.preview's mock answers for the SSM parameter
PEER_SG, MONITORING_SG = "sg-gateway", "sg-prometheus"
ALLOWED, SSH = ["10.0.0.0/8", "172.16.0.0/12"], ["192.0.2.0/24"]
NETWORK: dict[str, Any] = {"vpc_id": "vpc-1", "subnet_id": "subnet-1"}
SIZED = {"model": "llama-3.1-8b", "engine": "vllm", "quant": "awq", "context": 16384, "concurrency": 8}


AUTONAMED = ("aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile")


def _autoname(self: preview._Outputs, args: Any) -> tuple[str, dict[str, Any]]:
    """The mock plus the provider's auto-naming of IAM resources, so the wiring by name shows in the inputs."""
    rid, state = _new_resource(self, args)
    if args.typ in AUTONAMED:
        state.setdefault("name", f"{args.name}-autoname")
    return rid, state


_new_resource = preview._Outputs.new_resource


def node(cls: type[GpuNode] | type[CpuNode], name: str, args: dict[str, Any]) -> tuple[PreviewResult, dict[str, Any]]:
    outputs: dict[str, Any] = {}

    def program() -> None:
        n = cls(name, {**NETWORK, **args})  # type: ignore[arg-type]
        for key in ("docker_host", "instance_type", "private_ip", "public_ip"):
            getattr(n, key).apply(lambda v, key=key: outputs.__setitem__(key, v))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preview._Outputs, "new_resource", _autoname)
        return record(program), outputs


@pytest.fixture(scope="module")
def gpu() -> tuple[PreviewResult, dict[str, Any]]:
    return node(GpuNode, "gpu-a", {
        "service_ports": [8000], "allowed_cidrs": ALLOWED, "peer_security_group_id": PEER_SG,
        "monitoring_security_group_id": MONITORING_SG, "ssh_cidrs": SSH, "root_volume_gb": 150, **SIZED})


@pytest.fixture(scope="module")
def cpu() -> tuple[PreviewResult, dict[str, Any]]:
    return node(CpuNode, "cpu-a", {"service_ports": [4000], "allowed_cidrs": ALLOWED, "ssh_cidrs": SSH,
                                   "monitoring_security_group_id": MONITORING_SG})


def test_gpu_instance_type_from_the_planner(gpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    result, outputs = gpu
    expected = plan(PlanRequest(**SIZED))
    assert expected.fits and expected.instance is not None
    instance = one(result, INSTANCE).inputs
    assert instance["instanceType"] == expected.instance.type
    assert outputs["instance_type"] == expected.instance.type
    assert instance["tags"]["llmstack:instance-type"] == expected.instance.type


def test_bigger_model_gets_a_bigger_instance() -> None:
    args = {"service_ports": [8000], **SIZED, "model": "llama-3.1-70b"}
    result, _ = node(GpuNode, "gpu-b", args)
    expected = plan(PlanRequest(**{**SIZED, "model": "llama-3.1-70b"}))
    assert expected.instance is not None
    assert one(result, INSTANCE).inputs["instanceType"] == expected.instance.type
    assert expected.instance.type != plan(PlanRequest(**SIZED)).instance.type  # type: ignore[union-attr]


def test_pinned_instance_type_is_respected() -> None:
    result, outputs = node(GpuNode, "gpu-p", {"service_ports": [8000], "instance_type": "p5.48xlarge", **SIZED})
    assert one(result, INSTANCE).inputs["instanceType"] == "p5.48xlarge"
    assert outputs["instance_type"] == "p5.48xlarge"


def test_cpu_instance_type_default_and_pinned(cpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    assert one(cpu[0], INSTANCE).inputs["instanceType"] == "m7i.xlarge"
    pinned, _ = node(CpuNode, "cpu-p", {"service_ports": [4000], "instance_type": "c7i.2xlarge"})
    assert one(pinned, INSTANCE).inputs["instanceType"] == "c7i.2xlarge"


def test_gpu_node_without_type_or_model() -> None:
    with pytest.raises(InputError) as caught:
        node(GpuNode, "gpu-x", {"service_ports": [8000]})
    assert "instance_type" in caught.value.field and "model" in caught.value.fix


def test_gpu_node_model_that_fits_nowhere() -> None:
    with pytest.raises(InputError) as caught:
        node(GpuNode, "gpu-x", {"service_ports": [8000], "model": "llama-3.1-405b", "engine": "vllm",
                                "quant": "bf16", "context": 131072, "concurrency": 16})
    assert "llama-3.1-405b" in str(caught.value) and "GiB" in str(caught.value)


@pytest.mark.parametrize(("kind", "parameter"), [(GpuNode, GPU_AMI_PARAMETER), (CpuNode, CPU_AMI_PARAMETER)])
def test_ami_from_the_ssm_parameter(invokes: list[Invoke], kind: type[GpuNode] | type[CpuNode],
                                    parameter: str) -> None:
    args = {"service_ports": [8000], **SIZED} if kind is GpuNode else {"service_ports": [4000]}
    result, _ = node(kind, "n", args)
    assert [(i.token, i.args) for i in invokes] == [(SSM_INVOKE, {"name": parameter})]
    assert one(result, INSTANCE).inputs["ami"] == FAKE_AMI
    if kind is GpuNode:
        assert "deeplearning" in parameter and "nvidia-driver" in parameter


@pytest.mark.parametrize("which", ["gpu", "cpu"])
def test_instance_hardening(which: str, gpu: tuple[PreviewResult, dict[str, Any]],
                            cpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    result = (gpu if which == "gpu" else cpu)[0]
    instance = one(result, INSTANCE).inputs
    assert instance["metadataOptions"]["httpTokens"] == "required"
    assert instance["metadataOptions"]["httpPutResponseHopLimit"] == 2  # containers reach IMDSv2
    disk = instance["rootBlockDevice"]
    assert disk["encrypted"] is True and disk["volumeType"] == "gp3"
    assert disk["volumeSize"] == (150 if which == "gpu" else 100)
    assert instance["userDataReplaceOnChange"] is True
    assert instance["vpcSecurityGroupIds"] == [one(result, "aws:ec2/securityGroup:SecurityGroup").name + "-id"]


@pytest.mark.parametrize("which", ["gpu", "cpu"])
def test_iam_role_profile_and_ssm(which: str, gpu: tuple[PreviewResult, dict[str, Any]],
                                  cpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    result = (gpu if which == "gpu" else cpu)[0]
    role = one(result, "aws:iam/role:Role")
    policy = json.loads(role.inputs["assumeRolePolicy"])
    assert policy["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    attachment = one(result, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").inputs
    assert attachment["policyArn"] == SSM_POLICY_ARN
    profile = one(result, "aws:iam/instanceProfile:InstanceProfile")
    assert attachment["role"] == f"{role.name}-autoname"
    assert profile.inputs["role"] == f"{role.name}-autoname"
    assert one(result, INSTANCE).inputs["iamInstanceProfile"] == f"{profile.name}-autoname"


def ingress(result: PreviewResult) -> list[dict[str, Any]]:
    return [r.inputs for r in result.registrations if r.type == INGRESS]


def test_engine_port_only_from_the_gateway_and_allowed_networks(gpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    rules = [r for r in ingress(gpu[0]) if r["fromPort"] == 8000]
    assert all(r["toPort"] == 8000 and r["ipProtocol"] == "tcp" for r in rules)
    assert sorted(r["cidrIpv4"] for r in rules if "cidrIpv4" in r) == sorted(ALLOWED)
    assert [r["referencedSecurityGroupId"] for r in rules if "referencedSecurityGroupId" in r] == [PEER_SG]
    assert all(("cidrIpv4" in r) != ("referencedSecurityGroupId" in r) for r in rules)


def test_no_port_open_to_the_world(gpu: tuple[PreviewResult, dict[str, Any]],
                                   cpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    for result in (gpu[0], cpu[0]):
        for rule in ingress(result):
            assert rule.get("cidrIpv4") != "0.0.0.0/0"
            assert rule.get("cidrIpv6") != "::/0"
        (egress,) = [r.inputs for r in result.registrations if r.type == EGRESS]
        assert egress["ipProtocol"] == "-1"  # downloads only; egress is the one open direction


def test_ssh_only_from_ssh_cidrs(gpu: tuple[PreviewResult, dict[str, Any]],
                                 cpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    for result in (gpu[0], cpu[0]):
        rules = [r for r in ingress(result) if r["fromPort"] == 22]
        assert sorted(r["cidrIpv4"] for r in rules) == sorted(SSH)
        assert all(r["toPort"] == 22 for r in rules)
    ports = {r["fromPort"] for r in ingress(gpu[0])}
    assert ports == {8000, 22, 9400}  # engine, ssh, dcgm-exporter: nothing else


def test_dcgm_only_from_prometheus_on_gpu_nodes(gpu: tuple[PreviewResult, dict[str, Any]],
                                                cpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    (dcgm,) = [r for r in ingress(gpu[0]) if r["fromPort"] == 9400]
    assert dcgm["referencedSecurityGroupId"] == MONITORING_SG and "cidrIpv4" not in dcgm
    assert not [r for r in ingress(cpu[0]) if r["fromPort"] == 9400]


def test_no_ssh_rule_without_ssh_cidrs() -> None:
    result, _ = node(CpuNode, "cpu-n", {"service_ports": [4000]})
    assert not [r for r in ingress(result) if r["fromPort"] == 22]


def test_user_data(gpu: tuple[PreviewResult, dict[str, Any]], cpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    gpu_script = one(gpu[0], INSTANCE).inputs["userData"]
    cpu_script = one(cpu[0], INSTANCE).inputs["userData"]
    for script in (gpu_script, cpu_script):
        assert script.startswith("#!/bin/bash")
        assert "set -euo pipefail" in script
        assert "systemctl enable --now docker" in script
        assert "usermod -aG docker ubuntu" in script
    assert "nvidia-container-toolkit" in gpu_script and "nvidia-ctk runtime configure" in gpu_script
    assert "docker run --rm --gpus all" in gpu_script
    assert "nvidia" not in cpu_script and "--gpus" not in cpu_script
    # The readiness marker is written last, after the probe.
    assert gpu_script.rstrip().splitlines()[-1].startswith("touch ")
    assert gpu_script.index("--gpus all") < gpu_script.rindex("touch ")


def test_readiness_command_and_docker_host(gpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    result, outputs = gpu
    ready = one(result, COMMAND)
    assert ready.parent == one(result, "llmstack:index:GpuNode").urn
    marker = one(result, INSTANCE).inputs["userData"].rstrip().splitlines()[-1].removeprefix("touch ")
    assert "cloud-init status --wait" in ready.inputs["create"] and marker in ready.inputs["create"]
    connection = unwrap(ready.inputs["connection"])
    assert connection["host"] == outputs["private_ip"] and connection["user"] == "ubuntu"
    assert outputs["docker_host"] == f"ssh://ubuntu@{outputs['private_ip']}"


def test_docker_host_over_the_public_ip() -> None:
    _, outputs = node(CpuNode, "cpu-pub", {"service_ports": [4000], "ssh_via": "public-ip", "ssh_user": "admin"})
    assert outputs["docker_host"] == f"ssh://admin@{outputs['public_ip']}"


def test_ssh_key_is_a_secret_in_the_readiness_connection() -> None:
    key = "-----BEGIN OPENSSH PRIVATE KEY-----abc"
    result, _ = node(CpuNode, "cpu-k", {"service_ports": [4000], "ssh_private_key": pulumi.Output.secret(key)})
    ready = one(result, COMMAND).inputs
    assert unwrap(ready["connection"])["privateKey"] == key
    assert key not in json.dumps({k: v for k, v in ready.items() if k != "connection"})
    assert key not in one(result, INSTANCE).inputs["userData"]


def test_children_are_parented(gpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    result = gpu[0]
    comp = one(result, "llmstack:index:GpuNode", "gpu-a")
    custom = [r for r in result.registrations if r.custom]
    assert custom and all(r.parent == comp.urn for r in custom)
