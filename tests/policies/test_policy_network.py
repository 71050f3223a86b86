"""ipv6-disabled, no-public-inference-ports and engine-ports-security-groups-only, through the real analyzer."""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pytest

from components import InferenceStack
from llmstack.preview import PreviewResult
from llmstack.spec import stack_config
from policies.network import engine_ports
from tests.components.helpers import record
from tests.conftest import stack_file
from tests.policies.policy_helpers import analyze, by_name, inputs, only

NETWORK = "docker:index/network:Network"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
PUBLIC, SG_ONLY = "no-public-inference-ports", "engine-ports-security-groups-only"


def test_engine_ports_come_from_the_engine_table() -> None:
    assert engine_ports() == [80, 8000, 8080, 11434, 30000]


def test_real_networks_have_ipv6_off(results: dict[str, PreviewResult]) -> None:
    net = inputs(by_name(results["prod"], "chat-net-net"))
    assert net["ipv6"] is False and only(analyze(NETWORK, net), "ipv6-disabled") == []


def test_ipv6_network_is_reported_as_advisory(results: dict[str, PreviewResult]) -> None:
    net = inputs(by_name(results["prod"], "chat-net-net"))
    net["ipv6"] = True
    found = only(analyze(NETWORK, net), "ipv6-disabled")
    assert [d.level for d in found] == ["advisory"] and "force_ipv4" in found[0].message


def test_shipped_security_groups_pass_both_port_policies(results: dict[str, PreviewResult]) -> None:
    for env in ("staging", "prod"):
        for r in results[env].registrations:
            if r.type in (INGRESS, SG):
                found = analyze(r.type, inputs(r), r.name)
                assert only(found, PUBLIC) == only(found, SG_ONLY) == [], r.name


def test_shipped_engine_ports_are_open_to_security_groups_only(results: dict[str, PreviewResult]) -> None:
    ports = set(engine_ports())
    for env in ("staging", "prod"):
        rules = [r.inputs for r in results[env].registrations if r.type == INGRESS and r.inputs["fromPort"] in ports]
        assert rules, env
        assert all("referencedSecurityGroupId" in r and "cidrIpv4" not in r and "cidrIpv6" not in r for r in rules)
        # The gateway's port is the one the spec's allowed_cidrs open.
        gateway = inputs(by_name(results[env], "cpu-gateway-4000-cidr0"))
        assert gateway["cidrIpv4"] == "10.0.0.0/8"


def _engine_rule(results: dict[str, PreviewResult], **change: Any) -> dict[str, Any]:
    """The prod chat engine's real rule (port 8000 from the gateway's group), changed."""
    props = inputs(by_name(results["prod"], "gpu-chat-8000-peer"))
    for key, value in change.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return props


@pytest.mark.parametrize(("change", "public"), [
    ({"cidrIpv4": "0.0.0.0/0"}, True),
    ({"cidrIpv6": "::/0"}, True),
    ({"cidrIpv4": "0.0.0.0/0", "ipProtocol": "-1", "fromPort": None, "toPort": None}, True),
    ({"cidrIpv4": "0.0.0.0/0", "fromPort": 7000, "toPort": 9000}, True),
    ({"cidrIpv4": "0.0.0.0/0", "fromPort": 22, "toPort": 22}, False),
    ({"cidrIpv4": "0.0.0.0/0", "ipProtocol": "udp"}, False),
])
def test_no_public_inference_ports(results: dict[str, PreviewResult], change: dict[str, Any], public: bool) -> None:
    props = _engine_rule(results, referencedSecurityGroupId=None, **change)
    found = only(analyze(INGRESS, props, "rule"), PUBLIC)
    assert (len(found) == 1) is public
    if public:
        assert "whole internet" in found[0].message and "referenced_security_group_id" in found[0].message


def test_inline_ingress_and_security_group_rule_to_the_world() -> None:
    sg = {"ingress": [{"protocol": "tcp", "fromPort": 11434, "toPort": 11434, "cidrBlocks": ["0.0.0.0/0"]}]}
    assert len(only(analyze(SG, sg), PUBLIC)) == 1
    rule = {"type": "ingress", "protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}
    assert len(only(analyze(SG_RULE, rule), PUBLIC)) == 1
    rule["type"] = "egress"
    assert only(analyze(SG_RULE, rule), PUBLIC) == []


def test_no_public_allowed_cidrs_config(results: dict[str, PreviewResult]) -> None:
    private = _engine_rule(results, referencedSecurityGroupId=None, cidrIpv4="10.0.0.0/8")
    config = {PUBLIC: {"allowedCidrs": ["10.1.0.0/16"]}}
    found = only(analyze(INGRESS, private, config=config), PUBLIC)
    assert len(found) == 1 and "outside allowedCidrs" in found[0].message


# -- engine-ports-security-groups-only ------------------------------------------------------------------------------


@pytest.mark.parametrize("change", [
    {"cidrIpv4": "10.0.0.0/8"},                                        # private is not enough
    {"cidrIpv4": "10.40.0.7/32"},
    {"cidrIpv6": "fd00::/8"},
    {"prefixListId": "pl-0123456789abcdef0"},
    {"cidrIpv4": "10.0.0.0/8", "ipProtocol": "-1", "fromPort": None, "toPort": None},
    {"cidrIpv4": "192.168.0.0/16", "fromPort": 7000, "toPort": 9000},  # a range around the engine port
])
def test_engine_port_open_to_a_cidr_fails(results: dict[str, PreviewResult], change: dict[str, Any]) -> None:
    props = _engine_rule(results, referencedSecurityGroupId=None, **change)
    found = only(analyze(INGRESS, props, "rule"), SG_ONLY)
    assert len(found) == 1 and found[0].level == "mandatory"
    assert "8000" in found[0].message and "directAccessCidrs" in found[0].message
    assert "referenced_security_group_id" in found[0].message


@pytest.mark.parametrize("change", [
    {},                                                                # the shipped rule: the gateway's group
    {"referencedSecurityGroupId": None, "cidrIpv4": "10.0.0.0/8", "fromPort": 22, "toPort": 22},
    {"referencedSecurityGroupId": None, "cidrIpv4": "10.0.0.0/8", "fromPort": 4000, "toPort": 4000},
    {"referencedSecurityGroupId": None, "cidrIpv4": "10.0.0.0/8", "ipProtocol": "udp"},
])
def test_security_groups_and_other_ports_pass(results: dict[str, PreviewResult], change: dict[str, Any]) -> None:
    assert only(analyze(INGRESS, _engine_rule(results, **change), "rule"), SG_ONLY) == []


def test_inline_ingress_and_security_group_rule_with_a_private_cidr() -> None:
    sg = {"ingress": [{"protocol": "tcp", "fromPort": 30000, "toPort": 30000, "cidrBlocks": ["172.16.0.0/12"]}]}
    assert len(only(analyze(SG, sg), SG_ONLY)) == 1
    sg["ingress"][0]["cidrBlocks"] = []
    sg["ingress"][0]["securityGroups"] = ["sg-gateway"]
    assert only(analyze(SG, sg), SG_ONLY) == []
    rule = {"type": "ingress", "protocol": "tcp", "fromPort": 80, "toPort": 80, "cidrBlocks": ["10.0.0.0/8"]}
    assert len(only(analyze(SG_RULE, rule), SG_ONLY)) == 1
    rule["type"] = "egress"
    assert only(analyze(SG_RULE, rule), SG_ONLY) == []


def test_direct_access_override(results: dict[str, PreviewResult]) -> None:
    props = _engine_rule(results, referencedSecurityGroupId=None, cidrIpv4="10.8.1.0/24")
    config = {SG_ONLY: {"directAccessCidrs": ["10.8.0.0/16"]}}
    assert only(analyze(INGRESS, props, config=config), SG_ONLY) == []
    outside = _engine_rule(results, referencedSecurityGroupId=None, cidrIpv4="10.9.0.0/16")
    assert len(only(analyze(INGRESS, outside, config=config), SG_ONLY)) == 1
    # The override never reaches the world: no-public-inference-ports still refuses it.
    world = _engine_rule(results, referencedSecurityGroupId=None, cidrIpv4="0.0.0.0/0")
    found = analyze(INGRESS, world, config={SG_ONLY: {"directAccessCidrs": ["0.0.0.0/0"]}})
    assert only(found, SG_ONLY) == [] and len(only(found, PUBLIC)) == 1


def test_engine_access_cidrs_open_engines_only_with_the_named_override() -> None:
    """`target.engine_access_cidrs` is the spec's side of the override: its rules fail the policy until the policy
    config lists the network too."""
    spec = copy.deepcopy(stack_config(stack_file("prod")))
    spec["target"]["engine_access_cidrs"] = ["10.8.0.0/16"]
    result = record(lambda: InferenceStack("llm", {"spec": spec, "master_key": pulumi.Output.secret("sk-test-1")}))
    direct = [r for r in result.registrations if r.type == INGRESS and r.name.endswith("-direct0")]
    assert sorted(r.name for r in direct) == sorted(
        f"gpu-{b}-{p}-direct0" for b, p in (("chat", 8000), ("structured", 30000), ("chat-fallback", 8000)))
    assert all(r.inputs["cidrIpv4"] == "10.8.0.0/16" for r in direct)
    for r in direct:
        assert len(only(analyze(INGRESS, inputs(r), r.name), SG_ONLY)) == 1
        allowed = {SG_ONLY: {"directAccessCidrs": ["10.8.0.0/16"]}}
        assert only(analyze(INGRESS, inputs(r), r.name, config=allowed), SG_ONLY) == []
