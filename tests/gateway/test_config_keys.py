"""The key sets of `llmstack.stackplan.litellm_config` match the installed LiteLLM (1.108.7): every key is real.

The proxy passes on only the `router_settings` keys `Router.__init__` accepts and drops the rest with a log line
(reference §7.4), so the sets are checked against the installed source, not against documentation.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest

from llmstack.stackplan.litellm_config import (
    DROPPED_KEYS,
    GENERAL_SETTINGS,
    LITELLM_SETTINGS,
    ROUTER_SETTINGS,
    unknown_keys,
)

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # offline import (reference §7.1)


@pytest.fixture(scope="module")
def router_params() -> set[str]:
    from litellm import Router

    return set(inspect.signature(Router.__init__).parameters) - {"self"}


@pytest.fixture(scope="module")
def proxy_source() -> str:
    import litellm

    proxy_dir = Path(litellm.__file__).parent / "proxy"
    return "".join(p.read_text(errors="replace") for p in sorted(proxy_dir.rglob("*.py")))


def test_router_settings_are_router_init_arguments(router_params: set[str]) -> None:
    assert sorted(ROUTER_SETTINGS - router_params) == []


def test_the_dropped_keys_are_not_router_arguments(router_params: set[str]) -> None:
    assert DROPPED_KEYS & router_params == set()


def test_general_settings_are_read_by_the_proxy(proxy_source: str) -> None:
    assert sorted(k for k in GENERAL_SETTINGS if f'"{k}"' not in proxy_source) == []


def test_litellm_settings_are_litellm_attributes(proxy_source: str) -> None:
    import litellm

    assert sorted(k for k in LITELLM_SETTINGS if not hasattr(litellm, k) and f'"{k}"' not in proxy_source) == []


def test_health_check_interval_is_not_a_router_setting() -> None:
    # 1.108.7 raises at start-up if it appears under router_settings (reference §7.4); it belongs in general_settings.
    assert "health_check_interval" not in ROUTER_SETTINGS
    assert unknown_keys({"router_settings": {"health_check_interval": 10}}) == ["router_settings.health_check_interval"]
