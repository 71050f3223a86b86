"""The plan reaches every resource: for any valid spec, what the real program deploys is exactly what was planned.

Property-based (hypothesis) over valid stack specs on every target, and over the shipped stacks:
- the gateway config the container uploads equals the plan's render, and every `gateway` field of the spec reads back
  from the deployed resources with its own value (a field with no home fails `test_every_gateway_field_has_a_home`);
- every planned container (engines, embeddings, gateway, Prometheus, DCGM) is deployed with the plan's image,
  entrypoint, command, environment, secret variables, port, health check, start period, shared memory, GPUs, added
  capabilities and labels;
- the stack is planned once per program run, and the planner's search runs once per backend (none on a laptop).
"""

from __future__ import annotations

import runpy
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import components.stack
from llmstack.engines import ENGINE_API_KEY, engine
from llmstack.errors import InputError
from llmstack.labels import CONTAINER, INSTANCE, REMOTE_IMAGE, Key
from llmstack.planner import select
from llmstack.preview import PreviewResult, Registration, record
from llmstack.spec import Gateway, StackSpec, parse_spec, stack_config
from llmstack.stackplan import Launch, StackPlan, plan_stack
from llmstack.stackplan.gateway_sizing import size_gateway
from llmstack.stackplan.litellm_config import CONFIG_PATH
from tests.components.helpers import docker_host, is_secret, labels, unwrap
from tests.conftest import PROGRAM, STACKS, ShippedStack, stack_file

MASTER_KEY = "sk-invariant-0123456789abcdef"


# -- reading the deployment back -------------------------------------------------------------------------------------


def containers(result: PreviewResult) -> dict[str, Registration]:
    return {r.name: r for r in result.registrations if r.type == CONTAINER}


def uploaded_gateway_config(result: PreviewResult) -> dict[str, Any]:
    gateway = containers(result)["gateway-container"]
    (upload,) = [u for u in gateway.inputs["uploads"] if u["file"] == CONFIG_PATH]
    config: dict[str, Any] = yaml.safe_load(upload["content"])
    return config


# Where each field of the spec's `gateway` block lands in the deployment, read back from the resources.
GATEWAY_FIELD_HOMES: dict[str, Callable[[dict[str, Any], Registration, PreviewResult], object]] = {
    "fallbacks": lambda config, _, __: {k: tuple(v) for rule in config["router_settings"].get("fallbacks", [])
                                       for k, v in rule.items()},
    "num_retries": lambda config, _, __: config["router_settings"]["num_retries"],
    "timeout": lambda config, _, __: config["router_settings"]["timeout"],
    "stream_timeout": lambda config, _, __: config["router_settings"].get("stream_timeout"),
    "allowed_fails": lambda config, _, __: config["router_settings"]["allowed_fails"],
    "cooldown_time": lambda config, _, __: config["router_settings"]["cooldown_time"],
    "health_check_interval": lambda config, _, __: config["general_settings"]["health_check_interval"],
    "routing_strategy": lambda config, _, __: config["router_settings"]["routing_strategy"],
    "image": lambda _, container, __: labels(container)[Key.IMAGE.label],
    "instance_type": lambda _, container, __: labels(container).get(Key.INSTANCE_TYPE.label),
}


def expected_gateway_field(spec: StackSpec, field: str) -> object:
    value = getattr(spec.gateway, field)
    if field == "image":
        return value or engine("litellm").image_ref()
    if field == "instance_type" and spec.target.kind == "aws":  # pinned, or sized for the load (gateway_sizing.py)
        return size_gateway(spec).instance_type
    return value


def base_urls(plan: StackPlan, result: PreviewResult) -> dict[str, str]:
    """Where the gateway reaches each planned service: by alias on its own Docker network (the laptop, or the CPU
    node's embeddings), by node address and engine port for a GPU node's engine (as exported for `llmstack verify`)."""
    exported = result.exports["endpoints"]["backends"]
    return {s.name: f"http://{s.name}:{s.launch.port}" if plan.spec.is_local or s.node.role != "gpu"
            else exported[s.name]["url"] for s in plan.services}


# The config secrets the program runs with (`run_main`): the master key, and the engines' key the stack derives from
# it when `engineApiKey` is not set (components/stack.py).
PROVIDED_SECRETS = {"masterKey", ENGINE_API_KEY}


def check_container(launch: Launch, container: Registration, result: PreviewResult, *, what: str) -> None:
    inputs = container.inputs
    image = [r for r in result.registrations if r.type == REMOTE_IMAGE and r.name == f"{container.name}-image"]
    assert [r.inputs["name"] for r in image] == [launch.image], what
    assert inputs.get("entrypoints") == (list(launch.entrypoint) if launch.entrypoint else None), what
    assert inputs.get("command", []) == list(launch.command), what
    envs: list[str] = unwrap(inputs.get("envs")) or []
    named = {e.split("=", 1)[0]: e for e in envs}
    secret = {var for var, key in launch.secret_env.items() if key in PROVIDED_SECRETS}
    assert sorted(e for var, e in named.items() if var not in secret) == sorted(
        f"{k}={v}" for k, v in launch.env.items()), what
    assert set(named) - set(launch.env) == secret, what
    assert not secret or is_secret(inputs["envs"]), what  # a secret variable keeps the whole list secret
    assert [p["internal"] for p in inputs.get("ports", [])] in ([], [launch.port]), what
    health = inputs["healthcheck"]
    assert health["tests"] == list(launch.health), what
    assert health["startPeriod"] == f"{launch.start_period_s}s", what
    assert inputs.get("shmSize") == launch.shm_size_mb, what
    assert (inputs.get("gpus") == "all") == launch.gpus, what
    assert inputs.get("capabilities", {}).get("adds", []) == list(launch.capabilities), what
    deployed = labels(container)
    assert {k: deployed.get(k) for k in launch.labels} == launch.labels, what


def check_plan_reaches_resources(plan: StackPlan, result: PreviewResult) -> None:
    spec = plan.spec
    deployed = containers(result)
    # Every engine container the plan has, and no other.
    engines = {n for n, r in deployed.items() if labels(r).get(Key.ROLE.label) in ("inference", "embedding")}
    assert engines == {f"{s.name}-container" for s in plan.services}
    for s in plan.services:
        check_container(s.launch, deployed[f"{s.name}-container"], result, what=s.name)
    # The gateway: its container and its config, field by field.
    gateway = deployed["gateway-container"]
    check_container(plan.gateway.launch, gateway, result, what="gateway")
    config = uploaded_gateway_config(result)
    assert config == plan.gateway.render(base_urls(plan, result))
    for field, read in GATEWAY_FIELD_HOMES.items():
        assert read(config, gateway, result) == expected_gateway_field(spec, field), field
    # Monitoring: Prometheus and one DCGM exporter per GPU node, as planned.
    monitoring = plan.monitoring
    assert ("monitoring-prometheus" in deployed) == (monitoring is not None)
    if monitoring is not None:
        check_container(monitoring.prometheus, deployed["monitoring-prometheus"], result, what="prometheus")
        for node in monitoring.gpu_nodes:
            check_container(monitoring.dcgm_on(node), deployed[f"monitoring-{node}-dcgm"], result, what=node)
    # Nodes: one instance per planned node, of the planned type.
    instances = {r.name.removesuffix("-instance"): r.inputs["instanceType"]
                 for r in result.registrations if r.type == INSTANCE}
    assert instances == {n.name: n.instance_type for n in plan.nodes if n.role in ("gpu", "cpu")}
    # Each engine runs on the Docker host its endpoint names.
    endpoints = result.exports["endpoints"]
    for s in plan.services:
        exported = endpoints["backends"][s.name] if s.backend is not None else endpoints["embeddings"]
        assert docker_host(result, deployed[f"{s.name}-container"]) == exported["docker_host"], s.name


# -- counting planning ----------------------------------------------------------------------------------------------


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Counts `plan_stack` calls by the stack component and runs of the planner's instance search."""
    calls: Counter[str] = Counter()
    search, stack_planner = select._plan_gpu_candidates, components.stack.plan_stack

    def counted_search(*args: Any, **kwargs: Any) -> Any:
        calls["search"] += 1
        return search(*args, **kwargs)

    def counted_plan_stack(spec: StackSpec) -> StackPlan:
        calls["plan_stack"] += 1
        return stack_planner(spec)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(select, "_plan_gpu_candidates", counted_search)
        patch.setattr(components.stack, "plan_stack", counted_plan_stack)
        yield calls


def run_main(config: dict[str, Any], stack: str = "invariant") -> PreviewResult:
    """The real `__main__.py` under the mock engine, for these (un-namespaced) config values."""
    return record(lambda: runpy.run_path(str(PROGRAM), run_name="__main__"), stack=stack, config=config,
                  secret_config={"masterKey": MASTER_KEY})


def check_program(config: dict[str, Any], spec: StackSpec, stack: str = "invariant") -> None:
    plan = plan_stack(spec)
    with counting() as calls:
        result = run_main(config, stack)
    assert calls["plan_stack"] == 1
    assert calls["search"] == (0 if spec.is_local else len(spec.backends))
    check_plan_reaches_resources(plan, result)


# -- valid specs --------------------------------------------------------------------------------------------------

# (engine, model, quant) the catalog serves on a GPU instance and, for the laptop, on the CPU.
GPU_BACKENDS = [("vllm", "llama-3.1-8b", "awq"), ("vllm", "qwen2.5-0.5b", "bf16"), ("sglang", "qwen2.5-7b", "awq"),
                ("llamacpp", "qwen2.5-7b", "Q4_K_M"), ("ollama", "llama-3.2-1b", "Q4_K_M"),
                ("tgi", "llama-3.1-8b", "awq"), ("nim", "llama-3.2-1b", "bf16"), ("vllm", "qwen3-8b", "fp8")]
CPU_BACKENDS = [("ollama", "qwen2.5-0.5b", "Q4_K_M"), ("llamacpp", "qwen2.5-0.5b", "Q8_0"),
                ("ollama", "llama-3.2-1b", "Q4_K_M")]


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["local-cpu", "local-gpu", "aws-vpc", "aws-new"]))
    if kind.startswith("local"):
        target: dict[str, Any] = {"kind": "local", "gpus": "none" if kind == "local-cpu" else "all"}
    else:
        vpc = {"id": "vpc-1", "subnet_ids": ["subnet-1"]} if kind == "aws-vpc" else {"cidr": "10.40.0.0/16"}
        target = {"kind": "aws", "region": "us-east-1", "vpc": vpc, "allowed_cidrs": ["10.0.0.0/8"],
                  "cpu_instance_type": draw(st.sampled_from(["m7i.xlarge", "m7i.2xlarge"]))}
    choices = CPU_BACKENDS if kind == "local-cpu" else GPU_BACKENDS
    backends = []
    for i in range(draw(st.integers(1, 3))):
        eng, model, quant = draw(st.sampled_from(choices))
        backend: dict[str, Any] = {"name": f"b{i}", "engine": eng, "model": model, "quant": quant,
                                   "context": draw(st.sampled_from([1024, 4096, 8192])),
                                   "concurrency": draw(st.integers(1, 4)), "replicas": draw(st.integers(1, 2))}
        if draw(st.booleans()):
            backend["gateway_model"] = f"model-{i}"
        backends.append(backend)
    routes = [b.get("gateway_model", b["name"]) for b in backends]
    fallbacks = {routes[0]: routes[1:]} if len(routes) > 1 and draw(st.booleans()) else {}
    interval = draw(st.integers(5, 30))
    gateway: dict[str, Any] = {
        "fallbacks": fallbacks, "num_retries": draw(st.integers(0, 3)),
        "timeout": draw(st.sampled_from([30.0, 120.0, 600.0])),
        "allowed_fails": draw(st.integers(0, 5)), "cooldown_time": float(interval + draw(st.integers(1, 30))),
        "health_check_interval": interval,
        "routing_strategy": draw(st.sampled_from(["simple-shuffle", "least-busy", "latency-based-routing",
                                                  "usage-based-routing-v2"])),
    }
    if draw(st.booleans()):
        gateway["stream_timeout"] = draw(st.sampled_from([15.0, 60.0]))
    if draw(st.booleans()):
        gateway["image"] = "ghcr.io/berriai/litellm:main-v1.108.7-stable"
    if target["kind"] == "aws" and draw(st.booleans()):
        gateway["instance_type"] = "c7i.xlarge"
    embeddings = draw(st.sampled_from([None, {"engine": "tei"}, {"engine": "ollama", "model": "nomic-embed-text"}]))
    return {"environment": draw(st.sampled_from(["dev", "staging", "qa"])), "target": target, "backends": backends,
            "embeddings": embeddings, "gateway": gateway, "monitoring": draw(st.booleans())}


def valid(config: dict[str, Any]) -> StackSpec:
    """The spec, or reject the example: a generated combination the planner can't serve says so with an InputError."""
    try:
        spec = parse_spec(config)
        plan_stack(spec)
    except InputError:
        assume(False)
        raise
    return spec


# Kubernetes-only settings: a Docker stack that sets them is refused (tests/spec), so they have no home here; their
# homes on Kubernetes are checked in tests/k8s/test_plan_reaches_resources.py.
KUBERNETES_ONLY = {"replicas", "max_replicas"}


def test_every_gateway_field_has_a_home() -> None:
    assert set(GATEWAY_FIELD_HOMES) | KUBERNETES_ONLY == set(Gateway.model_fields)


@pytest.mark.parametrize("field", sorted(KUBERNETES_ONLY))
def test_kubernetes_only_gateway_fields_are_refused_on_docker(field: str) -> None:
    config = stack_config(stack_file("prod"))
    config["gateway"] = {**config["gateway"], field: 3}
    with pytest.raises(InputError, match=f"gateway.{field}"):
        parse_spec(config)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(specs())
def test_any_valid_spec_deploys_exactly_its_plan(config: dict[str, Any]) -> None:
    spec = valid(config)
    check_program(config, spec)


@pytest.mark.parametrize("name", STACKS)
def test_shipped_stacks_deploy_exactly_their_plan(name: str, shipped: dict[str, ShippedStack]) -> None:
    check_program(stack_config(stack_file(name)), shipped[name].spec, stack=name)
    check_plan_reaches_resources(shipped[name].plan, shipped[name].result)


def test_a_lost_setting_is_caught(shipped: dict[str, ShippedStack]) -> None:
    """The checker itself: a deployment whose gateway lost a spec setting (the routing strategy) fails it."""
    spec = shipped["prod"].spec
    changed = spec.model_copy(update={"gateway": spec.gateway.model_copy(update={"routing_strategy": "least-busy"})})
    with pytest.raises(AssertionError):
        check_plan_reaches_resources(plan_stack(changed), shipped["prod"].result)

