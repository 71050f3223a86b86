"""gateway-on-cpu-node, gateway-master-key-secret, gateway-config-valid, litellm-version-safe."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from llmstack.preview import PreviewResult
from policies.gateway import config_problems
from tests.policies.policy_helpers import CONTAINER, analyze, by_name, inputs, only, set_label

REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
SECRET = "4dabf18193072939515e22adb298388d"


def _gateway(results: dict[str, PreviewResult], env: str = "prod") -> dict[str, Any]:
    return inputs(by_name(results[env], "gateway-container"))


def _config(props: dict[str, Any]) -> dict[str, Any]:
    loaded = yaml.safe_load(props["uploads"][0]["content"])
    assert isinstance(loaded, dict)
    return loaded


def _with_config(props: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    props["uploads"][0]["content"] = yaml.safe_dump(config)
    return props


def _envs(props: dict[str, Any]) -> list[str]:
    envs = props["envs"]
    return envs["value"] if isinstance(envs, dict) else envs  # type: ignore[no-any-return]


# -- gateway-on-cpu-node ---------------------------------------------------------------------------------------------

def test_real_gateway_is_on_a_cpu_node(results: dict[str, PreviewResult]) -> None:
    assert only(analyze(CONTAINER, _gateway(results)), "gateway-on-cpu-node") == []


def test_gateway_on_gpu_instance_or_with_gpus_fails(results: dict[str, PreviewResult]) -> None:
    props = set_label(_gateway(results), "llmstack.instance-type", "g6e.xlarge")
    props["gpus"] = "all"
    messages = [d.message for d in only(analyze(CONTAINER, props), "gateway-on-cpu-node")]
    assert len(messages) == 2
    assert any("requests GPUs" in m for m in messages) and any("g6e.xlarge, a GPU instance" in m for m in messages)


def test_gpu_family_sizes_missing_from_the_catalog_count_as_gpu(results: dict[str, PreviewResult]) -> None:
    props = set_label(_gateway(results), "llmstack.instance-type", "g5.8xlarge")  # not in the catalog, g5 family
    assert len(only(analyze(CONTAINER, props), "gateway-on-cpu-node")) == 1


# -- gateway-master-key-secret ---------------------------------------------------------------------------------------

def test_real_gateway_key_handling_passes(results: dict[str, PreviewResult]) -> None:
    props = _gateway(results)
    assert SECRET in props["envs"]  # the engine's Struct carries the key as a secret
    assert only(analyze(CONTAINER, props), "gateway-master-key-secret") == []


def test_missing_master_key_fails(results: dict[str, PreviewResult]) -> None:
    props = _gateway(results)
    props["envs"] = [e for e in _envs(props) if not e.startswith("LITELLM_MASTER_KEY=")]
    found = only(analyze(CONTAINER, props), "gateway-master-key-secret")
    assert len(found) == 1 and "refuses to start" in found[0].message


def test_literal_key_in_config_and_weak_escape_hatch_fail(results: dict[str, PreviewResult]) -> None:
    props = _gateway(results)
    config = _config(props)
    config["general_settings"]["master_key"] = "sk-1234567890abcdef"
    config["general_settings"]["dangerously_permit_weak_or_unset_master_key"] = True
    messages = [d.message for d in only(analyze(CONTAINER, _with_config(props, config)), "gateway-master-key-secret")]
    assert any("is not os.environ/LITELLM_MASTER_KEY" in m for m in messages)
    assert any("literal key at general_settings.master_key" in m for m in messages)
    assert any("dangerously_permit_weak_or_unset_master_key" in m for m in messages)


def test_key_in_a_label_and_weak_key_fail(results: dict[str, PreviewResult]) -> None:
    props = _gateway(results)
    props["envs"] = ["LITELLM_MASTER_KEY=sk-1234"]
    set_label(props, "debug.key", "sk-1234")
    messages = [d.message for d in only(analyze(CONTAINER, props), "gateway-master-key-secret")]
    assert any("publicly known default" in m for m in messages)
    assert any("appears in labels" in m for m in messages)


# -- gateway-config-valid --------------------------------------------------------------------------------------------

def test_real_gateway_configs_are_valid(results: dict[str, PreviewResult]) -> None:
    for env in ("dev", "staging", "prod"):
        assert only(analyze(CONTAINER, _gateway(results, env)), "gateway-config-valid") == [], env


def test_a_config_with_every_documented_mistake_fails(results: dict[str, PreviewResult]) -> None:
    mistaken = {  # the mistakes of docs/engines.md §7.4 and §7.6, with a fallback to nowhere
        "model_list": [
            {"model_name": "default", "litellm_params": {"model": "ollama/llama3.1", "api_base": "http://ollama:11434/v1"}},
            {"model_name": "fast", "litellm_params": {"model": "openai/m", "api_base": "http://vllm:8000/v1"}},
            {"model_name": "embed", "litellm_params": {"model": "openai/BAAI/bge-small-en-v1.5",
                                                       "api_base": "http://tei:80/v1"}},
        ],
        "router_settings": {"timeout": 60, "enable_fallback": True, "fallback_route_order": ["fast", "default"],
                            "health_check_enabled": True, "fallbacks": [{"fast": ["slow"]}]},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }
    messages = [d.message for d in only(analyze(CONTAINER, _with_config(_gateway(results), mistaken)),
                                        "gateway-config-valid")]
    text = "\n".join(messages)
    for key in ("enable_fallback", "fallback_route_order", "health_check_enabled"):
        assert f"router_settings.{key} is not a LiteLLM setting" in text
    assert "names 'slow', which is not a model_name" in text
    assert "use ollama_chat/llama3.1" in text and "ends in /v1" in text
    assert "embed: an embedding deployment without model_info.mode: embedding" in text


def test_config_problems_accepts_the_reference_shape() -> None:
    good: dict[str, Any] = {
        "model_list": [
            {"model_name": "chat-primary", "litellm_params": {"model": "hosted_vllm/Qwen/Qwen3-8B",
                                                              "api_base": "http://gpu-1:8000/v1"}},
            {"model_name": "chat-fallback", "litellm_params": {"model": "ollama_chat/qwen3:8b",
                                                               "api_base": "http://gpu-2:11434"}},
            {"model_name": "embed", "litellm_params": {"model": "openai/BAAI/bge-small-en-v1.5",
                                                       "api_base": "http://cpu-1:80/v1", "api_key": "unused"},
             "model_info": {"mode": "embedding"}},
        ],
        "router_settings": {"num_retries": 2, "fallbacks": [{"chat-primary": ["chat-fallback"]}]},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY", "background_health_checks": True},
    }
    assert config_problems(good) == []
    good["router_settings"]["health_check_interval"] = 30  # belongs in general_settings: LiteLLM refuses it
    assert ["router_settings.health_check_interval" in p for p in config_problems(good)] == [True]


def test_unparseable_config_fails(results: dict[str, PreviewResult]) -> None:
    props = _gateway(results)
    props["uploads"][0]["content"] = "model_list: [\n"
    found = only(analyze(CONTAINER, props), "gateway-config-valid")
    assert len(found) == 1 and "not valid YAML" in found[0].message


# -- litellm-version-safe --------------------------------------------------------------------------------------------

def test_real_litellm_image_is_safe(results: dict[str, PreviewResult]) -> None:
    image = inputs(by_name(results["prod"], "gateway-container-image"))
    assert only(analyze(REMOTE_IMAGE, image), "litellm-version-safe") == []
    assert only(analyze(CONTAINER, _gateway(results)), "litellm-version-safe") == []


@pytest.mark.parametrize("ref", ["ghcr.io/berriai/litellm:main-v1.82.7-stable", "ghcr.io/berriai/litellm:v1.82.8",
                                 "docker.litellm.ai/berriai/litellm:main-v1.82.8-stable@sha256:" + "a" * 64])
def test_compromised_releases_fail(ref: str) -> None:
    found = only(analyze(REMOTE_IMAGE, {"name": ref}), "litellm-version-safe")
    assert len(found) == 1 and "compromised release" in found[0].message


@pytest.mark.parametrize("ref", ["ghcr.io/berriai/litellm:main-latest", "ghcr.io/berriai/litellm:main-stable",
                                 "ghcr.io/berriai/litellm:latest", "ghcr.io/berriai/litellm:main",
                                 "ghcr.io/berriai/litellm"])
def test_moving_litellm_tags_fail(ref: str) -> None:
    found = only(analyze(REMOTE_IMAGE, {"name": ref}), "litellm-version-safe")
    assert len(found) == 1 and "moving or unversioned" in found[0].message


def test_moving_tag_with_digest_passes() -> None:
    ref = "ghcr.io/berriai/litellm:main-stable@sha256:" + "b" * 64
    assert only(analyze(REMOTE_IMAGE, {"name": ref}), "litellm-version-safe") == []


def test_pip_pins_of_compromised_versions_fail() -> None:
    container = {"image": "python:3.12.8-slim", "restart": "always",
                 "command": ["sh", "-c", "pip install 'litellm[proxy]==1.82.8' && litellm --port 4000"]}
    assert len(only(analyze(CONTAINER, container), "litellm-version-safe")) == 1
    instance = {"userData": "#!/bin/bash\npip install litellm==1.82.7\n",
                "metadataOptions": {"httpTokens": "required"}, "rootBlockDevice": {"encrypted": True}}
    assert len(only(analyze("aws:ec2/instance:Instance", instance), "litellm-version-safe")) == 1
    instance["userData"] = "#!/bin/bash\npip install --require-hashes litellm==1.108.7\n"
    assert only(analyze("aws:ec2/instance:Instance", instance), "litellm-version-safe") == []
