"""How each engine is launched: entrypoint, arguments, environment and health check, one recipe per engine.

Flags per engine: docs/engines.md §2 (vLLM takes the model as `vllm serve`'s first positional argument; `MODEL_NAME`
is ignored). The table's health check may name `{model}`: Ollama's check runs `ollama show <tag>`, which fails while
the server is down *or* the model is not pulled yet (docs/engines.md §1: healthy Ollama is not the same as model
present). Everything else an engine needs (shared memory, secrets, port) is a trait in `catalog/engines.yaml`.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from llmstack.engines import Engine
from llmstack.planner.engines_memory import resolve_kv_dtype


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
    pipeline_parallel: int = 1  # nodes per replica (vLLM over Ray)


@dataclass(frozen=True)
class Command:
    """One engine's process: entrypoint override (None: the image's), arguments and environment."""

    entrypoint: tuple[str, ...] | None
    args: tuple[str, ...]
    env: dict[str, str]


Recipe = Callable[[Engine, ModelServing, bool], Command]

VLLM_SERVE = ("vllm", "serve")  # the vLLM image's ENTRYPOINT, set explicitly
SGLANG_LAUNCHER = ("python3", "-m", "sglang.launch_server")
SGLANG_KEY_CONFIG = "/tmp/llmstack-sglang-key.yaml"  # written at start by the container's shell, mode 0600


def _util(m: ModelServing) -> str | None:
    return f"{m.gpu_memory_utilization:.2f}" if m.gpu_memory_utilization else None


# FP8 KV cache per engine (`kv_dtype` fp8 = E4M3, as vLLM's `fp8`): each spelling is a choice of that engine's parser
# at the pinned version (llmstack/catalog/engine_flags/<engine>.json; tests/engines checks them). Other dtypes: the
# engine's default (the model's dtype), no flag.
VLLM_FP8 = {"fp8": "fp8", "fp8_e4m3": "fp8_e4m3", "fp8_e5m2": "fp8_e5m2"}
SGLANG_FP8 = {"fp8": "fp8_e4m3", "fp8_e4m3": "fp8_e4m3", "fp8_e5m2": "fp8_e5m2"}
TGI_FP8 = {"fp8": "fp8_e4m3fn", "fp8_e4m3": "fp8_e4m3fn", "fp8_e5m2": "fp8_e5m2"}


def _vllm(engine: Engine, m: ModelServing, gpu: bool) -> Command:
    # `vllm serve` spelled out: Docker and Kubernetes run it whatever the image's ENTRYPOINT (docs/engines.md §2).
    args = [m.source, "--served-model-name", m.served_name, "--host", "0.0.0.0", "--port", str(engine.port),
            "--max-model-len", str(m.context), "--max-num-seqs", str(m.concurrency),
            "--tensor-parallel-size", str(m.tensor_parallel)]
    args += ["--gpu-memory-utilization", util] if (util := _util(m)) else []
    args += ["--kv-cache-dtype", kv] if (kv := VLLM_FP8.get(m.kv_dtype)) else []
    if m.pipeline_parallel > 1:  # the leader of a Ray cluster whose workers hold the other stages
        args += ["--pipeline-parallel-size", str(m.pipeline_parallel), "--distributed-executor-backend", "ray"]
    return Command(VLLM_SERVE, (*args, *m.extra_args), dict(engine.env))


def _sglang(engine: Engine, m: ModelServing, gpu: bool) -> Command:
    args = ["--model-path", m.source, "--served-model-name", m.served_name,
            "--host", "0.0.0.0", "--port", str(engine.port), "--context-length", str(m.context),
            "--max-running-requests", str(m.concurrency), "--tp-size", str(m.tensor_parallel), "--enable-metrics"]
    args += ["--mem-fraction-static", util] if (util := _util(m)) else []
    args += ["--kv-cache-dtype", kv] if (kv := SGLANG_FP8.get(m.kv_dtype)) else []
    if engine.api_key is None:  # no key to pass: the launcher itself
        return Command(None, (*SGLANG_LAUNCHER, *args, *m.extra_args), dict(engine.env))
    argv = (*SGLANG_LAUNCHER, "--config", SGLANG_KEY_CONFIG, *args, *m.extra_args)
    return Command(("/bin/sh", "-c"), (sglang_script(engine.api_key.env, argv),), dict(engine.env))


def sglang_script(key_var: str, argv: tuple[str, ...]) -> str:
    """SGLang reads its API key only from `--api-key` (or a `--config` YAML file): never argv, which `ps` and the
    container's inputs show. The shell writes the key from the secret variable into an owner-only YAML file that
    `prepare_server_args` merges (sglang/srt/server_args_config_parser.py @ v0.5.10.post1); a literal block scalar
    keeps any key a string. Without the variable the file is an empty mapping and no key is required."""
    write = (f"umask 077; if [ -n \"${{{key_var}:-}}\" ]; then printf 'api-key: |-\\n  %s\\n' \"${key_var}\"; "
             f"else echo '{{}}'; fi > {SGLANG_KEY_CONFIG}")
    return f"{write} && exec {shlex.join(argv)}"


def _llamacpp(engine: Engine, m: ModelServing, gpu: bool) -> Command:
    # -np N splits -c into N streams, so every slot gets the full context (docs/sizing.md §12). /metrics is on via
    # LLAMA_ARG_ENDPOINT_METRICS in the engine table's env, not a second time here.
    args = ["-hf", m.source, "--alias", m.served_name, "-c", str(m.context * m.concurrency),
            "-np", str(m.concurrency), "-ngl", "999" if gpu else "0"]
    kv = resolve_kv_dtype(engine, m.kv_dtype)
    args += ["-ctk", kv, "-ctv", kv] if kv != "f16" else []
    # On a GPU always: the planner's compute-buffer model assumes it (GGML_FLASH_ATTN); on the CPU only where a
    # quantized V cache needs it.
    args += ["-fa", "on"] if gpu or kv != "f16" else []
    # -hf downloads go to $LLAMA_CACHE, else the Hugging Face hub cache (common/hf-cache.cpp): the mounted volume.
    env = dict(engine.env) | {"LLAMA_CACHE": engine.cache_dir}
    return Command(None, (*args, *m.extra_args), env)


def _tgi(engine: Engine, m: ModelServing, gpu: bool) -> Command:
    args = ["--model-id", m.source, "--max-total-tokens", str(m.context), "--max-input-tokens", str(m.context - 1),
            "--max-concurrent-requests", str(max(128, m.concurrency)), "--num-shard", str(m.tensor_parallel)]
    args += ["--quantize", m.quant] if m.quant in ("awq", "gptq") else []
    args += ["--cuda-memory-fraction", util] if (util := _util(m)) else []
    args += ["--kv-cache-dtype", kv] if (kv := TGI_FP8.get(m.kv_dtype)) else []
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
    kv = resolve_kv_dtype(engine, m.kv_dtype)
    if gpu or kv != "f16":  # the planner's KV type; a quantized cache needs flash attention (llm/server.go)
        env |= {"OLLAMA_FLASH_ATTENTION": "1", "OLLAMA_KV_CACHE_TYPE": kv}
    return Command(("/bin/sh", "-c"), (script,), env)


def _nim(engine: Engine, m: ModelServing, gpu: bool) -> Command:
    passthrough = f"--tensor-parallel-size {m.tensor_parallel} --max-num-seqs {m.concurrency}"
    if util := _util(m):
        passthrough += f" --gpu-memory-utilization {util}"
    if kv := VLLM_FP8.get(m.kv_dtype):  # the model-free NIM's backend parser is vLLM's
        passthrough += f" --kv-cache-dtype {kv}"
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
