"""One real LiteLLM proxy per shipped stack, booted from the config the `LiteLLMGateway` component renders.

The proxy fixture is module-scoped and parametrized by stack, so pytest boots each stack's proxy once (boot takes
~20-40 s on 2 cores) and runs every test of the module against it before moving to the next stack.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from llmstack.stackplan.litellm_config import ENGINE_KEY_ENV
from tests.conftest import STACKS, ShippedStack
from tests.gateway.rendered import standins_for, to_loopback, uploaded_config
from tests.standins import LiteLLMProxy, StandIn

# The failover tests need the cooldown to end within the test's time. Only the values the component already
# renders are shortened, and only for the stack with fallbacks (prod); every other key and value is as rendered.
# health_check_interval stays below cooldown_time, as spec.Gateway requires of the real values.
SHORT_TIMING = {"router_settings": {"cooldown_time": 4.0}, "general_settings": {"health_check_interval": 2}}


@dataclass
class Gateway:
    stack: str
    rendered: dict[str, Any]  # exactly what the component uploads
    config: dict[str, Any]  # what the proxy runs: rendered, api_base on loopback (+ SHORT_TIMING for prod)
    standins: dict[str, StandIn]  # model_name -> its backend
    proxy: LiteLLMProxy
    engine_key: str  # the engines' API key: in the proxy's environment, required by the stand-ins that take one

    def kind(self, model_name: str) -> str:
        dep = next(d for d in self.config["model_list"] if d["model_name"] == model_name)
        return "embedding" if dep.get("model_info", {}).get("mode") == "embedding" else "chat"

    @property
    def chat_models(self) -> list[str]:
        return [m for m in self.standins if self.kind(m) == "chat"]

    @property
    def embed_models(self) -> list[str]:
        return [m for m in self.standins if self.kind(m) == "embedding"]

    def reset(self) -> None:
        for standin in self.standins.values():
            standin.fail_status = None
            standin.health_status = 200
            if not standin.running:
                standin.start()


@pytest.fixture(scope="module", params=STACKS)
def gateway(request: pytest.FixtureRequest, shipped: dict[str, ShippedStack]) -> Iterator[Gateway]:
    stack: str = request.param
    rendered = uploaded_config(shipped[stack].result, stack)
    engine_key = secrets.token_hex(32)
    standins = standins_for(rendered, engine_key)
    started: list[StandIn] = []
    try:
        for standin in standins.values():
            standin.start()
            started.append(standin)
        config = to_loopback(rendered, {name: s.url for name, s in standins.items()})
        if rendered["router_settings"].get("fallbacks"):
            for section, values in SHORT_TIMING.items():
                for key, value in values.items():
                    assert key in config[section], f"{section}.{key} is not rendered; do not add keys in tests"
                    config[section][key] = value
        with LiteLLMProxy(config, env={ENGINE_KEY_ENV: engine_key}) as proxy:
            gw = Gateway(stack, rendered, config, standins, proxy, engine_key)
            yield gw
    finally:
        for standin in started:
            standin.stop()
