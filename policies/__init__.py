"""The llm-inference-stack CrossGuard policy pack: guardrails for self-hosted LLM serving on Docker and EC2.

Policies live in modules by area (serving, compute, gateway, security, network), each registered where it is defined
(`policies.registry`, in the style of pulumi/pulumi-policy-aws's awsguard `registerPolicy`). `__main__.py` only builds
the `PolicyPack`; tests, `llmstack preview` and anything else that analyses resources in process use `make_analyzer`,
the same servicer the engine talks to.

Per-policy levels and settings use the CLI's policy-config format (docs/policies.md):
`{"all": "mandatory", "no-gguf-on-vllm": {"enforcementLevel": "advisory"}, "images-pinned": {"exemptEnvironments":
["dev", "sandbox"]}}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

from llmstack.errors import InputError

# The area modules register their policies on import.
from policies import compute, gateway, kubernetes, multinode, network, security, serving  # noqa: F401
from policies.registry import Policy, registered

PACK_NAME = "llm-inference-stack"
VERSION = "0.2.0"  # keep in step with PulumiPolicy.yaml (a test checks it)
DESCRIPTION = ("Guardrails for self-hosted LLM serving: engine/format fit, GPU memory fit, health checks, gateway "
               "config and master key, pinned images, IMDSv2, encrypted EBS, private engine ports.")
PACK_LEVEL = EnforcementLevel.MANDATORY

ALL_POLICIES: list[Policy] = registered()

_LEVELS = {
    "advisory": proto.ADVISORY,
    "mandatory": proto.MANDATORY,
    "remediate": proto.REMEDIATE,
    "disabled": proto.DISABLED,
}


def _level(value: Any, where: str) -> Any:
    if not isinstance(value, str) or value.lower() not in _LEVELS:
        raise InputError(f"policy config {where}", value, f"use an enforcement level: {', '.join(_LEVELS)}")
    return _LEVELS[value.lower()]


def configure_request(policy_config: Mapping[str, Any] | None = None,
                      policies: list[Policy] | None = None) -> Any:
    """The `ConfigureAnalyzerRequest` the CLI would send for a policy-config file (schema defaults applied, as the
    engine's ReconcilePolicyPackConfig does; "all" sets every policy's level, a policy's own entry wins)."""
    config = dict(policy_config or {})
    chosen = policies if policies is not None else ALL_POLICIES
    known = {pol.name for pol in chosen}
    unknown = sorted(set(config) - known - {"all"})
    if unknown:
        raise InputError("policy config", unknown, f"not policies of this pack; known: {', '.join(sorted(known))}",
                         problem="names unknown policies")
    request = proto.ConfigureAnalyzerRequest()
    for pol in chosen:
        entry = request.policyConfig[pol.name]
        level = pol.enforcement_level or PACK_LEVEL
        entry.enforcementLevel = _level(level.value, pol.name)
        if "all" in config:
            entry.enforcementLevel = _level(config["all"], "all")
        defaults = {k: v["default"] for k, v in (pol.config_schema.properties if pol.config_schema else {}).items()
                    if isinstance(v, Mapping) and "default" in v}
        own = config.get(pol.name)
        values: dict[str, Any] = dict(defaults)
        if isinstance(own, str):
            entry.enforcementLevel = _level(own, pol.name)
        elif isinstance(own, Mapping):
            if "enforcementLevel" in own:
                entry.enforcementLevel = _level(own["enforcementLevel"], pol.name)
            values |= {k: v for k, v in own.items() if k != "enforcementLevel"}
        elif own is not None:
            raise InputError(f"policy config {pol.name}", own,
                             'give a level ("advisory") or an object ({"enforcementLevel": ..., <settings>})')
        if values:
            entry.properties.update(values)
    return request


def make_analyzer(policy_config: Mapping[str, Any] | None = None,
                  policies: list[Policy] | None = None) -> _PolicyAnalyzerServicer:
    """The pack's analyzer servicer (the object `PolicyPack` serves over gRPC), configured like the CLI would."""
    chosen = policies if policies is not None else ALL_POLICIES
    analyzer = _PolicyAnalyzerServicer(name=PACK_NAME, version=VERSION, policies=list(chosen),
                                       enforcement_level=PACK_LEVEL, description=DESCRIPTION)
    analyzer.Configure(configure_request(policy_config, chosen), None)  # type: ignore[no-untyped-call]
    return analyzer


__all__ = ["ALL_POLICIES", "DESCRIPTION", "PACK_LEVEL", "PACK_NAME", "VERSION", "configure_request", "make_analyzer"]
