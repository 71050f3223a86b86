"""Offline validation of Kubernetes objects against the API server's own schemas.

Built-in kinds: the OpenAPI schemas of the pinned Kubernetes version that `kubernetes-validate` bundles, strict
(unknown fields fail, as `kubectl --validate=strict` does). Custom resources: the CRD schemas committed in
tests/k8s/crds/ (source and release in their README), made strict the same way: an object with `properties` admits no
other field unless the CRD preserves unknown fields.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate

from tests.components.helpers import unwrap

CRDS = Path(__file__).resolve().parent / "crds"


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the strict openAPIV3Schema of every committed CRD."""
    out = {}
    for path in CRDS.glob("*.json"):
        crd = json.loads(path.read_text())
        out[(crd["apiVersion"], crd["kind"])] = _strict(crd["openAPIV3Schema"])
    return out


def _strict(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def plain(value: Any) -> Any:
    """An object as the engine records it, made plain: secret wrappers unwrapped, integral floats as ints."""
    value = unwrap(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def problems(body: dict[str, Any], version: str) -> list[str]:
    """Every schema error of one object (empty: valid)."""
    obj = plain(copy.deepcopy(body))
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key in crd_schemas():
        return [f"{key[1]} {'.'.join(map(str, e.absolute_path))}: {e.message}"
                for e in jsonschema.Draft7Validator(crd_schemas()[key]).iter_errors(obj)]
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as err:
        return [f"{key[1]} {'.'.join(map(str, err.path))}: {err.message}"]
    return []
