"""LiteLLM supply chain: the lock never resolves a compromised release, and the gateway image is pinned.

LiteLLM 1.82.7 and 1.82.8 on PyPI were compromised on 2026-03-24 (credential stealer; 1.82.8 added a
`litellm_init.pth` that runs at every interpreter start): BerriAI/litellm#24512, #24518, OSV MAL-2026-2144.
Reference: docs/engines.md §7.10.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from llmstack.engines import engine
from llmstack.images import MOVING_TAGS
from policies.gateway import COMPROMISED
from tests.conftest import ROOT

_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


def lock_packages(name: str) -> list[dict[str, Any]]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return [pkg for pkg in lock["package"] if pkg["name"] == name]


def test_uv_lock_resolves_litellm_to_a_safe_version_with_hashes() -> None:
    packages = lock_packages("litellm")
    assert packages, "uv.lock has no litellm entry: the gateway tests need the real proxy"
    for pkg in packages:
        assert pkg["version"] not in COMPROMISED, f"uv.lock resolves litellm {pkg['version']} (compromised)"
        assert pkg["source"] == {"registry": "https://pypi.org/simple"}, pkg["source"]
        artifacts = [*pkg.get("wheels", []), *([pkg["sdist"]] if "sdist" in pkg else [])]
        assert artifacts, f"litellm {pkg['version']}: no artifacts in the lock"
        for artifact in artifacts:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", artifact.get("hash", "")), f"unhashed: {artifact}"
            assert f"litellm-{pkg['version']}" in artifact["url"], artifact["url"]


def test_uv_lock_keeps_the_compromised_versions_out() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    constraints = {c["name"]: c["specifier"] for c in lock.get("manifest", {}).get("constraints", [])}
    assert "litellm" in constraints, "pyproject's constraint-dependencies must deny the compromised releases"
    assert all(f"!={v}" in constraints["litellm"] for v in COMPROMISED), constraints["litellm"]


def test_installed_litellm_is_the_locked_one() -> None:
    from importlib.metadata import version

    installed = version("litellm")
    assert installed not in COMPROMISED
    assert installed == lock_packages("litellm")[0]["version"]
    # 1.82.8's payload: a .pth file that runs at every interpreter start.
    site = Path(__import__("litellm").__file__).resolve().parents[1]
    assert not list(site.glob("litellm_init*.pth"))


def test_gateway_image_is_pinned_to_a_safe_release() -> None:
    eng = engine("litellm")
    assert eng.image == "ghcr.io/berriai/litellm"
    assert eng.tag not in MOVING_TAGS
    match = re.fullmatch(r"main-v(\d+\.\d+\.\d+)-stable", eng.tag)
    assert match, f"pin a stable release tag (main-vX.Y.Z-stable), not {eng.tag!r}"
    assert match.group(1) not in COMPROMISED
    # The proxy the end-to-end tests run is the same release as the image.
    assert match.group(1) == lock_packages("litellm")[0]["version"]
    if eng.digest is not None:
        assert _SHA256.match(eng.digest), eng.digest
        assert eng.image_ref().endswith("@" + eng.digest)
