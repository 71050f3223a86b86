"""no-gguf-on-vllm, quantization-matches-engine, container-healthcheck-required, restart-policy-required,
context-limit-required: a failing and a passing case each, through the analyzer servicer."""

from __future__ import annotations

from typing import Any

import pytest

from llmstack.engines import engine, inference_engines
from llmstack.preview import PreviewResult
from tests.policies.policy_helpers import CONTAINER, analyze, by_name, inputs, not_applicable, only, set_label


def _vllm(results: dict[str, PreviewResult]) -> dict[str, Any]:
    return inputs(by_name(results["prod"], "chat-fallback-container"))  # real vLLM AWQ container


def _ollama(results: dict[str, PreviewResult]) -> dict[str, Any]:
    return inputs(by_name(results["dev"], "chat-container"))  # real Ollama Q4_K_M container


# -- no-gguf-on-vllm --------------------------------------------------------------------------------------------------

def test_real_vllm_container_passes_gguf_check(results: dict[str, PreviewResult]) -> None:
    assert only(analyze(CONTAINER, _vllm(results)), "no-gguf-on-vllm") == []


@pytest.mark.parametrize("change", ["label", "repo", "path"])
def test_gguf_on_stock_vllm_fails(results: dict[str, PreviewResult], change: str) -> None:
    props = _vllm(results)
    if change == "label":
        set_label(props, "llmstack.format", "Q4_K_M")
    elif change == "repo":
        props["command"][0] = "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF"
    else:
        props["command"] += ["--model", "/models/llama-3.1-8b.Q4_K_M.gguf"]
    found = only(analyze(CONTAINER, props, "chat"), "no-gguf-on-vllm")
    assert len(found) == 1 and found[0].level == "mandatory"
    assert "no GGUF loader" in found[0].message and "llamacpp or ollama" in found[0].message


def test_gguf_on_sglang_and_tgi_images_fails_without_labels() -> None:
    for image, command in (("lmsysorg/sglang:v0.5.10.post1", ["python3", "-m", "sglang.launch_server",
                                                              "--model-path", "/m/qwen.Q4_K_M.gguf"]),
                           ("ghcr.io/huggingface/text-generation-inference:3.3.7",
                            ["--model-id", "TheBloke/Llama-2-7B-GGUF"])):
        props = {"image": image, "command": command, "restart": "always"}
        assert len(only(analyze(CONTAINER, props), "no-gguf-on-vllm")) == 1, image


def test_gguf_on_vllm_allowed_with_the_override(results: dict[str, PreviewResult]) -> None:
    props = set_label(_vllm(results), "llmstack.format", "Q4_K_M")
    props["command"][0] = "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF:Q4_K_M"
    props["command"] += ["--tokenizer", "meta-llama/Llama-3.1-8B-Instruct"]
    assert len(only(analyze(CONTAINER, props), "no-gguf-on-vllm")) == 1  # stock image: still refused
    set_label(props, "llmstack.image", "registry.example.com/vllm-gguf:v0.30.0-plugin1")
    assert only(analyze(CONTAINER, props), "no-gguf-on-vllm") == []


def test_gguf_level_can_be_lowered_per_policy(results: dict[str, PreviewResult]) -> None:
    props = set_label(_vllm(results), "llmstack.format", "Q4_K_M")
    found = only(analyze(CONTAINER, props, config={"no-gguf-on-vllm": {"enforcementLevel": "advisory"}}),
                 "no-gguf-on-vllm")
    assert [d.level for d in found] == ["advisory"]


# -- quantization-matches-engine --------------------------------------------------------------------------------------

def test_real_containers_pass_quantization(results: dict[str, PreviewResult]) -> None:
    for props in (_vllm(results), _ollama(results), inputs(by_name(results["prod"], "chat-container"))):
        assert only(analyze(CONTAINER, props), "quantization-matches-engine") == []


@pytest.mark.parametrize("fmt", ["awq", "gptq", "bf16"])
def test_safetensors_formats_on_ollama_fail(results: dict[str, PreviewResult], fmt: str) -> None:
    props = set_label(_ollama(results), "llmstack.format", fmt)
    found = only(analyze(CONTAINER, props), "quantization-matches-engine")
    assert len(found) == 1 and "ollama serves gguf" in found[0].message


def test_fp8_needs_an_fp8_gpu(results: dict[str, PreviewResult]) -> None:
    prod_fp8 = inputs(by_name(results["prod"], "chat-container"))  # fp8 on RTX PRO 6000 (Blackwell): fine
    assert only(analyze(CONTAINER, prod_fp8), "quantization-matches-engine") == []
    set_label(prod_fp8, "llmstack.gpu", "A10G")
    found = only(analyze(CONTAINER, prod_fp8), "quantization-matches-engine")
    assert len(found) == 1 and "A10G (ampere" in found[0].message and "no FP8" in found[0].message


# -- container-healthcheck-required ----------------------------------------------------------------------------------

def test_real_containers_have_working_health_checks(results: dict[str, PreviewResult]) -> None:
    for env in ("dev", "prod"):
        for r in results[env].registrations:
            if r.type == CONTAINER:
                assert only(analyze(CONTAINER, inputs(r), r.name), "container-healthcheck-required") == [], r.name


def test_missing_health_check_fails(results: dict[str, PreviewResult]) -> None:
    props = _vllm(results)
    del props["healthcheck"]
    found = only(analyze(CONTAINER, props, "chat"), "container-healthcheck-required")
    assert len(found) == 1 and "no health check" in found[0].message and "/health" in found[0].message


def test_curl_check_in_ollama_image_fails(results: dict[str, PreviewResult]) -> None:
    props = _ollama(results)
    props["healthcheck"]["tests"] = ["CMD-SHELL", "curl -f http://localhost:11434/ || exit 1"]
    found = only(analyze(CONTAINER, props), "container-healthcheck-required")
    assert len(found) == 1 and "has no curl or wget" in found[0].message and "ollama show" in found[0].message


def test_litellm_wget_check_fails() -> None:
    props = {"image": "ghcr.io/berriai/litellm:main-v1.108.7-stable", "restart": "always",
             "healthcheck": {"tests": ["CMD", "wget", "-q", "http://localhost:4000/health/liveliness"],
                             "startPeriod": "80s"}}
    found = only(analyze(CONTAINER, props), "container-healthcheck-required")
    assert len(found) == 1 and "urllib" in found[0].message


def test_start_period_must_cover_model_load(results: dict[str, PreviewResult]) -> None:
    props = inputs(by_name(results["prod"], "chat-container"))  # 34 GB of FP8 weights at TP=2: 181 s planned
    props["healthcheck"]["startPeriod"] = "60s"
    found = only(analyze(CONTAINER, props), "container-healthcheck-required")
    assert len(found) == 1 and "at least 181s" in found[0].message and "startup_seconds" in found[0].message


def test_minimum_start_period_is_configurable(results: dict[str, PreviewResult]) -> None:
    props = _vllm(results)  # start_period 30s
    config = {"container-healthcheck-required": {"minimumStartPeriodSeconds": 300}}
    found = only(analyze(CONTAINER, props, config=config), "container-healthcheck-required")
    assert len(found) == 1 and "configured minimum 300 s" in found[0].message


def test_monitoring_exporter_without_check_is_exempt_by_config(results: dict[str, PreviewResult]) -> None:
    dcgm = inputs(by_name(results["prod"], "monitoring-gpu-chat-dcgm"))
    assert only(analyze(CONTAINER, dcgm), "container-healthcheck-required") == []  # it ships a working check
    dcgm.pop("healthcheck")
    assert "container-healthcheck-required" in not_applicable(CONTAINER, dcgm)
    strict: dict[str, Any] = {"container-healthcheck-required": {"exemptRoles": []}}
    assert len(only(analyze(CONTAINER, dcgm, config=strict), "container-healthcheck-required")) == 1


# -- restart-policy-required -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("restart", "retries", "ok"), [
    ("unless-stopped", None, True), ("always", None, True), ("on-failure", 5, True),
    ("on-failure", None, False), ("no", None, False), (None, None, False),
])
def test_restart_policy(results: dict[str, PreviewResult], restart: str | None, retries: int | None,
                        ok: bool) -> None:
    props = _vllm(results)
    props.pop("restart")
    if restart:
        props["restart"] = restart
    if retries:
        props["maxRetryCount"] = retries
    found = only(analyze(CONTAINER, props), "restart-policy-required")
    assert (found == []) is ok
    if not ok:
        assert "unless-stopped" in found[0].message


# -- context-limit-required ------------------------------------------------------------------------------------------

def test_every_inference_engine_has_a_context_rule() -> None:
    for name in inference_engines():
        limit = engine(name).context_limit
        assert limit.flags or limit.env, f"{name} has no context flag or env var in engines.yaml"


def test_real_containers_set_context(results: dict[str, PreviewResult]) -> None:
    for props in (_vllm(results), _ollama(results), inputs(by_name(results["prod"], "structured-container"))):
        assert only(analyze(CONTAINER, props), "context-limit-required") == []


def test_vllm_without_max_model_len_fails(results: dict[str, PreviewResult]) -> None:
    props = _vllm(results)
    i = props["command"].index("--max-model-len")
    del props["command"][i:i + 2]
    found = only(analyze(CONTAINER, props), "context-limit-required")
    assert len(found) == 1 and "--max-model-len" in found[0].message


def test_ollama_without_context_env_fails(results: dict[str, PreviewResult]) -> None:
    props = _ollama(results)
    props["envs"] = [e for e in props["envs"] if not e.startswith("OLLAMA_CONTEXT_LENGTH=")]
    found = only(analyze(CONTAINER, props), "context-limit-required")
    assert len(found) == 1 and "OLLAMA_CONTEXT_LENGTH" in found[0].message


@pytest.mark.parametrize(("image", "command", "envs", "ok"), [
    ("ghcr.io/ggml-org/llama.cpp:server-b11206", ["-hf", "x/y-GGUF:Q4_K_M", "-c", "8192"], [], True),
    ("ghcr.io/ggml-org/llama.cpp:server-b11206", ["-hf", "x/y-GGUF:Q4_K_M", "--ctx-size=0"], [], False),
    ("ghcr.io/ggml-org/llama.cpp:server-b11206", ["-hf", "x/y-GGUF:Q4_K_M"], [], False),
    ("nvcr.io/nim/nvidia/model-free-nim:2.1.6", [], ["NIM_MAX_MODEL_LEN=16384"], True),
    ("nvcr.io/nim/nvidia/model-free-nim:2.1.6", [], [], False),
    ("ghcr.io/huggingface/text-generation-inference:3.3.7", ["--model-id", "m", "--max-total-tokens", "4096"], [],
     True),
    ("lmsysorg/sglang:v0.5.10.post1", ["python3", "-m", "sglang.launch_server", "--model-path", "m"], [], False),
])
def test_context_flags_per_engine(image: str, command: list[str], envs: list[str], ok: bool) -> None:
    props = {"image": image, "command": command, "envs": envs, "restart": "always"}
    assert (only(analyze(CONTAINER, props), "context-limit-required") == []) is ok
