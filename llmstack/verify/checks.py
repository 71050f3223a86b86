"""`llmstack verify`: prove a deployed stack answers, backend by backend and through the gateway.

Checks (independent ones run concurrently over one `httpx.AsyncClient`):

- `health`: each backend's and the embeddings server's health endpoint (`health_path` in the engine table);
- `chat`: one chat completion per backend, directly (`/api/chat` for Ollama-protocol engines, else the
  OpenAI route under the engine's `api_path`);
- `embed`: one embedding directly (`<api_path>/embeddings`) and one through the gateway;
- `gateway live`: `GET /health/liveliness`; `gateway auth`: a request without the key is refused (401/403);
- `gateway chat`: one chat completion per gateway model name, with the master key;
- with `fallback=True`, per primary that has fallbacks: stop its container through the Docker Engine API,
  check the gateway still answers that model name, and start the container again (always, in `finally`),
  then wait for the backend's health endpoint.

An endpoint the outputs list as private (`access.private`: on AWS every engine port answers only the gateway's and
Prometheus's security groups) is not checked directly: its `health`, `chat` or `embed` row is a skip that says so,
the gateway checks still reach it, and `llmstack verify --via-ssh` (llmstack.verify.tunnel) checks it through the
gateway's node. On Kubernetes every URL is a cluster Service (llmstack.verify.cluster): where this machine does not
resolve its name, its checks (the gateway's too) are skips that print the `kubectl port-forward` commands, and
`--via-kubectl` (llmstack.verify.portforward) runs them; `--fallback` is a skip that says how to drill it by hand.
No detail ever shows the master key.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

import httpx

from llmstack.engines import engine
from llmstack.outputs import Endpoint, StackOutputs, mask
from llmstack.verify.cluster import (
    cluster_services,
    fallback_detail,
    resolvable,
    skip_detail,
    skip_hint,
    suggested_ports,
)
from llmstack.verify.docker_api import docker_client, docker_container, resolve_docker_host
from llmstack.verify.forward import host_port
from llmstack.verify.report import CheckFailed, CheckResult, VerifyReport, describe, expect, json_of

EMBEDDINGS = "embeddings"  # the embedding server's name in `access.private` (llmstack.stackplan.EMBEDDINGS)
PROMPT = "Reply with the single word: ready."
MAX_TOKENS = 8
# Why a check did not run (`Verifier._skips` counts each): an AWS engine port behind its security group, a cluster
# Service this machine does not resolve, a fallback drill that does not apply.
PRIVATE, CLUSTER, NO_DRILL = "private", "cluster", "no drill"
Skip = tuple[str, str]  # (why, detail)
Job = Awaitable[CheckResult]


def _chat_text(data: Any, where: str) -> str:
    try:
        message = data["choices"][0]["message"]
    except (KeyError, IndexError, TypeError) as err:
        raise CheckFailed(f"{where}: no choices[0].message in {str(data)[:200]}") from err
    text = message.get("content") or message.get("reasoning_content") or ""
    if not isinstance(text, str):
        raise CheckFailed(f"{where}: message.content is {type(text).__name__}, not a string")
    return text


def _embedding_dim(data: Any, where: str) -> int:
    try:
        vector = data["data"][0]["embedding"]
    except (KeyError, IndexError, TypeError) as err:
        raise CheckFailed(f"{where}: no data[0].embedding in {str(data)[:200]}") from err
    if not isinstance(vector, list) or not vector:
        raise CheckFailed(f"{where}: data[0].embedding is not a non-empty list of floats")
    return len(vector)


def _served_by(resp: httpx.Response) -> str:
    base = resp.headers.get("x-litellm-model-api-base")
    return f" via {base}" if base else ""


def _is_ollama_protocol(endpoint: Endpoint) -> bool:
    return engine(endpoint.engine).litellm_provider.startswith("ollama")


def _api_base(endpoint: Endpoint) -> str:
    return endpoint.url + engine(endpoint.engine).api_path


async def _fail(message: str) -> str:
    raise CheckFailed(message)


class Verifier:
    def __init__(
        self,
        outputs: StackOutputs,
        *,
        timeout: float = 30.0,
        docker_host: str | None = None,
        recover_timeout: float = 300.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.outputs = outputs
        self.timeout = timeout
        self.docker_host = docker_host
        self.recover_timeout = recover_timeout
        self.env = os.environ if env is None else env
        self.key = outputs.master_key.get_secret_value()
        self.services = cluster_services(outputs)
        self.local_ports = suggested_ports(self.services)
        self.resolved: set[str] = set()  # the cluster hosts this machine resolves (`run` looks them up)
        self._skips: Counter[str] = Counter()

    async def _timed(self, check: str, target: str, body: Awaitable[str]) -> CheckResult:
        began = time.perf_counter()
        try:
            detail = await body
            ok = True
        except CheckFailed as err:
            detail, ok = str(err), False
        except httpx.HTTPError as err:
            detail, ok = describe(err), False
        # An answer may quote the request (a proxy echoing its Authorization header): never print the key.
        return CheckResult(check, mask(target, [self.key]), ok, time.perf_counter() - began, mask(detail, [self.key]))

    def _why_not(self, name: str | None, url: str) -> Skip | None:
        """Why `url` (the gateway's when `name` is None) can't be checked from here, or None."""
        key = host_port(url)
        if (svc := self.services.get(key)) is not None:
            return None if key[0] in self.resolved else (CLUSTER, skip_detail(svc, self.local_ports[key]))
        if name is not None and self.outputs.is_private(name):
            return PRIVATE, (f"private: port {key[1]} answers only the gateway's node (security group); "
                             "checked through the gateway below; add --via-ssh to check it directly")
        return None

    def _skip(self, check: str, target: str, why: Skip) -> CheckResult:
        self._skips[why[0]] += 1
        return CheckResult(check, mask(target, [self.key]), True, 0.0, mask(why[1], [self.key]), skipped=True)

    async def _done(self, result: CheckResult) -> CheckResult:
        return result

    def _job(self, check: str, target: str, why: Skip | None, body: Callable[[], Awaitable[str]]) -> Job:
        """The check, or its skip (`body` is not called then: no coroutine left unawaited)."""
        return self._timed(check, target, body()) if why is None else self._done(self._skip(check, target, why))

    def hints(self) -> list[str]:
        """What the report says under the table about the skips."""
        hints = []
        if count := self._skips[PRIVATE]:
            hints.append(f"{count} direct checks skipped: those endpoints answer only the gateway's node; "
                         "--via-ssh runs them through it")
        if count := self._skips[CLUSTER]:
            unresolved = {key: svc for key, svc in self.services.items() if key[0] not in self.resolved}
            hints.append(skip_hint(count, unresolved, self.local_ports))
        return hints

    # -- backends
    async def health(self, client: httpx.AsyncClient, endpoint: Endpoint) -> str:
        url = endpoint.url + engine(endpoint.engine).health_path
        resp = await client.get(url)
        expect(resp)
        return f"GET {engine(endpoint.engine).health_path} 200"

    async def _model(self, client: httpx.AsyncClient, endpoint: Endpoint) -> str:
        if endpoint.model:
            return endpoint.model
        if _is_ollama_protocol(endpoint):
            resp = await client.get(endpoint.url + "/api/tags")
            expect(resp)
            names = [m.get("name") for m in json_of(resp).get("models", [])]
        else:
            resp = await client.get(_api_base(endpoint) + "/models")
            expect(resp)
            names = [m.get("id") for m in json_of(resp).get("data", [])]
        if not names or not isinstance(names[0], str):
            raise CheckFailed(f"{resp.request.url} lists no model; pull or load one")
        return names[0]

    async def chat_direct(self, client: httpx.AsyncClient, endpoint: Endpoint) -> str:
        model = await self._model(client, endpoint)
        messages = [{"role": "user", "content": PROMPT}]
        if _is_ollama_protocol(endpoint):
            body = {
                "model": model,
                "messages": messages,
                "stream": False,
                "options": {"num_predict": MAX_TOKENS},
            }
            resp = await client.post(endpoint.url + "/api/chat", json=body)
            expect(resp)
            data = json_of(resp)
            content = (data.get("message") or {}).get("content")
            if not isinstance(content, str) or data.get("done") is not True:
                raise CheckFailed(f"/api/chat answer lacks message.content or done=true: {str(data)[:200]}")
            return f"{model}: {data.get('eval_count', '?')} tokens {content[:40]!r}"
        body = {"model": model, "messages": messages, "max_tokens": MAX_TOKENS}
        resp = await client.post(_api_base(endpoint) + "/chat/completions", json=body)
        expect(resp)
        data = json_of(resp)
        text = _chat_text(data, "chat completion")
        tokens = (data.get("usage") or {}).get("completion_tokens", "?")
        return f"{model}: {tokens} tokens {text[:40]!r}"

    async def embed_direct(self, client: httpx.AsyncClient, endpoint: Endpoint) -> str:
        model = endpoint.model or "default"
        resp = await client.post(_api_base(endpoint) + "/embeddings", json={"model": model, "input": PROMPT})
        expect(resp)
        return f"dim {_embedding_dim(json_of(resp), 'embeddings')}"

    # -- gateway
    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    async def gateway_live(self, client: httpx.AsyncClient) -> str:
        resp = await client.get(self.outputs.gateway_url + "/health/liveliness")
        expect(resp)
        return "GET /health/liveliness 200"

    async def gateway_auth(self, client: httpx.AsyncClient) -> str:
        resp = await client.get(self.outputs.gateway_url + "/v1/models")
        if resp.status_code in (401, 403):
            return f"no key: HTTP {resp.status_code}"
        if resp.is_success:
            raise CheckFailed(
                f"GET /v1/models without a key answered HTTP {resp.status_code} (expected 401/403): "
                "the gateway does not enforce its master key"
            )
        hint = ""
        if resp.status_code == 500:
            hint = (
                " (LiteLLM 1.108.7 installed without the `prisma` package crashes on its auth-error path and "
                "answers 500; the official image ships prisma)"
            )
        raise CheckFailed(
            f"GET /v1/models without a key answered HTTP {resp.status_code}, not 401/403{hint}: "
            + resp.text.strip()[:200]
        )

    async def gateway_chat(self, client: httpx.AsyncClient, model: str) -> str:
        body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": MAX_TOKENS}
        resp = await client.post(self.outputs.gateway_url + "/v1/chat/completions", json=body, headers=self._auth)
        expect(resp)
        text = _chat_text(json_of(resp), f"gateway model {model}")
        return f"{text[:40]!r}{_served_by(resp)}"

    async def gateway_embed(self, client: httpx.AsyncClient, model: str) -> str:
        resp = await client.post(
            self.outputs.gateway_url + "/v1/embeddings",
            json={"model": model, "input": PROMPT},
            headers=self._auth,
        )
        expect(resp)
        return f"dim {_embedding_dim(json_of(resp), f'gateway model {model}')}{_served_by(resp)}"

    # -- runs
    async def basic(self, client: httpx.AsyncClient) -> list[CheckResult]:
        out = self.outputs
        gw = out.gateway_url
        via = self._why_not(None, gw)
        jobs: list[Awaitable[CheckResult]] = [
            self._job("gateway live", gw, via, partial(self.gateway_live, client)),
            self._job("gateway auth", gw, via, partial(self.gateway_auth, client)),
        ]
        for name, b in out.backends.items():
            target, why = f"{name} ({b.engine}) {b.url}", self._why_not(name, b.url)
            jobs.append(self._job("health", target, why, partial(self.health, client, b)))
            jobs.append(self._job("chat", target, why, partial(self.chat_direct, client, b)))
        embed_model = out.embeddings.gateway_model if out.embeddings else None
        if out.embeddings is not None:
            e = out.embeddings
            target, why = f"embeddings ({e.engine}) {e.url}", self._why_not(EMBEDDINGS, e.url)
            jobs.append(self._job("health", target, why, partial(self.health, client, e)))
            jobs.append(self._job("embed", target, why, partial(self.embed_direct, client, e)))
        for model in out.gateway_models:
            target = f"gateway model {model}"
            if model == embed_model:
                jobs.append(self._job("gateway embed", target, via, partial(self.gateway_embed, client, model)))
            else:
                jobs.append(self._job("gateway chat", target, via, partial(self.gateway_chat, client, model)))
        return list(await asyncio.gather(*jobs))

    async def fallback(self, client: httpx.AsyncClient) -> list[CheckResult]:
        """One primary at a time: stopping two at once would test a different failure."""
        results: list[CheckResult] = []
        for primary, chain in self.outputs.fallbacks.items():
            if chain:
                results.extend(await self._fallback_one(client, primary, chain))
        return results

    async def _fallback_one(self, client: httpx.AsyncClient, primary: str, chain: list[str]) -> list[CheckResult]:
        target = f"gateway model {primary} -> {', '.join(chain)}"
        found = self.outputs.backend_for(primary)
        if (namespace := self.outputs.access.namespace) is not None:
            detail = fallback_detail(found[0] if found else primary, namespace, primary, chain)
            return [self._skip("fallback", target, (NO_DRILL, detail))]
        if found is None or not found[1].container:
            message = f"no backend with gateway_model {primary!r} has a container in the outputs"
            return [await self._timed("fallback", target, _fail(message))]
        name, backend = found
        container = backend.container or ""
        where = f"container {container} ({name})"
        try:
            host = resolve_docker_host(backend.docker_host, self.docker_host, self.env)
        except CheckFailed as err:
            return [await self._timed("fallback stop", where, _fail(str(err)))]
        results: list[CheckResult] = []
        async with docker_client(host, self.timeout) as docker:
            stop = await self._timed("fallback stop", where, docker_container(docker, container, "stop", 10))
            results.append(stop)
            try:
                if stop.ok:
                    results.append(await self._timed("fallback chat", target, self.gateway_chat(client, primary)))
            finally:
                start = await self._timed("fallback start", where, docker_container(docker, container, "start", 10))
                results.append(start)
        why = self._why_not(name, backend.url)
        if start.ok and why is not None:
            results.append(self._skip("fallback recover", f"{name} health", why))
        elif start.ok:
            results.append(await self._timed("fallback recover", f"{name} health", self._recover(client, backend)))
        return results

    async def _recover(self, client: httpx.AsyncClient, endpoint: Endpoint) -> str:
        deadline = time.perf_counter() + self.recover_timeout
        last = "no answer yet"
        while time.perf_counter() < deadline:
            try:
                return await self.health(client, endpoint)
            except CheckFailed as err:
                last = str(err)
            except httpx.TransportError as err:
                last = describe(err)
            await asyncio.sleep(0.5)
        raise CheckFailed(f"backend not healthy {self.recover_timeout:.0f}s after restart; last: {last}")

    async def run(self, *, fallback: bool = False) -> VerifyReport:
        if self.services:
            self.resolved = await asyncio.to_thread(resolvable, [host for host, _ in self.services])
        async with httpx.AsyncClient(timeout=self.timeout, trust_env=False) as client:
            checks = await self.basic(client)
            if fallback:
                checks += await self.fallback(client)
        return VerifyReport(checks, self.hints())


async def verify_async(outputs: StackOutputs, *, fallback: bool = False, **options: Any) -> VerifyReport:
    return await Verifier(outputs, **options).run(fallback=fallback)


def verify(outputs: StackOutputs, *, fallback: bool = False, **options: Any) -> VerifyReport:
    """Run every check and return the report (never raises for a failing check: see `VerifyReport.ok`)."""
    return asyncio.run(verify_async(outputs, fallback=fallback, **options))
