"""`InferenceBackend` and `EmbeddingService` on their own, as the engine sees their resources."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components import EmbeddingService, InferenceBackend
from llmstack.engines import engine
from llmstack.errors import InputError
from llmstack.planner import PlanRequest, plan, startup_seconds
from llmstack.preview import PreviewResult
from llmstack.stackplan.checkpoints import serving_source
from tests.components.helpers import (
    CONTAINER,
    IMAGE,
    LOCAL_DOCKER,
    is_secret,
    labels,
    leaks,
    one,
    plain_strings,
    record,
    unwrap,
)

HOST = {"docker_host": LOCAL_DOCKER, "network_name": "llmstack"}

# One small, valid backend per engine. Expected health checks are written out here (not read from the engine
# table), so a wrong table entry fails: docs/engines.md §1.
CASES: dict[str, dict[str, Any]] = {
    "ollama": {"engine": "ollama", "model": "qwen2.5-0.5b", "quant": "Q4_K_M", "context": 8192, "concurrency": 2},
    "vllm": {"engine": "vllm", "model": "llama-3.1-8b", "quant": "awq", "context": 16384, "concurrency": 8,
             "instance_type": "g6e.xlarge"},
    "sglang": {"engine": "sglang", "model": "qwen2.5-7b", "quant": "awq", "context": 16384, "concurrency": 4},
    "llamacpp": {"engine": "llamacpp", "model": "qwen2.5-7b", "quant": "Q4_K_M", "context": 8192},
    "tgi": {"engine": "tgi", "model": "llama-3.1-8b", "quant": "awq", "context": 8192},
    "nim": {"engine": "nim", "model": "llama-3.1-8b", "context": 8192},
}
CURL = {"vllm": 8000, "sglang": 30000, "llamacpp": 8080, "tgi": 80}
NIM_HEALTH = ["CMD", "python3", "-c",
              "import urllib.request;urllib.request.urlopen('http://localhost:8000/v1/health/ready')"]
PORTS = {"ollama": 11434, "vllm": 8000, "sglang": 30000, "llamacpp": 8080, "tgi": 80, "nim": 8000}


def backend(name: str, **args: Any) -> PreviewResult:
    return record(lambda: InferenceBackend(name, {**HOST, **args}))  # type: ignore[typeddict-item]


def container(result: PreviewResult) -> dict[str, Any]:
    return one(result, CONTAINER).inputs


@pytest.fixture(scope="module", params=sorted(CASES))
def engine_run(request: pytest.FixtureRequest) -> tuple[str, PreviewResult]:
    name = request.param
    return name, backend(name, **CASES[name])


def test_component_and_children(engine_run: tuple[str, PreviewResult]) -> None:
    name, result = engine_run
    comp = one(result, "llmstack:index:InferenceBackend", name)
    for typ in (CONTAINER, IMAGE, "docker:index/volume:Volume", "pulumi:providers:docker"):
        assert one(result, typ).parent == comp.urn
    # Every docker resource goes to the component's own provider, which points at the given Docker host.
    provider = one(result, "pulumi:providers:docker")
    assert provider.inputs["host"] == LOCAL_DOCKER
    assert one(result, CONTAINER).provider.startswith(provider.urn)


def test_health_check_works_in_the_image(engine_run: tuple[str, PreviewResult]) -> None:
    name, result = engine_run
    check = container(result)["healthcheck"]
    tests = check["tests"]
    if name == "ollama":
        tag = serving_source("qwen2.5-0.5b", engine("ollama"), "Q4_K_M")
        assert tests[0] == "CMD-SHELL"
        assert f"ollama show '{tag}'" in tests[1]
        assert not any("curl" in t or "wget" in t for t in tests)  # the Ollama image has neither
    elif name == "nim":
        assert tests == NIM_HEALTH
    else:
        assert tests[0] == "CMD-SHELL"
        assert "curl" in tests[1]
        assert f"http://localhost:{CURL[name]}/health" in tests[1]
    assert check["interval"] and check["timeout"] and check["retries"] >= 1
    assert check["startInterval"]


def test_port_restart_logs(engine_run: tuple[str, PreviewResult]) -> None:
    name, result = engine_run
    inputs = container(result)
    assert inputs["ports"] == [{"ip": "127.0.0.1", "internal": PORTS[name], "external": PORTS[name]}]
    assert inputs["restart"] == "unless-stopped"
    assert inputs["logDriver"] == "json-file"
    assert set(inputs["logOpts"]) == {"max-size", "max-file"}
    assert inputs["name"] == f"llm-{name}"
    assert inputs["networksAdvanced"] == [{"name": "llmstack", "aliases": [name]}]


def test_image_is_pinned_from_the_engine_table(engine_run: tuple[str, PreviewResult]) -> None:
    name, result = engine_run
    eng = engine(name)
    image = one(result, IMAGE).inputs["name"]
    assert image.startswith(f"{eng.image}:{eng.tag}")
    if eng.digest:
        assert image.endswith(f"@{eng.digest}")
    assert not image.endswith(":latest")
    assert labels(one(result, CONTAINER))["llmstack.image"] == image


def test_gpus_requested_by_default(engine_run: tuple[str, PreviewResult]) -> None:
    _, result = engine_run
    assert container(result)["gpus"] == "all"
    assert "deviceRequests" not in container(result)  # conflicts with gpus (docs/pulumi.md §5)


def test_intent_labels(engine_run: tuple[str, PreviewResult]) -> None:
    name, result = engine_run
    case = CASES[name]
    found = labels(one(result, CONTAINER))
    assert found["llmstack.engine"] == name
    assert found["llmstack.model"] == case["model"]
    assert found["llmstack.context"] == str(case["context"])
    assert found["llmstack.concurrency"] == str(case.get("concurrency", 1))
    assert found["llmstack.format"] == case.get("quant", "bf16")
    assert found["llmstack.role"] == "inference"


@pytest.mark.parametrize("engine_name", ["ollama", "llamacpp"])
def test_no_gpu_request_without_gpus(engine_name: str) -> None:
    result = backend(engine_name, **CASES[engine_name], gpus=False)
    inputs = container(result)
    assert "gpus" not in inputs
    if engine_name == "llamacpp":
        command = inputs["command"]
        assert command[command.index("-ngl") + 1] == "0"
        assert one(result, IMAGE).inputs["name"] == engine("llamacpp").image_ref(gpu=False)


def test_vllm_command_from_the_plan() -> None:
    case = CASES["vllm"]
    result = backend("chat", **case)
    sizing = plan(PlanRequest(model="llama-3.1-8b", quant="awq", context=16384, concurrency=8, engine="vllm",
                              instance_type="g6e.xlarge"))
    inputs = container(result)
    command = inputs["command"]
    # `vllm serve` explicitly, whatever the image's ENTRYPOINT; the model is its first argument
    assert inputs["entrypoints"] == ["vllm", "serve"]
    assert command[0] == serving_source("llama-3.1-8b", engine("vllm"), "awq")
    assert command[command.index("--max-model-len") + 1] == "16384"
    assert command[command.index("--max-num-seqs") + 1] == "8"
    assert command[command.index("--tensor-parallel-size") + 1] == str(sizing.tensor_parallel)
    assert command[command.index("--gpu-memory-utilization") + 1] == f"{engine('vllm').gpu_memory_utilization:.2f}"
    assert command[command.index("--served-model-name") + 1] == "chat"
    assert "serve" not in command  # repeating `serve` fails (docs/engines.md §2)
    found = labels(one(result, CONTAINER))
    assert found["llmstack.instance-type"] == "g6e.xlarge"
    assert found["llmstack.tensor-parallel"] == str(sizing.tensor_parallel)
    assert inputs["shmSize"] >= 1024


def test_vllm_tensor_parallel_and_memory_share_follow_the_pinned_instance() -> None:
    result = backend("big", engine="vllm", model="llama-3.1-70b", quant="awq", context=16384, concurrency=8,
                     instance_type="g6e.12xlarge", gpu_memory_utilization=0.85)
    sizing = plan(PlanRequest(model="llama-3.1-70b", quant="awq", context=16384, concurrency=8, engine="vllm",
                              instance_type="g6e.12xlarge"))
    assert sizing.tensor_parallel > 1
    command = container(result)["command"]
    assert command[command.index("--tensor-parallel-size") + 1] == str(sizing.tensor_parallel)
    assert command[command.index("--gpu-memory-utilization") + 1] == "0.85"
    check = container(result)["healthcheck"]
    assert check["startPeriod"] == f"{sizing.startup_seconds}s"


def test_start_period_is_the_planners_load_budget() -> None:
    result = backend("chat", **CASES["vllm"])
    sizing = plan(PlanRequest(model="llama-3.1-8b", quant="awq", context=16384, concurrency=8, engine="vllm",
                              instance_type="g6e.xlarge"))
    seconds = sizing.startup_seconds
    assert seconds >= startup_seconds(sizing.weights_bytes, sizing.tensor_parallel)  # at least the load time
    inputs = container(result)
    assert inputs["healthcheck"]["startPeriod"] == f"{seconds}s"
    assert inputs["wait"] is True
    assert inputs["waitTimeout"] > seconds  # `pulumi up` waits past the start period before failing


def test_bigger_models_get_a_longer_start_period() -> None:
    small = container(backend("small", **CASES["vllm"]))["healthcheck"]["startPeriod"]
    big = container(backend("big", engine="vllm", model="llama-3.1-70b", quant="awq", context=16384,
                            instance_type="g6e.12xlarge"))["healthcheck"]["startPeriod"]
    assert int(big.removesuffix("s")) > int(small.removesuffix("s"))


def test_ollama_env_and_pull() -> None:
    result = backend("ollama", **CASES["ollama"])
    inputs = container(result)
    env = inputs["envs"]
    assert not is_secret(env)  # no secrets for Ollama: the list stays readable
    assert "OLLAMA_CONTEXT_LENGTH=8192" in env
    assert "OLLAMA_NUM_PARALLEL=2" in env
    assert "OLLAMA_HOST=0.0.0.0:11434" in env
    tag = serving_source("qwen2.5-0.5b", engine("ollama"), "Q4_K_M")
    assert inputs["entrypoints"] == ["/bin/sh", "-c"]
    assert f"ollama pull '{tag}'" in inputs["command"][0]
    assert "shmSize" not in inputs


def test_hf_token_is_a_secret() -> None:
    token = "hf_TOKEN_abc123"
    result = backend("chat", **CASES["vllm"], hf_token=pulumi.Output.secret(token))
    env = container(result)["envs"]
    assert is_secret(env)
    assert f"HF_TOKEN={token}" in unwrap(env)
    assert leaks(result, token) == []


def test_ngc_key_is_a_secret_for_nim() -> None:
    key, token = "nvapi-KEY-xyz", "hf_TOKEN_abc123"
    result = backend("nim", **CASES["nim"], ngc_api_key=pulumi.Output.secret(key),
                     hf_token=pulumi.Output.secret(token))
    env = container(result)["envs"]
    assert is_secret(env)
    assert {f"NGC_API_KEY={key}", f"HF_TOKEN={token}"} <= set(unwrap(env))
    assert "NIM_MAX_MODEL_LEN=8192" in unwrap(env)
    assert leaks(result, key) == [] and leaks(result, token) == []


def test_hf_token_given_as_plain_text_is_still_kept_secret() -> None:
    """The args document hf_token as a secret; a caller passing a plain string must not get it into state in
    plain text (LiteLLMGateway wraps its master key the same way)."""
    token = "hf_PLAIN_abc123"
    result = backend("chat", **CASES["vllm"], hf_token=token)
    assert is_secret(container(result)["envs"])
    assert leaks(result, token) == []


def test_no_token_no_secret_env() -> None:
    env = container(backend("chat", **CASES["vllm"]))["envs"]
    assert not is_secret(env)
    assert not any(e.startswith("HF_TOKEN=") for e in env)


def test_tgi_warns_that_it_is_legacy(monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: warnings.append(msg))
    backend("tgi", **CASES["tgi"])
    assert any("maintenance" in w for w in warnings)
    warnings.clear()
    backend("vllm", **CASES["vllm"])
    assert warnings == []


@pytest.mark.parametrize(("args", "field", "value", "fix"), [
    ({**CASES["vllm"], "engine": "vlm"}, "engine", "vlm", "'vllm'"),
    ({**CASES["vllm"], "context": 10}, "context", "10", "256"),
    ({**CASES["vllm"], "quant": "Q4_K_M"}, "quant", "Q4_K_M", "llamacpp"),
    ({**CASES["vllm"], "gpus": False}, "engine", "vllm", "ollama or llamacpp"),
    ({**CASES["vllm"], "image": "vllm/vllm-openai"}, "image", "vllm/vllm-openai", "pin the image"),
    ({**CASES["vllm"], "model": "no-such-model"}, "model", "no-such-model", "llama-3.1-8b"),
])
def test_bad_args_raise_input_error(args: dict[str, Any], field: str, value: str, fix: str) -> None:
    with pytest.raises(InputError) as caught:
        backend("chat", **args)
    err = caught.value
    assert field in err.field
    assert value in str(err)
    assert fix in str(err)
    assert not any("pulumi" in line for line in str(err).splitlines())


def test_model_too_big_for_the_pinned_instance() -> None:
    with pytest.raises(InputError) as caught:
        backend("big", engine="vllm", model="llama-3.1-70b", quant="bf16", context=8192, instance_type="g6e.xlarge")
    assert "g6e.xlarge" in str(caught.value)
    assert "GiB" in str(caught.value)  # the planner's numbers


# -- EmbeddingService -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [{}, {"engine": "ollama", "model": "nomic-embed-text"}])
def test_embeddings_never_request_gpus(args: dict[str, Any]) -> None:
    result = record(lambda: EmbeddingService("embeddings", {**HOST, **args}))  # type: ignore[typeddict-item]
    inputs = container(result)
    assert "gpus" not in inputs and "deviceRequests" not in inputs
    assert labels(one(result, CONTAINER))["llmstack.role"] == "embedding"
    assert one(result, CONTAINER).parent == one(result, "llmstack:index:EmbeddingService").urn


def test_tei_embeddings_on_the_cpu_image() -> None:
    result = record(lambda: EmbeddingService("embeddings", {**HOST}))  # type: ignore[typeddict-item]
    image = one(result, IMAGE).inputs["name"]
    assert image == ("ghcr.io/huggingface/text-embeddings-inference:cpu-1.9.3"
                     "@sha256:ad950d30878eceb72aaf32024d26fa2b1d04a75304fa0b4776b49aa1941fea07")
    inputs = container(result)
    assert inputs["command"][:2] == ["--model-id", serving_source("bge-small-en-v1.5", engine("tei"), "bf16")]
    assert inputs["ports"] == [{"ip": "127.0.0.1", "internal": 80, "external": 80}]
    assert "curl -fsS http://localhost:80/health" in inputs["healthcheck"]["tests"][1]
    assert labels(one(result, CONTAINER))["llmstack.engine"] == "tei"


def test_ollama_embeddings() -> None:
    result = record(lambda: EmbeddingService(
        "embeddings", {**HOST, "engine": "ollama", "model": "nomic-embed-text", "host_port": 11500}))
    image = one(result, IMAGE).inputs["name"]
    assert image.startswith("ollama/ollama:")
    inputs = container(result)
    tag = serving_source("nomic-embed-text", engine("ollama"), "bf16")
    assert f"ollama show '{tag}'" in inputs["healthcheck"]["tests"][1]
    assert inputs["ports"] == [{"ip": "127.0.0.1", "internal": 11434, "external": 11500}]


def test_embedding_hf_token_is_a_secret() -> None:
    token = "hf_EMBED_abc123"
    result = record(lambda: EmbeddingService(
        "embeddings", {**HOST, "hf_token": pulumi.Output.secret(token)}))
    assert is_secret(container(result)["envs"])
    assert leaks(result, token) == []
    assert token not in " ".join(plain_strings(container(result)["command"]))


def test_embeddings_bad_engine() -> None:
    with pytest.raises(InputError) as caught:
        record(lambda: EmbeddingService("embeddings", {**HOST, "engine": "vllm"}))
    assert "engine" in caught.value.field and "vllm" in str(caught.value)
