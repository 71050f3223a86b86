"""The architecture invariants (docs/architecture.md): the spec, the plan, the rendered LiteLLM config and
the resources under mocks all agree, and every shipped stack renders with the exports `llmstack verify` reads."""

from __future__ import annotations

import runpy
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pytest
import yaml

from components import InferenceStack, Network
from llmstack import preview
from llmstack.engines import engine
from llmstack.outputs import StackOutputs
from llmstack.preview import PreviewResult, Registration
from llmstack.spec import parse_spec, stack_config
from llmstack.stackplan import Service, StackPlan, plan_stack
from llmstack.stackplan.litellm_config import unknown_keys
from tests.components.helpers import (
    CONTAINER,
    IMAGE,
    INSTANCE,
    LOCAL_DOCKER,
    docker_host,
    is_secret,
    labels,
    one,
    record,
)
from tests.conftest import PROGRAM, STACKS, ShippedStack, stack_file


def gateway_config(result: PreviewResult) -> dict[str, Any]:
    gateway = one(result, CONTAINER, "gateway-container")
    (upload,) = [u for u in gateway.inputs["uploads"] if u["file"] == "/app/config.yaml"]
    config: dict[str, Any] = yaml.safe_load(upload["content"])
    return config


def services(plan: StackPlan) -> list[Service]:
    return [*plan.backends, *([plan.embeddings] if plan.embeddings else [])]


def check_config_against_plan(config: dict[str, Any], plan: StackPlan, base_urls: dict[str, str]) -> None:
    """Every route points at a planned service's address, every planned service has a route, fallbacks name
    routes."""
    planned = {base_urls[s.name] + s.engine.api_path: s for s in services(plan)}
    routed = []
    for entry in config["model_list"]:
        api_base = entry["litellm_params"]["api_base"]
        assert api_base in planned, f"{entry['model_name']} points at {api_base}, not a planned service"
        s = planned[api_base]
        routed.append(s.name)
        assert entry["model_name"] == s.route
        assert entry["litellm_params"]["model"] == f"{s.engine.litellm_provider}/{s.served_name}"
        assert (entry.get("model_info", {}).get("mode") == "embedding") == (s.role == "embedding")
    assert sorted(routed) == sorted(s.name for s in services(plan))
    names = {e["model_name"] for e in config["model_list"]}
    fallbacks = config["router_settings"].get("fallbacks", [])
    assert fallbacks == [{k: list(v)} for k, v in plan.spec.gateway.fallbacks.items()]
    for rule in fallbacks:
        for primary, targets in rule.items():
            assert primary in names and set(targets) <= names and primary not in targets
    assert unknown_keys(config) == []


# -- the pure layers: spec -> plan -> config ------------------------------------------------------------------------


@pytest.mark.parametrize("name", STACKS)
def test_plan_and_rendered_config_agree(name: str, shipped: dict[str, ShippedStack]) -> None:
    plan = shipped[name].plan
    base_urls = {s.name: f"http://{s.name}.internal:{s.launch.port}" for s in services(plan)}
    config = plan.gateway.render(base_urls)
    check_config_against_plan(config, plan, base_urls)


def test_plan_follows_the_spec(stack: ShippedStack) -> None:
    spec, plan = stack.plan.spec, stack.plan
    assert [s.backend for s in plan.backends] == [b for b in spec.backends for _ in range(b.replicas)]
    for s in plan.backends:
        b = s.backend
        assert b is not None and s.engine.name == b.engine and s.route == b.route
        assert s.launch.labels["llmstack.context"] == str(b.context)
        assert s.launch.port == engine(b.engine).port
    assert (plan.embeddings is None) == (spec.embeddings is None)


# -- the program under mocks ----------------------------------------------------------------------------------------


def endpoints(result: PreviewResult) -> dict[str, Any]:
    value: dict[str, Any] = result.exports["endpoints"]
    return value


def test_gateway_config_points_at_planned_backends(stack: ShippedStack) -> None:
    plan, result = stack.plan, stack.result
    if plan.spec.is_local:
        # One Docker network: the gateway reaches each service by its alias and the engine's own port.
        base_urls = {s.name: f"http://{s.name}:{s.launch.port}" for s in services(plan)}
        for s in services(plan):
            container = one(result, CONTAINER, f"{s.name}-container").inputs
            assert s.name in container["networksAdvanced"][0]["aliases"]
            assert container["ports"][0]["internal"] == s.launch.port
    else:
        # Engines on their GPU nodes: the node's address and the engine's port, as exported for `llmstack verify`.
        # The embeddings share the gateway's CPU host and Docker network: reached by alias.
        exported = endpoints(result)["backends"]
        base_urls = {s.name: exported[s.name]["url"] for s in plan.backends}
        for s in plan.backends:
            assert urlsplit(base_urls[s.name]).port == s.launch.port
        if plan.embeddings is not None:
            e = plan.embeddings
            base_urls[e.name] = f"http://{e.name}:{e.launch.port}"
            assert docker_host(result, one(result, CONTAINER, f"{e.name}-container")) == docker_host(
                result, one(result, CONTAINER, "gateway-container"))
        hosts = [urlsplit(base_urls[s.name]).hostname for s in plan.backends]
        assert len(set(hosts)) == len(hosts)  # one node per backend replica
    check_config_against_plan(gateway_config(result), plan, base_urls)


REPLICAS_SPEC: dict[str, Any] = {
    "environment": "test",
    "target": {"kind": "aws", "region": "us-east-1", "vpc": {"id": "vpc-1", "subnet_ids": ["subnet-1"]}},
    "backends": [{"name": "chat", "engine": "vllm", "model": "llama-3.1-8b", "quant": "awq", "context": 8192,
                  "replicas": 2},
                 {"name": "small", "engine": "llamacpp", "model": "qwen2.5-7b", "quant": "Q4_K_M", "context": 4096}],
    "gateway": {"fallbacks": {"chat": ["small"]}},
}


@dataclass(frozen=True)
class Case:
    plan: StackPlan
    result: PreviewResult


@pytest.fixture(scope="module", params=[*STACKS, "replicas"])
def case(request: pytest.FixtureRequest, shipped: dict[str, ShippedStack]) -> Case:
    if request.param != "replicas":
        return Case(shipped[request.param].plan, shipped[request.param].result)
    spec = parse_spec(REPLICAS_SPEC)
    result = record(lambda: InferenceStack("llm", {"spec": spec, "master_key": pulumi.Output.secret("sk-t-1")}))
    return Case(plan_stack(spec), result)


def test_one_engine_container_per_planned_service(case: Case) -> None:
    plan, result = case.plan, case.result
    engines = [r for r in result.registrations if r.type == CONTAINER and labels(r)["llmstack.role"] == "inference"]
    assert sorted(r.name for r in engines) == sorted(f"{s.name}-container" for s in plan.backends)
    backends = [r.name for r in result.registrations if r.type == "llmstack:index:InferenceBackend"]
    assert sorted(backends) == sorted(s.name for s in plan.backends)


def test_engine_containers_are_what_the_plan_says(case: Case) -> None:
    plan, result = case.plan, case.result
    for s in plan.backends:
        container = one(result, CONTAINER, f"{s.name}-container")
        inputs = container.inputs
        assert one(result, IMAGE, f"{s.name}-container-image").inputs["name"] == s.launch.image
        assert inputs["command"] == list(s.launch.command)
        assert inputs.get("entrypoints") == (list(s.launch.entrypoint) if s.launch.entrypoint else None)
        assert inputs["healthcheck"]["tests"] == list(s.launch.health)
        assert inputs["healthcheck"]["startPeriod"] == f"{s.launch.start_period_s}s"
        assert ("gpus" in inputs) == s.launch.gpus
        assert label_differences(s, container) == {}


def label_differences(s: Service, container: Registration) -> dict[str, tuple[str, str | None]]:
    """Planned labels the deployed container lacks or has with another value: {label: (planned, deployed)}."""
    found = labels(container)
    return {k: (v, found.get(k)) for k, v in s.launch.labels.items() if found.get(k) != v}


def test_embedding_container_is_what_the_plan_says(stack: ShippedStack) -> None:
    e, result = stack.plan.embeddings, stack.result
    assert e is not None
    container = one(result, CONTAINER, f"{e.name}-container")
    assert one(result, IMAGE, f"{e.name}-container-image").inputs["name"] == e.launch.image
    assert container.inputs["command"] == list(e.launch.command)
    assert container.inputs["healthcheck"]["tests"] == list(e.launch.health)
    assert "gpus" not in container.inputs


def test_embedding_container_labels_match_the_plan(stack: ShippedStack) -> None:
    """The plan places the embeddings on the CPU node (labels llmstack.node / llmstack.instance-type, which a
    policy reads to check they stay off inference GPUs); the deployed container must say the same."""
    e = stack.plan.embeddings
    assert e is not None
    assert label_differences(e, one(stack.result, CONTAINER, f"{e.name}-container")) == {}


def test_one_gpu_instance_per_planned_gpu_node(case: Case) -> None:
    plan, result = case.plan, case.result
    instances = {r.name.removesuffix("-instance"): r.inputs["instanceType"]
                 for r in result.registrations if r.type == INSTANCE}
    planned = {n.name: n.instance_type for n in plan.nodes if n.role in ("gpu", "cpu")}
    assert instances == planned
    gpu_nodes = [r.name for r in result.registrations if r.type == "llmstack:index:GpuNode"]
    assert sorted(gpu_nodes) == sorted(n.name for n in plan.nodes if n.role == "gpu")


def test_replicas_share_one_gateway_model(case: Case) -> None:
    config = gateway_config(case.result)
    assert sorted(e["model_name"] for e in config["model_list"]) == sorted(
        s.route or s.name for s in services(case.plan))


# -- every shipped stack renders and exports what `llmstack verify` reads ------------------------------------------


def test_stack_exports(stack: ShippedStack) -> None:
    exports, plan = stack.result.exports, stack.plan
    assert set(exports) >= {"gateway_url", "endpoints", "master_key"}
    ep = exports["endpoints"]
    assert set(ep) == {"gateway_url", "gateway_models", "fallbacks", "backends", "embeddings"}
    assert ep["gateway_url"] == exports["gateway_url"]
    assert urlsplit(exports["gateway_url"]).port == engine("litellm").port
    assert ep["gateway_models"] == sorted({s.route or s.name for s in services(plan)})
    assert ep["fallbacks"] == {k: list(v) for k, v in plan.spec.gateway.fallbacks.items()}
    assert sorted(ep["backends"]) == sorted(s.name for s in plan.backends)
    for s in services(plan):
        entry = ep["backends"][s.name] if s.role == "inference" else ep["embeddings"]
        assert set(entry) == {"url", "engine", "model", "gateway_model", "container", "docker_host"}
        assert entry["engine"] == s.engine.name and entry["model"] == s.served_name
        assert entry["gateway_model"] == s.route and entry["container"] == f"llm-{s.name}"
        if plan.spec.is_local:
            assert entry["docker_host"] == LOCAL_DOCKER and urlsplit(entry["url"]).hostname == "127.0.0.1"
        else:
            assert entry["docker_host"].startswith("ssh://ubuntu@")
    # The same document `llmstack verify` parses.
    parsed = StackOutputs.model_validate({**ep, "master_key": exports["master_key"]})
    assert sorted(parsed.backends) == sorted(ep["backends"])


@pytest.mark.parametrize("name", STACKS)
def test_master_key_export_is_secret(name: str) -> None:
    """Read the export as the engine would store it: feed it to a probe resource and look at its inputs."""
    path = stack_file(name)

    def program() -> None:
        runpy.run_path(str(PROGRAM), run_name="__main__")
        root = pulumi.runtime.get_root_resource()
        assert root is not None
        pulumi.CustomResource("llmstack-test:index:Probe", "probe",
                              {"masterKey": root.outputs["master_key"],  # type: ignore[attr-defined]
                               "gatewayUrl": root.outputs["gateway_url"]})  # type: ignore[attr-defined]

    result = record(program, stack=name, config=stack_config(path), secret_config={"masterKey": "sk-probe-123"})
    probe = one(result, "llmstack-test:index:Probe").inputs
    assert is_secret(probe["masterKey"]) and probe["masterKey"]["value"] == "sk-probe-123"
    assert not is_secret(probe["gatewayUrl"])


# -- the harness itself ---------------------------------------------------------------------------------------------


def test_each_run_registers_its_own_stack() -> None:
    """`llmstack.preview.record` must start from a fresh root Stack: pulumi's `set_mocks` only creates one when no
    root is set, so a second run in the same process parents its resources to the first run's Stack (another stack
    name) and adds its exports to that Stack's outputs."""

    def program(name: str) -> None:
        Network("net", {"docker_host": LOCAL_DOCKER})
        pulumi.export(name, name)

    preview.record(lambda: program("first"), stack="first")
    second = preview.record(lambda: program("second"), stack="second")
    stack = one(second, "pulumi:pulumi:Stack")
    assert stack.name == "llm-inference-stack-second"
    assert one(second, "llmstack:index:Network").parent == stack.urn
    assert second.exports == {"second": "second"}
