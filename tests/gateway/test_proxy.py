"""End-to-end: the real LiteLLM proxy, booted from each shipped stack's rendered gateway config (issue #5).

Backends are loopback stand-ins; each request carries a nonce in its prompt so the stand-in's request log proves
which backend got it (background health checks hit the same routes, without the nonce).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any

import httpx
import pytest

from llmstack.stackplan.litellm_config import unknown_keys
from tests.gateway.conftest import SHORT_TIMING, Gateway
from tests.standins import StandIn

GENERATION_PATHS = ("/v1/chat/completions", "/api/chat", "/v1/embeddings", "/embed")
# What LiteLLM logs when it drops a config key (reference §7.4) or rejects/ignores a setting.
WARNING_MARKERS = ("is not a valid argument", "Ignoring this key", "not a valid key", "Unknown key",
                   "unexpected keyword argument", "move it to 'general_settings'")


def nonce() -> str:
    return f"nonce-{secrets.token_hex(6)}"


def carrying(standin: StandIn, marker: str) -> int:
    """How many generation requests with `marker` in their body this stand-in received."""
    return sum(1 for r in standin.requests if r.path in GENERATION_PATHS and marker in json.dumps(r.body))


def chat(gw: Gateway, client: httpx.Client, model: str, marker: str, **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": f"hello {marker}"}], "max_tokens": 4, **extra}
    return client.post(gw.proxy.url + "/v1/chat/completions", headers=gw.proxy.auth_headers, json=body)


def test_rendered_config_has_only_known_keys(gateway: Gateway) -> None:
    assert unknown_keys(gateway.rendered) == []
    assert gateway.rendered["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"


def test_proxy_boots_without_unknown_key_warnings(gateway: Gateway) -> None:
    log = gateway.proxy.log_text()
    assert "Proxy initialized with Config" in log
    hits = [line for line in log.splitlines() if any(m in line for m in WARNING_MARKERS)]
    assert hits == [], "\n".join(hits)


@pytest.mark.parametrize("key", [None, "sk-wrong-key-0123456789abcdef"], ids=["no-key", "wrong-key"])
def test_requests_without_the_master_key_are_refused(gateway: Gateway, key: str | None) -> None:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    marker = nonce()
    body = {"model": gateway.chat_models[0], "messages": [{"role": "user", "content": marker}]}
    with httpx.Client(timeout=30) as client:
        chat_r = client.post(gateway.proxy.url + "/v1/chat/completions", headers=headers, json=body)
        models_r = client.get(gateway.proxy.url + "/v1/models", headers=headers)
    if key is None:
        assert chat_r.status_code == 401, chat_r.text
        assert models_r.status_code == 401, models_r.text
    else:
        # A key that is not the master key is looked up as a virtual key; with no database (the stacks run
        # none) LiteLLM 1.108.7 refuses it with 400 "No connected db." rather than 401. Either way: refused.
        for r in (chat_r, models_r):
            assert r.status_code in (400, 401), r.text
            assert r.status_code == 401 or "No connected db" in r.text, r.text
    assert all(carrying(s, marker) == 0 for s in gateway.standins.values())


def test_each_chat_model_routes_to_its_backend(gateway: Gateway) -> None:
    gateway.reset()
    with httpx.Client(timeout=30) as client:
        for model in gateway.chat_models:
            marker = nonce()
            r = chat(gateway, client, model, marker)
            assert r.status_code == 200, r.text
            assert r.json()["choices"][0]["message"]["content"]
            got = {name: carrying(s, marker) for name, s in gateway.standins.items()}
            assert got == {name: int(name == model) for name in gateway.standins}, (model, got)


def test_streaming_through_the_proxy(gateway: Gateway) -> None:
    gateway.reset()
    with httpx.Client(timeout=30) as client:
        for model in gateway.chat_models:
            marker = nonce()
            body = {"model": model, "messages": [{"role": "user", "content": f"stream {marker}"}],
                    "max_tokens": 6, "stream": True}
            events: list[str] = []
            with client.stream("POST", gateway.proxy.url + "/v1/chat/completions", headers=gateway.proxy.auth_headers,
                               json=body) as r:
                assert r.status_code == 200, r.read().decode()
                assert r.headers["content-type"].startswith("text/event-stream")
                events = [line.removeprefix("data: ") for line in r.iter_lines() if line.startswith("data: ")]
            assert events[-1] == "[DONE]", events[-3:]
            chunks = [json.loads(e) for e in events[:-1]]
            text = "".join((c["choices"][0].get("delta") or {}).get("content") or "" for c in chunks if c["choices"])
            assert len(chunks) >= 2 and text, chunks
            assert carrying(gateway.standins[model], marker) == 1


def test_embeddings_route(gateway: Gateway) -> None:
    gateway.reset()
    assert gateway.embed_models == ["embed"]
    marker = nonce()
    with httpx.Client(timeout=30) as client:
        r = client.post(gateway.proxy.url + "/v1/embeddings", headers=gateway.proxy.auth_headers,
                        json={"model": "embed", "input": [f"one {marker}", f"two {marker}"]})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert len(data) == 2 and len(data[0]["embedding"]) == 384
    got = {name: carrying(s, marker) for name, s in gateway.standins.items()}
    assert got == {name: int(name == "embed") for name in gateway.standins}


def test_the_gateway_presents_the_engine_key(gateway: Gateway) -> None:
    """Engines that take an API key (docs/engines.md §1.1) get it from the gateway: the rendered entries read it
    from LLMSTACK_ENGINE_API_KEY, and the stand-ins refuse generation requests without it."""
    gateway.reset()
    keyed = {name: s for name, s in gateway.standins.items() if getattr(s, "api_key", None)}
    assert keyed, "no stand-in requires the engine key"
    assert all(getattr(s, "api_key", None) == gateway.engine_key for s in keyed.values())
    marker = nonce()
    with httpx.Client(timeout=30) as client:
        for name in keyed:
            if gateway.kind(name) == "embedding":
                r = client.post(gateway.proxy.url + "/v1/embeddings", headers=gateway.proxy.auth_headers,
                                json={"model": name, "input": [marker]})
            else:
                r = chat(gateway, client, name, marker)
            assert r.status_code == 200, r.text
    for name, standin in keyed.items():
        (request,) = [r for r in standin.requests if r.path in GENERATION_PATHS and marker in json.dumps(r.body)]
        assert request.headers["authorization"] == f"Bearer {gateway.engine_key}", name


def test_liveliness_answers_without_auth(gateway: Gateway) -> None:
    # The container health check (a python one-liner, no curl in the image) calls this without a key.
    r = httpx.get(gateway.proxy.url + "/health/liveliness", timeout=10)
    assert r.status_code == 200
    assert "alive" in r.text.lower()


def test_metrics_need_the_key(gateway: Gateway) -> None:
    with httpx.Client(timeout=30) as client:
        assert chat(gateway, client, gateway.chat_models[0], nonce()).status_code == 200  # something to count
        denied = [client.get(gateway.proxy.url + path) for path in ("/metrics", "/metrics/")]
        wrong = client.get(gateway.proxy.url + "/metrics/", headers={"Authorization": "Bearer sk-wrong-0123456789"})
        # /metrics is a mounted app: with the key, /metrics answers 307 -> /metrics/ (Prometheus follows it and
        # keeps the bearer token on a same-host redirect); /metrics/ serves the exposition directly.
        redirect = client.get(gateway.proxy.url + "/metrics", headers=gateway.proxy.auth_headers)
        allowed = client.get(gateway.proxy.url + "/metrics", headers=gateway.proxy.auth_headers, follow_redirects=True)
    assert [r.status_code for r in denied] == [401, 401], [r.text[:200] for r in denied]
    assert wrong.status_code == 401, wrong.text[:300]
    assert redirect.status_code in (200, 307)
    assert allowed.status_code == 200
    assert allowed.headers["content-type"].startswith("text/plain")
    series = {line.split("{")[0].split(" ")[0] for line in allowed.text.splitlines() if line.startswith("litellm_")}
    assert any(s.startswith("litellm_") for s in series), allowed.text[:500]


# ---------------------------------------------------------------------------------------------- failover (prod)
CLIENTS = 3  # concurrent clients: enough to have requests in flight when the primary dies, light on 2 cores
MAX_REQUESTS_PER_CLIENT = 400


def _load(gw: Gateway, model: str, stop: threading.Event, results: list[tuple[float, int, str]],
          lock: threading.Lock) -> None:
    with httpx.Client(timeout=60) as client:
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if stop.is_set():
                return
            began = time.monotonic()
            try:
                r = chat(gw, client, model, "load")
                outcome, detail = r.status_code, r.headers.get("x-litellm-model-api-base", "")
            except httpx.HTTPError as exc:  # a client-visible failure: recorded and asserted on below
                outcome, detail = 0, repr(exc)
            with lock:
                results.append((began, outcome, detail))


def _fallback_pairs(gw: Gateway) -> list[tuple[str, str]]:
    return [(primary, targets[0]) for entry in gw.rendered["router_settings"].get("fallbacks", [])
            for primary, targets in entry.items()]


@pytest.mark.parametrize("gateway", ["prod"], indirect=True)  # the one stack with fallbacks
def test_failover_under_load_then_traffic_returns(gateway: Gateway) -> None:
    pairs = _fallback_pairs(gateway)
    assert pairs == [("chat", "chat-fallback"), ("structured", "chat-fallback")]
    gateway.reset()
    primary_name, fallback_name = pairs[0]
    primary, fallback = gateway.standins[primary_name], gateway.standins[fallback_name]
    results: list[tuple[float, int, str]] = []
    lock, stop = threading.Lock(), threading.Event()
    threads = [threading.Thread(target=_load, args=(gateway, primary_name, stop, results, lock), daemon=True)
               for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 30
        while carrying(primary, "load") < 10 and time.monotonic() < deadline:  # steady load on the primary
            time.sleep(0.05)
        assert carrying(primary, "load") >= 10, "load never reached the primary"
        primary.stop()  # the primary "container" dies: connections reset, new connects refused
        killed = time.monotonic()
        served_before = carrying(fallback, "load")
        time.sleep(3.0)
        with lock:
            after_kill = [r for r in results if r[0] >= killed]
        assert len(after_kill) >= CLIENTS, "the clients stalled after the kill"
        assert carrying(fallback, "load") > served_before
        primary.start()  # same port again
        restarted = time.monotonic()
        # Traffic returns once the cooldown set by the failed health checks ends (SHORT_TIMING: 4 s cooldown,
        # 2 s checks); bound = cooldown + health-check interval + margin for a loaded 2-core machine.
        bound = SHORT_TIMING["router_settings"]["cooldown_time"] + SHORT_TIMING["general_settings"][
            "health_check_interval"] + 10
        back_before = carrying(primary, "load")
        while carrying(primary, "load") == back_before and time.monotonic() - restarted < bound:
            time.sleep(0.1)
        returned_after = time.monotonic() - restarted
        assert carrying(primary, "load") > back_before, f"no traffic on the restarted primary within {bound} s"
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=90)
        gateway.reset()
    failures = [r for r in results if r[1] != 200]
    assert failures == [], f"{len(failures)} of {len(results)} client requests failed: {failures[:5]}"
    print(f"{gateway.stack}: {len(results)} requests, 0 failed; primary back {returned_after:.1f} s after restart")
