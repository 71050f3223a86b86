"""The stand-ins speak the engines' protocols: parsed by the real `openai` SDK, NDJSON by line, Docker API."""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.standins import (
    DockerStandIn,
    LiteLLMProxy,
    OllamaStandIn,
    ProxyBootError,
    StandInProcess,
    TeiStandIn,
    TokenSchedule,
    VllmStandIn,
)

MODEL = "Qwen/Qwen3-8B"


@pytest.fixture
def vllm() -> Iterator[VllmStandIn]:
    with VllmStandIn(MODEL, TokenSchedule(ttft=0.02, itl=0.005, output_tokens=8)) as s:
        assert isinstance(s, VllmStandIn)
        yield s


def test_vllm_stream_parsed_by_openai_sdk(vllm: VllmStandIn) -> None:
    client = openai.OpenAI(base_url=vllm.url + "/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "count to ten"}],
        max_tokens=5,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage:
            usage = chunk.usage
    assert "".join(pieces) == "The quick brown fox jumps"
    assert usage is not None and usage.completion_tokens == 5 and usage.prompt_tokens == 3
    record = vllm.requests[-1]
    assert record.path == "/v1/chat/completions" and len(record.token_times) == 5
    assert record.first_token is not None and record.first_token - record.arrival >= 0.02


def test_vllm_non_streaming_completions_models_metrics(vllm: VllmStandIn) -> None:
    client = openai.OpenAI(base_url=vllm.url + "/v1", api_key="unused", max_retries=0)
    chat = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert chat.choices[0].message.content == " ".join(["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy"])
    assert chat.usage is not None and chat.usage.completion_tokens == 8
    completion = client.completions.create(model=MODEL, prompt="a b c", max_tokens=2)
    assert completion.choices[0].text == "The quick" and completion.choices[0].finish_reason == "length"
    assert [m.id for m in client.models.list()] == [MODEL]
    metrics = httpx.get(vllm.url + "/metrics").text
    assert "vllm:generation_tokens_total" in metrics and "vllm:num_requests_running" in metrics
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="other", messages=[{"role": "user", "content": "hi"}])
    assert vllm.count("/v1/chat/completions") == 2


def test_failure_injection_and_health_status(vllm: VllmStandIn) -> None:
    vllm.fail_status = 500
    vllm.health_status = 503
    r = httpx.post(vllm.url + "/v1/chat/completions", json={"model": MODEL, "messages": []})
    assert r.status_code == 500 and "failure injected" in r.text
    assert httpx.get(vllm.url + "/health").status_code == 503


def test_stop_resets_open_streams_refuses_new_and_restart_keeps_port() -> None:
    standin = VllmStandIn(MODEL, TokenSchedule(ttft=0.0, itl=0.05, output_tokens=200)).start()
    try:
        url = standin.url
        received: list[str] = []
        errors: list[BaseException] = []

        def consume() -> None:
            try:
                with httpx.stream(
                    "POST",
                    url + "/v1/chat/completions",
                    json={"model": MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True},
                    timeout=10,
                ) as r:
                    for line in r.iter_lines():
                        received.append(line)
            except httpx.HTTPError as err:  # expected: the server died mid-stream
                errors.append(err)

        reader = threading.Thread(target=consume)
        reader.start()
        deadline = time.monotonic() + 5
        while len(received) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        standin.stop()
        reader.join(10)
        assert not reader.is_alive()
        assert errors and isinstance(errors[0], httpx.RemoteProtocolError | httpx.ReadError)
        assert "data: [DONE]" not in received
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/health")
        standin.restart()
        assert standin.url == url
        assert httpx.get(url + "/health").status_code == 200
    finally:
        standin.stop()


def test_keepalive_latency_has_no_nagle_stall(vllm: VllmStandIn) -> None:
    """Nagle + delayed ACK would add ~40 ms per kept-alive request (reference §7.12)."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "max_tokens": 1}
    vllm.schedule = TokenSchedule()
    with httpx.Client() as client:
        client.post(vllm.url + "/v1/chat/completions", json=body)
        began = time.perf_counter()
        for _ in range(20):
            assert client.post(vllm.url + "/v1/chat/completions", json=body).status_code == 200
        per_call = (time.perf_counter() - began) / 20
    assert per_call < 0.030, f"{per_call * 1000:.1f} ms per kept-alive call"


def test_ollama_native_ndjson_and_openai_compat() -> None:
    with OllamaStandIn(("qwen3:8b",), TokenSchedule(ttft=0.01, itl=0.002, output_tokens=4)) as ollama:
        assert httpx.get(ollama.url + "/").text == "Ollama is running"
        assert httpx.get(ollama.url + "/api/version").json() == {"version": "0.12.10"}
        assert [m["name"] for m in httpx.get(ollama.url + "/api/tags").json()["models"]] == ["qwen3:8b"]
        body = {"model": "qwen3:8b", "messages": [{"role": "user", "content": "hi there"}]}
        with httpx.stream("POST", ollama.url + "/api/chat", json=body) as r:
            assert r.headers["content-type"] == "application/x-ndjson"
            lines = [json.loads(line) for line in r.iter_lines() if line]
        assert [line["done"] for line in lines] == [False] * 4 + [True]
        assert "".join(line["message"]["content"] for line in lines) == "The quick brown fox"
        last = lines[-1]
        assert last["done_reason"] == "stop" and last["eval_count"] == 4 and last["prompt_eval_count"] == 2
        assert last["total_duration"] > 0 and last["created_at"].endswith("Z")
        single = httpx.post(
            ollama.url + "/api/chat", json={**body, "stream": False, "options": {"num_predict": 2}}
        ).json()
        assert single["message"] == {"role": "assistant", "content": "The quick"}
        assert single["done"] is True and single["done_reason"] == "length"
        missing = httpx.post(ollama.url + "/api/chat", json={**body, "model": "llama3:8b"})
        assert missing.status_code == 404 and "not found" in missing.json()["error"]
        client = openai.OpenAI(base_url=ollama.url + "/v1", api_key="ollama", max_retries=0)
        chat = client.chat.completions.create(model="qwen3:8b", messages=[{"role": "user", "content": "hi"}])
        assert chat.choices[0].message.content == "The quick brown fox"
        assert chat.system_fingerprint == "fp_ollama"


def test_ollama_embed_api() -> None:
    """POST /api/embed as docs/api.md @ v0.12.10 shows it: one vector per input, a string or a list."""
    with OllamaStandIn(("all-minilm:l6-v2",), embed_dim=6) as ollama:
        one = httpx.post(ollama.url + "/api/embed", json={"model": "all-minilm:l6-v2", "input": "why"}).json()
        assert one["model"] == "all-minilm:l6-v2" and [len(v) for v in one["embeddings"]] == [6]
        assert {"total_duration", "load_duration", "prompt_eval_count"} <= set(one)
        two = httpx.post(ollama.url + "/api/embed", json={"model": "all-minilm:l6-v2", "input": ["why", "how"]})
        assert two.json()["embeddings"][0] == one["embeddings"][0] and len(two.json()["embeddings"]) == 2
        missing = httpx.post(ollama.url + "/api/embed", json={"model": "nomic-embed-text", "input": "x"})
        assert missing.status_code == 404 and "not found" in missing.json()["error"]


def test_tei_api_key_guards_the_embedding_routes_only() -> None:
    with TeiStandIn(dim=4, api_key="k-123") as tei:
        assert httpx.get(tei.url + "/health").status_code == 200
        assert httpx.post(tei.url + "/v1/embeddings", json={"input": "a"}).status_code == 401
        assert httpx.post(tei.url + "/embed", json={"inputs": "a"},
                          headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = httpx.post(tei.url + "/v1/embeddings", json={"input": "a"}, headers={"Authorization": "Bearer k-123"})
        assert ok.status_code == 200 and len(ok.json()["data"][0]["embedding"]) == 4


def test_tei_embeddings_float_base64_and_native() -> None:
    with TeiStandIn(dim=8) as tei:
        assert httpx.get(tei.url + "/health").status_code == 200
        client = openai.OpenAI(base_url=tei.url + "/v1", api_key="unused", max_retries=0)
        # the SDK asks for base64 on the wire and decodes it
        result = client.embeddings.create(model="BAAI/bge-small-en-v1.5", input=["a", "b"])
        assert [len(d.embedding) for d in result.data] == [8, 8]
        floats = httpx.post(tei.url + "/v1/embeddings", json={"input": "a", "encoding_format": "float"}).json()["data"][
            0
        ]["embedding"]
        assert floats == pytest.approx(result.data[0].embedding, rel=1e-6)
        b64 = httpx.post(tei.url + "/v1/embeddings", json={"input": "a", "encoding_format": "base64"}).json()
        decoded = struct.unpack("<8f", base64.b64decode(b64["data"][0]["embedding"]))
        assert list(decoded) == pytest.approx(floats)
        native = httpx.post(tei.url + "/embed", json={"inputs": ["a"]}).json()
        assert native[0] == pytest.approx(floats)
        assert httpx.post(tei.url + "/embed", json={"inputs": 3}).status_code == 422


def test_docker_api_stops_and_starts_a_standin(tmp_path: Path) -> None:
    backend = VllmStandIn(MODEL).start()
    sock = str(tmp_path / "docker.sock")
    docker = DockerStandIn(sock, {"llm-chat": backend}).start()
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=sock), base_url="http://docker") as api:
            assert api.get("/_ping").text == "OK"
            assert api.post("/v1.47/containers/llm-chat/stop").status_code == 204
            assert not backend.running
            assert api.post("/containers/llm-chat/stop").status_code == 304
            assert api.get("/containers/llm-chat/json").json()["State"]["Running"] is False
            assert api.post("/containers/llm-chat/start").status_code == 204
            assert httpx.get(backend.url + "/health").status_code == 200
            assert api.post("/containers/llm-chat/start").status_code == 304
            missing = api.post("/containers/nope/stop")
            assert missing.status_code == 404 and missing.json()["message"] == "No such container: nope"
    finally:
        docker.stop()
        backend.stop()


def test_standin_process_serves_and_reports_timestamps() -> None:
    with StandInProcess("vllm", TokenSchedule(ttft=0.01, itl=0.001, output_tokens=3), uvloop=False) as proc:
        r = httpx.post(
            proc.url + "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True},
        )
        assert r.text.rstrip().endswith("data: [DONE]")
        (record,) = proc.requests()
        assert len(record["token_times"]) == 3 and record["first_token"] >= record["arrival"] + 0.01


def test_proxy_launcher_reports_boot_timeout_with_log_tail() -> None:
    proxy = LiteLLMProxy({"model_list": []}, boot_timeout=0.5)
    try:
        with pytest.raises(ProxyBootError, match="not live") as info:
            proxy.start()
        assert "log tail" in str(info.value)
        assert proxy._proc is None  # killed on failure
    finally:
        proxy.close()
