"""`GpuNode` and `CpuNode` on their own: sizing, AMI (pinned or resolved once), IMDSv2, disks, IAM, security-group
rules, user data, and one SSH story (key, host keys, readiness retries) for the readiness check and the Docker
provider."""

from __future__ import annotations

import itertools
import json
import runpy
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components import CpuNode, GpuNode, Network
from components.container import tie_to_node
from components.nodes import (
    CPU_AMI_PARAMETER,
    GPU_AMI_PARAMETER,
    PER_DIAL_TIMEOUT_S,
    READY_TIMEOUT_S,
    SSH_DIR_ENV,
    SSM_POLICY_ARN,
)
from components.userdata import APT_LOCK_TIMEOUT_S, CLOUD_INIT_LOG, INIT_LOG, READY_MARKER
from llmstack import preview
from llmstack.errors import InputError
from llmstack.planner import PlanRequest, plan
from llmstack.preview import PreviewResult
from llmstack.spec import stack_config
from tests.components.conftest import Invoke
from tests.components.helpers import (
    COMMAND,
    DOCKER_PROVIDER,
    EGRESS,
    INGRESS,
    INSTANCE,
    NETWORK,
    SSM_INVOKE,
    one,
    provider_of,
    record,
    unwrap,
)
from tests.conftest import PROGRAM, stack_file

FAKE_AMI = "ami-0123456789abcdef0"  # what llmstack.preview's mock answers for the SSM parameter
PINNED_AMI = "ami-0fedcba9876543210"
PEER_SG, MONITORING_SG = "sg-gateway", "sg-prometheus"
ALLOWED, SSH = ["10.0.0.0/8", "172.16.0.0/12"], ["192.0.2.0/24"]
VPC: dict[str, Any] = {"vpc_id": "vpc-1", "subnet_id": "subnet-1"}
LOCAL_COMMAND = "command:local:Command"
KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ-test-only\n"
       "-----END OPENSSH PRIVATE KEY-----\n")
SIZED = {"model": "llama-3.1-8b", "engine": "vllm", "quant": "awq", "context": 16384, "concurrency": 8}


AUTONAMED = ("aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile")


def _autoname(self: preview._Outputs, args: Any) -> tuple[str, dict[str, Any]]:
    """The mock plus the provider's auto-naming of IAM resources, so the wiring by name shows in the inputs."""
    rid, state = _new_resource(self, args)
    if args.typ in AUTONAMED:
        state.setdefault("name", f"{args.name}-autoname")
    return rid, state


_new_resource = preview._Outputs.new_resource


@pytest.fixture(scope="module", autouse=True)
def ssh_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The SSH files the program writes for the Docker provider go to a temporary folder."""
    folder = tmp_path_factory.mktemp("ssh")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SSH_DIR_ENV, str(folder))
        yield folder / "llm-inference-stack.test"


def node(cls: type[GpuNode] | type[CpuNode], name: str, args: dict[str, Any]) -> tuple[PreviewResult, dict[str, Any]]:
    """The node, plus a Docker network on its `docker_host` (as InferenceStack places one) to show the provider."""
    outputs: dict[str, Any] = {}

    def program() -> None:
        n = cls(name, {**VPC, **args})  # type: ignore[arg-type]
        Network(f"{name}-docker-net", {"docker_host": n.docker_host},
                pulumi.ResourceOptions(transformations=[tie_to_node]))
        for key in ("docker_host", "instance_type", "private_ip", "public_ip"):
            getattr(n, key).apply(lambda v, key=key: outputs.__setitem__(key, v))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preview._Outputs, "new_resource", _autoname)
        return record(program), outputs


@pytest.fixture(scope="module")
def gpu() -> tuple[PreviewResult, dict[str, Any]]:
    return node(GpuNode, "gpu-a", {
        "service_ports": [8000], "peer_security_group_id": PEER_SG, "monitoring_security_group_id": MONITORING_SG,
        "ssh_cidrs": SSH, "root_volume_gb": 150, "ssh_private_key": pulumi.Output.secret(KEY), **SIZED})


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
def test_unpinned_ami_is_resolved_once_and_kept(invokes: list[Invoke], kind: type[GpuNode] | type[CpuNode],
                                               parameter: str) -> None:
    """Without a pin the SSM parameter names the AMI at creation; `ignore_changes` keeps it afterwards, so a newer
    `latest` never replaces a running node by itself."""
    args = {"service_ports": [8000], **SIZED} if kind is GpuNode else {"service_ports": [4000]}
    result, _ = node(kind, "n", args)
    assert [(i.token, i.args) for i in invokes] == [(SSM_INVOKE, {"name": parameter})]
    instance = one(result, INSTANCE)
    assert instance.inputs["ami"] == FAKE_AMI and instance.ignore_changes == ["ami"]
    if kind is GpuNode:
        assert "deeplearning" in parameter and "nvidia-driver" in parameter


@pytest.mark.parametrize("kind", [GpuNode, CpuNode])
def test_pinned_ami_is_used_as_given(invokes: list[Invoke], kind: type[GpuNode] | type[CpuNode]) -> None:
    """A pin reads nothing and ignores nothing: changing it is a replacement that `pulumi preview` shows."""
    args = {"service_ports": [8000], **SIZED} if kind is GpuNode else {"service_ports": [4000]}
    result, _ = node(kind, "n", {**args, "ami": PINNED_AMI})
    assert invokes == []
    instance = one(result, INSTANCE)
    assert instance.inputs["ami"] == PINNED_AMI and instance.ignore_changes == []


def test_bad_ami_pin() -> None:
    with pytest.raises(InputError) as caught:
        node(CpuNode, "n", {"service_ports": [4000], "ami": "ubuntu-24.04"})
    assert caught.value.field == "n: ami" and "ami-0123456789abcdef0" in caught.value.fix


def test_newer_ami_behind_the_parameter_is_reported_not_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    """The instance runs the AMI it was created with (the provider's `ami` output); the parameter moved on."""
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: warnings.append(msg))

    def older(self: preview._Outputs, args: Any) -> tuple[str, dict[str, Any]]:
        rid, state = _autoname(self, args)
        if args.typ == INSTANCE:
            state["ami"] = "ami-00000000000000001"
        return rid, state

    def program() -> None:
        CpuNode("cpu-old", {**VPC, "service_ports": [4000]})  # type: ignore[typeddict-item]

    monkeypatch.setattr(preview._Outputs, "new_resource", older)
    record(program)
    (warning,) = [w for w in warnings if "cpu-old" in w]
    assert "ami-00000000000000001" in warning and FAKE_AMI in warning
    assert f"target.ami.cpu: {FAKE_AMI}" in warning and "replaces the node" in warning


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


def test_engine_port_only_from_the_gateway_and_prometheus(gpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    rules = [r for r in ingress(gpu[0]) if r["fromPort"] == 8000]
    assert all(r["toPort"] == 8000 and r["ipProtocol"] == "tcp" for r in rules)
    assert not [r for r in rules if "cidrIpv4" in r or "cidrIpv6" in r]
    assert sorted(r["referencedSecurityGroupId"] for r in rules) == sorted([PEER_SG, MONITORING_SG])


def test_one_rule_when_gateway_and_prometheus_share_a_group() -> None:
    """InferenceStack passes the CPU node's group as both: one rule, as AWS refuses a duplicate."""
    group = pulumi.Output.from_input("sg-cpu")
    result, _ = node(GpuNode, "gpu-s", {"service_ports": [8000], "peer_security_group_id": group,
                                        "monitoring_security_group_id": group, **SIZED})
    rules = [r for r in ingress(result) if r["fromPort"] == 8000]
    assert [r["referencedSecurityGroupId"] for r in rules] == ["sg-cpu"]


def test_gpu_node_refuses_allowed_cidrs() -> None:
    with pytest.raises(InputError) as caught:
        node(GpuNode, "gpu-c", {"service_ports": [8000], "allowed_cidrs": ALLOWED, **SIZED})
    assert caught.value.field == "GpuNode gpu-c: allowed_cidrs"
    assert "engine_access_cidrs" in caught.value.fix and "directAccessCidrs" in caught.value.fix


def test_engine_access_cidrs_are_the_explicit_override() -> None:
    result, _ = node(GpuNode, "gpu-d", {"service_ports": [8000], "peer_security_group_id": PEER_SG,
                                        "engine_access_cidrs": ["10.8.0.0/16"], **SIZED})
    direct = one(result, INGRESS, "gpu-d-8000-direct0").inputs
    assert direct["cidrIpv4"] == "10.8.0.0/16" and direct["fromPort"] == direct["toPort"] == 8000


def test_gateway_port_from_allowed_networks(cpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    rules = [r for r in ingress(cpu[0]) if r["fromPort"] == 4000]
    assert sorted(r["cidrIpv4"] for r in rules if "cidrIpv4" in r) == sorted(ALLOWED)
    assert [r["referencedSecurityGroupId"] for r in rules if "cidrIpv4" not in r] == [MONITORING_SG]


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
        assert f"tee -a {INIT_LOG}" in script
        # apt waits for the first-boot dpkg lock and retries; every download is retried.
        assert f"DPkg::Lock::Timeout={APT_LOCK_TIMEOUT_S}" in script
        assert "retry $APT update" in script and "retry $APT install" in script
        assert script.rstrip().splitlines()[-1] == f"touch {READY_MARKER}"
    assert "nvidia-container-toolkit" in gpu_script and "nvidia-ctk runtime configure" in gpu_script
    assert "retry docker pull" in gpu_script and "docker run --rm --gpus all" in gpu_script
    assert "nvidia" not in cpu_script and "--gpus" not in cpu_script
    # The readiness marker is written last, after the probe.
    assert gpu_script.index("--gpus all") < gpu_script.rindex("touch ")


def test_readiness_retries_until_the_boot_timeout(gpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    result, outputs = gpu
    ready = one(result, COMMAND)
    assert ready.parent == one(result, "llmstack:index:GpuNode").urn
    connection = unwrap(ready.inputs["connection"])
    assert connection["host"] == outputs["private_ip"] and connection["user"] == "ubuntu"
    # Refused dials are retried without a count limit, each up to 30 s, until the create timeout.
    assert connection["dialErrorLimit"] == -1 and connection["perDialTimeout"] == PER_DIAL_TIMEOUT_S
    assert ready.custom_timeouts == {"create": f"{READY_TIMEOUT_S // 60}m"}
    assert READY_TIMEOUT_S >= 25 * 60
    instance = one(result, INSTANCE)
    assert ready.deleted_with == instance.urn
    assert ready.inputs["triggers"] == [f"{instance.name}-id"]
    assert outputs["docker_host"] == f"ssh://ubuntu@{outputs['private_ip']}"


def test_failed_boot_is_retried_once_then_names_the_log(gpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    result, outputs = gpu
    create = one(result, COMMAND).inputs["create"]
    assert "cloud-init status --wait" in create and READY_MARKER in create
    rerun, give_up = create.index("sudo bash /var/lib/cloud/instance/user-data.txt"), create.index("exit 1")
    assert rerun < give_up  # the setup runs once more before the check gives up
    assert f"sudo tail -n 40 {INIT_LOG}" in create
    assert f"ssh ubuntu@{outputs['private_ip']} sudo tail -n 200 {INIT_LOG} {CLOUD_INIT_LOG}" in create
    assert create.rstrip().endswith("cat /etc/ssh/ssh_host_*_key.pub")  # the host keys, last


def docker_provider_of(result: PreviewResult) -> dict[str, Any]:
    provider = provider_of(result, one(result, NETWORK))
    assert provider.type == DOCKER_PROVIDER
    return {"host": provider.inputs["host"], "sshOpts": json.loads(provider.inputs["sshOpts"])}


def opt(opts: list[str], name: str) -> str:
    values = [v.split("=", 1)[1] for k, v in itertools.pairwise(opts) if k == "-o" and v.startswith(f"{name}=")]
    assert len(values) == 1, (name, opts)
    return values[0]


def test_one_key_for_the_readiness_check_and_the_docker_provider(gpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    result, _ = gpu
    assert unwrap(one(result, COMMAND).inputs["connection"])["privateKey"] == KEY
    opts = docker_provider_of(result)["sshOpts"]
    key_file = Path(opts[opts.index("-i") + 1])
    assert key_file.read_text() == KEY
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert opt(opts, "IdentitiesOnly") == "yes" and opt(opts, "BatchMode") == "yes"
    # Checked on the machine running pulumi before the readiness check: the ssh client, and that key.
    preflight = one(result, LOCAL_COMMAND)
    assert f"ssh-keygen -y -f '{key_file}'" in preflight.inputs["create"]
    assert "command -v ssh" in preflight.inputs["create"]


def test_one_host_key_policy(gpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    """The readiness check's first connection learns the node's host keys (it prints them); the Docker provider then
    accepts exactly those, from a known_hosts file this node owns (no `accept-new`, no ~/.ssh/known_hosts)."""
    result, outputs = gpu
    opts = docker_provider_of(result)["sshOpts"]
    assert opt(opts, "StrictHostKeyChecking") == "yes"
    known_hosts = Path(opt(opts, "UserKnownHostsFile"))
    assert known_hosts.name == "gpu-a.known_hosts" and stat.S_IMODE(known_hosts.stat().st_mode) == 0o600
    printed = preview._FAKE_HOST_KEY.rsplit(" ", 1)[0]  # sshd's .pub line, its comment dropped
    assert known_hosts.read_text() == f"{outputs['private_ip']} {printed}\n"
    assert "accept-new" not in " ".join(opts)


def test_agent_when_no_key_is_set(cpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    result, _ = cpu
    assert "privateKey" not in unwrap(one(result, COMMAND).inputs["connection"])
    opts = docker_provider_of(result)["sshOpts"]
    assert "-i" not in opts and "IdentitiesOnly=yes" not in opts
    create = one(result, LOCAL_COMMAND).inputs["create"]
    assert "ssh-add -l" in create and "sshPrivateKey" in create  # the clear error when neither is there


def test_docker_resources_on_the_node_are_tied_to_its_instance(gpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    result, _ = gpu
    instance = one(result, INSTANCE)
    network = one(result, NETWORK)
    assert network.replace_with == [instance.urn] and network.deleted_with == instance.urn


PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPublicKeyNotPrivate me@laptop"


def test_not_a_private_key_is_refused_without_showing_it() -> None:
    with pytest.raises(InputError) as caught:
        node(CpuNode, "cpu-k", {"service_ports": [4000], "ssh_private_key": PUBLIC_KEY})
    assert caught.value.field == "cpu-k: ssh_private_key" and "pulumi config set --secret" in caught.value.fix
    assert "AAAAC3" not in str(caught.value)


def test_not_a_private_key_from_a_secret_is_refused_without_showing_it() -> None:
    """A secret is only readable inside the deployment: the same error, raised there."""
    with pytest.raises(ValueError, match="cpu-k: ssh_private_key") as caught:
        node(CpuNode, "cpu-k", {"service_ports": [4000], "ssh_private_key": pulumi.Output.secret(PUBLIC_KEY)})
    assert "AAAAC3" not in str(caught.value) and "pulumi config set --secret" in str(caught.value)


def test_docker_host_over_the_public_ip() -> None:
    _, outputs = node(CpuNode, "cpu-pub", {"service_ports": [4000], "ssh_via": "public-ip", "ssh_user": "admin"})
    assert outputs["docker_host"] == f"ssh://admin@{outputs['public_ip']}"


def test_ssh_key_stays_secret() -> None:
    result, _ = node(CpuNode, "cpu-k", {"service_ports": [4000], "ssh_private_key": pulumi.Output.secret(KEY)})
    ready = one(result, COMMAND).inputs
    assert unwrap(ready["connection"])["privateKey"] == KEY
    assert KEY.strip() not in json.dumps({k: v for k, v in ready.items() if k != "connection"})
    assert KEY.strip() not in one(result, INSTANCE).inputs["userData"]
    for r in result.registrations:
        if r.type != COMMAND:
            assert "PRIVATE KEY" not in json.dumps(r.inputs), r.name


def test_children_are_parented(gpu: tuple[PreviewResult, dict[str, Any]]) -> None:
    result = gpu[0]
    comp = one(result, "llmstack:index:GpuNode", "gpu-a")
    custom = [r for r in result.registrations if r.custom and r.type.startswith(("aws:", "command:"))]
    assert custom and all(r.parent == comp.urn for r in custom)


def run_main(secret_config: dict[str, str]) -> PreviewResult:
    """The real `__main__.py` for the staging stack, with these config secrets."""
    config = stack_config(stack_file("staging"))
    return record(lambda: runpy.run_path(str(PROGRAM), run_name="__main__"), stack="staging", config=config,
                  secret_config={"masterKey": "sk-test-main-0123456789", **secret_config})


def test_the_programs_ssh_key_reaches_both_ssh_users() -> None:
    """CI with only the `sshPrivateKey` secret: the readiness check and every Docker provider get that key."""
    result = run_main({"sshPrivateKey": KEY})
    readiness = [r for r in result.registrations if r.type == COMMAND]
    assert readiness and all(unwrap(r.inputs["connection"])["privateKey"] == KEY for r in readiness)
    providers = [r for r in result.registrations if r.type == DOCKER_PROVIDER]
    assert providers
    for p in providers:
        opts = json.loads(p.inputs["sshOpts"])
        assert Path(opts[opts.index("-i") + 1]).read_text() == KEY and opt(opts, "IdentitiesOnly") == "yes"


def test_the_program_refuses_a_public_key_before_creating_anything() -> None:
    with pytest.raises(pulumi.RunError) as caught:
        run_main({"sshPrivateKey": PUBLIC_KEY})
    assert str(caught.value).startswith("sshPrivateKey: ") and "AAAAC3" not in str(caught.value)
