"""Ollama embeddings through the real LiteLLM proxy (issue 11 item 1).

LiteLLM 1.108.7's `embedding()` knows the `ollama/` provider (POST /api/embed) and not `ollama_chat/`, so an Ollama
embedding route must use `ollama/` (docs/engines.md §7.6). The stack is the dev stack with `embeddings.engine:
ollama`, rendered by the real program; its config boots the real proxy against Ollama stand-ins on loopback.
"""

from __future__ import annotations

import runpy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from llmstack.preview import record
from llmstack.spec import stack_config
from tests.conftest import PROGRAM, stack_file
from tests.gateway.rendered import standins_for, to_loopback, uploaded_config
from tests.standins import LiteLLMProxy, OllamaStandIn, StandIn

TAG = "nomic-embed-text:v1.5"  # what the catalog's nomic-embed-text is pulled as (catalog/models.yaml)


def ollama_embeddings_stack() -> dict[str, Any]:
    config = stack_config(stack_file("dev"))
    config["target"] = {**config["target"], "gpus": "none"}
    config["embeddings"] = {"engine": "ollama", "model": "nomic-embed-text", "gateway_model": "embed"}
    return config


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    result = record(lambda: runpy.run_path(str(PROGRAM), run_name="__main__"), stack="dev-ollama-embed",
                    config=ollama_embeddings_stack(), secret_config={"masterKey": "sk-ollama-embed-0123456789"})
    return uploaded_config(result, "dev-ollama-embed")


@pytest.fixture(scope="module")
def proxy(rendered: dict[str, Any]) -> Iterator[tuple[LiteLLMProxy, dict[str, StandIn]]]:
    standins = standins_for(rendered)
    for standin in standins.values():
        standin.start()
    try:
        with LiteLLMProxy(to_loopback(rendered, {n: s.url for n, s in standins.items()})) as p:
            yield p, standins
    finally:
        for standin in standins.values():
            standin.stop()


def test_the_embedding_route_uses_the_ollama_provider(rendered: dict[str, Any]) -> None:
    (entry,) = [m for m in rendered["model_list"] if m["model_name"] == "embed"]
    assert entry["litellm_params"] == {"model": f"ollama/{TAG}", "api_base": "http://embeddings:11434"}
    assert entry["model_info"] == {"mode": "embedding"}
    (chat,) = [m for m in rendered["model_list"] if m["model_name"] == "chat"]
    assert chat["litellm_params"]["model"].startswith("ollama_chat/")  # chat stays on /api/chat


def test_embeddings_reach_ollamas_embed_api(proxy: tuple[LiteLLMProxy, dict[str, StandIn]]) -> None:
    gateway, standins = proxy
    embed = standins["embed"]
    assert isinstance(embed, OllamaStandIn)
    r = httpx.post(gateway.url + "/v1/embeddings", headers=gateway.auth_headers, timeout=30,
                   json={"model": "embed", "input": ["why is the sky blue", "why is grass green"]})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [len(d["embedding"]) for d in data] == [embed.embed_dim] * 2
    (request,) = [q for q in embed.requests if q.path == "/api/embed" and "sky" in str(q.body)]
    assert request.body["model"] == TAG
    assert request.body["input"] == ["why is the sky blue", "why is grass green"]


def test_the_health_check_passes_for_the_embedding_route(proxy: tuple[LiteLLMProxy, dict[str, StandIn]]) -> None:
    gateway, _ = proxy
    r = httpx.get(gateway.url + "/health", headers=gateway.auth_headers, timeout=120)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["unhealthy_count"] == 0, report["unhealthy_endpoints"]
    assert f"ollama/{TAG}" in {e["model"] for e in report["healthy_endpoints"]}
