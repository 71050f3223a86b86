"""Serving policies: formats each engine can load, health checks that work in the image, restarts, context limits.

Facts: docs/engines.md §1 (health checks, curl per image), §2 (model and context flags), §4 (GGUF); the engine table
(`llmstack/catalog/engines.yaml`) is the single source for image, has_curl, formats, model and context flags.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from llmstack.catalog import gpu_by_name
from llmstack.engines import Engine
from llmstack.errors import LlmstackError
from llmstack.labels import Key, Role
from llmstack.planner import format_family, load_model, startup_seconds, weight_bytes
from policies import props as p
from policies.props import ContainerView
from policies.registry import Report, container_policy

# llama.cpp splits -c over its -np slots (llmstack/stackplan/launch.py), so the per-sequence context is -c / -np.
_SLOTS_FLAGS = ("-np", "--parallel")
_GGUF_RE = re.compile(r"(\.gguf\b|-gguf\b|/gguf\b|:(q\d|iq\d|f16\b|bf16\b))", re.IGNORECASE)


def _model_arguments(engine: Engine, args: list[str]) -> list[str]:
    """Where the engine takes its model (engine table `model_flags`), plus vLLM's first positional argument."""
    found = [v for flag in engine.model_flags if (v := p.flag_value(args, flag))]
    if engine.name == "vllm":
        rest = args[2:] if args[:2] == ["vllm", "serve"] else args
        if rest and not rest[0].startswith("-"):
            found.append(rest[0])
    return found


@container_policy(
    "no-gguf-on-vllm",
    description="vLLM, SGLang and TGI stock images must not be given GGUF weights (format label, model argument "
    "or a .gguf path / -GGUF repo); serve GGUF with llama.cpp or Ollama.",
)
def no_gguf_on_vllm(c: ContainerView, args: ResourceValidationArgs, report: Report) -> None:
    eng = p.container_engine(c.props)
    if eng is None or not eng.is_inference or eng.serves("gguf"):
        return
    argv = p.argv(c.props)
    fmt = p.label(c.props, Key.FORMAT)
    evidence = [f"{Key.FORMAT.label}={fmt}"] if fmt and _is_gguf_format(fmt) else []
    evidence += [f"model argument {m}" for m in _model_arguments(eng, argv) if _GGUF_RE.search(m)]
    evidence += [f"argument {a}" for a in argv if a.lower().endswith(".gguf") and f"model argument {a}" not in
                 evidence]
    if not evidence:
        return
    image = p.container_image(c.props)
    if not p.is_stock_image(eng, image) and image is not None and "--tokenizer" in " ".join(argv):
        return  # the spec's explicit override: a custom image with the GGUF plugin + --tokenizer <base repo>
    report(
        f"{eng.name} container '{c.name}' is given GGUF weights ({', '.join(evidence)}) but runs "
        f"{image or 'the stock ' + eng.image + ' image'}, which has no GGUF loader (vLLM removed it in v0.24.0). "
        "Fix: serve GGUF with engine llamacpp or ollama, or point the engine at an AWQ/GPTQ/FP8 safetensors "
        "checkpoint; only with allow_gguf_on_vllm use a custom image with vllm-gguf-plugin pinned and pass "
        "--tokenizer <base repo>."
    )


def _is_gguf_format(fmt: str) -> bool:
    if fmt.strip().lower() == "gguf":
        return True
    try:
        return format_family(fmt) == "gguf"
    except LlmstackError:
        return False


@container_policy(
    "quantization-matches-engine",
    description="An inference container's weight format (llmstack.format) must be one its engine serves (engine "
    "table `formats`: no AWQ/GPTQ/safetensors on Ollama or llama.cpp), and FP8 only on GPUs with FP8 support.",
)
def quantization_matches_engine(c: ContainerView, args: ResourceValidationArgs, report: Report) -> None:
    eng = p.container_engine(c.props)
    fmt = p.label(c.props, Key.FORMAT)
    if eng is None or not eng.is_inference:
        return
    if not fmt:
        args.not_applicable(f"container '{c.name}' has no llmstack.format label")
        return
    try:
        family = "gguf" if fmt.strip().lower() == "gguf" else format_family(fmt)
    except LlmstackError as err:
        report(f"container '{c.name}': llmstack.format={fmt} is not a known format ({err}).")
        return
    if family != "gguf" and not eng.serves(family):
        gguf = " Quantized GGUF files (Q4_K_M, Q5_K_M, ...) are what it loads." if "gguf" in eng.formats else ""
        report(
            f"{eng.name} container '{c.name}' is set to serve {fmt} weights, but {eng.name} serves "
            f"{', '.join(eng.formats)}.{gguf} Fix: pick a format from that list, or move {fmt} weights to "
            "vllm or sglang."
        )
    gpu_name = p.label(c.props, Key.GPU)
    if family == "fp8" and gpu_name:
        try:
            gpu = gpu_by_name(gpu_name)
        except LlmstackError:
            report(f"container '{c.name}': llmstack.gpu={gpu_name} is not in the GPU catalog, so FP8 support "
                   "cannot be checked. Fix: use a catalog GPU name.")
            return
        if not gpu.fp8:
            report(
                f"container '{c.name}' serves FP8 weights on {gpu.name} ({gpu.architecture}, sm"
                f"{gpu.compute_capability.replace('.', '')}), which has no FP8 tensor cores. Fix: use AWQ/GPTQ or "
                "bf16 here, or an FP8-capable GPU (Ada L4/L40S, Hopper H100/H200, Blackwell)."
            )


_CURL_RE = re.compile(r"(^|[\s;|&(])(curl|wget)(\s|$)")


def _weights(props: Mapping[str, Any]) -> int | None:
    raw = p.label(props, Key.WEIGHTS_BYTES)
    if raw and raw.isdigit():
        return int(raw)
    model, fmt = p.label(props, Key.MODEL), p.label(props, Key.FORMAT)
    if model and fmt:
        try:
            return weight_bytes(load_model(model), fmt)
        except LlmstackError:
            return None
    return None


@container_policy(
    "container-healthcheck-required",
    description="Every container has a health check that works in its image (no curl/wget where the engine "
    "table says has_curl: false) and a start_period long enough to load the model (planner startup_seconds); on "
    "Kubernetes, a startup (or readiness) probe, and a load window (the startup probe's initialDelaySeconds + "
    "failureThreshold x periodSeconds; without one, the liveness probe's) that covers the load.",
    config={
        "minimumStartPeriodSeconds": {"type": "number", "minimum": 0, "default": 30,
                                      "description": "floor for start_period in seconds"},
        "exemptRoles": {"type": "array", "items": {"type": "string"}, "default": [Role.MONITORING.value],
                        "description": "llmstack.role values that may run without a health check"},
    },
)
def container_healthcheck_required(c: ContainerView, args: ResourceValidationArgs, report: Report) -> None:
    config = args.get_config()
    role = p.role(c.props)
    if role in p.config_list(config, "exemptRoles", [Role.MONITORING]) and not c.props.get("healthcheck"):
        args.not_applicable(f"role {role} is exempt (policy config exemptRoles)")
        return
    hc: Any = c.props.get("healthcheck")
    tests = [str(t) for t in (hc or {}).get("tests") or []]
    eng = p.container_engine(c.props)
    if not tests or tests[0].upper() == "NONE":
        if c.kubernetes:
            path = f" on {eng.health_path}" if eng else ""
            report(f"container '{c.name}' has no startup or readiness probe, so traffic reaches it before the model "
                   f"is loaded and a dead engine is never replaced. Fix: add a startupProbe and a readinessProbe"
                   f"{path}.")
            return
        hint = f" For {eng.name} use tests={list(eng.health)}." if eng else ""
        report(f"container '{c.name}' has no health check, so a dead engine is never noticed.{hint} "
               "Fix: add healthcheck (tests, interval, timeout, retries, start_period).")
        return
    command = " ".join(tests[1:])
    if eng is not None and not eng.has_curl and _CURL_RE.search(command):
        image = p.container_image(c.props) or eng.image
        report(
            f"container '{c.name}' checks health with curl/wget, but {image} has no curl or wget, so the "
            f"check always fails. Fix: use the engine table's check: {list(eng.health)}."
        )
    minimum = float(config.get("minimumStartPeriodSeconds", 30))
    weights = _weights(c.props)
    tp_label = p.label(c.props, Key.TENSOR_PARALLEL) or "1"
    tp = int(tp_label) if tp_label.isdigit() and int(tp_label) > 0 else 1
    needed, why = minimum, f"the configured minimum {minimum:.0f} s"
    if weights is not None:
        load = float(startup_seconds(weights, tp))
        if load > needed:
            needed, why = load, (f"the planner's load budget for {weights / 1e9:.1f} GB of weights at TP={tp} "
                                 f"(startup_seconds = {load:.0f} s)")
    start = p.duration_seconds(hc.get("startPeriod"))
    if start is None or start < needed:
        if c.kubernetes:
            report(f"container '{c.name}' gives the model {start or 0:.0f} s to load (the startupProbe's "
                   f"initialDelaySeconds + failureThreshold x periodSeconds; without a startupProbe, the "
                   f"livenessProbe's), shorter than {why}, so the kubelet restarts it while the model loads. Fix: "
                   f"a startupProbe whose failureThreshold makes the window at least {int(needed)} s.")
            return
        have = "no start_period" if start is None else f"start_period {start:.0f} s"
        report(
            f"container '{c.name}' has {have}, shorter than {why}; failed checks during model loading count "
            f"as failures. Fix: set healthcheck start_period to at least {int(needed)}s (and start_interval 5s)."
        )


@container_policy(
    "restart-policy-required",
    description="Containers restart on exit: restart unless-stopped or always, or on-failure with "
    "max_retry_count.",
)
def restart_policy_required(c: ContainerView, args: ResourceValidationArgs, report: Report) -> None:
    restart = str(c.props.get("restart") or "no")
    if restart in ("unless-stopped", "always"):
        return
    retries = c.props.get("maxRetryCount")
    if restart == "on-failure" and isinstance(retries, int | float) and retries > 0:
        return
    detail = "on-failure without max_retry_count" if restart == "on-failure" else f"restart={restart}"
    report(f"container '{c.name}' has {detail}, so a crashed engine stays down. Fix: restart="
           "\"unless-stopped\" (or \"always\", or \"on-failure\" with max_retry_count > 0).")


@container_policy(
    "context-limit-required",
    description="Inference containers set a maximum context (vLLM --max-model-len, SGLang --context-length, TGI "
    "--max-total-tokens, Ollama OLLAMA_CONTEXT_LENGTH, llama.cpp -c/--ctx-size per -np slot, NIM "
    "NIM_MAX_MODEL_LEN), a positive one no longer than the model's trained context (llmstack.model's "
    "max_position_embeddings).",
)
def context_limit_required(c: ContainerView, args: ResourceValidationArgs, report: Report) -> None:
    eng = p.container_engine(c.props)
    if eng is None or not eng.is_inference or c.stage_worker:  # a stage worker serves with the leader's limit
        return
    flags, env_names = eng.context_limit.flags, eng.context_limit.env
    env = p.envs(c.props)
    value = p.flag_value(p.argv(c.props), *flags) if flags else None
    value = value or next((env[n] for n in env_names if n in env), None)
    where = " or ".join([*flags, *(f"env {n}" for n in env_names)])
    if value is None:
        report(
            f"{eng.name} container '{c.name}' sets no context limit ({where}), so it takes the model's full "
            "trained context and the KV cache is sized for it (16 GiB for Llama-3.1-8B at 131k). Fix: set "
            f"{where} to the context you planned for."
        )
        return
    if not value.strip().isdigit() or int(value) <= 0:
        report(f"{eng.name} container '{c.name}' sets {where}={value}; 0 or a non-number means 'the model's "
               f"full context'. Fix: give a positive token count.")
        return
    model = p.label(c.props, Key.MODEL)
    try:
        trained = load_model(model).max_position_embeddings if model else None
    except LlmstackError:
        trained = None
    slots = p.flag_value(p.argv(c.props), *_SLOTS_FLAGS)
    per_sequence = int(value) // (int(slots) if slots and slots.isdigit() and int(slots) > 0 else 1)
    if trained is not None and per_sequence > trained:
        report(f"{eng.name} container '{c.name}' sets a context of {per_sequence} tokens per sequence ({where}), "
               f"above the {trained} {model} was trained for (max_position_embeddings): vLLM and SGLang refuse to "
               "start, other engines answer past the positions the model knows. Fix: at most "
               f"{trained} (the spec's context, which the fit was planned for).")

