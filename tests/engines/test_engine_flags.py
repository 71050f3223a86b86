"""The engine flag checker against the committed parser snapshots (llmstack/catalog/engine_flags/*.json).

Only the checker and the snapshots: a known-good command line per engine passes, and each kind of mistake the
engines' own parsers make (or hide) is reported. The last tests tie every snapshot to the image tag pinned in
llmstack/catalog/engines.yaml, so bumping an image without regenerating its snapshot fails here.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from llmstack import engine_flags as ef
from tests.conftest import ROOT

ENGINES_YAML = ROOT / "llmstack" / "catalog" / "engines.yaml"
SNAPSHOTS = ROOT / "llmstack" / "catalog" / "engine_flags"
ALL = ("vllm", "sglang", "llamacpp", "tgi", "tei", "ollama", "nim")

GOOD_ARGV: dict[str, list[str]] = {
    "vllm": ["Qwen/Qwen3-32B-FP8", "--served-model-name", "qwen3-32b", "--host", "0.0.0.0", "--port", "8000",
             "--max-model-len", "32768", "--max-num-seqs", "8", "--tensor-parallel-size", "2",
             "--gpu-memory-utilization", "0.90", "--kv-cache-dtype", "fp8", "--enable-prefix-caching",
             "--no-enable-log-requests", "--compilation-config.cudagraph_mode", "FULL", "--api-key", "k1", "k2"],
    "sglang": ["python3", "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen3-8B", "--served-model-name",
               "qwen3-8b", "--host", "0.0.0.0", "--port", "30000", "--context-length", "32768",
               "--max-running-requests", "16", "--tp-size", "2", "--enable-metrics", "--mem-fraction-static", "0.88",
               "--kv-cache-dtype", "fp8_e4m3"],
    "llamacpp": ["-hf", "Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M", "--alias", "qwen", "-c", "32768", "-np", "4",
                 "--metrics", "-ngl", "999", "-ctk", "q8_0", "-ctv", "q8_0", "-fa", "on", "--load-mode", "mmap"],
    "tgi": ["--model-id", "meta-llama/Llama-3.1-8B-Instruct", "--max-total-tokens", "8192", "--max-input-tokens",
            "8191", "--max-concurrent-requests", "128", "--num-shard", "1", "--quantize", "awq",
            "--cuda-memory-fraction", "0.90", "--kv-cache-dtype=fp8_e4m3fn"],
    "tei": ["--model-id", "BAAI/bge-small-en-v1.5", "--port", "80", "--auto-truncate", "--pooling", "last-token"],
    "ollama": ["pull", "qwen2.5:0.5b-instruct-q4_K_M"],
    "nim": ["--tensor-parallel-size", "2", "--max-num-seqs", "8"],
}


def _yaml_engines() -> dict[str, dict[str, object]]:
    table: dict[str, dict[str, object]] = yaml.safe_load(ENGINES_YAML.read_text())["engines"]
    return table


@pytest.mark.parametrize("engine", ALL)
def test_known_good_command_line_passes(engine: str) -> None:
    assert ef.check_argv(engine, GOOD_ARGV[engine]) == []


@pytest.mark.parametrize("argv", [["serve"], ["list"], ["ls"], ["show", "qwen2.5:0.5b"], ["ollama", "pull", "m"]])
def test_ollama_commands_the_entrypoint_script_runs(argv: list[str]) -> None:
    assert ef.check_argv("ollama", argv) == []


@pytest.mark.parametrize(
    ("engine", "argv", "bad"),
    [
        ("vllm", ["m", "--max-model-length", "8192"], "--max-model-length"),
        ("sglang", ["--model-path", "m", "--tensor-parallel", "2"], None),  # an abbreviation, reported as such
        ("llamacpp", ["-hf", "r", "--n-parallel", "4"], "--n-parallel"),
        ("tgi", ["--model-id", "m", "--max-input-len", "10"], "--max-input-len"),
        ("tei", ["--model-id", "m", "--max-input-length", "512"], "--max-input-length"),
        ("ollama", ["serve", "--port", "11434"], "--port"),
        ("nim", ["--tensor-paralell-size", "2"], "--tensor-paralell-size"),
    ],
)
def test_unknown_option_fails(engine: str, argv: list[str], bad: str | None) -> None:
    problems = ef.check_argv(engine, argv)
    assert len(problems) == 1
    if bad:
        assert problems[0] == f"{bad}: unknown option"


def test_unknown_subcommand_and_positional() -> None:
    assert ef.check_argv("ollama", ["start-server"]) == [
        "start-server: unknown ollama subcommand (one of " + ", ".join(sorted(ef.load("ollama").subcommands)) + ")"]
    assert ef.check_argv("llamacpp", ["model.gguf"]) == ["model.gguf: unexpected positional argument (the parser "
                                                         "takes none)"]
    assert ef.check_argv("vllm", ["m1", "m2"]) == ["m2: unexpected positional argument (the parser takes 1)"]


def test_argparse_abbreviation_fails() -> None:
    [problem] = ef.check_argv("sglang", ["python3", "-m", "sglang.launch_server", "--model-path", "m", "--tp", "2"])
    assert problem.startswith("--tp: only an abbreviation of --tp-size (= --tensor-parallel-size)")
    [problem] = ef.check_argv("vllm", ["m", "--max-model", "8192"])
    assert problem.startswith("--max-model: only an abbreviation of --max-model-len")
    [problem] = ef.check_argv("vllm", ["m", "--max", "8"])
    assert problem.startswith("--max: ambiguous abbreviation")


def test_parsers_without_prefix_matching_reject_abbreviations() -> None:
    assert ef.check_argv("tgi", ["--model", "m"]) == ["--model: unknown option"]
    assert ef.check_argv("llamacpp", ["--ctx", "8192"]) == ["--ctx: unknown option"]


@pytest.mark.parametrize(
    ("engine", "argv", "value"),
    [
        ("vllm", ["m", "--kv-cache-dtype", "fp8_e4m3fn"], "fp8_e4m3fn"),
        ("sglang", ["--kv-cache-dtype", "fp8"], "fp8"),
        ("llamacpp", ["-ctk", "q8"], "q8"),
        ("llamacpp", ["-fa", "yes"], "yes"),
        ("tgi", ["--kv-cache-dtype", "fp8"], "fp8"),
        ("tgi", ["--quantize", "q4_k_m"], "q4_k_m"),
        ("tei", ["--pooling", "last_token"], "last_token"),
        ("nim", ["--kv-cache-dtype", "int8"], "int8"),
    ],
)
def test_bad_choice_fails(engine: str, argv: list[str], value: str) -> None:
    [problem] = ef.check_argv(engine, argv)
    assert f"{value!r} is not one of" in problem


def test_missing_value_and_flag_with_value() -> None:
    assert ef.check_argv("vllm", ["m", "--port"]) == ["--port: needs a value"]
    assert ef.check_argv("vllm", ["m", "--port", "--enforce-eager"]) == ["--port: needs a value"]
    assert ef.check_argv("llamacpp", ["-c"]) == ["-c: needs a value"]
    assert ef.check_argv("llamacpp", ["--control-vector-layer-range", "1"]) == [
        "--control-vector-layer-range: needs 2 values"]
    assert ef.check_argv("vllm", ["m", "--enforce-eager=true"]) == ["--enforce-eager: a flag, takes no value "
                                                                   "(got 'true')"]
    assert ef.check_argv("tgi", ["--trust-remote-code", "true"]) == ["true: unexpected positional argument (the "
                                                                     "parser takes none)"]


def test_engine_specific_spellings() -> None:
    # vLLM's FlexibleArgumentParser: '_' for '-', -O3, dotted JSON keys; llama.cpp: '_' for '-', next token is a value
    assert ef.check_argv("vllm", ["m", "--max_model_len", "8192", "-O3", "--compilation-config.mode", "3"]) == []
    assert ef.check_argv("llamacpp", ["--ctx_size", "8192", "--override-kv", "-x"]) == []
    # ...which SGLang's plain argparse and clap do not do
    assert ef.check_argv("sglang", ["--context_length", "8192"]) == ["--context_length: unknown option"]
    assert ef.check_argv("llamacpp", ["--ctx-size=8192"]) == ["--ctx-size=8192: unknown option"]
    assert ef.check_argv("tgi", ["--port=8080", "-p8080"]) == []


def test_deprecated_option_is_reported() -> None:
    [problem] = ef.check_argv("sglang", ["--stream-output"])
    assert problem.startswith("--stream-output: deprecated")


def test_env_names_each_engine_reads_pass() -> None:
    assert ef.check_env("ollama", {"OLLAMA_HOST": "0.0.0.0:11434", "OLLAMA_KV_CACHE_TYPE": "q8_0",
                                   "OLLAMA_FLASH_ATTENTION": "1", "OLLAMA_CONTEXT_LENGTH": "8192"}) == []
    assert ef.check_env("llamacpp", {"LLAMA_ARG_HOST": "0.0.0.0", "LLAMA_ARG_PORT": "8080", "LLAMA_API_KEY": "k",
                                     "LLAMA_ARG_ENDPOINT_METRICS": "1", "LLAMA_ARG_NO_UI": "1",
                                     "LLAMA_CACHE": "/models", "LLAMA_ARG_FLASH_ATTN": "auto"}) == []
    assert ef.check_env("vllm", {"HF_HOME": "/root/.cache/huggingface", "VLLM_API_KEY": "k",
                                 "VLLM_LOGGING_LEVEL": "DEBUG"}) == []
    assert ef.check_env("sglang", {"HF_HOME": "/x", "SGLANG_USE_MODELSCOPE": "false"}) == []
    assert ef.check_env("tgi", {"HF_HOME": "/data", "HF_TOKEN": "t", "MAX_TOTAL_TOKENS": "8192", "PORT": "80"}) == []
    assert ef.check_env("tei", {"MODEL_ID": "m", "AUTO_TRUNCATE": "true", "HF_TOKEN": "t"}) == []


@pytest.mark.parametrize(
    ("engine", "name", "value", "expected"),
    [
        ("ollama", "OLLAMA_FLASH_ATTN", "1", "not an environment variable ollama 0.12.10 reads"),
        ("ollama", "OLLAMA_KV_CACHE_TYPE", "q5_0", "not one of f16, q4_0, q8_0"),
        ("llamacpp", "LLAMA_ARG_API_KEY", "k", "not an environment variable llamacpp"),
        ("llamacpp", "LLAMA_ARG_FLASH_ATTN", "yes", "not one of"),
        ("llamacpp", "LLAMA_ARG_ENDPOINT_METRICS", "0", "only takes effect when truthy"),
        ("llamacpp", "LLAMA_ARG_NO_UI", "yes", "must be one of on, enabled"),
        ("vllm", "VLLM_MAX_MODEL_LEN", "8192", "not an environment variable vllm"),
        ("sglang", "SGLANG_TP_SIZE", "2", "not an environment variable sglang"),
        ("tgi", "MAX_INPUT_LEN", "8191", "does not read it and it is not a generic variable"),
        ("tei", "MAX_INPUT_LENGTH", "512", "does not read it"),
        ("nim", "NIM_GPU_MEMORY_UTILIZATION", "0.9", "not among the nim variables documented"),
    ],
)
def test_unknown_or_rejected_env_fails(engine: str, name: str, value: str, expected: str) -> None:
    [problem] = ef.check_env(engine, {name: value})
    assert problem.startswith(f"{name}") and expected in problem


def test_generic_env_passes_for_every_engine() -> None:
    env = {"HF_HOME": "/data", "HF_TOKEN": "t", "NCCL_DEBUG": "INFO", "CUDA_VISIBLE_DEVICES": "0"}
    assert {engine: ef.check_env(engine, env) for engine in ALL} == {engine: [] for engine in ALL}


def test_nim_passthrough_args_are_read_as_vllm_arguments() -> None:
    env = {"NIM_MODEL_PATH": "hf://m", "NIM_PASSTHROUGH_ARGS": "--tensor-parallel-size 2 --max-num-seqs 8"}
    assert ef.check_env("nim", env) == []
    env["NIM_PASSTHROUGH_ARGS"] = "--tp 2 --max-num-seq 8"
    assert ef.check_env("nim", env) == [
        "NIM_PASSTHROUGH_ARGS: --tp: unknown option",
        "NIM_PASSTHROUGH_ARGS: --max-num-seq: only an abbreviation of --max-num-seqs; it parses through argparse "
        "prefix matching (allow_abbrev), spell it out",
    ]


def test_check_launch_reports_an_option_set_twice() -> None:
    assert ef.check_launch("llamacpp", ["--metrics", "-c", "4096"], {"LLAMA_ARG_ENDPOINT_METRICS": "1"}) == [
        "LLAMA_ARG_ENDPOINT_METRICS and --metrics both set --metrics; the command line wins"]
    assert ef.check_launch("tgi", ["--port", "80"], {"PORT": "80"}) == [
        "PORT and --port both set --port; the command line wins"]


def test_unknown_engine_is_an_error() -> None:
    with pytest.raises(ValueError, match="no engine flag snapshot for 'lmdeploy'"):
        ef.check_argv("lmdeploy", [])


@pytest.mark.parametrize("engine", ALL)
def test_snapshot_records_where_it_came_from(engine: str) -> None:
    raw = json.loads((SNAPSHOTS / f"{engine}.json").read_text())
    assert raw["engine"] == engine
    assert raw["source"] and raw["command"] and raw["upstream_version"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw["generated"])
    snap = ef.load(engine)
    for opt in snap.options:
        assert opt.names and len(set(opt.names)) == len(opt.names)
        assert opt.max_values is None or opt.min_values <= opt.max_values


def test_every_engine_with_a_launch_has_a_snapshot() -> None:
    assert set(ef.engines()) == set(ALL) == {e for e in _yaml_engines() if e != "litellm"}


@pytest.mark.parametrize("engine", ALL)
def test_snapshot_image_matches_engines_yaml(engine: str) -> None:
    """Bumping an image in engines.yaml without regenerating its snapshot (scripts/engine_flags/generate.sh) fails."""
    pinned = _yaml_engines()[engine]
    assert ef.snapshot_image_tag(engine) == pinned["tag"], (
        f"engines.yaml pins {engine} {pinned['tag']}, the flag snapshot is for {ef.snapshot_image_tag(engine)}: "
        f"regenerate it with scripts/engine_flags/generate.sh {engine}")
    assert ef.snapshot_image(engine) == f"{pinned['image']}:{pinned['tag']}"


@pytest.mark.parametrize(
    ("engine", "version"),
    [("vllm", "0.30.0"), ("sglang", "0.5.10.post1"), ("llamacpp", "b11206"), ("tgi", "3.3.7"), ("tei", "1.9.3"),
     ("ollama", "0.12.10"), ("nim", "2.1.6")],
)
def test_snapshot_version_is_the_tagged_release(engine: str, version: str) -> None:
    assert ef.snapshot_version(engine) == version
    tag = ef.snapshot_image_tag(engine)
    # the tag names the version (llama.cpp: the build, b11206)
    assert version in tag or tag.rsplit("-", 1)[-1] in version
