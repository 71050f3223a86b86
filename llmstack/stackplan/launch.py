"""How each engine is launched: entrypoint, arguments, environment and health check, one recipe per engine.

Flags per engine: docs/engines.md §2 (vLLM takes the model as `vllm serve`'s first positional argument; `MODEL_NAME`
is ignored). The table's health check may name `{model}`: Ollama's check runs `ollama show <tag>`, which fails while
the server is down *or* the model is not pulled yet (docs/engines.md §1: healthy Ollama is not the same as model
present). Everything else an engine needs (shared memory, secrets, port) is a trait in `catalog/engines.yaml`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from llmstack.engines import Engine


@dataclass(frozen=True)
class Launch:
    """Everything a container runtime needs to start one engine; pure data, no Pulumi types."""

    image: str
    entrypoint: tuple[str, ...] | None
    command: tuple[str, ...]
    env: dict[str, str]
    secret_env: dict[str, str]  # container variable -> Pulumi config secret key
    port: int
    health: tuple[str, ...]
    start_period_s: int
    cache_dir: str
    shm_size_mb: int | None
    gpus: bool
    labels: dict[str, str] = field(default_factory=dict)
    capabilities: tuple[str, ...] = ()  # Linux capabilities to add (the DCGM exporter's SYS_ADMIN)


@dataclass(frozen=True)
class ModelServing:
    """What a backend serves and how, after planning."""

    source: str  # HF repo id, `repo:QUANT` for llama.cpp, or an Ollama tag
    served_name: str
    quant: str
    context: int
    concurrency: int
    tensor_parallel: int
    gpu_memory_utilization: float | None
    kv_dtype: str
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Command:
    """One engine's process: entrypoint override (None: the image's), arguments and environment."""

    entrypoint: tuple[str, ...] | None
    args: tuple[str, ...]
    env: dict[str, str]


Recipe = Callable[[Engine, ModelServing, bool], Command]


def _util(m: ModelServing) -> str | None:
    return f"{m.gpu_memory_utilization:.2f}" if m.gpu_memory_utilization else None


def _vllm(engine: Engine, m: ModelServing, gpu: bool) -> Command:
    args = [m.source, "--served-model-name", m.served_name, "--host", "0.0.0.0", "--port", str(engine.port),
            "--max-model-len", str(m.context), "--max-num-seqs", str(m.concurrency),
            "--tensor-parallel-size", str(m.tensor_parallel)]
    args += ["--gpu-memory-utilization", util] if (util := _util(m)) else []
    args += ["--kv-cache-dtype", "fp8"] if m.kv_dtype == "fp8" else []
    return Command(None, (*args, *m.extra_args), dict(engine.env))


def _sglang(engine: Engine, m: ModelServing, gpu: bool) -> Command:
    args = ["python3", "-m", "sglang.launch_server", "--model-path", m.source, "--served-model-name", m.served_name,
            "--host", "0.0.0.0", "--port", str(engine.port), "--context-length", str(m.context),
            "--max-running-requests", str(m.concurrency), "--tp", str(m.tensor_parallel), "--enable-metrics"]
    args += ["--mem-fraction-static", util] if (util := _util(m)) else []
    args += ["--kv-cache-dtype", "fp8_e4m3"] if m.kv_dtype == "fp8" else []
    return Command(None, (*args, *m.extra_args), dict(engine.env))


def _llamacpp(engine: Engine, m: ModelServing, gpu: bool) -> Command:
    # -np N splits -c into N streams, so every slot gets the full context (docs/sizing.md §12).
    args = ["-hf", m.source, "--alias", m.served_name, "-c", str(m.context * m.concurrency),
            "-np", str(m.concurrency), "--metrics", "-ngl", "999" if gpu else "0"]
    args += ["-ctk", m.kv_dtype, "-ctv", m.kv_dtype, "-fa", "on"] if m.kv_dtype in ("q8_0", "q4_0") else []
    return Command(None, (*args, *m.extra_args), dict(engine.env))


def _tgi(engine: Engine, m: ModelServing, gpu: bool) -> Command:
    args = ["--model-id", m.source, "--max-total-tokens", str(m.context), "--max-input-tokens", str(m.context - 1),
            "--max-concurrent-requests", str(max(128, m.concurrency)), "--num-shard", str(m.tensor_parallel)]
    args += ["--quantize", m.quant] if m.quant in ("awq", "gptq") else []
    args += ["--cuda-memory-fraction", util] if (util := _util(m)) else []
    return Command(None, (*args, *m.extra_args), dict(engine.env))


def _ollama(engine: Engine, m: ModelServing, gpu: bool) -> Command:
    # The image has no pull-on-start: serve, wait for the server, pull the model, then stay on the server.
    script = (
        "ollama serve & pid=$!; "
        "until ollama list >/dev/null 2>&1; do sleep 1; done; "
        f"ollama pull '{m.source}' || {{ kill $pid; exit 1; }}; "
        "wait $pid"
    )
    env = dict(engine.env) | {
        "OLLAMA_CONTEXT_LENGTH": str(m.context),
        "OLLAMA_NUM_PARALLEL": str(m.concurrency),
        "OLLAMA_MAX_LOADED_MODELS": "1",
        "OLLAMA_KEEP_ALIVE": "-1",
    }
    if m.kv_dtype in ("q8_0", "q4_0"):
        env |= {"OLLAMA_KV_CACHE_TYPE": m.kv_dtype, "OLLAMA_FLASH_ATTENTION": "1"}
    return Command(("/bin/sh", "-c"), (script,), env)


def _nim(engine: Engine, m: ModelServing, gpu: bool) -> Command:
    passthrough = f"--tensor-parallel-size {m.tensor_parallel} --max-num-seqs {m.concurrency}"
    if util := _util(m):
        passthrough += f" --gpu-memory-utilization {util}"
    env = dict(engine.env) | {
        "NIM_MODEL_PATH": f"hf://{m.source}",
        "NIM_SERVED_MODEL_NAME": m.served_name,
        "NIM_MAX_MODEL_LEN": str(m.context),
        "NIM_PASSTHROUGH_ARGS": passthrough,
    }
    return Command(None, tuple(m.extra_args), env)


def _tei(engine: Engine, m: ModelServing, gpu: bool) -> Command:
    return Command(None, ("--model-id", m.source, "--port", str(engine.port), *m.extra_args), dict(engine.env))


RECIPES: dict[str, Recipe] = {
    "vllm": _vllm,
    "sglang": _sglang,
    "llamacpp": _llamacpp,
    "tgi": _tgi,
    "ollama": _ollama,
    "nim": _nim,
    "tei": _tei,
}


def engine_command(engine: Engine, m: ModelServing, *, gpu: bool) -> Command:
    """The process one engine container runs for `m` (a KeyError names an engine without a recipe)."""
    return RECIPES[engine.name](engine, m, gpu)


def health_test(engine: Engine, m: ModelServing) -> tuple[str, ...]:
    return tuple(part.replace("{model}", m.source) for part in engine.health)
