"""Serving policies: formats each engine can load, health checks that work in the image, restarts, context limits.

Facts: docs/engines.md §1 (health checks, curl per image), §2 (model and context flags), §4 (GGUF); the engine table
(`llmstack/catalog/engines.yaml`) is the single source for image, has_curl, formats, model and context flags.
"""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import ResourceValidationArgs

from llmstack.catalog import gpu_by_name
from llmstack.engines import Engine
from llmstack.errors import LlmstackError
from llmstack.labels import CONTAINER, Key, Role
from llmstack.planner import format_family, load_model, startup_seconds, weight_bytes
from policies import props as p
from policies.registry import Report, resource_policy

_GGUF_RE = re.compile(r"(\.gguf\b|-gguf\b|/gguf\b|:(q\d|iq\d|f16\b|bf16\b))", re.IGNORECASE)


def _model_arguments(engine: Engine, args: list[str]) -> list[str]:
    """Where the engine takes its model (engine table `model_flags`), plus vLLM's first positional argument."""
    found = [v for flag in engine.model_flags if (v := p.flag_value(args, flag))]
    if engine.name == "vllm":
        rest = args[2:] if args[:2] == ["vllm", "serve"] else args
        if rest and not rest[0].startswith("-"):
            found.append(rest[0])
    return found


@resource_policy(
    "no-gguf-on-vllm",
    types=(CONTAINER,),
    description="vLLM, SGLang and TGI stock images must not be given GGUF weights (format label, model argument "
    "or a .gguf path / -GGUF repo); serve GGUF with llama.cpp or Ollama.",
)
def no_gguf_on_vllm(args: ResourceValidationArgs, report: Report) -> None:
    eng = p.container_engine(args.props)
    if eng is None or not eng.is_inference or eng.serves("gguf"):
        return
    argv = p.argv(args.props)
    fmt = p.label(args.props, Key.FORMAT)
    evidence = [f"{Key.FORMAT.label}={fmt}"] if fmt and _is_gguf_format(fmt) else []
    evidence += [f"model argument {m}" for m in _model_arguments(eng, argv) if _GGUF_RE.search(m)]
    evidence += [f"argument {a}" for a in argv if a.lower().endswith(".gguf") and f"model argument {a}" not in
                 evidence]
    if not evidence:
        return
    image = p.container_image(args.props)
    if not p.is_stock_image(eng, image) and image is not None and "--tokenizer" in " ".join(argv):
        return  # the spec's explicit override: a custom image with the GGUF plugin + --tokenizer <base repo>
    report(
        f"{eng.name} container '{args.name}' is given GGUF weights ({', '.join(evidence)}) but runs "
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


@resource_policy(
    "quantization-matches-engine",
    types=(CONTAINER,),
    description="An inference container's weight format (llmstack.format) must be one its engine serves (engine "
    "table `formats`: no AWQ/GPTQ/safetensors on Ollama or llama.cpp), and FP8 only on GPUs with FP8 support.",
)
def quantization_matches_engine(args: ResourceValidationArgs, report: Report) -> None:
    eng = p.container_engine(args.props)
    fmt = p.label(args.props, Key.FORMAT)
    if eng is None or not eng.is_inference:
        return
    if not fmt:
        args.not_applicable(f"container '{args.name}' has no llmstack.format label")
        return
    try:
        family = "gguf" if fmt.strip().lower() == "gguf" else format_family(fmt)
    except LlmstackError as err:
        report(f"container '{args.name}': llmstack.format={fmt} is not a known format ({err}).")
        return
    if family != "gguf" and not eng.serves(family):
        gguf = " Quantized GGUF files (Q4_K_M, Q5_K_M, ...) are what it loads." if "gguf" in eng.formats else ""
        report(
            f"{eng.name} container '{args.name}' is set to serve {fmt} weights, but {eng.name} serves "
            f"{', '.join(eng.formats)}.{gguf} Fix: pick a format from that list, or move {fmt} weights to "
            "vllm or sglang."
        )
    gpu_name = p.label(args.props, Key.GPU)
    if family == "fp8" and gpu_name:
        try:
            gpu = gpu_by_name(gpu_name)
        except LlmstackError:
            report(f"container '{args.name}': llmstack.gpu={gpu_name} is not in the GPU catalog, so FP8 support "
                   "cannot be checked. Fix: use a catalog GPU name.")
            return
        if not gpu.fp8:
            report(
                f"container '{args.name}' serves FP8 weights on {gpu.name} ({gpu.architecture}, sm"
                f"{gpu.compute_capability.replace('.', '')}), which has no FP8 tensor cores. Fix: use AWQ/GPTQ or "
                "bf16 here, or an FP8-capable GPU (Ada L4/L40S, Hopper H100/H200, Blackwell)."
            )


_CURL_RE = re.compile(r"(^|[\s;|&(])(curl|wget)(\s|$)")


def _weights(args: ResourceValidationArgs) -> int | None:
    raw = p.label(args.props, Key.WEIGHTS_BYTES)
    if raw and raw.isdigit():
        return int(raw)
    model, fmt = p.label(args.props, Key.MODEL), p.label(args.props, Key.FORMAT)
    if model and fmt:
        try:
            return weight_bytes(load_model(model), fmt)
        except LlmstackError:
            return None
    return None


@resource_policy(
    "container-healthcheck-required",
    types=(CONTAINER,),
    description="Every container has a health check that works in its image (no curl/wget where the engine "
    "table says has_curl: false) and a start_period long enough to load the model (planner startup_seconds).",
    config={
        "minimumStartPeriodSeconds": {"type": "number", "minimum": 0, "default": 30,
                                      "description": "floor for start_period in seconds"},
        "exemptRoles": {"type": "array", "items": {"type": "string"}, "default": [Role.MONITORING.value],
                        "description": "llmstack.role values that may run without a health check"},
    },
)
def container_healthcheck_required(args: ResourceValidationArgs, report: Report) -> None:
    config = args.get_config()
    role = p.role(args.props)
    if role in p.config_list(config, "exemptRoles", [Role.MONITORING]) and not args.props.get("healthcheck"):
        args.not_applicable(f"role {role} is exempt (policy config exemptRoles)")
        return
    hc: Any = args.props.get("healthcheck")
    tests = [str(t) for t in (hc or {}).get("tests") or []]
    eng = p.container_engine(args.props)
    if not tests or tests[0].upper() == "NONE":
        hint = f" For {eng.name} use tests={list(eng.health)}." if eng else ""
        report(f"container '{args.name}' has no health check, so a dead engine is never noticed.{hint} "
               "Fix: add healthcheck (tests, interval, timeout, retries, start_period).")
        return
    command = " ".join(tests[1:])
    if eng is not None and not eng.has_curl and _CURL_RE.search(command):
        image = p.container_image(args.props) or eng.image
        report(
            f"container '{args.name}' checks health with curl/wget, but {image} has no curl or wget, so the "
            f"check always fails. Fix: use the engine table's check: {list(eng.health)}."
        )
    minimum = float(config.get("minimumStartPeriodSeconds", 30))
    weights = _weights(args)
    tp_label = p.label(args.props, Key.TENSOR_PARALLEL) or "1"
    tp = int(tp_label) if tp_label.isdigit() and int(tp_label) > 0 else 1
    needed, why = minimum, f"the configured minimum {minimum:.0f} s"
    if weights is not None:
        load = float(startup_seconds(weights, tp))
        if load > needed:
            needed, why = load, (f"the planner's load budget for {weights / 1e9:.1f} GB of weights at TP={tp} "
                                 f"(startup_seconds = {load:.0f} s)")
    start = p.duration_seconds(hc.get("startPeriod"))
    if start is None or start < needed:
        have = "no start_period" if start is None else f"start_period {start:.0f} s"
        report(
            f"container '{args.name}' has {have}, shorter than {why}; failed checks during model loading count "
            f"as failures. Fix: set healthcheck start_period to at least {int(needed)}s (and start_interval 5s)."
        )


@resource_policy(
    "restart-policy-required",
    types=(CONTAINER,),
    description="Containers restart on exit: restart unless-stopped or always, or on-failure with "
    "max_retry_count.",
)
def restart_policy_required(args: ResourceValidationArgs, report: Report) -> None:
    restart = str(args.props.get("restart") or "no")
    if restart in ("unless-stopped", "always"):
        return
    retries = args.props.get("maxRetryCount")
    if restart == "on-failure" and isinstance(retries, int | float) and retries > 0:
        return
    detail = "on-failure without max_retry_count" if restart == "on-failure" else f"restart={restart}"
    report(f"container '{args.name}' has {detail}, so a crashed engine stays down. Fix: restart="
           "\"unless-stopped\" (or \"always\", or \"on-failure\" with max_retry_count > 0).")


@resource_policy(
    "context-limit-required",
    types=(CONTAINER,),
    description="Inference containers set a maximum context: vLLM --max-model-len, SGLang --context-length, TGI "
    "--max-total-tokens, Ollama OLLAMA_CONTEXT_LENGTH, llama.cpp -c/--ctx-size, NIM NIM_MAX_MODEL_LEN.",
)
def context_limit_required(args: ResourceValidationArgs, report: Report) -> None:
    eng = p.container_engine(args.props)
    if eng is None or not eng.is_inference:
        return
    flags, env_names = eng.context_limit.flags, eng.context_limit.env
    env = p.envs(args.props)
    value = p.flag_value(p.argv(args.props), *flags) if flags else None
    value = value or next((env[n] for n in env_names if n in env), None)
    where = " or ".join([*flags, *(f"env {n}" for n in env_names)])
    if value is None:
        report(
            f"{eng.name} container '{args.name}' sets no context limit ({where}), so it takes the model's full "
            "trained context and the KV cache is sized for it (16 GiB for Llama-3.1-8B at 131k). Fix: set "
            f"{where} to the context you planned for."
        )
        return
    if not value.strip().isdigit() or int(value) <= 0:
        report(f"{eng.name} container '{args.name}' sets {where}={value}; 0 or a non-number means 'the model's "
               f"full context'. Fix: give a positive token count.")

