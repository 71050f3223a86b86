"""The plan reaches every Kubernetes object: for any valid spec on a Kubernetes target (new EKS cluster with Karpenter
or Auto Mode, an existing cluster), the real program deploys each planned service as planned.

- each backend: a Deployment running the plan's launch (image, command, args, env, secret references, port), with
  exactly its tensor-parallel GPU count, probes on the engine's health check with a startup window covering the planned
  start, the GPU toleration, and a node affinity (and NodePool) offering exactly the planner's ranked instance types;
  fixed replicas, or a ScaledObject with the spec's bounds;
- embeddings and the gateway: CPU pods that can't land on GPU nodes;
- every `gateway` field of the spec reads back from the objects with its own value;
- the stack is planned once per run, and the planner's instance search runs once per backend.
"""

from __future__ import annotations

import runpy
import shlex
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmstack.planner import startup_seconds
from llmstack.preview import STANDIN_KUBECONFIG, PreviewResult
from llmstack.spec import Gateway, StackSpec, parse_spec, stack_config
from llmstack.stackplan import StackPlan, plan_stack
from llmstack.stackplan.kubernetes import plan_kubernetes
from llmstack.stackplan.kubernetes.multinode import EFA_RESOURCE
from llmstack.stackplan.kubernetes.objects import GPU_PRESENT, GPU_RESOURCE, INSTANCE_TYPE
from llmstack.stackplan.kubernetes.pods import GPU_TOLERATION
from llmstack.stackplan.kubernetes.workloads import (
    CACHE_READ_BYTES_PER_S,
    GATEWAY_CONFIG,
    GATEWAY_CONFIG_FILE,
    base_urls,
)
from tests.components.helpers import record
from tests.components.test_plan_reaches_resources import MASTER_KEY, counting, valid
from tests.conftest import PROGRAM, stack_file
from tests.k8s.schemas import plain
from tests.k8s.stacks import AUTO_MODE, EXISTING_CLUSTER, K8sStack


def objects(result: PreviewResult) -> dict[str, dict[str, Any]]:
    """Registered Kubernetes objects by kind/name, as plain API bodies."""
    return {f"{r.inputs['kind']}/{r.inputs['metadata']['name']}": plain(r.inputs) for r in result.registrations
            if r.type.startswith("kubernetes:") and r.custom and "helm.sh" not in r.type}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def affinity(pod: dict[str, Any]) -> list[dict[str, Any]]:
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    expressions: list[dict[str, Any]] = terms[0]["matchExpressions"]
    return expressions


def gateway_config(found: dict[str, dict[str, Any]]) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(found[f"ConfigMap/{GATEWAY_CONFIG}"]["data"][GATEWAY_CONFIG_FILE])
    return config


GATEWAY_FIELD_HOMES = {
    "fallbacks": lambda config, _: {k: tuple(v) for rule in config["router_settings"].get("fallbacks", [])
                                    for k, v in rule.items()},
    "num_retries": lambda config, _: config["router_settings"]["num_retries"],
    "timeout": lambda config, _: config["router_settings"]["timeout"],
    "stream_timeout": lambda config, _: config["router_settings"].get("stream_timeout"),
    "allowed_fails": lambda config, _: config["router_settings"]["allowed_fails"],
    "cooldown_time": lambda config, _: config["router_settings"]["cooldown_time"],
    "health_check_interval": lambda config, _: config["general_settings"]["health_check_interval"],
    "routing_strategy": lambda config, _: config["router_settings"]["routing_strategy"],
    "image": lambda _, found: pod_spec(found["Deployment/gateway"])["containers"][0]["image"],
    "replicas": lambda _, found: found["Deployment/gateway"]["spec"]["replicas"],
    "max_replicas": lambda _, found: found["HorizontalPodAutoscaler/gateway"]["spec"]["maxReplicas"],
}
DOCKER_ONLY = {"instance_type"}  # the gateway's pods run on the CPU pool (target.cpu_instance_types)


def expected_gateway_field(spec: StackSpec, field: str, found: dict[str, dict[str, Any]]) -> object:
    value = getattr(spec.gateway, field)
    if field == "image":
        return value or pod_spec(found["Deployment/gateway"])["containers"][0]["image"]
    if field == "replicas":
        return value or (1 if spec.environment == "dev" else 2)  # one in dev, highly available elsewhere
    if field == "max_replicas":
        return value or 2 * expected_gateway_field(spec, "replicas", found)  # type: ignore[operator]
    return value


def check_plan_reaches_objects(plan: StackPlan, result: PreviewResult) -> None:
    found = objects(result)
    kplan = plan_kubernetes(plan)
    for s in plan.backends:
        assert s.backend is not None and s.sizing is not None
        multi = s.sizing.nodes > 1
        workload = found[f"LeaderWorkerSet/{s.name}" if multi else f"Deployment/{s.name}"]
        if multi:  # the leader runs Ray's head, then vLLM with the plan's arguments; workers join it
            group = workload["spec"]["leaderWorkerTemplate"]
            assert group["size"] == s.sizing.nodes == s.sizing.pipeline_parallel, s.name
            pods = [group["leaderTemplate"]["spec"], group["workerTemplate"]["spec"]]
            (engine,) = pods[0]["containers"]
            head, serve = engine["command"][2].split(" && exec ", 1)
            assert head.startswith("ray start --head") and shlex.split(serve) == ["vllm", "serve",
                                                                                  *s.launch.command], s.name
            at = s.launch.command.index("--pipeline-parallel-size")
            assert s.launch.command[at + 1] == str(s.sizing.nodes), s.name
        else:
            pods = [pod_spec(workload)]
            (engine,) = pods[0]["containers"]
            assert engine.get("command", []) == list(s.launch.entrypoint or ()), s.name
            assert engine.get("args", []) == list(s.launch.command), s.name
        assert engine["image"] == s.launch.image, s.name
        assert {e["name"]: e["value"] for e in engine["env"] if "value" in e} == s.launch.env, s.name
        assert {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in engine["env"] if "valueFrom" in e} == {
            var: var for var in s.launch.secret_env}, s.name
        assert [p["containerPort"] for p in engine["ports"]] == [s.launch.port], s.name
        startup = engine["startupProbe"]
        window = startup["periodSeconds"] * startup["failureThreshold"]
        if f"Job/{s.name}-stage" in found:  # weights staged in the shared cache: read them, load, warm up
            assert window >= startup_seconds(s.sizing.weights_bytes, s.sizing.tensor_parallel) + (
                s.sizing.weights_bytes / CACHE_READ_BYTES_PER_S), s.name
        else:  # the pod downloads the model itself, as the Docker container does
            assert window >= s.launch.start_period_s, s.name
        assert engine["readinessProbe"] and engine["livenessProbe"], s.name
        offered = [a.type for a in s.sizing.alternatives]
        assert s.sizing.instance is not None and s.sizing.instance.type in offered, s.name
        for pod in pods:  # every pod of a replica: T GPUs, on the planner's instance types, tolerating the taint
            (main,) = pod["containers"]
            assert main["resources"]["limits"][GPU_RESOURCE] == s.sizing.tensor_parallel, s.name
            assert set(main["resources"]["limits"]) <= {GPU_RESOURCE, EFA_RESOURCE}, s.name
            assert GPU_TOLERATION in pod["tolerations"], s.name
            assert {"key": INSTANCE_TYPE, "operator": "In", "values": offered} in affinity(pod), s.name
        pool = found.get(f"NodePool/gpu-{s.name}")
        if pool is not None:
            assert {"key": INSTANCE_TYPE, "operator": "In", "values": offered} in (
                pool["spec"]["template"]["spec"]["requirements"]), s.name
        if s.backend.autoscaled:
            assert "replicas" not in workload["spec"], s.name
            scaled = found[f"ScaledObject/{s.name}"]["spec"]
            assert scaled["scaleTargetRef"]["kind"] == workload["kind"], s.name
            assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (
                s.backend.min_replicas, s.backend.max_replicas), s.name
        else:
            assert workload["spec"]["replicas"] == s.replicas, s.name
            assert f"ScaledObject/{s.name}" not in found, s.name
    for name in ["gateway", *([plan.embeddings.name] if plan.embeddings else [])]:
        pod = pod_spec(found[f"Deployment/{name}"])
        assert "tolerations" not in pod, name
        assert {"key": GPU_PRESENT, "operator": "DoesNotExist"} in affinity(pod), name
        assert "resources" not in pod["containers"][0] or GPU_RESOURCE not in pod["containers"][0][
            "resources"].get("limits", {}), name
    config = gateway_config(found)
    assert config == plan.gateway.render(base_urls(list(plan.services), kplan.namespace))
    for field, read in GATEWAY_FIELD_HOMES.items():
        assert read(config, found) == expected_gateway_field(plan.spec, field, found), field
    assert ("PrometheusRule/llmstack-alerts" in found) == (plan.monitoring is not None)


def run_main(config: dict[str, Any]) -> PreviewResult:
    return record(lambda: runpy.run_path(str(PROGRAM), run_name="__main__"), stack="k8s-invariant", config=config,
                  secret_config={"masterKey": MASTER_KEY, "kubeconfig": STANDIN_KUBECONFIG})


# -- valid specs on Kubernetes targets ------------------------------------------------------------------------------

BACKENDS = [("vllm", "llama-3.1-8b", "awq"), ("vllm", "qwen3-8b", "fp8"), ("sglang", "qwen2.5-7b", "awq"),
            ("llamacpp", "qwen2.5-7b", "Q4_K_M"), ("tgi", "llama-3.1-8b", "awq"), ("ollama", "llama-3.2-1b", "Q4_K_M"),
            ("vllm", "qwen3-32b", "bf16"), ("vllm", "deepseek-v3", "bf16")]  # the last spans nodes
AUTOSCALES = {"vllm", "sglang", "llamacpp", "tgi"}  # engines with a queue metric (engines.yaml `autoscaling`)
TARGETS = {"eks": {"kind": "eks", "region": "us-east-1", "vpc": {"cidr": "10.60.0.0/16"}},
           "auto-mode": AUTO_MODE, "existing-cluster": EXISTING_CLUSTER,
           "bare-cluster": {"kind": "kubernetes", "namespace": "serving"}}


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    backends = []
    for i in range(draw(st.integers(1, 3))):
        eng, model, quant = draw(st.sampled_from(BACKENDS))
        backend: dict[str, Any] = {"name": f"b{i}", "engine": eng, "model": model, "quant": quant,
                                   "context": draw(st.sampled_from([4096, 8192, 16384])),
                                   "concurrency": draw(st.integers(1, 16))}
        if model == "deepseek-v3":
            backend["max_nodes"] = draw(st.integers(2, 3))
        if eng in AUTOSCALES and draw(st.booleans()):
            low = draw(st.integers(0, 2))
            backend |= {"min_replicas": low, "max_replicas": draw(st.integers(max(low, 1), 6))}
        else:
            backend["replicas"] = draw(st.integers(1, 3))
        backend["capacity"] = draw(st.sampled_from([None, "on-demand", "spot", "spot-with-fallback"]))
        backends.append({k: v for k, v in backend.items() if v is not None})
    routes = [b["name"] for b in backends]
    gateway: dict[str, Any] = {"fallbacks": {routes[0]: routes[1:]} if len(routes) > 1 else {},
                               "num_retries": draw(st.integers(0, 3)), "timeout": 120.0,
                               "routing_strategy": draw(st.sampled_from(["simple-shuffle", "least-busy"]))}
    if draw(st.booleans()):
        replicas = draw(st.integers(1, 4))
        gateway["replicas"] = replicas
        if draw(st.booleans()):
            gateway["max_replicas"] = draw(st.integers(replicas, 8))
    embeddings = draw(st.sampled_from([None, {"engine": "tei"}]))
    return {"environment": draw(st.sampled_from(["dev", "staging", "prod"])),
            "target": TARGETS[draw(st.sampled_from(sorted(TARGETS)))], "backends": backends,
            "embeddings": embeddings, "gateway": gateway, "monitoring": draw(st.booleans())}


def test_every_gateway_field_has_a_home() -> None:
    assert set(GATEWAY_FIELD_HOMES) | DOCKER_ONLY == set(Gateway.model_fields)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(specs())
def test_any_valid_spec_deploys_exactly_its_plan(config: dict[str, Any]) -> None:
    spec = valid(config)
    plan = plan_stack(spec)
    with counting() as calls:
        result = run_main(config)
    assert calls["plan_stack"] == 1
    assert calls["search"] == len(spec.backends)
    check_plan_reaches_objects(plan, result)


def test_shipped_and_variant_stacks_deploy_exactly_their_plan(k8s: K8sStack) -> None:
    check_plan_reaches_objects(k8s.plan, k8s.result)


def test_a_lost_setting_is_caught(k8s_stacks: dict[str, K8sStack]) -> None:
    """The checker itself: objects planned with other gateway replicas fail it."""
    stack = k8s_stacks["prod-eks"]
    gateway = stack.spec.gateway.model_copy(update={"replicas": 3})
    with pytest.raises(AssertionError, match="replicas"):
        check_plan_reaches_objects(plan_stack(stack.spec.model_copy(update={"gateway": gateway})), stack.result)


def test_the_same_spec_serves_the_same_models_on_ec2_and_on_eks() -> None:
    """Moving a stack between AWS targets changes where things run, not what is served: the same launches, routes
    and gateway config apart from the base URLs."""
    eks = parse_spec(stack_config(stack_file("prod-eks")))
    ec2_config = stack_config(stack_file("prod-eks"))
    ec2_config["target"] = {"kind": "aws", "region": "us-east-1", "vpc": {"cidr": "10.60.0.0/16"},
                            "allowed_cidrs": ["10.0.0.0/8"]}
    ec2_config["backends"] = [{k: v for k, v in b.items() if k not in ("capacity", "min_replicas", "max_replicas")}
                              for b in ec2_config["backends"]]
    ec2_config["gateway"] = {k: v for k, v in ec2_config["gateway"].items() if k not in ("replicas", "max_replicas")}
    on_eks, on_ec2 = plan_stack(eks), plan_stack(parse_spec(ec2_config))

    def served(plan: StackPlan) -> list[tuple[object, ...]]:
        return [(s.name, s.route, s.served_name, s.launch.image, s.launch.entrypoint, s.launch.command, s.launch.env,
                 s.sizing.tensor_parallel if s.sizing else None) for s in plan.services]

    assert served(on_eks) == served(on_ec2)
    assert on_eks.gateway.model_names == on_ec2.gateway.model_names
    urls = {s.name: f"http://{s.name}:1" for s in on_eks.services}
    assert on_eks.gateway.render(urls) == on_ec2.gateway.render(urls)
