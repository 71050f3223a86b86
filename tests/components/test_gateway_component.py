"""`LiteLLMGateway` and `Network` on their own: the uploaded LiteLLM config, the master key, the container."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
import yaml

from components import LiteLLMGateway, Network
from llmstack.errors import InputError
from llmstack.preview import PreviewResult
from llmstack.stackplan.litellm_config import DROPPED_KEYS, ENGINE_KEY_ENV, MASTER_KEY_ENV, unknown_keys
from tests.components.helpers import (
    CONTAINER,
    IMAGE,
    LOCAL_DOCKER,
    NETWORK,
    is_secret,
    labels,
    leaks,
    one,
    record,
    unwrap,
)

HOST = {"docker_host": LOCAL_DOCKER, "network_name": "llmstack"}
MASTER_KEY = "sk-test-MASTER-0123456789abcdef"
ROUTES: list[dict[str, Any]] = [
    {"model_name": "chat", "engine": "vllm", "served_name": "chat", "base_url": "http://chat:8000"},
    {"model_name": "small", "engine": "ollama", "served_name": "qwen2.5:0.5b-instruct-q4_K_M",
     "base_url": "http://small:11434"},
    {"model_name": "structured", "engine": "sglang", "served_name": "structured", "base_url": "http://sg:30000"},
    {"model_name": "local", "engine": "llamacpp", "served_name": "local", "base_url": "http://cpp:8080/"},
    {"model_name": "embed", "engine": "tei", "served_name": "BAAI/bge-small-en-v1.5", "base_url": "http://emb:80",
     "embedding": True},
]


def gateway(**extra: Any) -> PreviewResult:
    # Outputs are made inside the recorded program: they belong to the run's event loop.
    return record(lambda: LiteLLMGateway("gateway", {  # type: ignore[arg-type]
        "routes": ROUTES, "master_key": pulumi.Output.secret(MASTER_KEY), **HOST, **extra}))


def uploaded_config(result: PreviewResult) -> dict[str, Any]:
    (upload,) = [u for u in one(result, CONTAINER).inputs["uploads"] if u["file"] == "/app/config.yaml"]
    assert isinstance(upload["content"], str)  # readable in previews: no secret inside
    config = yaml.safe_load(upload["content"])
    assert isinstance(config, dict)
    return config


@pytest.fixture(scope="module")
def result() -> PreviewResult:
    # Output-valued base URLs, as the stack passes them (known only at deploy time on AWS).
    def program() -> None:
        routes = [{**r, "base_url": pulumi.Output.from_input(r["base_url"])} if r["model_name"] == "chat" else r
                  for r in ROUTES]
        LiteLLMGateway("gateway", {"routes": routes, "master_key": pulumi.Output.secret(MASTER_KEY),  # type: ignore[typeddict-item]
                                   **HOST, "fallbacks": {"chat": ["small", "structured"], "structured": ["small"]}})

    return record(program)


@pytest.fixture(scope="module")
def config(result: PreviewResult) -> dict[str, Any]:
    return uploaded_config(result)


def params(config: dict[str, Any], model_name: str) -> dict[str, Any]:
    (entry,) = [m for m in config["model_list"] if m["model_name"] == model_name]
    return dict(entry["litellm_params"])


def test_provider_prefixes_and_api_bases(config: dict[str, Any]) -> None:
    key = f"os.environ/{ENGINE_KEY_ENV}"  # engines that take an API key get the stack's (docs/engines.md §1.1)
    assert params(config, "chat") == {"model": "hosted_vllm/chat", "api_base": "http://chat:8000/v1", "api_key": key}
    # Ollama: LiteLLM appends /api/chat itself, so no /v1 (docs/engines.md §7.6); it takes no key
    assert params(config, "small") == {"model": "ollama_chat/qwen2.5:0.5b-instruct-q4_K_M",
                                       "api_base": "http://small:11434"}
    assert params(config, "structured") == {"model": "openai/structured", "api_base": "http://sg:30000/v1",
                                            "api_key": key}
    assert params(config, "local") == {"model": "openai/local", "api_base": "http://cpp:8080/v1", "api_key": key}
    assert params(config, "embed") == {"model": "openai/BAAI/bge-small-en-v1.5", "api_base": "http://emb:80/v1",
                                       "api_key": key}
    for entry in config["model_list"]:
        assert "/v1/v1" not in entry["litellm_params"]["api_base"]
        assert not entry["litellm_params"]["api_base"].endswith(("/chat/completions", "/embeddings"))


def test_embedding_deployment_has_mode(config: dict[str, Any]) -> None:
    modes = {m["model_name"]: m.get("model_info", {}).get("mode") for m in config["model_list"]}
    assert modes == {"chat": None, "small": None, "structured": None, "local": None, "embed": "embedding"}


def test_fallbacks_shape(config: dict[str, Any]) -> None:
    assert config["router_settings"]["fallbacks"] == [{"chat": ["small", "structured"]}, {"structured": ["small"]}]


def test_master_key_health_checks_metrics_ipv4(config: dict[str, Any]) -> None:
    general, settings = config["general_settings"], config["litellm_settings"]
    assert general["master_key"] == f"os.environ/{MASTER_KEY_ENV}"
    assert general["background_health_checks"] is True
    assert general["health_check_interval"] > 0
    assert "prometheus" in settings["callbacks"]
    assert settings["force_ipv4"] is True
    # LiteLLM refuses cooldowns shorter than the health-check interval from accumulating failures (§7.5)
    assert config["router_settings"]["cooldown_time"] > general["health_check_interval"]


def test_every_key_is_a_litellm_setting(config: dict[str, Any]) -> None:
    assert unknown_keys(config) == []
    used = {k for section in ("router_settings", "general_settings", "litellm_settings") for k in config[section]}
    assert not used & DROPPED_KEYS
    assert "dangerously_permit_weak_or_unset_master_key" not in config["general_settings"]


def test_unknown_keys_catches_dropped_keys() -> None:
    # The check the test above relies on must itself catch the silently dropped keys (docs/engines.md §7.4).
    bad = {"model_list": [], "router_settings": {"enable_fallback": True, "timeout": 1},
           "general_settings": {"health_check_enabled": True}}
    assert unknown_keys(bad) == ["router_settings.enable_fallback", "general_settings.health_check_enabled"]


def test_master_key_only_as_a_secret_env(result: PreviewResult) -> None:
    inputs = one(result, CONTAINER).inputs
    assert is_secret(inputs["envs"])
    assert f"{MASTER_KEY_ENV}={MASTER_KEY}" in unwrap(inputs["envs"])
    assert leaks(result, MASTER_KEY) == []


def test_plain_master_key_is_made_secret() -> None:
    result = record(lambda: LiteLLMGateway("gateway", {"routes": ROUTES, "master_key": MASTER_KEY,  # type: ignore
                                                       **HOST}))
    assert is_secret(one(result, CONTAINER).inputs["envs"])
    assert leaks(result, MASTER_KEY) == []


def test_container(result: PreviewResult) -> None:
    inputs = one(result, CONTAINER).inputs
    tests = inputs["healthcheck"]["tests"]
    assert tests[:3] == ["CMD", "python3", "-c"]
    assert "urllib.request.urlopen('http://localhost:4000/health/liveliness')" in tests[3]
    assert not any("curl" in t or "wget" in t for t in tests)  # the LiteLLM image has neither
    assert inputs["ports"] == [{"ip": "127.0.0.1", "internal": 4000, "external": 4000}]
    assert inputs["command"] == ["--config", "/app/config.yaml", "--port", "4000"]  # the entrypoint runs litellm
    assert "gpus" not in inputs
    assert inputs["restart"] == "unless-stopped"
    assert "LITELLM_LOCAL_MODEL_COST_MAP=True" in unwrap(inputs["envs"])
    assert "LITELLM_LOG=WARNING" in unwrap(inputs["envs"])  # no access-log line per request (docs/gateway.md)
    assert labels(one(result, CONTAINER))["llmstack.role"] == "gateway"
    image = one(result, IMAGE).inputs["name"]
    assert image.startswith("ghcr.io/berriai/litellm:") and not image.endswith((":latest", ":main-stable"))
    assert "1.82.7" not in image and "1.82.8" not in image  # compromised releases (§7.10)


def test_children_parented(result: PreviewResult) -> None:
    comp = one(result, "llmstack:index:LiteLLMGateway", "gateway")
    for typ in (CONTAINER, IMAGE, "pulumi:providers:docker"):
        assert one(result, typ).parent == comp.urn


def test_router_settings_follow_args() -> None:
    config = uploaded_config(gateway(num_retries=2, timeout=30, allowed_fails=3, cooldown_time=90,
                                     health_check_interval=60))
    router = config["router_settings"]
    assert (router["num_retries"], router["timeout"], router["allowed_fails"], router["cooldown_time"]) == (
        2, 30, 3, 90)
    assert config["general_settings"]["health_check_interval"] == 60
    assert "fallbacks" not in router  # no fallbacks asked, none written


@pytest.mark.parametrize("fallbacks", [{"chat": ["nope"]}, {"nope": ["chat"]}])
def test_fallback_to_unknown_model(fallbacks: dict[str, list[str]]) -> None:
    with pytest.raises(InputError) as caught:
        gateway(fallbacks=fallbacks)
    assert "fallbacks" in caught.value.field
    assert "'nope'" in str(caught.value)
    assert "chat" in caught.value.fix  # lists the known model names


def test_cooldown_not_above_health_interval() -> None:
    with pytest.raises(InputError) as caught:
        gateway(cooldown_time=15, health_check_interval=15)
    assert "cooldown_time" in str(caught.value)


def test_unpinned_image_override() -> None:
    with pytest.raises(InputError):
        gateway(image="ghcr.io/berriai/litellm")


# -- Network --------------------------------------------------------------------------------------------------------


def test_network_has_ipv6_off() -> None:
    result = record(lambda: Network("net", {"docker_host": LOCAL_DOCKER, "network_name": "llm"}))
    net = one(result, NETWORK)
    assert net.inputs["ipv6"] is False
    assert net.inputs["name"] == "llm"
    assert net.parent == one(result, "llmstack:index:Network").urn
    assert one(result, "pulumi:providers:docker").inputs["host"] == LOCAL_DOCKER
