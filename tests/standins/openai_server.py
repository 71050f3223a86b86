"""vLLM-like OpenAI-compatible server, with a token schedule that is the ground truth for `llmstack bench`.

Routes (as `vllm serve` exposes them): `GET /health`, `GET /version`, `GET /v1/models`,
`POST /v1/chat/completions` and `POST /v1/completions` (JSON or SSE with `stream: true`; the stream
ends with a `usage` chunk when `stream_options.include_usage` is true, then `data: [DONE]`), `GET /metrics`
(Prometheus text). Each token is emitted on an absolute deadline `arrival + ttft + i * itl`, so the schedule
is exact in expectation and the actual send times are recorded per request (`RequestRecord.token_times`).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.standins._server import RECORD, StandIn, json_body, prompt_tokens

VOCAB = ["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "while", "seven", "tired"]


@dataclass(frozen=True)
class TokenSchedule:
    """When tokens leave the server: the first `ttft` s after the request arrived, then one every `itl` s.

    `output_tokens` is how many tokens a request gets when it asks for more (or sets no limit).
    """

    ttft: float = 0.0
    itl: float = 0.0
    output_tokens: int = 16

    def tokens_for(self, body: dict[str, Any]) -> int:
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and limit > 0:
            return min(limit, self.output_tokens) if not body.get("ignore_eos") else limit
        return self.output_tokens


def token_text(i: int) -> str:
    word = VOCAB[i % len(VOCAB)]
    return word if i == 0 else " " + word


def sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


async def sleep_until(deadline: float) -> None:
    delay = deadline - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


class OpenAIStreamer:
    """Writes OpenAI chat/completions responses following a `TokenSchedule`. Shared by vLLM and Ollama."""

    def __init__(self, schedule: TokenSchedule, owned_by: str, fingerprint: str | None = None) -> None:
        self.schedule = schedule
        self.owned_by = owned_by
        self.fingerprint = fingerprint
        self.generated_tokens = 0
        self.prompt_tokens = 0
        self.running = 0

    async def respond(
        self, request: web.Request, body: dict[str, Any], model: str, *, chat: bool
    ) -> web.StreamResponse:
        record = request[RECORD]
        n = self.schedule.tokens_for(body)
        n_prompt = prompt_tokens(body)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "length" if isinstance(limit, int) and n == limit else "stop"
        rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        created = int(time.time())
        start = record.arrival + self.schedule.ttft
        usage = {"prompt_tokens": n_prompt, "completion_tokens": n, "total_tokens": n_prompt + n}
        self.running += 1
        self.prompt_tokens += n_prompt
        try:
            if not body.get("stream"):
                await sleep_until(start + max(n - 1, 0) * self.schedule.itl)
                now = time.perf_counter()
                record.first_token = now
                record.token_times = [now] * n
                text = "".join(token_text(i) for i in range(n))
                self.generated_tokens += n
                choice: dict[str, Any]
                if chat:
                    choice = {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "tool_calls": []},
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                else:
                    choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
                payload = {
                    "id": rid,
                    "object": "chat.completion" if chat else "text_completion",
                    "created": created,
                    "model": model,
                    "choices": [choice],
                    "usage": usage,
                }
                if self.fingerprint:
                    payload["system_fingerprint"] = self.fingerprint
                return web.json_response(payload)

            response = web.StreamResponse(
                headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
            )
            await response.prepare(request)
            obj = "chat.completion.chunk" if chat else "text_completion"

            def chunk(delta_or_text: Any, finish_reason: str | None) -> dict[str, Any]:
                c: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": finish_reason}
                if chat:
                    c["delta"] = delta_or_text
                else:
                    c["text"] = delta_or_text
                out = {"id": rid, "object": obj, "created": created, "model": model, "choices": [c]}
                if self.fingerprint:
                    out["system_fingerprint"] = self.fingerprint
                return out

            for i in range(n):
                await sleep_until(start + i * self.schedule.itl)
                last = i == n - 1
                piece = token_text(i)
                data = b""
                if i == 0 and chat:  # vLLM sends the role with the first output
                    data += sse(chunk({"role": "assistant", "content": ""}, None))
                data += sse(chunk({"content": piece} if chat else piece, finish if last else None))
                await response.write(data)  # one write per event: no header/body split for Nagle to delay
                now = time.perf_counter()
                if i == 0:
                    record.first_token = now
                record.token_times.append(now)
                self.generated_tokens += 1
            tail = b""
            if n == 0:
                tail += sse(chunk({"role": "assistant", "content": ""} if chat else "", finish))
            options = body.get("stream_options") or {}
            if options.get("include_usage"):
                u = {
                    "id": rid,
                    "object": obj,
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                tail += sse(u)
            tail += sse("[DONE]")
            await response.write(tail)
            await response.write_eof()
            return response
        finally:
            self.running -= 1


def openai_error(message: str, status: int, err_type: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": err_type, "code": status}}, status=status)


class GeneratingStandIn(StandIn):
    """A stand-in that generates tokens on a `TokenSchedule` (settable at runtime via `.schedule`)."""

    streamer: OpenAIStreamer

    @property
    def schedule(self) -> TokenSchedule:
        return self.streamer.schedule

    @schedule.setter
    def schedule(self, value: TokenSchedule) -> None:
        self.streamer.schedule = value


class VllmStandIn(GeneratingStandIn):
    """A `vllm serve <model>` look-alike. `schedule` may be replaced between requests."""

    kind = "vllm"

    def __init__(
        self,
        model: str = "Qwen/Qwen3-8B",
        schedule: TokenSchedule | None = None,
        *,
        api_key: str | None = None,
        max_model_len: int = 16384,
        port: int = 0,
    ) -> None:
        super().__init__(port=port)
        self.model = model
        self.api_key = api_key
        self.max_model_len = max_model_len
        self.streamer = OpenAIStreamer(schedule or TokenSchedule(), owned_by="vllm")
        self.completed = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/health", self.health)
        app.router.add_get("/version", self.version)
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_get("/metrics", self.metrics)

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=self.health_status)

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "0.30.0"})

    def _auth(self, request: web.Request) -> web.Response | None:
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": "Unauthorized"}, status=401)
        return None

    async def models(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {
                        "id": self.model,
                        "object": "model",
                        "created": int(time.time()),
                        "owned_by": "vllm",
                        "root": self.model,
                        "parent": None,
                        "max_model_len": self.max_model_len,
                    }
                ],
            }
        )

    async def _generate(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        if (denied := self._auth(request)) is not None:
            return denied
        if (failed := self.failure()) is not None:
            return failed
        body = json_body(request)
        if body.get("model") != self.model:
            return openai_error(f"The model `{body.get('model')}` does not exist.", 404, "NotFoundError")
        if chat and not isinstance(body.get("messages"), list):
            return openai_error("messages: Field required", 400, "BadRequestError")
        if not chat and "prompt" not in body:
            return openai_error("prompt: Field required", 400, "BadRequestError")
        response = await self.streamer.respond(request, body, self.model, chat=chat)
        self.completed += 1
        return response

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, chat=True)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, chat=False)

    async def metrics(self, request: web.Request) -> web.Response:
        labels = f'engine="0",model_name="{self.model}"'
        text = (
            "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
            "# TYPE vllm:num_requests_running gauge\n"
            f"vllm:num_requests_running{{{labels}}} {float(self.streamer.running)}\n"
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
            "# TYPE vllm:num_requests_waiting gauge\n"
            f"vllm:num_requests_waiting{{{labels}}} 0.0\n"
            "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n"
            "# TYPE vllm:prompt_tokens_total counter\n"
            f"vllm:prompt_tokens_total{{{labels}}} {float(self.streamer.prompt_tokens)}\n"
            "# HELP vllm:generation_tokens_total Number of generation tokens processed.\n"
            "# TYPE vllm:generation_tokens_total counter\n"
            f"vllm:generation_tokens_total{{{labels}}} {float(self.streamer.generated_tokens)}\n"
            "# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.\n"
            "# TYPE vllm:gpu_cache_usage_perc gauge\n"
            f"vllm:gpu_cache_usage_perc{{{labels}}} 0.0\n"
        )
        return web.Response(text=text, content_type="text/plain", charset="utf-8")
