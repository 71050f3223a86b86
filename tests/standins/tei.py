"""Text Embeddings Inference look-alike (`text-embeddings-router`).

`GET /health`, `GET /info`, `POST /embed` (`{"inputs": str | [str]}` -> `[[float]]`) and the OpenAI route
`POST /v1/embeddings` (`{"input": str | [str], "model", "encoding_format": "float" | "base64"}`). Vectors are
deterministic per text (seeded by a hash) and L2-normalised, `dim` floats long (384 like bge-small-en-v1.5). With
`api_key`, the embedding routes answer 401 without `Authorization: Bearer <key>`; /health and /info stay open, as
TEI's public routes do (router/src/http/server.rs @ v1.9.3).
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import struct
from typing import Any

from aiohttp import web

from tests.standins._server import StandIn, json_body, words


def embed_text(text: str, dim: int) -> list[float]:
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    vec = [rng.uniform(-1.0, 1.0) for _ in range(dim)]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


class TeiStandIn(StandIn):
    kind = "tei"

    def __init__(self, model: str = "BAAI/bge-small-en-v1.5", *, dim: int = 384, api_key: str | None = None,
                 port: int = 0) -> None:
        super().__init__(port=port)
        self.model = model
        self.dim = dim
        self.api_key = api_key

    def _denied(self, request: web.Request) -> web.Response | None:
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.Response(status=401)
        return None

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/health", self.health)
        app.router.add_get("/info", self.info)
        app.router.add_post("/embed", self.embed)
        app.router.add_post("/v1/embeddings", self.openai_embeddings)

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=self.health_status)

    async def info(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"model_id": self.model, "model_type": {"embedding": {"pooling": "cls"}}, "max_input_length": 512}
        )

    @staticmethod
    def _inputs(value: Any) -> list[str] | None:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return value
        return None

    async def embed(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        if (failed := self.failure()) is not None:
            return failed
        inputs = self._inputs(json_body(request).get("inputs"))
        if inputs is None:
            return web.json_response({"error": "`inputs` must be a string or a list of strings"}, status=422)
        return web.json_response([embed_text(t, self.dim) for t in inputs])

    async def openai_embeddings(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        if (failed := self.failure()) is not None:
            return failed
        body = json_body(request)
        inputs = self._inputs(body.get("input"))
        if inputs is None:
            return web.json_response(
                {"message": "`input` must be a string or a list of strings", "type": "validation"}, status=422
            )
        b64 = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(inputs):
            vec = embed_text(text, self.dim)
            emb: Any = base64.b64encode(struct.pack(f"<{self.dim}f", *vec)).decode() if b64 else vec
            data.append({"object": "embedding", "embedding": emb, "index": i})
        n = sum(words(t) for t in inputs)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model") or self.model,
                "usage": {"prompt_tokens": n, "total_tokens": n},
            }
        )
