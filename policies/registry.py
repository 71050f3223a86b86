"""Policies register where they are defined, as awsguard's `registerPolicy` / `validateResourceOfType` do.

    @resource_policy("no-gguf-on-vllm", types=(CONTAINER,), description="...")
    def no_gguf_on_vllm(args: ResourceValidationArgs, report: Report) -> None: ...

The decorator filters by resource type once, so a validator only ever sees the types it names; the pack is every
registered policy in registration order (`policies/__init__.py` imports the area modules). Levels default to
mandatory; users change them per policy with the policy-config file (docs/policies.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from llmstack.labels import CONTAINER, POD_KINDS
from policies.props import ContainerView, containers

Policy = ResourceValidationPolicy | StackValidationPolicy
# How a validator reports: (message) for a resource policy, (message, urn) for a stack policy. pulumi_policy's own
# ReportViolation alias requires the urn argument even where it is optional at runtime.
Report = Callable[..., None]
ResourceValidator = Callable[[ResourceValidationArgs, Report], None]
StackValidator = Callable[[StackValidationArgs, Report], None]
ContainerValidator = Callable[[ContainerView, ResourceValidationArgs, Report], None]

_REGISTERED: list[Policy] = []


def _schema(config: Mapping[str, Any] | None) -> PolicyConfigSchema | None:
    return PolicyConfigSchema(properties=dict(config)) if config else None


def resource_policy(name: str, *, types: tuple[str, ...], description: str,
                    level: EnforcementLevel = EnforcementLevel.MANDATORY,
                    config: Mapping[str, Any] | None = None) -> Callable[[ResourceValidator], ResourceValidator]:
    """Register a resource policy that validates resources of `types` only. `config`: JSON-schema properties of its
    settings (with defaults)."""

    def register(validate: ResourceValidator) -> ResourceValidator:
        def of_type(args: ResourceValidationArgs, report: Report) -> None:
            if args.resource_type in types:
                validate(args, report)

        _REGISTERED.append(ResourceValidationPolicy(name=name, description=description, validate=of_type,
                                                    enforcement_level=level, config_schema=_schema(config)))
        return validate

    return register


def container_policy(name: str, *, description: str, level: EnforcementLevel = EnforcementLevel.MANDATORY,
                     config: Mapping[str, Any] | None = None) -> Callable[[ContainerValidator], ContainerValidator]:
    """Register a policy over serving containers, whatever runs them: a Docker container, or each container of a
    Kubernetes workload's pod templates (`policies.props.containers`), so one rule guards every target. A Job's
    containers (they run to completion: staging a model) are not serving ones."""

    def register(validate: ContainerValidator) -> ContainerValidator:
        def each(args: ResourceValidationArgs, report: Report) -> None:
            for view in containers(args.resource_type, args.name, args.props):
                if not view.runs_to_completion:
                    validate(view, args, report)

        resource_policy(name, types=(CONTAINER, *POD_KINDS), description=description, level=level,
                        config=config)(each)
        return validate

    return register


def stack_policy(name: str, *, description: str, level: EnforcementLevel = EnforcementLevel.MANDATORY,
                 config: Mapping[str, Any] | None = None) -> Callable[[StackValidator], StackValidator]:
    """Register a stack policy (it sees every resource at once)."""

    def register(validate: StackValidator) -> StackValidator:
        _REGISTERED.append(StackValidationPolicy(name=name, description=description, validate=validate,
                                                 enforcement_level=level, config_schema=_schema(config)))
        return validate

    return register


def registered() -> list[Policy]:
    """Every registered policy, in registration order."""
    return list(_REGISTERED)


def by_name(name: str) -> Policy:
    for policy in _REGISTERED:
        if policy.name == name:
            return policy
    raise KeyError(f"no policy named {name!r}; known: {', '.join(p.name for p in _REGISTERED)}")
