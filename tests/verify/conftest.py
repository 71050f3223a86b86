"""One stack per session: vLLM, Ollama, TEI stand-ins, a Docker API stand-in and the real LiteLLM proxy; and the
exports of a real preview of each shipped Kubernetes stack."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import KUBERNETES_STACKS
from tests.k8s.stacks import K8sStack
from tests.standins import (
    DockerStandIn,
    LiteLLMProxy,
    OllamaStandIn,
    StandIn,
    TeiStandIn,
    TokenSchedule,
    VllmStandIn,
)
from tests.verify.stack import Stack, running


def gateway_config(vllm: VllmStandIn, ollama: OllamaStandIn, tei: TeiStandIn) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "chat",
                "litellm_params": {"model": f"hosted_vllm/{vllm.model}", "api_base": vllm.url + "/v1"},
            },
            {  # the prod stack's structured-output model name, so its exports verify against this gateway too
                "model_name": "structured",
                "litellm_params": {"model": f"hosted_vllm/{vllm.model}", "api_base": vllm.url + "/v1"},
            },
            {  # frontier-eks's one backend
                "model_name": "deepseek",
                "litellm_params": {"model": f"hosted_vllm/{vllm.model}", "api_base": vllm.url + "/v1"},
            },
            {
                "model_name": "chat-fallback",
                "litellm_params": {"model": f"ollama_chat/{ollama.models[0]}", "api_base": ollama.url},
            },
            {
                "model_name": "embed",
                "litellm_params": {
                    "model": f"openai/{tei.model}",
                    "api_base": tei.url + "/v1",
                    "api_key": "unused",
                },
                "model_info": {"mode": "embedding"},
            },
        ],
        "router_settings": {
            "fallbacks": [{"chat": ["chat-fallback"]}],
            "num_retries": 0,
            "timeout": 30,
            "disable_cooldowns": True,
        },
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    schedule = TokenSchedule(ttft=0.005, itl=0.001, output_tokens=8)
    vllm = VllmStandIn("Qwen/Qwen3-8B", schedule)
    ollama = OllamaStandIn(("qwen3:8b",), schedule)
    tei = TeiStandIn()
    with tempfile.TemporaryDirectory(prefix="llmstack-verify-") as tmp:
        sock = str(Path(tmp) / "docker.sock")
        docker = DockerStandIn(sock, {"llm-chat": vllm, "llm-chat-fallback": ollama, "llm-embed": tei})
        with (
            vllm,
            ollama,
            tei,
            docker,
            LiteLLMProxy(gateway_config(vllm, ollama, tei), workdir=Path(tmp)) as proxy,
        ):
            docker_host = f"unix://{sock}"
            backends = {
                "chat": {
                    "url": vllm.url,
                    "engine": "vllm",
                    "model": vllm.model,
                    "gateway_model": "chat",
                    "container": "llm-chat",
                    "docker_host": docker_host,
                },
                "chat-fallback": {
                    "url": ollama.url,
                    "engine": "ollama",
                    "model": "qwen3:8b",
                    "gateway_model": "chat-fallback",
                    "container": "llm-chat-fallback",
                    "docker_host": docker_host,
                },
            }
            embeddings = {
                "url": tei.url,
                "engine": "tei",
                "model": tei.model,
                "gateway_model": "embed",
                "container": "llm-embed",
                "docker_host": docker_host,
            }
            # What `pulumi stack output --json --show-secrets` prints for a stack on one Docker host
            # (llmstack.outputs.StackExports).
            outputs = {
                "gateway_url": proxy.url,
                "endpoints": {
                    "gateway_url": proxy.url,
                    "gateway_models": ["chat", "chat-fallback", "embed"],
                    "fallbacks": {"chat": ["chat-fallback"]},
                    "backends": backends,
                    "embeddings": embeddings,
                },
                "master_key": proxy.master_key,
                "access": {"ssh": None, "private": []},
            }
            outputs_file = Path(tmp) / "outputs.json"
            outputs_file.write_text(json.dumps(outputs))
            stack = Stack(vllm, ollama, tei, docker, sock, proxy, outputs, outputs_file)
            yield stack
            stack.reset()


@pytest.fixture
def live(stack: Stack) -> Iterator[Stack]:
    """The session stack, put back in order after each test (faults cleared, stopped stand-ins restarted)."""
    stack.reset()
    try:
        yield stack
    finally:
        stack.reset()


@pytest.fixture(scope="session")
def k8s_exports(k8s_stacks: dict[str, K8sStack]) -> dict[str, dict[str, Any]]:
    """What `__main__.py` exports for each shipped Kubernetes stack, under Pulumi's mocks (as `llmstack preview`)."""
    return {name: k8s_stacks[name].result.exports for name in KUBERNETES_STACKS}


@pytest.fixture(scope="module")
def pods(k8s_exports: dict[str, dict[str, Any]]) -> Iterator[dict[tuple[str, str], StandIn]]:
    """The Kubernetes stacks' backend pods: a stand-in per (engine, served model) (SGLang serves vLLM's routes)."""
    wanted = {(b["engine"], b["model"]) for e in k8s_exports.values() for b in e["endpoints"]["backends"].values()}
    assert {engine for engine, _ in wanted} <= {"vllm", "sglang"}, wanted
    standins: dict[tuple[str, str], StandIn] = {key: VllmStandIn(key[1]) for key in sorted(wanted)}
    with running(standins):
        yield standins
