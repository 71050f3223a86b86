"""Run the CrossGuard pack (`policies/`) over recorded registrations, exactly as the engine would.

Each custom resource's Struct (what the engine sends an analyzer) goes through the pack's `_PolicyAnalyzerServicer`
`Analyze`, then all of them through `AnalyzeStack`, configured from a policy-config file in the CLI's format
(`{"all": "mandatory", "<policy>": {"enforcementLevel": ..., <settings>}}`).

One check needs the raw Struct and so lives here rather than in the pack: pulumi_policy unwraps secret values before a
policy sees them, so only the Struct shows whether a credential env var (or key-file upload) was sent as a secret.
It is reported under the pack's own policy names and levels.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from pulumi.runtime import proto
from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key  # how the engine marks a secret in a Struct

from llmstack.errors import InputError
from llmstack.labels import CONTAINER
from llmstack.preview import Registration
from policies import ALL_POLICIES, configure_request, make_analyzer
from policies.security import KEY_FILE_MODES, SECRET_ENV

_LEVEL_NAMES = {proto.ADVISORY: "advisory", proto.MANDATORY: "mandatory", proto.DISABLED: "disabled",
                proto.REMEDIATE: "remediate"}


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str  # mandatory | advisory
    resource_type: str
    resource_name: str
    urn: str
    message: str  # what is wrong and the fix

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def load_policy_config(path: Path | None) -> dict[str, Any]:
    """A `--policy-config` file (the CLI's `--policy-pack-config` JSON), or {} without one."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError("--policy-config", str(path), f"give a readable JSON file ({err})") from err
    if not isinstance(data, dict):
        raise InputError("--policy-config", str(path), 'give a JSON object: {"<policy>": {"enforcementLevel": ...}}')
    return data


def _violation(diag: Any, rtype: str, name: str, urn: str) -> Violation:
    detail = diag.message.removeprefix(diag.description).lstrip("\n") or diag.description
    return Violation(diag.policyName, _LEVEL_NAMES.get(diag.enforcementLevel, str(diag.enforcementLevel)), rtype, name,
                     diag.urn or urn, detail)


def _is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(_special_sig_key) == _special_secret_sig


def _plain_strings(value: Any) -> Iterable[str]:
    """Strings in a Struct-as-dict that are not inside a secret wrapper."""
    if _is_secret(value):
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _plain_strings(v)


def _unwrapped_secrets(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(policy, finding) for credentials a container receives without the secret wrapper."""
    out: list[tuple[str, str]] = []
    for item in _plain_strings(inputs.get("envs")):
        key = item.partition("=")[0]
        if key in SECRET_ENV and item.partition("=")[2]:
            policy = "gateway-master-key-secret" if key == "LITELLM_MASTER_KEY" else "secrets-not-plaintext"
            out.append((policy, f"env {key} is a plain value, stored readable in state and shown in previews. Fix: "
                                "pass it from a Pulumi secret (config set --secret / pulumi.Output.secret)."))
    uploads = inputs.get("uploads")
    for upload in uploads if isinstance(uploads, list) else []:
        if isinstance(upload, Mapping) and str(upload.get("permissions", "")) in KEY_FILE_MODES:
            content = upload.get("content")
            if isinstance(content, str) and content:
                out.append(("secrets-not-plaintext", f"key file {upload.get('file')} is uploaded as a plain value. "
                                                     "Fix: wrap its content in pulumi.Output.secret."))
    return out


def analyze(registrations: list[Registration], policy_config: Mapping[str, Any] | None = None) -> list[Violation]:
    """Every violation the pack reports for these registrations (resource and stack policies)."""
    analyzer = make_analyzer(policy_config)
    levels = {name: entry.enforcementLevel for name, entry in configure_request(policy_config).policyConfig.items()}
    by_urn = {r.urn: r for r in registrations}
    # The engine analyzes every resource but providers, components included (pkg/resource/deploy/step_generator.go,
    # buildAnalyzerStackResources): a remote component such as pulumi-eks's Cluster carries the inputs it was given.
    resources = [r for r in registrations if not r.type.startswith("pulumi:providers:")]
    violations: list[Violation] = []
    stack_items = []
    for r in resources:
        request = proto.AnalyzeRequest(type=r.type, properties=r.struct, urn=r.urn, name=r.name)
        provider = by_urn.get(r.provider.rsplit("::", 1)[0]) if r.provider else None
        if provider is not None:
            request.provider.CopyFrom(proto.AnalyzerProviderResource(
                type=provider.type, properties=provider.struct, urn=provider.urn, name=provider.name))
        response = analyzer.Analyze(request, None)  # type: ignore[no-untyped-call]
        violations += [_violation(d, r.type, r.name, r.urn) for d in response.diagnostics]
        item = proto.AnalyzerResource(type=r.type, properties=r.struct, urn=r.urn, name=r.name, parent=r.parent)
        if request.HasField("provider"):
            item.provider.CopyFrom(request.provider)
        stack_items.append(item)
        if r.type == CONTAINER:
            for policy, message in _unwrapped_secrets(json_format.MessageToDict(r.struct)):
                level = levels.get(policy, proto.MANDATORY)
                if level != proto.DISABLED:
                    violations.append(Violation(policy, _LEVEL_NAMES[level], r.type, r.name, r.urn, message))
    response = analyzer.AnalyzeStack(  # type: ignore[no-untyped-call]
        proto.AnalyzeStackRequest(resources=stack_items), None)
    names = {r.urn: r for r in resources}
    for d in response.diagnostics:
        target = names.get(d.urn)
        violations.append(_violation(d, target.type if target else "stack", target.name if target else "", d.urn))
    return violations


def mandatory(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.level == "mandatory"]


__all__ = ["ALL_POLICIES", "Violation", "analyze", "load_policy_config", "mandatory"]
