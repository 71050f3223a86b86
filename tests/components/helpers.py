"""Helpers for reading registrations the way the engine sees them (camelCase inputs, secrets wrapped)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from pulumi.runtime import settings
from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key

from llmstack import preview
from llmstack.labels import CONTAINER, DOCKER_PROVIDER, INSTANCE, NETWORK
from llmstack.labels import EGRESS_RULE as EGRESS
from llmstack.labels import INGRESS_RULE as INGRESS
from llmstack.labels import REMOTE_COMMAND as COMMAND
from llmstack.labels import REMOTE_IMAGE as IMAGE
from llmstack.labels import SSM_GET_PARAMETER as SSM_INVOKE
from llmstack.preview import PreviewResult, Registration
from llmstack.spec import LocalTarget

LOCAL_DOCKER = LocalTarget.model_fields["docker_host"].default
__all__ = ["COMMAND", "CONTAINER", "DOCKER_PROVIDER", "EGRESS", "IMAGE", "INGRESS", "INSTANCE", "LOCAL_DOCKER",
           "NETWORK", "SSM_INVOKE"]


def record(program: Callable[[], object], **kwargs: Any) -> PreviewResult:
    """`llmstack.preview.record` on a fresh root stack. `record` alone reuses the root Stack of the previous run in
    this process (pulumi's `set_mocks` only makes a Stack when none is set): see test_invariants'
    test_each_run_registers_its_own_stack."""
    settings.set_root_resource(None)  # type: ignore[arg-type]
    return preview.record(program, **kwargs)


def is_secret(value: Any) -> bool:
    """A secret value in a registration: MessageToDict of the engine's secret Struct ({sig: secret-sig, value})."""
    return isinstance(value, dict) and value.get(_special_sig_key) == _special_secret_sig


def unwrap(value: Any) -> Any:
    return value["value"] if is_secret(value) else value


def plain_strings(value: Any) -> Iterator[str]:
    """Every string in an input tree that is not inside a secret wrapper (what `pulumi preview` would show)."""
    if is_secret(value):
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from plain_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from plain_strings(v)


def leaks(result: PreviewResult, secret: str) -> list[str]:
    """`type name` of each registration that shows `secret` outside a secret wrapper."""
    return [f"{r.type} {r.name}" for r in result.registrations
            if any(secret in s for s in plain_strings(r.inputs))]


def of_type(result: PreviewResult, typ: str) -> list[Registration]:
    return [r for r in result.registrations if r.type == typ]


def one(result: PreviewResult, typ: str, name: str | None = None) -> Registration:
    found = [r for r in of_type(result, typ) if name is None or r.name == name]
    assert len(found) == 1, f"expected one {typ} {name or ''}, found {[r.name for r in found]}"
    return found[0]


def labels(reg: Registration) -> dict[str, str]:
    return {item["label"]: item["value"] for item in reg.inputs.get("labels", [])}


def by_urn(result: PreviewResult) -> dict[str, Registration]:
    return {r.urn: r for r in result.registrations}


def ancestors(result: PreviewResult, reg: Registration) -> list[Registration]:
    """The parent chain of `reg`, nearest first."""
    urns = by_urn(result)
    chain = []
    parent = reg.parent
    while parent:
        p = urns[parent]
        chain.append(p)
        parent = p.parent
    return chain


def children(result: PreviewResult, parent: Registration) -> list[Registration]:
    return [r for r in result.registrations if r.parent == parent.urn]


def provider_of(result: PreviewResult, reg: Registration) -> Registration:
    """The explicit provider registration a resource uses (`<urn>::<id>` in the request)."""
    urn = reg.provider.rsplit("::", 1)[0]
    return by_urn(result)[urn]


def docker_host(result: PreviewResult, reg: Registration) -> str:
    return str(provider_of(result, reg).inputs["host"])


def ports(reg: Registration) -> list[dict[str, Any]]:
    return list(reg.inputs.get("ports", []))
