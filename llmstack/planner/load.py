"""`load_model`: a catalog name/alias, a local config.json, or a Hugging Face Hub repo id."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from llmstack.catalog import model_by_ref, models
from llmstack.errors import InputError, NotFoundError
from llmstack.planner.arch import ModelArch
from llmstack.planner.hub import REPO_RE, HubClient


@cache
def _catalog_arch(name: str) -> ModelArch:
    entry = models()[name]
    return ModelArch.from_config(entry.config, name=name, source=f"catalog:{name}")


def load_config_file(path: str | Path) -> ModelArch:
    p = Path(path)
    try:
        if p.is_dir():
            p = p / "config.json"
        found = p.is_file()
    except (OSError, ValueError):  # not a usable path (too long, NUL byte)
        found = False
    if not found:
        raise InputError(
            "model_config", str(path), "Give the path of a Hugging Face config.json (or its folder)."
        )
    try:
        config = json.loads(p.read_text())
    except (OSError, ValueError) as err:
        raise InputError("model_config", str(path), f"Could not read it as JSON ({err}).") from err
    if not isinstance(config, dict):
        raise InputError("model_config", str(path), "A config.json holds one JSON object.")
    total = None
    index = p.parent / "model.safetensors.index.json"
    if index.is_file():
        meta = json.loads(index.read_text()).get("metadata") or {}
        total = int(meta["total_size"]) if meta.get("total_size") else None
    arch = ModelArch.from_config(
        config, name=str(config.get("_name_or_path") or p.parent.name), source=str(p)
    )
    return arch.model_copy(update={"safetensors_total_bytes": total}) if total else arch


def _is_path(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long for a path (ENAMETOOLONG) or with a NUL byte is no file
        return False


def load_model(ref: str, *, hub: HubClient | None = None) -> ModelArch:
    """A catalog name (`llama-3.1-8b`, an HF repo alias or Ollama tag), a config.json path, or a Hub repo
    id."""
    if not isinstance(ref, str) or not ref.strip():
        raise InputError(
            "model", ref, "Name a catalog model (e.g. llama-3.1-8b), a config.json or a Hub repo id."
        )
    entry = model_by_ref(ref)
    if entry is not None:
        return _catalog_arch(entry.name)
    path = Path(ref).expanduser()
    if ref.endswith(".json") or _is_path(path):
        return load_config_file(path)
    if REPO_RE.match(ref):
        config, total = (hub or HubClient()).fetch(ref)
        arch = ModelArch.from_config(config, name=ref, source=f"hf:{ref}")
        return arch.model_copy(update={"safetensors_total_bytes": total}) if total else arch
    raise NotFoundError(
        "model",
        ref if len(ref) <= 80 else ref[:77] + "...",
        f"It is neither a catalog model, an existing config.json nor a Hub repo id (org/name). Use a catalog model "
        f"({', '.join(models())}), a path to a config.json, or a Hub repo id like Qwen/Qwen3-8B.",
    )
