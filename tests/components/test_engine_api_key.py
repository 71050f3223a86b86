"""The engines' API key (docs/engines.md §1.1): one Pulumi secret, every keyed engine requires it, the gateway and
Prometheus present it, and it never shows outside a secret wrapper.

Engines that take a key (engine table `api_key`: vLLM, SGLang, llama.cpp, TGI, TEI) read it from a secret variable;
the gateway's model entries read it as `os.environ/LLMSTACK_ENGINE_API_KEY`. Without `engineApiKey` the stack derives
one from the master key, and says so outside the laptop.
"""

from __future__ import annotations

import logging
import runpy
from typing import Any

import pulumi
import pytest
import yaml

from components import InferenceStack, LiteLLMGateway
from components.stack import derive_engine_key
from llmstack.engines import ENGINE_API_KEY, engine, engines
from llmstack.labels import CONTAINER
from llmstack.monitoring import ENGINE_CREDENTIALS_FILE
from llmstack.preview import PreviewResult, run_program
from llmstack.spec import parse_spec, stack_config
from llmstack.stackplan import Launch, StackPlan, plan_stack
from llmstack.stackplan.litellm_config import CONFIG_PATH, ENGINE_KEY_ENV, UNUSED_KEY
from tests.components.helpers import LOCAL_DOCKER, is_secret, leaks, one, record, unwrap
from tests.conftest import PROGRAM, STACKS, ShippedStack, stack_file

MASTER_KEY = "sk-engine-key-test-0123456789abcdef"
ENGINE_KEY = "engine-key-given-0123456789abcdef"
# A stack with every keyed engine kind and a llama.cpp backend, whose /metrics needs the key.
KEYED_SPEC: dict[str, Any] = {
    "environment": "qa",
    "target": {"kind": "aws", "region": "us-east-1", "vpc": {"cidr": "10.40.0.0/16"}, "allowed_cidrs": ["10.0.0.0/8"]},
    "backends": [{"name": "chat", "engine": "vllm", "model": "llama-3.1-8b", "quant": "awq", "context": 8192},
                 {"name": "structured", "engine": "sglang", "model": "qwen2.5-7b", "quant": "awq", "context": 8192},
                 {"name": "small", "engine": "llamacpp", "model": "qwen2.5-7b", "quant": "Q4_K_M", "context": 4096},
                 {"name": "legacy", "engine": "tgi", "model": "llama-3.1-8b", "quant": "awq", "context": 8192}],
    "embeddings": {"engine": "tei"},
    "monitoring": True,
}


def env_of(result: PreviewResult, name: str) -> dict[str, str]:
    envs: list[str] = unwrap(one(result, CONTAINER, name).inputs.get("envs")) or []
    return dict(e.split("=", 1) for e in envs)


def keyed(plan: StackPlan) -> list[tuple[str, Launch]]:
    """(container name, launch) of every container that reads the engine key."""
    launches = [(f"{s.name}-container", s.launch) for s in plan.services] + [("gateway-container", plan.gateway.launch)]
    return [(name, launch) for name, launch in launches if ENGINE_API_KEY in launch.secret_env.values()]


def engine_keys(plan: StackPlan, result: PreviewResult) -> set[str]:
    """Every value the engine key has in the deployment: container variables and Prometheus's key file."""
    found = set()
    for name, launch in keyed(plan):
        container = one(result, CONTAINER, name)
        assert is_secret(container.inputs["envs"]), name
        (var,) = [var for var, key in launch.secret_env.items() if key == ENGINE_API_KEY]
        found.add(env_of(result, name)[var])
    if plan.monitoring is not None:
        uploads = one(result, CONTAINER, "monitoring-prometheus").inputs["uploads"]
        files = {u["file"]: u for u in uploads}
        assert (ENGINE_CREDENTIALS_FILE in files) == plan.monitoring.engine_key_needed
        if plan.monitoring.engine_key_needed:
            upload = files[ENGINE_CREDENTIALS_FILE]
            assert is_secret(upload["content"]) and upload["permissions"] == "0400"
            found.add(unwrap(upload["content"]))
    return found


def run_main(config: dict[str, Any], secrets: dict[str, str]) -> PreviewResult:
    return record(lambda: runpy.run_path(str(PROGRAM), run_name="__main__"), stack="engine-key", config=config,
                  secret_config=secrets)


def test_every_keyed_engine_takes_the_key_from_a_secret_variable() -> None:
    assert {name for name, e in engines().items() if e.api_key} == {"vllm", "sglang", "llamacpp", "tgi", "tei"}
    for e in engines().values():
        if e.api_key is not None:
            assert e.secrets[e.api_key.env] == ENGINE_API_KEY
            assert not e.api_key.protects(e.health_path)  # health checks carry no key
    assert engine("litellm").secret_var(ENGINE_API_KEY) == ENGINE_KEY_ENV
    assert {e.name for e in engines().values() if e.scrape_needs_key} == {"llamacpp"}


@pytest.mark.parametrize("name", STACKS)
def test_shipped_stacks_derive_one_key_from_the_master_key(name: str, shipped: dict[str, ShippedStack]) -> None:
    stack = shipped[name]
    (value,) = engine_keys(stack.plan, stack.result)
    assert value == derive_engine_key(stack.result.exports["master_key"])
    assert value != stack.result.exports["master_key"]  # an engine never holds the master key
    assert leaks(stack.result, value) == []


def test_the_given_key_reaches_every_keyed_engine_the_gateway_and_prometheus() -> None:
    plan = plan_stack(parse_spec(KEYED_SPEC))
    assert plan.monitoring is not None and plan.monitoring.engine_key_needed
    result = run_main(KEYED_SPEC, {"masterKey": MASTER_KEY, ENGINE_API_KEY: ENGINE_KEY})
    assert {name for name, _ in keyed(plan)} == {"chat-container", "structured-container", "small-container",
                                                 "legacy-container", "embeddings-container", "gateway-container"}
    assert engine_keys(plan, result) == {ENGINE_KEY}
    assert leaks(result, ENGINE_KEY) == []
    # the SGLang script reads the variable; the key is in neither the script nor any argv
    script = one(result, CONTAINER, "structured-container").inputs["command"][0]
    assert f'"${engine("sglang").api_key.env}"' in script  # type: ignore[union-attr]
    prometheus = one(result, CONTAINER, "monitoring-prometheus").inputs["uploads"]
    (config,) = [u["content"] for u in prometheus if u["file"] == plan.monitoring.config_path]
    jobs = {j["job_name"]: j for j in yaml.safe_load(config)["scrape_configs"]}
    assert jobs["engine-llamacpp"]["authorization"] == {"type": "Bearer", "credentials_file": ENGINE_CREDENTIALS_FILE}
    assert "authorization" not in jobs["engine-vllm"]  # vLLM's key leaves /metrics open


def test_the_gateway_presents_the_key_per_model_entry() -> None:
    result = run_main(KEYED_SPEC, {"masterKey": MASTER_KEY, ENGINE_API_KEY: ENGINE_KEY})
    (upload,) = [u for u in one(result, CONTAINER, "gateway-container").inputs["uploads"] if u["file"] == CONFIG_PATH]
    entries = {m["model_name"]: m["litellm_params"] for m in yaml.safe_load(upload["content"])["model_list"]}
    assert {name: params.get("api_key") for name, params in entries.items()} == {
        name: f"os.environ/{ENGINE_KEY_ENV}" for name in ("chat", "structured", "small", "legacy", "embed")}
    assert env_of(result, "gateway-container")[ENGINE_KEY_ENV] == ENGINE_KEY


def test_a_missing_key_outside_the_laptop_is_named_with_its_fix(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        run_main(KEYED_SPEC, {"masterKey": MASTER_KEY})
    (warning,) = [r.getMessage() for r in caplog.records if "engineApiKey" in r.getMessage()]
    assert warning.startswith("engineApiKey: not set")
    assert "pulumi config set --secret engineApiKey" in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run_main(stack_config(stack_file("dev")), {"masterKey": MASTER_KEY})  # the laptop: optional, no warning
    assert not [r for r in caplog.records if "engineApiKey" in r.getMessage()]


def test_plain_given_key_is_made_secret() -> None:
    spec = parse_spec(KEYED_SPEC)
    result = record(lambda: InferenceStack("llm", {"spec": spec, "master_key": pulumi.Output.secret(MASTER_KEY),
                                                   "engine_api_key": ENGINE_KEY}))
    assert engine_keys(plan_stack(spec), result) == {ENGINE_KEY}
    assert leaks(result, ENGINE_KEY) == []


def test_a_gateway_without_the_stacks_key_sends_the_placeholder() -> None:
    """LiteLLMGateway on its own fronts engines the program did not start, which run without a key."""
    routes = [{"model_name": "chat", "engine": "vllm", "served_name": "chat", "base_url": "http://chat:8000"}]
    result = record(lambda: LiteLLMGateway("gateway", {  # type: ignore[typeddict-item]
        "routes": routes, "master_key": pulumi.Output.secret(MASTER_KEY), "docker_host": LOCAL_DOCKER,
        "network_name": "llmstack"}))
    container = one(result, CONTAINER)
    assert is_secret(container.inputs["envs"])
    assert env_of(result, container.name)[ENGINE_KEY_ENV] == UNUSED_KEY


def test_kubernetes_keeps_the_key_in_the_stacks_secret() -> None:
    """The plan collects every launch's secret variables into the stack's Secret (stackplan/kubernetes
    `secret_keys`): the engines' and the gateway's key variables are data keys there, filled as secrets."""
    path = stack_file("prod-eks")
    plan = plan_stack(parse_spec(stack_config(path)))
    assert plan.kubernetes is not None
    variables = {var for _, launch in keyed(plan) for var, key in launch.secret_env.items() if key == ENGINE_API_KEY}
    assert variables == {"VLLM_API_KEY", "LLMSTACK_ENGINE_API_KEY", "API_KEY"}
    assert variables <= set(plan.kubernetes.secret_keys)
    result = run_program(path)
    (secret,) = [r for r in result.registrations if r.type.startswith("kubernetes:") and r.type.endswith(":Secret")]
    data = secret.inputs["stringData"]
    values = {unwrap(data[var]) for var in variables}
    assert all(is_secret(data[var]) for var in variables) and len(values) == 1
    assert leaks(result, values.pop()) == []
