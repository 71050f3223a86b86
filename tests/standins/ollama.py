"""Ollama look-alike (`ollama serve`, server/routes.go): native API plus the OpenAI compatibility layer.

`GET /` ("Ollama is running"), `HEAD /`, `GET /api/version`, `GET /api/tags`, `GET /api/ps`, `POST /api/show`,
`POST /api/chat` (NDJSON stream by default, one JSON object with `"stream": false`; the final object carries
`done_reason`, `total_duration`, `load_duration`, `prompt_eval_count`, `prompt_eval_duration`, `eval_count`,
`eval_duration` in nanoseconds), `POST /api/embed` (`{"model", "input": str | [str]}` -> `{"model", "embeddings",
"total_duration", "load_duration", "prompt_eval_count"}`, docs/api.md "Generate Embeddings" @ v0.12.10; vectors as the
TEI stand-in's, `embed_dim` floats), `GET /v1/models` and `POST /v1/chat/completions` (OpenAI shape,
`system_fingerprint: fp_ollama`). Tokens follow the same `TokenSchedule` as the vLLM stand-in.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.standins._server import RECORD, json_body, prompt_tokens, words
from tests.standins.openai_server import (
    GeneratingStandIn,
    OpenAIStreamer,
    TokenSchedule,
    openai_error,
    sleep_until,
    token_text,
)
from tests.standins.tei import embed_text


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class OllamaStandIn(GeneratingStandIn):
    kind = "ollama"

    def __init__(
        self, models: tuple[str, ...] = ("qwen3:8b",), schedule: TokenSchedule | None = None, *, port: int = 0,
        embed_dim: int = 768,
    ) -> None:
        super().__init__(port=port)
        self.models = models
        self.embed_dim = embed_dim
        self.streamer = OpenAIStreamer(schedule or TokenSchedule(), owned_by="library", fingerprint="fp_ollama")

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.root)  # aiohttp answers HEAD for GET routes too
        app.router.add_get("/api/version", self.version)
        app.router.add_get("/api/tags", self.tags)
        app.router.add_get("/api/ps", self.ps)
        app.router.add_post("/api/show", self.show)
        app.router.add_post("/api/chat", self.chat)
        app.router.add_post("/api/embed", self.embed)
        app.router.add_get("/v1/models", self.openai_models)
        app.router.add_post("/v1/chat/completions", self.openai_chat)

    async def root(self, request: web.Request) -> web.Response:
        return web.Response(text="Ollama is running", status=self.health_status)

    async def version(self, request: web.Request) -> web.Response:
        if self.health_status != 200:
            return web.json_response({"error": "server unavailable"}, status=self.health_status)
        return web.json_response({"version": "0.12.10"})

    def _model_entry(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "model": name,
            "modified_at": "2026-11-01T10:00:00.000000000Z",
            "size": 5_225_388_164,
            "digest": "500a1f067a9f782620b40bee6f7b0c89e17ae61f686b92c24933e4ca4b2b8b41",
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "qwen3",
                "families": ["qwen3"],
                "parameter_size": "8.2B",
                "quantization_level": "Q4_K_M",
            },
        }

    async def tags(self, request: web.Request) -> web.Response:
        return web.json_response({"models": [self._model_entry(m) for m in self.models]})

    async def ps(self, request: web.Request) -> web.Response:
        return web.json_response({"models": []})

    async def show(self, request: web.Request) -> web.Response:
        body = json_body(request)
        name = body.get("model") or body.get("name")
        if name not in self.models:
            return web.json_response({"error": f"model '{name}' not found"}, status=404)
        return web.json_response(
            {
                "modelfile": f"FROM {name}\n",
                "parameters": "",
                "template": "{{ .Prompt }}",
                "details": self._model_entry(str(name))["details"],
                "model_info": {"general.architecture": "qwen3", "qwen3.context_length": 40960},
                "capabilities": ["completion", "tools"],
            }
        )

    def _native_request(self, request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        """The body of a native /api request, or the response Ollama gives first: an injected failure, or 404 for
        a model it doesn't have."""
        if (failed := self.failure()) is not None:
            return {}, failed
        body = json_body(request)
        model = body.get("model")
        if model not in self.models:
            return body, web.json_response({"error": f'model "{model}" not found, try pulling it first'}, status=404)
        return body, None

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body, refused = self._native_request(request)
        if refused is not None:
            return refused
        model = body.get("model")
        if not isinstance(body.get("messages"), list):
            return web.json_response({"error": "messages is required"}, status=400)
        record = request[RECORD]
        options = body.get("options") or {}
        limit = options.get("num_predict")
        sched = self.schedule
        n = min(limit, sched.output_tokens) if isinstance(limit, int) and limit > 0 else sched.output_tokens
        done_reason = "length" if isinstance(limit, int) and n == limit else "stop"
        n_prompt = prompt_tokens(body)
        start = record.arrival + sched.ttft

        def final(content: str) -> dict[str, Any]:
            now = time.perf_counter()
            total_ns = int((now - record.arrival) * 1e9)
            return {
                "model": model,
                "created_at": _now_iso(),
                "message": {"role": "assistant", "content": content},
                "done": True,
                "done_reason": done_reason,
                "total_duration": total_ns,
                "load_duration": 1_000_000,
                "prompt_eval_count": n_prompt,
                "prompt_eval_duration": int(sched.ttft * 1e9),
                "eval_count": n,
                "eval_duration": max(total_ns - int(sched.ttft * 1e9), 0),
            }

        if body.get("stream", True) is False:  # Ollama streams unless told not to
            await sleep_until(start + max(n - 1, 0) * sched.itl)
            record.first_token = time.perf_counter()
            record.token_times = [record.first_token] * n
            return web.json_response(final("".join(token_text(i) for i in range(n))))

        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for i in range(n):
            await sleep_until(start + i * sched.itl)
            line = {
                "model": model,
                "created_at": _now_iso(),
                "message": {"role": "assistant", "content": token_text(i)},
                "done": False,
            }
            await response.write(json.dumps(line).encode() + b"\n")
            now = time.perf_counter()
            if i == 0:
                record.first_token = now
            record.token_times.append(now)
        await response.write(json.dumps(final("")).encode() + b"\n")
        await response.write_eof()
        return response

    async def embed(self, request: web.Request) -> web.Response:
        body, refused = self._native_request(request)
        if refused is not None:
            return refused
        model = body.get("model")
        value = body.get("input")
        inputs = [value] if isinstance(value, str) else value
        if not isinstance(inputs, list) or not all(isinstance(v, str) for v in inputs):
            return web.json_response({"error": "invalid input type"}, status=400)
        arrival = request[RECORD].arrival
        return web.json_response({
            "model": model,
            "embeddings": [embed_text(text, self.embed_dim) for text in inputs],
            "total_duration": int((time.perf_counter() - arrival) * 1e9),
            "load_duration": 1_000_000,
            "prompt_eval_count": sum(words(text) for text in inputs),
        })

    async def openai_models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": int(time.time()), "owned_by": "library"}
                    for m in self.models
                ],
            }
        )

    async def openai_chat(self, request: web.Request) -> web.StreamResponse:
        if (failed := self.failure()) is not None:
            return failed
        body = json_body(request)
        if body.get("model") not in self.models:
            return openai_error(f'model "{body.get("model")}" not found, try pulling it first', 404, "api_error")
        return await self.streamer.respond(request, body, str(body["model"]), chat=True)
