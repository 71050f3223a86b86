"""The policy tests read the shipped stacks' registrations (the session's `shipped` fixture) by stack name."""

from __future__ import annotations

import pytest

from llmstack.preview import PreviewResult
from tests.conftest import ShippedStack


@pytest.fixture(scope="session")
def results(shipped: dict[str, ShippedStack]) -> dict[str, PreviewResult]:
    """What each shipped stack's real program registers under mocks."""
    return {name: s.result for name, s in shipped.items()}
