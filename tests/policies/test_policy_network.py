"""ipv6-disabled and no-public-inference-ports."""

from __future__ import annotations

from typing import Any

import pytest

from llmstack.preview import PreviewResult
from policies.network import engine_ports
from tests.policies.policy_helpers import analyze, by_name, inputs, only

NETWORK = "docker:index/network:Network"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"


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


def test_shipped_security_groups_keep_engines_private(results: dict[str, PreviewResult]) -> None:
    for env in ("staging", "prod"):
        for r in results[env].registrations:
            if r.type in (INGRESS, SG):
                assert only(analyze(r.type, inputs(r), r.name), "no-public-inference-ports") == [], r.name


def _rule(results: dict[str, PreviewResult]) -> dict[str, Any]:
    return inputs(by_name(results["prod"], "gpu-chat-8000-cidr0"))  # 8000 from 10.0.0.0/8


@pytest.mark.parametrize(("change", "public"), [
    ({"cidrIpv4": "0.0.0.0/0"}, True),
    ({"cidrIpv4": None, "cidrIpv6": "::/0"}, True),
    ({"cidrIpv4": "0.0.0.0/0", "ipProtocol": "-1", "fromPort": None, "toPort": None}, True),
    ({"cidrIpv4": "0.0.0.0/0", "fromPort": 7000, "toPort": 9000}, True),
    ({"cidrIpv4": "0.0.0.0/0", "fromPort": 22, "toPort": 22}, False),
    ({"cidrIpv4": "0.0.0.0/0", "ipProtocol": "udp"}, False),
])
def test_ingress_rule(results: dict[str, PreviewResult], change: dict[str, Any], public: bool) -> None:
    props = _rule(results)
    for key, value in change.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    found = only(analyze(INGRESS, props, "rule"), "no-public-inference-ports")
    assert (len(found) == 1) is public
    if public:
        assert "whole internet" in found[0].message and "referenced_security_group_id" in found[0].message


def test_inline_ingress_and_security_group_rule() -> None:
    sg = {"ingress": [{"protocol": "tcp", "fromPort": 11434, "toPort": 11434, "cidrBlocks": ["0.0.0.0/0"]}]}
    assert len(only(analyze(SG, sg), "no-public-inference-ports")) == 1
    rule = {"type": "ingress", "protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}
    assert len(only(analyze(SG_RULE, rule), "no-public-inference-ports")) == 1
    rule["type"] = "egress"
    assert only(analyze(SG_RULE, rule), "no-public-inference-ports") == []


def test_allowed_cidrs_config(results: dict[str, PreviewResult]) -> None:
    staging = inputs(by_name(results["staging"], "gpu-chat-8000-cidr0"))  # 10.0.0.0/8
    assert only(analyze(INGRESS, staging), "no-public-inference-ports") == []
    config = {"no-public-inference-ports": {"allowedCidrs": ["10.1.0.0/16"]}}
    found = only(analyze(INGRESS, staging, config=config), "no-public-inference-ports")
    assert len(found) == 1 and "outside allowedCidrs" in found[0].message
