"""How each engine is launched: entrypoint, arguments, environment and health check, from the engine table.

Flags per engine: ../shared/reference/engines-and-gateway.md §2 (vLLM takes the model as `vllm serve`'s first
positional argument; `MODEL_NAME` is ignored). The table's health check may name `{model}`: Ollama's check runs
`ollama show <tag>`, which fails while the server is down *or* the model is not pulled yet (§1: healthy Ollama is
not the same as model present).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmstack.engines import Engine

# Shared memory for NCCL / PyTorch workers: SGLang's docs use 32g; TGI needs >= 1g (engines-and-gateway §1).
_SHM_MB = {"vllm": 16384, "sglang": 32768, "tgi": 1024, "nim": 16384}
# Secrets are Pulumi config secrets; the container gets them as environment variables (never in args or labels).
SECRET_ENV = {"hfToken": "HF_TOKEN", "ngcApiKey": "NGC_API_KEY"}


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


def engine_command(engine: Engine, m: ModelServing, *, gpu: bool) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """(entrypoint override or None, arguments) for one engine."""
    ctx, tp, conc = str(m.context), str(m.tensor_parallel), str(m.concurrency)
    util = f"{m.gpu_memory_utilization:.2f}" if m.gpu_memory_utilization else None
    if engine.name == "vllm":
        args = [m.source, "--served-model-name", m.served_name, "--host", "0.0.0.0", "--port", str(engine.port),
                "--max-model-len", ctx, "--max-num-seqs", conc, "--tensor-parallel-size", tp]
        args += ["--gpu-memory-utilization", util] if util else []
        args += ["--kv-cache-dtype", "fp8"] if m.kv_dtype == "fp8" else []
        return None, (*args, *m.extra_args)
    if engine.name == "sglang":
        args = ["python3", "-m", "sglang.launch_server", "--model-path", m.source, "--served-model-name",
                m.served_name, "--host", "0.0.0.0", "--port", str(engine.port), "--context-length", ctx,
                "--max-running-requests", conc, "--tp", tp, "--enable-metrics"]
        args += ["--mem-fraction-static", util] if util else []
        args += ["--kv-cache-dtype", "fp8_e4m3"] if m.kv_dtype == "fp8" else []
        return None, (*args, *m.extra_args)
    if engine.name == "llamacpp":
        # -np N splits -c into N streams, so every slot gets the full context (sizing-facts §12).
        args = ["-hf", m.source, "--alias", m.served_name, "-c", str(m.context * m.concurrency), "-np", conc,
                "--metrics", "-ngl", "999" if gpu else "0"]
        args += ["-ctk", m.kv_dtype, "-ctv", m.kv_dtype, "-fa", "on"] if m.kv_dtype in ("q8_0", "q4_0") else []
        return None, (*args, *m.extra_args)
    if engine.name == "tgi":
        args = ["--model-id", m.source, "--max-total-tokens", ctx, "--max-input-tokens", str(m.context - 1),
                "--max-concurrent-requests", str(max(128, m.concurrency)), "--num-shard", tp]
        args += ["--quantize", m.quant] if m.quant in ("awq", "gptq") else []
        args += ["--cuda-memory-fraction", util] if util else []
        return None, (*args, *m.extra_args)
    if engine.name == "ollama":
        # The image has no pull-on-start: serve, wait for the server, pull the model, then stay on the server.
        script = (
            "ollama serve & pid=$!; "
            "until ollama list >/dev/null 2>&1; do sleep 1; done; "
            f"ollama pull '{m.source}' || {{ kill $pid; exit 1; }}; "
            "wait $pid"
        )
        return ("/bin/sh", "-c"), (script,)
    if engine.name == "nim":
        return None, tuple(m.extra_args)
    raise ValueError(f"no launch recipe for engine {engine.name!r}")


def engine_env(engine: Engine, m: ModelServing) -> dict[str, str]:
    env = dict(engine.env)
    if engine.name == "ollama":
        env |= {
            "OLLAMA_CONTEXT_LENGTH": str(m.context),
            "OLLAMA_NUM_PARALLEL": str(m.concurrency),
            "OLLAMA_MAX_LOADED_MODELS": "1",
            "OLLAMA_KEEP_ALIVE": "-1",
        }
        if m.kv_dtype in ("q8_0", "q4_0"):
            env |= {"OLLAMA_KV_CACHE_TYPE": m.kv_dtype, "OLLAMA_FLASH_ATTENTION": "1"}
    if engine.name == "nim":
        passthrough = f"--tensor-parallel-size {m.tensor_parallel} --max-num-seqs {m.concurrency}"
        if m.gpu_memory_utilization:
            passthrough += f" --gpu-memory-utilization {m.gpu_memory_utilization:.2f}"
        env |= {
            "NIM_MODEL_PATH": f"hf://{m.source}",
            "NIM_SERVED_MODEL_NAME": m.served_name,
            "NIM_MAX_MODEL_LEN": str(m.context),
            "NIM_PASSTHROUGH_ARGS": passthrough,
        }
    return env


def health_test(engine: Engine, m: ModelServing) -> tuple[str, ...]:
    return tuple(part.replace("{model}", m.source) for part in engine.health)


def secret_env(engine: Engine) -> dict[str, str]:
    """Which config secrets an engine container receives."""
    if engine.name == "nim":
        return {"NGC_API_KEY": "ngcApiKey", "HF_TOKEN": "hfToken"}
    if engine.name in ("vllm", "sglang", "tgi", "llamacpp", "tei"):
        return {"HF_TOKEN": "hfToken"}
    return {}


def shm_size_mb(engine: Engine) -> int | None:
    return _SHM_MB.get(engine.name)
