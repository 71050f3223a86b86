"""Session fixture: each shipped stack's real program under mocks, run once."""

from __future__ import annotations

import pytest
from policy_helpers import ROOT, STACKS

from llmstack.preview import PreviewResult, run_program


@pytest.fixture(scope="session")
def shipped() -> dict[str, PreviewResult]:
    """Each shipped stack's real program under mocks, run once per session."""
    return {env: run_program(ROOT / "stacks" / f"Pulumi.{env}.yaml") for env in STACKS}
