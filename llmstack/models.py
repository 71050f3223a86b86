"""Which checkpoint an engine loads for a model and format (`catalog/serving.yaml`)."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

from llmstack.errors import InputError

_FAMILY_KEY = {"bf16": "hf", "fp16": "hf", "int8": "hf", "fp8": "fp8", "awq": "awq", "gptq": "gptq"}


@cache
def _sources() -> dict[str, dict[str, str]]:
    text = resources.files("llmstack.catalog").joinpath("serving.yaml").read_text()
    models: dict[str, dict[str, str]] = yaml.safe_load(text)["models"]
    return models


def _ollama_suffix(quant: str) -> str:
    # Ollama library tags spell GGUF types as q4_K_M, q8_0, fp16 (ollama.com/library/llama3.1/tags).
    if quant in ("F16", "bf16", "fp16"):
        return "fp16"
    head, _, tail = quant.partition("_")
    return f"{head.lower()}_{tail}" if tail else head.lower()


def serving_source(model: str, engine: str, quant: str) -> str:
    """What `engine` is told to load: a HF repo id, `repo:QUANT` for llama.cpp, or an Ollama tag."""
    from llmstack.planner import format_family  # the planner owns the format vocabulary

    family = format_family(quant)
    known = _sources().get(model)
    fix = "set `source:` on the backend to the checkpoint to load"
    if known is None:
        if "/" in model and family != "gguf" and engine != "ollama":
            return model  # a Hub repo id is its own source
        raise InputError("source", model, f"no published checkpoint is recorded for it with {engine}; {fix}")
    if engine == "ollama":
        if "ollama" not in known:
            raise InputError("source", model, f"no Ollama library tag is recorded for it; {fix}")
        if "embed" in known["ollama"] or "minilm" in known["ollama"]:
            return known["ollama"]
        return f"{known['ollama']}-{_ollama_suffix(quant)}"
    if engine == "llamacpp":
        if "gguf" not in known:
            raise InputError("source", model, f"no GGUF repo is recorded for it; {fix}")
        return f"{known['gguf']}:{quant}"
    # Pre-quantized checkpoints only: the engines read the format from the checkpoint's quantization_config.
    key = _FAMILY_KEY.get(family, "hf")
    if key not in known:
        raise InputError("quant", quant, f"no {family} checkpoint of {model} is recorded; {fix} or pick bf16")
    return known[key]
