"""Fetch config.json (and the safetensors index) from the Hugging Face Hub, with an on-disk cache.

URLs: https://huggingface.co/<repo>/resolve/main/config.json and model.safetensors.index.json (its
`metadata.total_size` is the exact weight bytes). `HF_TOKEN` is sent as `Authorization: Bearer`; `HF_ENDPOINT`
(huggingface_hub's variable) overrides the base URL; the cache is `$LLMSTACK_CACHE/hf` or
`~/.cache/llmstack/hf`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmstack.errors import InputError, NotFoundError

DEFAULT_ENDPOINT = "https://huggingface.co"
REPO_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
TIMEOUT_S = 15.0

if TYPE_CHECKING:  # httpx is imported where a fetch happens: `llmstack plan` on a catalog model never pays for it
    import httpx


def default_cache_dir() -> Path:
    root = os.environ.get("LLMSTACK_CACHE")
    return Path(root) / "hf" if root else Path.home() / ".cache" / "llmstack" / "hf"


@dataclass
class HubClient:
    """Reads Hub files over HTTP (httpx); `transport` and `base_url` are injectable for tests."""

    base_url: str = field(default_factory=lambda: os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT))
    token: str | None = field(default_factory=lambda: os.environ.get("HF_TOKEN") or None)
    cache_dir: Path = field(default_factory=default_cache_dir)
    transport: httpx.BaseTransport | None = None
    revision: str = "main"

    def _cache_path(self, repo: str, filename: str) -> Path:
        return self.cache_dir / repo.replace("/", "--") / self.revision / filename

    def _get(
        self, client: httpx.Client, repo: str, filename: str, *, required: bool
    ) -> dict[str, Any] | None:
        import httpx

        cached = self._cache_path(repo, filename)
        if cached.exists():
            data: dict[str, Any] = json.loads(cached.read_text())
            return data
        url = f"{self.base_url.rstrip('/')}/{repo}/resolve/{self.revision}/{filename}"
        try:
            resp = client.get(url)
        except httpx.TransportError as err:
            raise InputError(
                "model",
                repo,
                f"Could not reach {self.base_url} to fetch {filename} ({type(err).__name__}). Offline? "
                f"Download the "
                f"repo's config.json and give its path as the model, or use a catalog model (llmstack fits).",
            ) from err
        if resp.status_code == 404:
            if not required:
                return None
            raise NotFoundError(
                "model", repo, f"The Hub has no {filename} for this repo id; check the spelling."
            )
        if resp.status_code in (401, 403):
            raise InputError(
                "model",
                repo,
                f"The Hub refused {filename} (HTTP {resp.status_code}): the repo is gated or private. "
                f"Accept its "
                "licence on huggingface.co and set HF_TOKEN, or give the path of a downloaded config.json.",
            )
        if resp.status_code >= 400:
            raise InputError(
                "model",
                repo,
                f"The Hub answered HTTP {resp.status_code} for {filename}; retry, or give the path of a downloaded "
                "config.json.",
            )
        try:
            payload: dict[str, Any] = resp.json()
        except ValueError as err:
            raise InputError(
                "model", repo, f"{filename} from the Hub is not JSON; give the path of a downloaded config.json."
            ) from err
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(payload))
        return payload

    def fetch(self, repo: str) -> tuple[dict[str, Any], int | None]:
        """(config.json, exact safetensors bytes or None)."""
        if not REPO_RE.match(repo):
            raise InputError("model", repo, "A Hub repo id looks like org/name, e.g. Qwen/Qwen3-8B.")
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        with httpx.Client(
            transport=self.transport, headers=headers, timeout=TIMEOUT_S, follow_redirects=True
        ) as client:
            config = self._get(client, repo, "config.json", required=True)
            assert config is not None
            index = self._get(client, repo, "model.safetensors.index.json", required=False)
        total = None
        if index and isinstance(index.get("metadata"), dict) and index["metadata"].get("total_size"):
            total = int(index["metadata"]["total_size"])
        return config, total
