"""Every launch recipe against the parser snapshot of its engine's pinned image (issue 11).

Hypothesis generates backends (engine x model x format x context x concurrency x KV dtype x TP x extra settings,
on a GPU or the CPU) and renders them the way the stack does (`backend_services`, `engine_command`,
`embedding_service`); every argument of every command line the container runs (inside a `sh -c` script too) and every
variable it is given, plain or secret, must be one the engine's own parser at the pinned version accepts
(`llmstack.engine_flags.check_process`). The image a launch runs must be the one the snapshot was made for, so an
image bump without a regenerated snapshot fails here as well as in test_engine_flags.py.

Then one test per fact of issue 11 that a snapshot cannot see: where llama.cpp really downloads to, FP8 KV on TGI
and NIM, `vllm serve` spelled out, Ollama's embedding context, flash attention agreeing with the planner.
"""

from __future__ import annotations

import posixpath
import subprocess
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from llmstack import engine_flags as ef
from llmstack.catalog import models
from llmstack.engines import Engine, engine, engines
from llmstack.errors import InputError
from llmstack.images import parse_image
from llmstack.planner import load_model
from llmstack.planner.engines_memory import GGML_FLASH_ATTN, resolve_kv_dtype
from llmstack.spec import Backend, Embeddings
from llmstack.stackplan import launch
from llmstack.stackplan.launch import RECIPES, Launch, ModelServing, engine_command
from llmstack.stackplan.services import LOCAL, backend_services, embedding_service

RECIPE_ENGINES = tuple(sorted(RECIPES))
KV_DTYPES = ("auto", "bf16", "fp16", "fp8", "fp8_e4m3", "fp8_e5m2", "q8_0", "q4_0")
GGUF_QUANTS = ("Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "Q4_K_S", "Q3_K_M", "Q2_K")
# Extra arguments a user may pass through (`extra_args`), each a real option at the pinned version.
EXTRA_ARGS: dict[str, list[tuple[str, ...]]] = {
    "vllm": [("--enable-prefix-caching",), ("--enforce-eager",), ("--trust-remote-code",)],
    "sglang": [("--disable-radix-cache",), ("--chunked-prefill-size", "4096"), ("--trust-remote-code",)],
    "llamacpp": [("--jinja",), ("--threads", "8"), ("--cont-batching",)],
    "tgi": [("--trust-remote-code",), ("--max-batch-prefill-tokens", "4096")],
    "tei": [("--auto-truncate",), ("--max-batch-tokens", "16384")],
    "ollama": [()],
    "nim": [("--enforce-eager",)],
}
GENERATIVE = tuple(m for m, entry in models().items() if entry.kind != "embedding")
EMBEDDING = tuple(m for m, entry in models().items() if entry.kind == "embedding")
OLLAMA_EMBEDDING = tuple(m for m in EMBEDDING if models()[m].ollama)  # those with an Ollama library tag
INFERENCE = tuple(name for name, e in engines().items() if e.is_inference)


def problems_of(eng: Engine, launch_: Launch) -> list[str]:
    """What the engine's parsers have against one planned container, and whether its image is the snapshot's."""
    found = ef.check_process(eng.name, launch_.entrypoint, launch_.command, launch_.env, launch_.secret_env)
    return found + image_problems(eng, launch_.image)


def verdict(eng: Engine, problems: list[str]) -> str:
    """The failure message: which engine's parser, at which pinned image, finds what."""
    snap = ef.load(eng.name)
    return f"against the {eng.name} {snap.upstream_version} parser ({snap.image}): " + "; ".join(problems)


def image_problems(eng: Engine, image: str) -> list[str]:
    ref, snap = parse_image(image), ef.load(eng.name)
    expected = {snap.image_tag} | ({eng.cpu_tag} if eng.cpu_tag else set())
    if f"{ref.repo}:{snap.image_tag}" != snap.image or ref.tag not in expected:
        return [f"{image}: the {eng.name} flag snapshot is for {snap.image}; regenerate it with "
                f"scripts/engine_flags/generate.sh {eng.name}"]
    if snap.upstream_version not in (ref.tag or "") and ref.tag != snap.image_tag:
        return [f"{image}: CPU tag {ref.tag} is not build {snap.upstream_version}"]
    return []


# -- Hypothesis: the recipes over every setting -----------------------------------------------------------------


@st.composite
def servings(draw: st.DrawFn) -> tuple[Engine, ModelServing, bool]:
    eng = engine(draw(st.sampled_from(RECIPE_ENGINES)))
    gguf = eng.serves("gguf")
    quant = draw(st.sampled_from(GGUF_QUANTS if gguf else tuple(f for f in eng.formats if f != "gguf")))
    preallocate = eng.memory_model == "preallocate"
    kv = draw(st.sampled_from(tuple(k for k in KV_DTYPES if (k in ("auto", "bf16", "fp16", "q8_0", "q4_0")) == gguf
                                    or k in ("auto", "bf16", "fp16"))))
    serving = ModelServing(
        source=draw(st.sampled_from(["Qwen/Qwen3-8B", "org/Model-7B-Instruct:Q4_K_M", "qwen3:8b-q4_K_M"])),
        served_name=draw(st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True)),
        quant=quant,
        context=draw(st.integers(256, 262_144)),
        concurrency=draw(st.integers(1, 512)),
        tensor_parallel=draw(st.sampled_from([1, 2, 4, 8])),
        gpu_memory_utilization=draw(st.floats(0.3, 0.98)) if preallocate and draw(st.booleans()) else None,
        kv_dtype=kv,
        extra_args=draw(st.sampled_from(EXTRA_ARGS[eng.name])),
        pipeline_parallel=draw(st.integers(1, 4)) if eng.name == "vllm" else 1,
    )
    return eng, serving, eng.needs_gpu or draw(st.booleans())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(servings())
def test_every_rendered_argument_and_variable_is_one_the_engine_reads(case: tuple[Engine, ModelServing, bool]) -> None:
    eng, serving, gpu = case
    command = engine_command(eng, serving, gpu=gpu)
    problems = ef.check_process(eng.name, command.entrypoint, command.args, command.env, eng.secrets)
    assert problems == [], verdict(eng, problems)


@st.composite
def backends(draw: st.DrawFn) -> tuple[Backend, bool]:
    name = draw(st.sampled_from(INFERENCE))
    eng = engine(name)
    model = draw(st.sampled_from(GENERATIVE))
    quant = draw(st.sampled_from(("auto", *GGUF_QUANTS) if eng.serves("gguf") else ("auto", *eng.formats)))
    values: dict[str, Any] = {
        "name": "b", "engine": name, "model": model, "quant": quant,
        "context": draw(st.sampled_from([512, 4096, 8192, 32768, 131072])),
        "concurrency": draw(st.integers(1, 64)),
        "kv_dtype": draw(st.sampled_from(["auto", "bf16", "fp16", "fp8", "q8_0", "q4_0"])),
        "extra_args": draw(st.sampled_from(EXTRA_ARGS[name])),
    }
    if draw(st.booleans()):
        values["tensor_parallel"] = draw(st.sampled_from([1, 2, 4]))
    if eng.memory_model == "preallocate" and draw(st.booleans()):
        values["gpu_memory_utilization"] = draw(st.sampled_from([0.8, 0.9, 0.95]))
    if draw(st.booleans()):
        values["served_model_name"] = "served"
    return Backend.model_validate(values), eng.needs_gpu or draw(st.booleans())


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(backends())
def test_every_planned_backend_launches_as_its_engine_parses(case: tuple[Backend, bool]) -> None:
    backend, gpu = case
    try:
        (service,) = backend_services(backend, environment="dev", gpu=gpu, size=False)
    except InputError:
        assume(False)  # a combination the stack refuses with a field/value/fix error (GGUF on vLLM, fp8 on Ollama)
        raise
    problems = problems_of(service.engine, service.launch)
    assert problems == [], verdict(service.engine, problems)


@pytest.mark.parametrize(("engine_name", "model"), [*(("tei", m) for m in EMBEDDING),
                                                    *(("ollama", m) for m in OLLAMA_EMBEDDING)])
def test_every_embedding_service_launches_as_its_engine_parses(engine_name: str, model: str) -> None:
    spec = Embeddings.model_validate({"engine": engine_name, "model": model})
    service = embedding_service(spec, environment="dev", node=LOCAL)
    problems = problems_of(service.engine, service.launch)
    assert problems == [], verdict(service.engine, problems)


# -- the checker catches what a snapshot is for -----------------------------------------------------------------


def test_an_unknown_flag_in_a_recipe_fails_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the tests above print when a recipe renders a flag the engine's parser does not know."""
    vllm, sglang = RECIPES["vllm"], RECIPES["sglang"]

    def typo(eng: Engine, m: ModelServing, gpu: bool) -> launch.Command:
        return replace(vllm(eng, m, gpu), args=(*vllm(eng, m, gpu).args, "--max-modle-len", "8192"))

    def abbreviated(eng: Engine, m: ModelServing, gpu: bool) -> launch.Command:
        c = sglang(eng, m, gpu)
        return replace(c, args=(c.args[0].replace("--tp-size", "--tp"),))

    monkeypatch.setitem(RECIPES, "vllm", typo)
    monkeypatch.setitem(RECIPES, "sglang", abbreviated)
    serving = ModelServing("Qwen/Qwen3-8B", "chat", "bf16", 8192, 4, 2, 0.9, "auto")
    c = engine_command(engine("vllm"), serving, gpu=True)
    assert ef.check_process("vllm", c.entrypoint, c.args, c.env) == ["--max-modle-len: unknown option"]
    c = engine_command(engine("sglang"), serving, gpu=True)
    assert ef.check_process("sglang", c.entrypoint, c.args, c.env, engine("sglang").secrets) == [
        "--tp: only an abbreviation of --tp-size (= --tensor-parallel-size); it parses through argparse prefix "
        "matching (allow_abbrev), spell it out"]


def test_an_image_bump_without_a_new_snapshot_fails() -> None:
    vllm = engine("vllm")
    assert image_problems(vllm, vllm.image_ref()) == []
    bumped = vllm.model_copy(update={"tag": "v0.31.0-cu129", "digest": None})
    assert image_problems(bumped, bumped.image_ref()) == [
        "vllm/vllm-openai:v0.31.0-cu129: the vllm flag snapshot is for vllm/vllm-openai:v0.30.0-cu129; regenerate "
        "it with scripts/engine_flags/generate.sh vllm"]
    llamacpp = engine("llamacpp")
    assert image_problems(llamacpp, llamacpp.image_ref(gpu=False)) == []


def test_a_script_variable_the_container_lacks_is_reported() -> None:
    c = engine_command(engine("sglang"), ModelServing("m", "m", "bf16", 4096, 1, 1, None, "auto"), gpu=True)
    key_var = engine("sglang").api_key.env  # type: ignore[union-attr]
    assert ef.check_process("sglang", c.entrypoint, c.args, c.env) == [
        f"${key_var}: the script reads it, but the container does not set it"]
    assert ef.check_process("sglang", c.entrypoint, c.args, c.env, [key_var]) == []


def test_shell_commands_are_split_as_the_shell_runs_them() -> None:
    script = "a & pid=$!; until b >/dev/null 2>&1; do sleep 1; done; c 'x y' || { kill $pid; exit 1; }; exec d -e"
    assert ef.shell_commands(script) == [["a"], ["b"], ["sleep", "1"], ["c", "x y"], ["kill", "$pid"], ["exit", "1"],
                                         ["d", "-e"]]


# -- issue 11, one fact each ------------------------------------------------------------------------------------


def llamacpp_download_dir(env: Mapping[str, str], home: str = "/root") -> str:
    """Where llama-server puts `-hf` downloads: common/hf-cache.cpp `get_cache_directory()` at the snapshot's
    revision (ggml-org/llama.cpp@0c1e57098): the first of LLAMA_CACHE, HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE,
    HF_HOME/hub, XDG_CACHE_HOME/huggingface/hub, $HOME/.cache/huggingface/hub (the image runs as root)."""
    for var, below in (("LLAMA_CACHE", ""), ("HF_HUB_CACHE", ""), ("HUGGINGFACE_HUB_CACHE", ""), ("HF_HOME", "hub"),
                       ("XDG_CACHE_HOME", "huggingface/hub")):
        if env.get(var):
            return posixpath.join(env[var], below) if below else env[var]
    return posixpath.join(home, ".cache/huggingface/hub")


@pytest.mark.parametrize("gpu", [True, False])
def test_llamacpp_downloads_into_the_mounted_cache(gpu: bool) -> None:
    backend = Backend(name="small", engine="llamacpp", model="qwen2.5-7b", quant="Q4_K_M", context=4096)
    (service,) = backend_services(backend, environment="dev", gpu=gpu, size=False)
    assert "LLAMA_CACHE" in ef.load("llamacpp").env_names  # the variable exists at the pinned build
    assert llamacpp_download_dir(service.launch.env) == service.launch.cache_dir == engine("llamacpp").cache_dir


@pytest.mark.parametrize(("engine_name", "expected"), [
    ("vllm", ["--kv-cache-dtype", "fp8"]), ("sglang", ["--kv-cache-dtype", "fp8_e4m3"]),
    ("tgi", ["--kv-cache-dtype", "fp8_e4m3fn"]),
])
def test_fp8_kv_cache_reaches_the_command_line(engine_name: str, expected: list[str]) -> None:
    c = engine_command(engine(engine_name), ModelServing("m/m", "m", "bf16", 8192, 4, 1, 0.9, "fp8"), gpu=True)
    argv = ef.process(engine_name, c.entrypoint, c.args).argvs[0]
    assert any(list(argv[i:i + 2]) == expected for i in range(len(argv)))
    plain = engine_command(engine(engine_name), ModelServing("m/m", "m", "bf16", 8192, 4, 1, 0.9, "auto"), gpu=True)
    assert "--kv-cache-dtype" not in " ".join(ef.process(engine_name, plain.entrypoint, plain.args).argvs[0])


def test_fp8_kv_cache_reaches_nim_through_its_passthrough_arguments() -> None:
    c = engine_command(engine("nim"), ModelServing("m/m", "m", "bf16", 8192, 4, 2, 0.9, "fp8"), gpu=True)
    assert c.env["NIM_PASSTHROUGH_ARGS"].endswith("--kv-cache-dtype fp8")
    assert ef.check_env("nim", c.env) == []


def test_sglang_spells_out_tensor_parallel() -> None:
    c = engine_command(engine("sglang"), ModelServing("m/m", "m", "bf16", 8192, 4, 4, 0.9, "auto"), gpu=True)
    (argv,) = ef.process("sglang", c.entrypoint, c.args).argvs
    assert argv[argv.index("--tp-size") + 1] == "4" and "--tp" not in argv


def test_vllm_runs_vllm_serve_explicitly() -> None:
    c = engine_command(engine("vllm"), ModelServing("m/m", "m", "bf16", 8192, 4, 2, 0.9, "auto"), gpu=True)
    assert c.entrypoint == ("vllm", "serve")
    assert c.args[0] == "m/m" and "serve" not in c.args  # the arguments after `vllm serve`, model first
    # the multi-node leader (stackplan/kubernetes/multinode.py) prepends the same two words to these arguments
    assert ef.load("vllm").launcher_prefixes == ((*c.entrypoint,),)


@pytest.mark.parametrize("model", OLLAMA_EMBEDDING)
def test_ollama_embeddings_get_the_models_whole_context(model: str) -> None:
    service = embedding_service(Embeddings(engine="ollama", model=model), environment="dev", node=LOCAL)
    expected = load_model(model).max_position_embeddings
    assert service.launch.env["OLLAMA_CONTEXT_LENGTH"] == str(expected)
    if model == "nomic-embed-text":
        assert expected == 8192  # its n_positions: not truncated at 512 any more


@pytest.mark.parametrize("kv_dtype", ["auto", "q8_0", "q4_0"])
def test_ggml_engines_on_a_gpu_run_what_the_planner_assumes(kv_dtype: str) -> None:
    """The planner's compute buffer assumes flash attention on a GPU (GGML_FLASH_ATTN), and sizes the KV cache of the
    type it resolves; the recipes launch exactly that (llama.cpp `-fa on`, Ollama's two variables)."""
    assert GGML_FLASH_ATTN
    serving = ModelServing("r/m:Q4_K_M", "m", "Q4_K_M", 8192, 2, 1, None, kv_dtype)
    kv = resolve_kv_dtype(engine("llamacpp"), kv_dtype)
    c = engine_command(engine("llamacpp"), serving, gpu=True)
    assert c.args[c.args.index("-fa") + 1] == "on"
    assert (c.args[c.args.index("-ctk") + 1] if "-ctk" in c.args else "f16") == kv
    assert "--metrics" not in c.args and c.env["LLAMA_ARG_ENDPOINT_METRICS"] == "1"  # metrics on once, by env
    o = engine_command(engine("ollama"), replace(serving, source="qwen3:8b"), gpu=True)
    assert o.env["OLLAMA_FLASH_ATTENTION"] == "1"
    assert o.env["OLLAMA_KV_CACHE_TYPE"] == resolve_kv_dtype(engine("ollama"), kv_dtype)


def test_ggml_engines_on_the_cpu_keep_flash_attention_for_quantized_caches_only() -> None:
    serving = ModelServing("r/m:Q4_K_M", "m", "Q4_K_M", 8192, 2, 1, None, "auto")
    assert "-fa" not in engine_command(engine("llamacpp"), serving, gpu=False).args
    assert "OLLAMA_FLASH_ATTENTION" not in engine_command(engine("ollama"), serving, gpu=False).env
    quantized = replace(serving, kv_dtype="q8_0")
    assert "-fa" in engine_command(engine("llamacpp"), quantized, gpu=False).args
    assert engine_command(engine("ollama"), quantized, gpu=False).env["OLLAMA_KV_CACHE_TYPE"] == "q8_0"


@pytest.mark.parametrize("key", ["0123456789", "k#ey: with 'quotes' and \"more\"", ""])
def test_sglang_gets_its_key_from_a_file_never_argv(key: str, tmp_path: Path) -> None:
    """Run the recipe's real script under /bin/sh with a stand-in `python3` that records its argv: the key reaches
    the --config YAML (as SGLang's ConfigArgumentMerger reads it: `api-key` -> --api-key) and nothing else."""
    c = engine_command(engine("sglang"), ModelServing("m/m", "m", "bf16", 8192, 4, 1, 0.9, "auto"), gpu=True)
    config, argv_log = tmp_path / "key.yaml", tmp_path / "argv"
    script = c.args[0].replace(launch.SGLANG_KEY_CONFIG, str(config))
    fake = tmp_path / "bin" / "python3"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {argv_log}\n')
    fake.chmod(0o755)
    key_var = engine("sglang").api_key.env  # type: ignore[union-attr]
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin", **({key_var: key} if key else {})}
    subprocess.run([*c.entrypoint, script], env=env, check=True)  # type: ignore[misc]
    argv = argv_log.read_text().splitlines()
    assert argv[:4] == ["-m", "sglang.launch_server", "--config", str(config)]
    assert yaml.safe_load(config.read_text()) == ({"api-key": key} if key else {})
    assert config.stat().st_mode & 0o777 == 0o600
    assert not key or (all(key not in a for a in argv) and key not in c.args[0])
    assert {"--config", "--api-key"} <= set(ef.load("sglang").lookup())
