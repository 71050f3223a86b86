"""Hub loading through real HTTP: httpx.MockTransport and a local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from llmstack.catalog import models
from llmstack.errors import InputError, NotFoundError
from llmstack.planner import HubClient, PlanRequest, load_model, plan, weight_bytes

QWEN3 = dict(models()["qwen3-8b"].config)
TOTAL = 16_381_470_720


def _handler(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/Qwen/Qwen3-8B/resolve/main/config.json":
            return httpx.Response(200, json=QWEN3)
        if request.url.path == "/Qwen/Qwen3-8B/resolve/main/model.safetensors.index.json":
            return httpx.Response(200, json={"metadata": {"total_size": TOTAL}, "weight_map": {}})
        if "gated" in request.url.path:
            return httpx.Response(401)
        return httpx.Response(404)

    return httpx.MockTransport(handle)


def test_hub_fetch_with_token_and_cache(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    hub = HubClient(base_url="https://hub.test", token="hf_x", cache_dir=tmp_path, transport=_handler(seen))
    m = load_model("Qwen/Qwen3-8B", hub=hub)
    # a catalog alias never goes to the network
    assert seen == [] and m.name == "qwen3-8b"
    config, total = hub.fetch("Qwen/Qwen3-8B")
    assert config["model_type"] == "qwen3" and total == TOTAL
    assert seen[0].headers["authorization"] == "Bearer hf_x"
    n = len(seen)
    hub.fetch("Qwen/Qwen3-8B")  # cached on disk
    assert len(seen) == n
    assert (tmp_path / "Qwen--Qwen3-8B" / "main" / "config.json").exists()


def test_hub_repo_not_in_catalog_uses_exact_total(tmp_path: Path) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("config.json"):
            return httpx.Response(200, json=QWEN3)
        return httpx.Response(200, json={"metadata": {"total_size": TOTAL}})

    hub = HubClient(
        base_url="https://hub.test", token=None, cache_dir=tmp_path, transport=httpx.MockTransport(handle)
    )
    m = load_model("someone/qwen3-finetune", hub=hub)
    assert m.source == "hf:someone/qwen3-finetune" and m.safetensors_total_bytes == TOTAL
    assert weight_bytes(m, "bf16") == TOTAL
    assert plan(PlanRequest(model=m, quant="bf16", engine="vllm", context=8192)).fits


def test_hub_errors(tmp_path: Path) -> None:
    hub = HubClient(base_url="https://hub.test", token=None, cache_dir=tmp_path, transport=_handler([]))
    with pytest.raises(NotFoundError, match=r"no config\.json"):
        load_model("nobody/missing", hub=hub)
    with pytest.raises(InputError, match="HF_TOKEN"):
        load_model("org/gated-model", hub=hub)


def test_offline_message_names_repo_and_the_way_out(tmp_path: Path) -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route", request=request)

    hub = HubClient(base_url="https://hub.test", cache_dir=tmp_path, transport=httpx.MockTransport(boom))
    with pytest.raises(InputError) as err:
        load_model("acme/private-7b", hub=hub)
    assert "acme/private-7b" in str(err.value) and "config.json" in err.value.fix and "path" in err.value.fix
    assert "--" not in err.value.fix  # the same message serves stack files, which have no CLI flags


@pytest.fixture
def local_hub() -> Iterator[tuple[str, list[str]]]:
    auth: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            auth.append(self.headers.get("Authorization", ""))
            if self.path == "/acme/tiny/resolve/main/config.json":
                body = json.dumps(dict(models()["llama-3.2-1b"].config)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", auth
    finally:
        server.shutdown()
        server.server_close()


def test_real_http_server_via_env(
    local_hub: tuple[str, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, auth = local_hub
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("LLMSTACK_CACHE", str(tmp_path))
    m = load_model("acme/tiny")
    assert m.params == load_model("llama-3.2-1b").params and m.safetensors_total_bytes is None
    assert auth[0] == "Bearer hf_secret"
    assert (tmp_path / "hf" / "acme--tiny" / "main" / "config.json").exists()
