"""Network policies: IPv4-only Docker networks, no world-open engine ports, and engine ports reachable from security
groups only.

Facts: aiohttp (inside LiteLLM) tries IPv6 first on dual-stack Docker networks (docs/engines.md §7.6); engine ports
from the engine table; vLLM's --api-key protects only /v1 (docs/engines.md §1), so engines stay private: only the
gateway (which checks the master key) and Prometheus reach them, by security group (docs/aws.md, "Ports").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs

from llmstack.engines import engines
from llmstack.labels import INGRESS_RULE, NETWORK, SECURITY_GROUP, SECURITY_GROUP_RULE, Role
from policies import props as p
from policies.registry import Report, resource_policy


@resource_policy("ipv6-disabled", types=(NETWORK,), level=EnforcementLevel.ADVISORY,
                 description="Docker networks have ipv6 false or unset.")
def ipv6_disabled(args: ResourceValidationArgs, report: Report) -> None:
    if args.props.get("ipv6") is True:
        report(f"Docker network '{args.name}' has IPv6 enabled; aiohttp inside LiteLLM tries IPv6 first and gets "
               "'connection refused'. Fix: ipv6=False (and litellm_settings.force_ipv4: true).")


def engine_ports() -> list[int]:
    """Ports inference and embedding engines listen on (engine table), i.e. everything but the gateway."""
    return sorted({e.port for e in engines().values() if e.role is not Role.GATEWAY})


def _rules(args: ResourceValidationArgs) -> Iterable[tuple[str, Any, Any, list[str]]]:
    """(protocol, from_port, to_port, cidrs) of each ingress rule a resource declares; a prefix list counts as a set of
    CIDRs, named `pl:<id>`."""
    props = args.props
    if args.resource_type == INGRESS_RULE:
        cidrs = [str(c) for c in (props.get("cidrIpv4"), props.get("cidrIpv6")) if c]
        cidrs += [f"pl:{props.get('prefixListId')}"] if props.get("prefixListId") else []
        yield str(props.get("ipProtocol")), props.get("fromPort"), props.get("toPort"), cidrs
    elif args.resource_type == SECURITY_GROUP:
        for rule in props.get("ingress") or []:
            cidrs = [str(c) for c in [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])]]
            cidrs += [f"pl:{pl}" for pl in rule.get("prefixListIds") or []]
            yield str(rule.get("protocol")), rule.get("fromPort"), rule.get("toPort"), cidrs
    elif args.resource_type == SECURITY_GROUP_RULE and props.get("type") == "ingress":
        cidrs = [str(c) for c in [*(props.get("cidrBlocks") or []), *(props.get("ipv6CidrBlocks") or [])]]
        cidrs += [f"pl:{pl}" for pl in props.get("prefixListIds") or []]
        yield str(props.get("protocol")), props.get("fromPort"), props.get("toPort"), cidrs


def _exposed(protocol: str, low: Any, high: Any, ports: list[int]) -> list[int]:
    if protocol.lower() in ("-1", "all"):
        return ports
    if protocol.lower() not in ("tcp", "6"):
        return []
    lo = int(low) if isinstance(low, int | float) else 0
    hi = int(high) if isinstance(high, int | float) else 65535
    return [port for port in ports if lo <= port <= hi]


def _outside(cidr: str, allowed: list[str]) -> bool:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return True
    for a in allowed:
        other = ipaddress.ip_network(a, strict=False)
        if net.version == other.version and net.subnet_of(other):  # type: ignore[arg-type]
            return False
    return True


@resource_policy(
    "no-public-inference-ports",
    types=(INGRESS_RULE, SECURITY_GROUP, SECURITY_GROUP_RULE),
    description="No security-group ingress (vpc.SecurityGroupIngressRule, inline ingress, ec2.SecurityGroupRule) "
    "opens an engine port (11434, 8000, 30000, 8080, 80 from the engine table; protocol -1 included) to "
    "0.0.0.0/0 or ::/0, or outside allowedCidrs when set.",
    config={
        "allowedCidrs": {"type": "array", "items": {"type": "string"}, "default": [],
                         "description": "if set, engine ports may be opened only to CIDRs inside these"},
        "ports": {"type": "array", "items": {"type": "integer"},
                  "description": "engine ports to protect (default: the engine table's ports)"},
    },
)
def no_public_inference_ports(args: ResourceValidationArgs, report: Report) -> None:
    config = args.get_config()
    ports = [int(x) for x in config.get("ports") or engine_ports()]
    allowed = p.config_list(config, "allowedCidrs", [])
    for protocol, low, high, cidrs in _rules(args):
        exposed = _exposed(protocol, low, high, ports)
        if not exposed:
            continue
        for cidr in (c for c in cidrs if not c.startswith("pl:")):
            public = cidr.strip() in ("0.0.0.0/0", "::/0") or cidr.strip().endswith("/0")
            if public or (allowed and _outside(cidr, allowed)):
                why = "the whole internet" if public else f"{cidr}, outside allowedCidrs {allowed}"
                report(f"'{args.name}' opens engine port(s) {', '.join(map(str, exposed))} to {why}; engines "
                       "have no auth on /health, /metrics and more. Fix: allow only the gateway's security group "
                       "(referenced_security_group_id).")



DIRECT_ACCESS = "directAccessCidrs"


@resource_policy(
    "engine-ports-security-groups-only",
    types=(INGRESS_RULE, SECURITY_GROUP, SECURITY_GROUP_RULE),
    description="Engine ports (11434, 8000, 30000, 8080, 80 from the engine table; protocol -1 included) accept "
    "security groups only (the gateway's, Prometheus's): no CIDR, private or public, and no prefix list, unless the "
    f"policy config's {DIRECT_ACCESS} lists it (the named override for teams that need direct engine access).",
    config={
        DIRECT_ACCESS: {"type": "array", "items": {"type": "string"}, "default": [],
                        "description": "named override: private networks that may reach the engine ports directly "
                        "(target.engine_access_cidrs opens them); each rule's CIDR must lie inside one of these"},
        "ports": {"type": "array", "items": {"type": "integer"},
                  "description": "engine ports to protect (default: the engine table's ports)"},
    },
)
def engine_ports_security_groups_only(args: ResourceValidationArgs, report: Report) -> None:
    config = args.get_config()
    ports = [int(x) for x in config.get("ports") or engine_ports()]
    direct = p.config_list(config, DIRECT_ACCESS, [])
    for protocol, low, high, cidrs in _rules(args):
        exposed = _exposed(protocol, low, high, ports)
        for cidr in cidrs if exposed else []:
            if cidr.startswith("pl:") or _outside(cidr, direct):
                source = f"{cidr.removeprefix('pl:')} (a prefix list)" if cidr.startswith("pl:") else cidr
                report(f"'{args.name}' opens engine port(s) {', '.join(map(str, exposed))} to {source}; "
                       "engines answer without the "
                       "gateway's key, so only the gateway's and Prometheus's security groups may reach them. Fix: "
                       "referenced_security_group_id instead; a team that needs direct access lists the network in "
                       f"target.engine_access_cidrs and in this policy's {DIRECT_ACCESS} (policy config: "
                       f'{{"engine-ports-security-groups-only": {{"{DIRECT_ACCESS}": ["{cidr}"]}}}}).')
