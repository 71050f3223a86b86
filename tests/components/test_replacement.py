"""Day two on AWS: every Docker resource lives and dies with its node's instance.

The engine's rules these options feed (pulumi/pulumi `pkg/resource/deploy/step_generator.go`, `diff`: a resource
whose `replaceWith` list holds a URN being replaced is replaced; `step.go`, `DeleteStep.Apply`: a resource whose
`deletedWith` resource is being deleted is not deleted through its provider) are the engine's; what the program owes
them, the options on every resource and the inputs that force the instance's replacement, is checked here on what the
real program registers under the mock engine.
"""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pytest

from components import InferenceStack
from llmstack.errors import InputError
from llmstack.preview import PreviewResult, Registration
from llmstack.spec import parse_spec, stack_config
from tests.components.helpers import COMMAND, INSTANCE, by_urn, provider_of, record, unwrap
from tests.conftest import ShippedStack, stack_file

GPU_AMI, NEXT_GPU_AMI, CPU_AMI = "ami-0aaaaaaaaaaaaaaa1", "ami-0aaaaaaaaaaaaaaa2", "ami-0ccccccccccccccc1"
# Inputs of `aws:ec2/instance:Instance` that force a new instance: `ami` is ForceNew in terraform-provider-aws
# (`internal/service/ec2/ec2_instance.go`), and user data is while `userDataReplaceOnChange` is set.
REPLACING_INPUTS = ("ami", "userData")


def docker_resources(result: PreviewResult) -> list[Registration]:
    return [r for r in result.registrations if r.custom and r.type.startswith("docker:")]


def instance_of_host(result: PreviewResult) -> dict[str, Registration]:
    """`ssh://user@host` -> the EC2 instance behind it (the node's readiness check connects to that host)."""
    urns = by_urn(result)
    hosts = {}
    for ready in (r for r in result.registrations if r.type == COMMAND):
        connection = unwrap(ready.inputs["connection"])
        (instance,) = [r for r in result.registrations if r.type == INSTANCE and r.parent == ready.parent]
        assert urns[ready.parent].type in ("llmstack:index:GpuNode", "llmstack:index:CpuNode")
        hosts[f"ssh://{connection['user']}@{connection['host']}"] = instance
    return hosts


def test_every_docker_resource_is_tied_to_its_nodes_instance(aws_stack: ShippedStack) -> None:
    result = aws_stack.result
    instances = instance_of_host(result)
    resources = docker_resources(result)
    assert {r.type for r in resources} == {"docker:index/container:Container", "docker:index/network:Network",
                                          "docker:index/remoteImage:RemoteImage", "docker:index/volume:Volume"}
    for r in resources:
        instance = instances[provider_of(result, r).inputs["host"]]
        assert r.replace_with == [instance.urn], f"{r.type} {r.name}"
        assert r.deleted_with == instance.urn, f"{r.type} {r.name}"
    # Each node's instance carries its own containers: the gateway's don't follow a GPU node and vice versa.
    per_instance = {i.name: sorted(r.name for r in resources if r.deleted_with == i.urn) for i in instances.values()}
    assert all(per_instance.values()) and len(per_instance) == len(aws_stack.plan.nodes)
    assert "gateway-container" in per_instance["cpu-gateway-instance"]
    for s in aws_stack.plan.backends:
        assert f"{s.name}-container" in per_instance[f"{s.node.name}-instance"]


def test_local_docker_resources_are_not_tied(shipped: dict[str, ShippedStack]) -> None:
    resources = docker_resources(shipped["dev"].result)
    assert resources and all(r.replace_with == [] and r.deleted_with == "" for r in resources)


def compose(target: dict[str, Any]) -> PreviewResult:
    spec = copy.deepcopy(stack_config(stack_file("staging")))
    spec["target"] = copy.deepcopy(spec["target"]) | target
    return record(lambda: InferenceStack("llm", {"spec": spec, "master_key": pulumi.Output.secret("sk-test-1")}))


def replaced(before: PreviewResult, after: PreviewResult) -> set[str]:
    """Names of what the engine replaces going from `before` to `after`: instances whose replacing inputs changed,
    then every resource whose `replace_with` names one of them (the engine's rule, above)."""
    old = {r.name: r for r in before.registrations}
    gone = {r.urn for r in after.registrations if r.type == INSTANCE
            and any(r.inputs.get(k) != old[r.name].inputs.get(k) for k in REPLACING_INPUTS)}
    return {r.name for r in after.registrations if r.urn in gone or set(r.replace_with) & gone}


def same_inputs(before: PreviewResult, after: PreviewResult, names: set[str]) -> bool:
    old = {r.name: r.inputs for r in before.registrations}
    return all(old[r.name] == r.inputs for r in after.registrations if r.name in names)


@pytest.fixture(scope="module")
def pinned() -> PreviewResult:
    return compose({"ami": {"gpu": GPU_AMI, "cpu": CPU_AMI}})


def test_a_pinned_ami_is_what_the_node_runs(pinned: PreviewResult) -> None:
    instances = {r.name: r for r in pinned.registrations if r.type == INSTANCE}
    assert instances["gpu-chat-instance"].inputs["ami"] == GPU_AMI
    assert instances["cpu-gateway-instance"].inputs["ami"] == CPU_AMI
    assert all(i.ignore_changes == [] for i in instances.values())  # a new pin is a visible change


def test_rolling_the_gpu_ami_replaces_the_gpu_node_and_everything_on_it(pinned: PreviewResult) -> None:
    rolled = compose({"ami": {"gpu": NEXT_GPU_AMI, "cpu": CPU_AMI}})
    on_gpu = {r.name for r in docker_resources(rolled) if r.deleted_with.endswith("::gpu-chat-instance")}
    assert {"chat-container", "chat-container-image", "chat-container-cache", "chat-net-net",
            "monitoring-gpu-chat-dcgm"} <= on_gpu
    # Their own inputs are unchanged (the new host is only the provider's): without replace_with they would stay.
    assert same_inputs(pinned, rolled, on_gpu)
    assert replaced(pinned, rolled) == {"gpu-chat-instance", *on_gpu}


def test_a_user_data_change_replaces_every_node_and_its_containers(pinned: PreviewResult) -> None:
    renamed = compose({"ami": {"gpu": GPU_AMI, "cpu": CPU_AMI}, "ssh": {"user": "admin", "key_name": "k",
                                                                       "via": "public-ip"}})
    docker = {r.name for r in docker_resources(renamed)}
    instances = {r.name for r in renamed.registrations if r.type == INSTANCE}
    assert replaced(pinned, renamed) == instances | docker


def test_nothing_is_replaced_when_nothing_changes(pinned: PreviewResult) -> None:
    assert replaced(pinned, compose({"ami": {"gpu": GPU_AMI, "cpu": CPU_AMI}})) == set()


def test_an_ami_pin_must_be_an_ami_id() -> None:
    with pytest.raises(InputError) as caught:
        parse_spec({**stack_config(stack_file("staging")),
                    "target": {**stack_config(stack_file("staging"))["target"], "ami": {"gpu": "latest"}}})
    assert caught.value.field.endswith("ami.gpu") and caught.value.value == "latest"
    assert "aws ssm get-parameter" in caught.value.fix
