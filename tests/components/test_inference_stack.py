"""`InferenceStack` composed: the shipped stacks through the real `__main__.py`, and tailored specs."""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pytest
import yaml

from components import InferenceStack
from llmstack.preview import PreviewResult, Registration
from llmstack.spec import parse_spec
from llmstack.stackplan import plan_stack
from tests.components.helpers import (
    CONTAINER,
    DOCKER_PROVIDER,
    INGRESS,
    INSTANCE,
    LOCAL_DOCKER,
    ancestors,
    docker_host,
    labels,
    one,
    record,
)
from tests.conftest import ShippedStack

STACK_TYPE = "llmstack:index:InferenceStack"


def role_containers(result: PreviewResult, role: str) -> list[Registration]:
    return [r for r in result.registrations if r.type == CONTAINER and labels(r).get("llmstack.role") == role]


def test_every_resource_is_under_the_stack_component(stack: ShippedStack) -> None:
    result = stack.result
    comp = one(result, STACK_TYPE, "llm")
    for reg in result.registrations:
        if reg.type in ("pulumi:pulumi:Stack", STACK_TYPE):
            continue
        assert comp in ancestors(result, reg), f"{reg.type} {reg.name} is not under the InferenceStack"


def test_component_children_are_under_their_component(stack: ShippedStack) -> None:
    result = stack.result
    for reg in result.registrations:
        if reg.type == CONTAINER:
            parent = ancestors(result, reg)[0]
            assert parent.type in ("llmstack:index:InferenceBackend", "llmstack:index:EmbeddingService",
                                   "llmstack:index:LiteLLMGateway", "llmstack:index:Observability")
        if reg.type == INSTANCE:
            assert ancestors(result, reg)[0].type in ("llmstack:index:GpuNode", "llmstack:index:CpuNode")


# -- dev: the local Docker host -------------------------------------------------------------------------------------


@pytest.fixture
def dev(shipped: dict[str, ShippedStack]) -> PreviewResult:
    return shipped["dev"].result


def test_dev_everything_on_the_local_docker_host(dev: PreviewResult) -> None:
    providers = [r for r in dev.registrations if r.type == DOCKER_PROVIDER]
    assert providers and {p.inputs["host"] for p in providers} == {LOCAL_DOCKER}
    assert not [r for r in dev.registrations if r.type.startswith(("aws:", "command:", "pulumi:providers:aws"))]


def test_dev_ports_on_loopback_only(dev: PreviewResult) -> None:
    containers = [r for r in dev.registrations if r.type == CONTAINER]
    assert len(containers) >= 3
    published = [p for c in containers for p in c.inputs.get("ports", [])]
    assert published and all(p["ip"] == "127.0.0.1" for p in published)
    externals = [p["external"] for p in published]
    assert len(externals) == len(set(externals))  # no two services on one host port
    assert all(p >= 1024 for p in externals)  # no privileged ports on a laptop


def test_dev_requests_no_gpus(dev: PreviewResult) -> None:
    assert all("gpus" not in r.inputs for r in dev.registrations if r.type == CONTAINER)


def test_dev_single_network_shared(dev: PreviewResult) -> None:
    (network,) = [r for r in dev.registrations if r.type == "docker:index/network:Network"]
    for c in (r for r in dev.registrations if r.type == CONTAINER):
        assert [n["name"] for n in c.inputs["networksAdvanced"]] == [network.inputs["name"]]


# -- staging and prod: EC2 nodes ------------------------------------------------------------------------------------


def test_one_gpu_node_per_backend_replica_with_the_planners_type(aws_stack: ShippedStack) -> None:
    result, plan = aws_stack.result, aws_stack.plan
    gpu_nodes = [r for r in result.registrations if r.type == "llmstack:index:GpuNode"]
    assert sorted(n.name for n in gpu_nodes) == sorted(s.node.name for s in plan.backends)
    for s in plan.backends:
        instance = one(result, INSTANCE, f"{s.node.name}-instance")
        assert instance.inputs["instanceType"] == s.node.instance_type == s.sizing.instance.type  # type: ignore
        assert instance.inputs["rootBlockDevice"]["volumeSize"] == s.node.root_volume_gb


def test_cpu_node_hosts_gateway_embeddings_and_prometheus(aws_stack: ShippedStack) -> None:
    result, plan = aws_stack.result, aws_stack.plan
    (cpu,) = [r for r in result.registrations if r.type == "llmstack:index:CpuNode"]
    assert cpu.name == plan.gateway_node.name
    assert one(result, INSTANCE, f"{cpu.name}-instance").inputs["instanceType"] == plan.gateway_node.instance_type
    gateway, embeddings = role_containers(result, "gateway"), role_containers(result, "embedding")
    prometheus = [c for c in role_containers(result, "monitoring") if labels(c).get("llmstack.engine") == "prometheus"]
    hosts = {docker_host(result, c) for c in (*gateway, *embeddings, *prometheus)}
    assert len(gateway) == len(embeddings) == len(prometheus) == 1
    assert len(hosts) == 1
    backend_hosts = {docker_host(result, c) for c in role_containers(result, "inference")}
    assert not hosts & backend_hosts  # nothing but engines on the GPU nodes
    assert all("gpus" not in c.inputs for c in (*gateway, *embeddings, *prometheus))


def test_each_engine_on_its_own_gpu_node(aws_stack: ShippedStack) -> None:
    result = aws_stack.result
    engines = role_containers(result, "inference")
    assert len({docker_host(result, c) for c in engines}) == len(engines)
    assert all(c.inputs["gpus"] == "all" for c in engines)
    assert all(docker_host(result, c).startswith("ssh://ubuntu@") for c in engines)


def test_dcgm_exporter_on_every_gpu_node(aws_stack: ShippedStack) -> None:
    result = aws_stack.result
    dcgm = [c for c in role_containers(result, "monitoring") if c.inputs["name"] == "dcgm-exporter"]
    assert {docker_host(result, c) for c in dcgm} == {docker_host(result, c)
                                                      for c in role_containers(result, "inference")}
    assert all(c.inputs["gpus"] == "all" for c in dcgm)


def test_no_engine_port_open_to_the_world(aws_stack: ShippedStack) -> None:
    result, plan = aws_stack.result, aws_stack.plan
    spec_cidrs = set(plan.spec.target.allowed_cidrs)  # type: ignore[union-attr]
    engine_ports = {s.launch.port for s in plan.backends}
    for rule in (r.inputs for r in result.registrations if r.type == INGRESS):
        assert rule.get("cidrIpv4") != "0.0.0.0/0"
        if rule["fromPort"] in engine_ports and "cidrIpv4" in rule:
            assert rule["cidrIpv4"] in spec_cidrs
    # The engine port's peer is the CPU node's security group.
    cpu_sg = one(result, "aws:ec2/securityGroup:SecurityGroup", f"{plan.gateway_node.name}-sg")
    for s in plan.backends:
        peer = one(result, INGRESS, f"{s.node.name}-{s.launch.port}-peer").inputs
        assert peer["referencedSecurityGroupId"] == f"{cpu_sg.name}-id"


def test_aws_resources_use_the_stacks_region_provider(aws_stack: ShippedStack) -> None:
    """Every AWS resource must go to the stack's provider (target.region, default tags). A resource on the
    default provider lands in whatever region the environment says, apart from the rest of the stack."""
    result = aws_stack.result
    provider = one(result, "pulumi:providers:aws")
    assert provider.inputs["region"] == aws_stack.plan.spec.target.region  # type: ignore[union-attr]
    stray = [f"{r.type} {r.name}" for r in result.registrations
             if r.type.startswith("aws:") and not r.provider.startswith(provider.urn)]
    assert stray == []


def test_tags_from_the_spec(aws_stack: ShippedStack) -> None:
    result, spec = aws_stack.result, aws_stack.plan.spec
    provider = one(result, "pulumi:providers:aws")
    default_tags = provider.inputs["defaultTags"]
    if isinstance(default_tags, str):  # explicit providers get JSON-encoded non-string inputs
        import json
        default_tags = json.loads(default_tags)
    assert default_tags["tags"]["llmstack:environment"] == spec.environment
    for instance in (r for r in result.registrations if r.type == INSTANCE):
        assert spec.tags.items() <= instance.inputs["tags"].items()


# -- tailored specs -------------------------------------------------------------------------------------------------

AWS_SPEC: dict[str, Any] = {
    "environment": "test",
    "target": {"kind": "aws", "region": "eu-west-1", "vpc": {"id": "vpc-1", "subnet_ids": ["subnet-1"]},
               "allowed_cidrs": ["10.1.0.0/16"], "ssh": {"allowed_cidrs": ["10.2.0.0/16"]}},
    "backends": [{"name": "chat", "engine": "vllm", "model": "llama-3.1-8b", "quant": "awq", "context": 8192,
                  "replicas": 2}],
}


def compose(spec: dict[str, Any]) -> PreviewResult:
    return record(lambda: InferenceStack("llm", {"spec": spec, "master_key": pulumi.Output.secret("sk-test-1")}))


def test_replicas_get_a_node_each_and_share_a_route() -> None:
    result = compose(AWS_SPEC)
    plan = plan_stack(parse_spec(AWS_SPEC))
    nodes = sorted(r.name for r in result.registrations if r.type == "llmstack:index:GpuNode")
    assert nodes == ["gpu-chat-0", "gpu-chat-1"] == sorted(s.node.name for s in plan.backends)
    engines = role_containers(result, "inference")
    assert len(engines) == 2 and len({docker_host(result, c) for c in engines}) == 2
    # Both replicas behind one gateway model name (labels: test_invariants).
    config = next(u["content"] for u in one(result, CONTAINER, "gateway-container").inputs["uploads"])
    chat = [m for m in yaml.safe_load(config)["model_list"] if m["model_name"] == "chat"]
    assert len(chat) == 2


def test_local_target_with_gpus() -> None:
    spec = {"environment": "lab", "target": {"kind": "local", "gpus": "all"},
            "backends": [{"name": "chat", "engine": "vllm", "model": "llama-3.1-8b", "quant": "awq",
                          "context": 8192}], "monitoring": False}
    result = compose(spec)
    (engine,) = role_containers(result, "inference")
    assert engine.inputs["gpus"] == "all"
    assert not role_containers(result, "monitoring")
    assert not [r for r in result.registrations if r.type.startswith("aws:")]


def test_no_embeddings_when_disabled() -> None:
    spec = copy.deepcopy(AWS_SPEC) | {"embeddings": None}
    result = compose(spec)
    assert not role_containers(result, "embedding")
    assert not [r for r in result.registrations if r.type == "llmstack:index:EmbeddingService"]


def test_created_vpc_when_the_spec_asks_for_one() -> None:
    spec = copy.deepcopy(AWS_SPEC)
    spec["target"]["vpc"] = {"cidr": "10.50.0.0/16"}
    spec["backends"][0]["replicas"] = 1
    result = compose(spec)
    vpc = one(result, "aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == "10.50.0.0/16"
    subnet = one(result, "aws:ec2/subnet:Subnet").inputs
    assert subnet["cidrBlock"] == "10.50.0.0/20" and subnet["mapPublicIpOnLaunch"] is False
    for instance in (r for r in result.registrations if r.type == INSTANCE):
        assert instance.inputs["subnetId"] == "test-llm-subnet-id"
