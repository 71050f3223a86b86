"""Helpers for the policy tests: the pack's real analyzer servicer, fed Structs exactly as the engine sends them."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import proto

from llmstack.labels import CONTAINER
from llmstack.preview import PreviewResult, Registration
from policies import make_analyzer

LEVELS = {proto.ADVISORY: "advisory", proto.MANDATORY: "mandatory", proto.DISABLED: "disabled"}


@dataclass(frozen=True)
class Diag:
    policy: str
    level: str
    message: str


__all__ = ["CONTAINER"]


def struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(dict(props))
    return s


def _diags(response: Any) -> list[Diag]:
    return [Diag(d.policyName, LEVELS[d.enforcementLevel], d.message) for d in response.diagnostics]


def analyze(rtype: str, props: Mapping[str, Any] | struct_pb2.Struct, name: str = "r",
            config: Mapping[str, Any] | None = None) -> list[Diag]:
    """Violations of one resource, through the pack's `_PolicyAnalyzerServicer.Analyze`."""
    properties = props if isinstance(props, struct_pb2.Struct) else struct(props)
    request = proto.AnalyzeRequest(type=rtype, properties=properties, urn=f"urn:pulumi:test::p::{rtype}::{name}",
                                   name=name)
    return _diags(make_analyzer(config).Analyze(request, None))  # type: ignore[no-untyped-call]


def not_applicable(rtype: str, props: Mapping[str, Any], name: str = "r") -> dict[str, str]:
    request = proto.AnalyzeRequest(type=rtype, properties=struct(props), urn=f"urn:x::{name}", name=name)
    return {n.policy_name: n.reason for n in make_analyzer().Analyze(  # type: ignore[no-untyped-call]
        request, None).not_applicable}


def analyze_stack(resources: Sequence[tuple[str, str, Mapping[str, Any]]],
                  config: Mapping[str, Any] | None = None) -> list[Diag]:
    items = [proto.AnalyzerResource(type=t, name=n, urn=f"urn:pulumi:test::p::{t}::{n}", properties=struct(p))
             for t, n, p in resources]
    return _diags(make_analyzer(config).AnalyzeStack(  # type: ignore[no-untyped-call]
        proto.AnalyzeStackRequest(resources=items), None))


def policies_of(diags: list[Diag]) -> set[str]:
    return {d.policy for d in diags}


def only(diags: list[Diag], policy: str) -> list[Diag]:
    return [d for d in diags if d.policy == policy]


def inputs(reg: Registration) -> dict[str, Any]:
    """A deep copy of a registration's inputs as the engine's Struct JSON (secrets still wrapped)."""
    return copy.deepcopy(json_format.MessageToDict(reg.struct))


def set_label(props: dict[str, Any], label: str, value: str | None) -> dict[str, Any]:
    items = [i for i in props.get("labels", []) if i["label"] != label]
    if value is not None:
        items.append({"label": label, "value": value})
    props["labels"] = items
    return props


def by_name(result: PreviewResult, name: str) -> Registration:
    matches = [r for r in result.registrations if r.name == name]
    assert len(matches) == 1, f"{name}: {[r.name for r in result.registrations]}"
    return matches[0]


