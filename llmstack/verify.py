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
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from llmstack.engines import engine
from llmstack.errors import InputError
from llmstack.outputs import Endpoint, StackOutputs

PROMPT = "Reply with the single word: ready."
MAX_TOKENS = 8
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


class CheckFailed(Exception):
    """A check ran and the answer was wrong; the message says what was expected and what came back."""


@dataclass(frozen=True)
class CheckResult:
    check: str
    target: str
    ok: bool
    seconds: float
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VerifyReport:
    checks: list[CheckResult]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.ok]

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.to_json() for c in self.checks]}


# ---------------------------------------------------------------------------- helpers
def _describe(err: httpx.HTTPError) -> str:
    try:
        where = f" ({err.request.method} {err.request.url})"
    except RuntimeError:  # an error raised before a request existed has no .request
        where = ""
    if isinstance(err, httpx.TimeoutException):
        return f"timed out: {type(err).__name__}{where}"
    return f"{type(err).__name__}: {err or 'connection failed'}{where}"


def _expect(resp: httpx.Response, codes: tuple[int, ...] = (200,)) -> None:
    if resp.status_code not in codes:
        body = resp.text.strip().replace("\n", " ")[:300]
        raise CheckFailed(
            f"HTTP {resp.status_code} from {resp.request.method} {resp.request.url} "
            f"(expected {'/'.join(map(str, codes))}): {body}"
        )


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError as err:
        raise CheckFailed(f"{resp.request.url} answered non-JSON: {resp.text[:200]!r}") from err


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


# ---------------------------------------------------------------------------- Docker Engine API
def resolve_docker_host(declared: str | None, override: str | None, env: Mapping[str, str]) -> str:
    """Which Docker API to talk to: `--docker-host`, else the outputs' `docker_host` (an ssh:// host needs
    a tunnel named in `DOCKER_HOST`), else `DOCKER_HOST`, else the local socket."""
    if override:
        return override
    if declared and declared.startswith("ssh://"):
        tunnel = env.get("DOCKER_HOST", "")
        if tunnel and not tunnel.startswith("ssh://"):
            return tunnel
        host = declared.removeprefix("ssh://")
        raise CheckFailed(
            f"docker_host is {declared}: the Docker API over ssh needs a tunnel. Run "
            f"`ssh -nNT -L /tmp/llmstack-docker.sock:/var/run/docker.sock {host} &` and set "
            "DOCKER_HOST=unix:///tmp/llmstack-docker.sock (or pass --docker-host)."
        )
    return declared or env.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def docker_client(host: str, timeout: float) -> httpx.AsyncClient:
    parts = urlsplit(host)
    if parts.scheme == "unix":
        transport = httpx.AsyncHTTPTransport(uds=parts.path)
        return httpx.AsyncClient(transport=transport, base_url="http://docker", timeout=timeout, trust_env=False)
    if parts.scheme in ("tcp", "http") and parts.hostname:
        base = f"http://{parts.hostname}:{parts.port or 2375}"
        return httpx.AsyncClient(base_url=base, timeout=timeout, trust_env=False)
    raise InputError(
        "--docker-host", host, "Use unix:///path/to/docker.sock or tcp://host:port (TLS is not supported)."
    )


async def docker_container(client: httpx.AsyncClient, container: str, action: str, timeout_s: int) -> str:
    """POST /containers/{id}/{stop|start}: 204 done, 304 already in that state; anything else fails."""
    params = {"t": str(timeout_s)} if action == "stop" else None
    resp = await client.post(f"/containers/{container}/{action}", params=params)
    if resp.status_code == 204:
        return f"{action}ped" if action == "stop" else "started"
    if resp.status_code == 304:
        return "already stopped" if action == "stop" else "already running"
    _expect(resp, (204, 304))
    return ""  # unreachable: _expect raised


async def _fail(message: str) -> str:
    raise CheckFailed(message)


# ---------------------------------------------------------------------------- the checks
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

    async def _timed(self, check: str, target: str, body: Awaitable[str]) -> CheckResult:
        began = time.perf_counter()
        try:
            detail = await body
            ok = True
        except CheckFailed as err:
            detail, ok = str(err), False
        except httpx.HTTPError as err:
            detail, ok = _describe(err), False
        return CheckResult(check, target, ok, time.perf_counter() - began, detail)

    # -- backends
    async def health(self, client: httpx.AsyncClient, endpoint: Endpoint) -> str:
        url = endpoint.url + engine(endpoint.engine).health_path
        resp = await client.get(url)
        _expect(resp)
        return f"GET {engine(endpoint.engine).health_path} 200"

    async def _model(self, client: httpx.AsyncClient, endpoint: Endpoint) -> str:
        if endpoint.model:
            return endpoint.model
        if _is_ollama_protocol(endpoint):
            resp = await client.get(endpoint.url + "/api/tags")
            _expect(resp)
            names = [m.get("name") for m in _json(resp).get("models", [])]
        else:
            resp = await client.get(_api_base(endpoint) + "/models")
            _expect(resp)
            names = [m.get("id") for m in _json(resp).get("data", [])]
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
            _expect(resp)
            data = _json(resp)
            content = (data.get("message") or {}).get("content")
            if not isinstance(content, str) or data.get("done") is not True:
                raise CheckFailed(f"/api/chat answer lacks message.content or done=true: {str(data)[:200]}")
            return f"{model}: {data.get('eval_count', '?')} tokens {content[:40]!r}"
        body = {"model": model, "messages": messages, "max_tokens": MAX_TOKENS}
        resp = await client.post(_api_base(endpoint) + "/chat/completions", json=body)
        _expect(resp)
        data = _json(resp)
        text = _chat_text(data, "chat completion")
        tokens = (data.get("usage") or {}).get("completion_tokens", "?")
        return f"{model}: {tokens} tokens {text[:40]!r}"

    async def embed_direct(self, client: httpx.AsyncClient, endpoint: Endpoint) -> str:
        model = endpoint.model or "default"
        resp = await client.post(_api_base(endpoint) + "/embeddings", json={"model": model, "input": PROMPT})
        _expect(resp)
        return f"dim {_embedding_dim(_json(resp), 'embeddings')}"

    # -- gateway
    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    async def gateway_live(self, client: httpx.AsyncClient) -> str:
        resp = await client.get(self.outputs.gateway_url + "/health/liveliness")
        _expect(resp)
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
        _expect(resp)
        text = _chat_text(_json(resp), f"gateway model {model}")
        return f"{text[:40]!r}{_served_by(resp)}"

    async def gateway_embed(self, client: httpx.AsyncClient, model: str) -> str:
        resp = await client.post(
            self.outputs.gateway_url + "/v1/embeddings",
            json={"model": model, "input": PROMPT},
            headers=self._auth,
        )
        _expect(resp)
        return f"dim {_embedding_dim(_json(resp), f'gateway model {model}')}{_served_by(resp)}"

    # -- runs
    async def basic(self, client: httpx.AsyncClient) -> list[CheckResult]:
        out = self.outputs
        gw = out.gateway_url
        jobs: list[Awaitable[CheckResult]] = [
            self._timed("gateway live", gw, self.gateway_live(client)),
            self._timed("gateway auth", gw, self.gateway_auth(client)),
        ]
        for name, b in out.backends.items():
            target = f"{name} ({b.engine}) {b.url}"
            jobs.append(self._timed("health", target, self.health(client, b)))
            jobs.append(self._timed("chat", target, self.chat_direct(client, b)))
        embed_model = out.embeddings.gateway_model if out.embeddings else None
        if out.embeddings is not None:
            e = out.embeddings
            target = f"embeddings ({e.engine}) {e.url}"
            jobs.append(self._timed("health", target, self.health(client, e)))
            jobs.append(self._timed("embed", target, self.embed_direct(client, e)))
        for model in out.gateway_models:
            target = f"gateway model {model}"
            if model == embed_model:
                jobs.append(self._timed("gateway embed", target, self.gateway_embed(client, model)))
            else:
                jobs.append(self._timed("gateway chat", target, self.gateway_chat(client, model)))
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
        if start.ok:
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
                last = _describe(err)
            await asyncio.sleep(0.5)
        raise CheckFailed(f"backend not healthy {self.recover_timeout:.0f}s after restart; last: {last}")

    async def run(self, *, fallback: bool = False) -> VerifyReport:
        async with httpx.AsyncClient(timeout=self.timeout, trust_env=False) as client:
            checks = await self.basic(client)
            if fallback:
                checks += await self.fallback(client)
        return VerifyReport(checks)


async def verify_async(outputs: StackOutputs, *, fallback: bool = False, **options: Any) -> VerifyReport:
    return await Verifier(outputs, **options).run(fallback=fallback)


def verify(outputs: StackOutputs, *, fallback: bool = False, **options: Any) -> VerifyReport:
    """Run every check and return the report (never raises for a failing check: see `VerifyReport.ok`)."""
    return asyncio.run(verify_async(outputs, fallback=fallback, **options))


# ---------------------------------------------------------------------------- explicit endpoints
def parse_endpoint_spec(spec: str, field: str, *, default_name: str | None = None) -> tuple[str, Endpoint]:
    """`name=engine[:model]@URL` (model optional: discovered from the backend), or a bare URL when
    `default_name` is given (TEI embeddings)."""
    fix = "Write name=engine[:model]@http://host:port, e.g. chat=vllm:Qwen/Qwen3-8B@http://10.0.2.7:8000."
    if "@" not in spec and default_name is not None:
        name, engine_name, model, url = default_name, "tei", "", spec
    else:
        left, sep, url = spec.partition("@")
        name, eq, eng = left.partition("=")
        if not sep or not eq or not name or not eng:
            raise InputError(field, spec, fix)
        engine_name, _, model = eng.partition(":")
    engine(engine_name)  # NotFoundError lists the engines
    try:
        return name, Endpoint(url=url, engine=engine_name, model=model, gateway_model=name)
    except ValueError as err:
        raise InputError(field, spec, f"{fix} ({err})") from err


def outputs_from_endpoints(
    gateway: str,
    master_key_env: str,
    backends: list[str],
    embeddings: str | None,
    env: Mapping[str, str] | None = None,
) -> StackOutputs:
    env = os.environ if env is None else env
    key = env.get(master_key_env, "")
    if not key:
        raise InputError(
            "--master-key-env", master_key_env, f"Set {master_key_env} to the gateway master key (sk-...)."
        )
    parsed = dict(parse_endpoint_spec(s, "--backend") for s in backends)
    embed = parse_endpoint_spec(embeddings, "--embeddings", default_name="embed")[1] if embeddings else None
    models = [b.gateway_model for b in parsed.values()] + ([embed.gateway_model] if embed else [])
    data = {
        "gateway_url": gateway,
        "master_key": key,
        "gateway_models": models,
        "fallbacks": {},
        "backends": {name: b.model_dump() for name, b in parsed.items()},
        "embeddings": embed.model_dump() if embed else None,
    }
    return StackOutputs.parse(data, "endpoints")
