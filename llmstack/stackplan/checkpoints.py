"""Which checkpoint an engine loads for a model and format: the catalog's own repo and Ollama tag (`models.yaml`)
plus the published quantized variants (`serving.yaml`)."""

from __future__ import annotations

from functools import cache

from llmstack.catalog import model_by_ref
from llmstack.datafiles import load_yaml
from llmstack.engines import Engine
from llmstack.errors import InputError
from llmstack.planner import format_family

_FIX = "set `source:` on the backend to the checkpoint to load"


@cache
def _quantized() -> dict[str, dict[str, str]]:
    variants: dict[str, dict[str, str]] = load_yaml("llmstack.catalog", "serving.yaml")["models"]
    return variants


def _ollama_suffix(quant: str) -> str:
    # Ollama library tags spell GGUF types as q4_K_M, q8_0, fp16 (ollama.com/library/llama3.1/tags).
    if quant in ("F16", "bf16", "fp16"):
        return "fp16"
    head, _, tail = quant.partition("_")
    return f"{head.lower()}_{tail}" if tail else head.lower()


def serving_source(model: str, engine: Engine, quant: str, *, where: str = "backend") -> str:
    """What `engine` is told to load (its table's `model_source`): a HF repo id, `repo:QUANT` for a GGUF repo, or an
    Ollama tag. Errors name `<where>.source` (or `.quant`), the fields of the stack file that fix them."""
    family = format_family(quant)
    entry = model_by_ref(model)
    if entry is None:
        if "/" in model and family != "gguf" and engine.model_source == "hf":
            return model  # a Hub repo id is its own source
        raise InputError(f"{where}.source", None, f"no published checkpoint of {model} is recorded for "
                         f"{engine.name}; {_FIX}", problem="is unset")
    variants = _quantized().get(entry.name, {})
    if engine.model_source == "ollama-tag":
        if entry.kind == "embedding" and entry.ollama:
            return entry.ollama
        if "ollama_quant" not in variants:
            raise InputError(f"{where}.source", None, f"no Ollama library tag is recorded for {entry.name}; {_FIX}",
                             problem="is unset")
        return f"{variants['ollama_quant']}-{_ollama_suffix(quant)}"
    if engine.model_source == "gguf-repo":
        if "gguf" not in variants:
            raise InputError(f"{where}.source", None, f"no GGUF repo is recorded for {entry.name}; {_FIX}",
                             problem="is unset")
        return f"{variants['gguf']}:{quant}"
    if family in ("bf16", "fp16", "int8"):
        return entry.hf_repo
    # Pre-quantized checkpoints only: the engines read the format from the checkpoint's quantization_config.
    if family not in variants:
        raise InputError(f"{where}.quant", quant,
                         f"no {family} checkpoint of {entry.name} is recorded; {_FIX} or pick bf16")
    return variants[family]
