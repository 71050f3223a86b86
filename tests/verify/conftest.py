"""One stack per session: vLLM, Ollama, TEI stand-ins, a Docker API stand-in and the real LiteLLM proxy."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.standins import DockerStandIn, LiteLLMProxy, OllamaStandIn, TeiStandIn, TokenSchedule, VllmStandIn
from tests.verify.stack import Stack


def gateway_config(vllm: VllmStandIn, ollama: OllamaStandIn, tei: TeiStandIn) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "chat",
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
            outputs = {
                "gateway_url": proxy.url,
                "master_key": proxy.master_key,
                "gateway_models": ["chat", "chat-fallback", "embed"],
                "fallbacks": {"chat": ["chat-fallback"]},
                "backends": {
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
                },
                "embeddings": {
                    "url": tei.url,
                    "engine": "tei",
                    "model": tei.model,
                    "gateway_model": "embed",
                    "container": "llm-embed",
                    "docker_host": docker_host,
                },
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
