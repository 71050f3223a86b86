"""The pack on Kubernetes targets (issue 12), through the real analyzer.

The shipped prod-eks stack and its existing-cluster and auto-mode variants pass the whole pack; each rule then fails
on one real registered object (the engine's camelCase Struct, secrets still wrapped) changed the way a user gets it
wrong. Rules that are the same as on Docker keep their Docker names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from pulumi.runtime.rpc import UNKNOWN, _special_secret_sig, _special_sig_key

from llmstack.engines import engine
from llmstack.labels import (
    DAEMONSET,
    DEPLOYMENT,
    EKS_CLUSTER,
    HPA,
    INGRESS,
    JOB,
    K8S_SERVICE,
    LEADER_WORKER_SET,
    POD_KINDS,
    STATEFULSET,
)
from llmstack.policy_check import analyze as analyze_pack
from llmstack.preview import PreviewResult
from policies.registry import by_name as policy
from tests.k8s.stacks import K8sStack
from tests.policies.policy_helpers import CONTAINER, Diag, analyze, analyze_stack, by_name, inputs, only, set_label

Props = dict[str, Any]
Change = Callable[[Props], object]

GGUF, QUANT, HEALTH, CONTEXT, FIT = ("no-gguf-on-vllm", "quantization-matches-engine",
                                     "container-healthcheck-required", "context-limit-required", "model-fits-gpu")
EMBED_GPU, GATEWAY_GPU, PINNED, SECRETS = ("embeddings-off-inference-gpu", "gateway-on-cpu-node", "images-pinned",
                                           "secrets-not-plaintext")
SERVICES, INGRESS_TLS, EKS_API, GATEWAY_HA = ("no-exposed-engine-services", "ingress-tls-and-cidrs",
                                              "eks-api-endpoint-restricted", "gateway-highly-available")
VARIANTS = ("prod-eks", "existing-cluster", "auto-mode")
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
JUDGED = {*POD_KINDS, K8S_SERVICE, INGRESS, EKS_CLUSTER}


# -- helpers ---------------------------------------------------------------------------------------------------------

def _result(stacks: dict[str, K8sStack], name: str = "prod-eks") -> PreviewResult:
    return stacks[name].result


def _props(stacks: dict[str, K8sStack], name: str, stack: str = "prod-eks") -> Props:
    """A deep copy of one registered object's inputs, as the engine sends them. Its type must be the token the pack
    judges (pulumi-kubernetes's: `kubernetes:core/v1:Service`, not `kubernetes:v1:Service`)."""
    registration = by_name(_result(stacks, stack), name)
    assert registration.type in JUDGED, f"{name} registers as {registration.type}"
    return inputs(registration)


def _pod(props: Props) -> Props:
    spec: Props = props["spec"]["template"]["spec"]
    return spec


def _engine(props: Props) -> Props:
    container: Props = _pod(props)["containers"][0]
    return container


def _annotations(props: Props) -> dict[str, str]:
    annotations: dict[str, str] = props["spec"]["template"]["metadata"]["annotations"]
    return annotations


def _allowed_instance_types(props: Props) -> list[str]:
    terms = _pod(props)["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    values: list[str] = next(e["values"] for e in terms["nodeSelectorTerms"][0]["matchExpressions"]
                             if e["key"] == INSTANCE_TYPE)
    return values


def _secret(value: str) -> dict[str, str]:
    """A value as the engine sends a Pulumi secret."""
    return {_special_sig_key: _special_secret_sig, "value": value}


def _set_arg(props: Props, flag: str, value: str | None) -> None:
    """Set `flag value` in the engine container's args (an argument list, or a `sh -c` script), or remove it."""
    args: list[str] = _engine(props)["args"]
    if flag in args:
        i = args.index(flag)
        args[i:i + 2] = [] if value is None else [flag, value]
        return
    i = next(i for i, arg in enumerate(args) if flag in arg.split())
    args[i] = re.sub(re.escape(flag) + r"\s+\S+", lambda _: "" if value is None else f"{flag} {value}", args[i],
                     count=1)


def _messages(diags: list[Diag], name: str) -> list[str]:
    """The violations of one policy, without the description the analyzer puts before each."""
    return [d.message.removeprefix(policy(name).description).strip() for d in only(diags, name)]


def _fails(rtype: str, props: Props, name: str) -> str:
    """The one mandatory violation of `name` for this object (its message)."""
    diags = analyze(rtype, props, "changed")
    found = only(diags, name)
    assert [d.level for d in found] == ["mandatory"], diags
    return _messages(diags, name)[0]


def _stack(result: PreviewResult, changes: dict[str, Change | None] | None = None) -> list[Diag]:
    """Every stack-policy violation of a preview's resources, some changed (a None change removes the object)."""
    resources = []
    for r in result.registrations:
        if r.type.startswith("pulumi:providers:"):
            continue
        props = inputs(r)
        if changes and r.name in changes:
            change = changes[r.name]
            if change is None:
                continue
            change(props)
        resources.append((r.type, r.name, props))
    return analyze_stack(resources)


def _pods(stacks: dict[str, K8sStack], stack: str) -> list[tuple[str, str, Props]]:
    return [(r.type, r.name, inputs(r)) for r in _result(stacks, stack).registrations if r.type in POD_KINDS]


# -- the shipped stacks pass ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", VARIANTS)
def test_shipped_kubernetes_stacks_pass_the_whole_pack(k8s_stacks: dict[str, K8sStack], stack: str) -> None:
    result = _result(k8s_stacks, stack)
    kinds = {r.type for r in result.registrations}
    assert {DEPLOYMENT, DAEMONSET, JOB, K8S_SERVICE} <= kinds  # the pack saw real pods and Services
    assert (INGRESS in kinds) is (stack != "prod-eks") and (EKS_CLUSTER in kinds) is (stack != "existing-cluster")
    assert analyze_pack(result.registrations) == []


@pytest.mark.parametrize("stack", VARIANTS)
def test_every_container_rule_judges_the_shipped_pods(k8s_stacks: dict[str, K8sStack], stack: str) -> None:
    """The per-rule passing case: each real pod is judged by the container rules and none fires."""
    rules = {GGUF, QUANT, HEALTH, CONTEXT, FIT, GATEWAY_GPU, PINNED, SECRETS}
    pods = _pods(k8s_stacks, stack)
    assert sorted(n for t, n, _ in pods if t == DEPLOYMENT) == [
        "deployment-chat", "deployment-chat-fallback", "deployment-embeddings", "deployment-gateway",
        "deployment-structured"]
    for rtype, name, props in pods:
        assert {d.policy for d in analyze(rtype, props, name)} & rules == set(), name


# -- no-gguf-on-vllm --------------------------------------------------------------------------------------------------

def _tgi(props: Props, model: str) -> None:
    """The structured backend switched to TGI (the engine table's image) keeping everything else."""
    tgi = engine("tgi")
    _annotations(props).update({"llmstack.engine": "tgi", "llmstack.image": tgi.image_ref()})
    _engine(props).update(image=tgi.image_ref(), args=["--model-id", model, "--max-total-tokens", "16384"])
    _engine(props).pop("command", None)  # the image's own launcher


def _vllm_model(model: str) -> Change:
    """vLLM's model: its first positional argument."""
    return lambda p: _engine(p)["args"].__setitem__(0, model)


def _annotate(key: str, value: str) -> Change:
    return lambda p: _annotations(p).__setitem__(key, value)


GGUF_CHANGES: dict[str, tuple[str, Change]] = {
    "vllm-gguf-repo": ("deployment-chat", _vllm_model("Qwen/Qwen3-32B-GGUF")),
    "vllm-gguf-file": ("deployment-chat", _vllm_model("/root/.cache/huggingface/Qwen3-32B-Q4_K_M.gguf")),
    "vllm-format": ("deployment-chat-fallback", _annotate("llmstack.format", "Q4_K_M")),
    "sglang-model-path": ("deployment-structured",
                          lambda p: _set_arg(p, "--model-path", "bartowski/Qwen2.5-7B-Instruct-GGUF")),
    "tgi-model-id": ("deployment-structured", lambda p: _tgi(p, "TheBloke/Qwen2.5-7B-Instruct-GGUF")),
}


@pytest.mark.parametrize("case", GGUF_CHANGES)
def test_gguf_on_vllm_sglang_tgi_pods_fails(k8s_stacks: dict[str, K8sStack], case: str) -> None:
    name, change = GGUF_CHANGES[case]
    props = _props(k8s_stacks, name)
    assert only(analyze(DEPLOYMENT, props, name), GGUF) == []
    change(props)
    message = _fails(DEPLOYMENT, props, GGUF)
    assert "is given GGUF weights" in message and "llamacpp or ollama" in message


def test_tgi_pod_with_safetensors_passes_gguf_check(k8s_stacks: dict[str, K8sStack]) -> None:
    props = _props(k8s_stacks, "deployment-structured")
    _tgi(props, "Qwen/Qwen2.5-7B-Instruct-AWQ")
    assert only(analyze(DEPLOYMENT, props), GGUF) == []


@pytest.mark.parametrize("kind", [DEPLOYMENT, STATEFULSET, DAEMONSET, LEADER_WORKER_SET])
def test_every_serving_pod_kind_is_judged(k8s_stacks: dict[str, K8sStack], kind: str) -> None:
    """The same pod template under each workload kind (a LeaderWorkerSet's leader and workers) is judged; a Job's
    pods (staging weights) run to completion and are not serving containers."""
    props = _props(k8s_stacks, "deployment-chat")
    _vllm_model("Qwen/Qwen3-32B-GGUF")(props)
    assert only(analyze(JOB, props), GGUF) == []
    if kind == LEADER_WORKER_SET:
        template = props["spec"].pop("template")
        props["spec"]["leaderWorkerTemplate"] = {"size": 2, "leaderTemplate": template, "workerTemplate": template}
    assert len(only(analyze(kind, props), GGUF)) == (2 if kind == LEADER_WORKER_SET else 1)


# -- quantization-matches-engine -------------------------------------------------------------------------------------

def test_awq_on_an_ollama_pod_fails(k8s_stacks: dict[str, K8sStack]) -> None:
    """chat-fallback moved to Ollama, its AWQ format left as it was."""
    props = _props(k8s_stacks, "deployment-chat-fallback")
    ollama = engine("ollama")
    _annotations(props).update({"llmstack.engine": "ollama", "llmstack.image": ollama.image_ref()})
    _engine(props).update(image=ollama.image_ref(), args=[])
    _engine(props).pop("command", None)
    message = _fails(DEPLOYMENT, props, QUANT)
    assert "is set to serve awq weights, but ollama serves gguf" in message


def test_fp8_pod_planned_on_a_gpu_without_fp8_fails(k8s_stacks: dict[str, K8sStack]) -> None:
    props = _props(k8s_stacks, "deployment-chat")
    assert _annotations(props)["llmstack.format"] == "fp8"
    _annotations(props).update({"llmstack.gpu": "A100-40GB", "llmstack.instance-type": "p4d.24xlarge"})
    assert "no FP8 tensor cores" in _fails(DEPLOYMENT, props, QUANT)


# -- container-healthcheck-required ----------------------------------------------------------------------------------

def _threshold(probe: str, value: float) -> Change:
    return lambda p: _engine(p)[probe].__setitem__("failureThreshold", value)


def _drop(*probes: str) -> Change:
    return lambda p: [_engine(p).pop(probe) for probe in probes]


def _long_readiness_no_startup(p: Props) -> None:
    """Readiness never restarts a pod; without a startup probe the liveness probe's 90 s does, whatever readiness
    allows."""
    _drop("startupProbe")(p)
    _threshold("readinessProbe", 60.0)(p)


HEALTH_CHANGES: dict[str, tuple[Change, str]] = {
    "no-probes": (_drop("startupProbe", "readinessProbe", "livenessProbe"), "no startup or readiness probe"),
    "short-startup-window": (_threshold("startupProbe", 10.0), "gives the model 100 s to load"),
    "no-startup-probe": (_drop("startupProbe"), "gives the model 90 s to load"),
    "long-readiness-short-liveness": (_long_readiness_no_startup, "gives the model 90 s to load"),
}


@pytest.mark.parametrize("case", HEALTH_CHANGES)
def test_probes_and_load_window_required(k8s_stacks: dict[str, K8sStack], case: str) -> None:
    """chat: 34 GB of FP8 weights at TP=2, a 181 s load (planner startup_seconds); the shipped startup window is
    28 x 10 s."""
    props = _props(k8s_stacks, "deployment-chat")
    assert only(analyze(DEPLOYMENT, props), HEALTH) == []
    change, expected = HEALTH_CHANGES[case]
    change(props)
    message = _fails(DEPLOYMENT, props, HEALTH)
    assert expected in message
    if case != "no-probes":
        assert "at least 181 s" in message and "startup_seconds = 181 s" in message


def test_long_startup_window_passes_with_a_short_liveness_probe(k8s_stacks: dict[str, K8sStack]) -> None:
    """A startup probe holds liveness and readiness back, so only its window counts."""
    props = _props(k8s_stacks, "deployment-chat")
    _threshold("livenessProbe", 1.0)(props)
    _threshold("startupProbe", 19.0)(props)  # 190 s >= 181 s
    assert only(analyze(DEPLOYMENT, props), HEALTH) == []


def test_staging_job_needs_no_probe(k8s_stacks: dict[str, K8sStack]) -> None:
    job = _props(k8s_stacks, "job-chat-stage")
    assert "startupProbe" not in _engine(job) and only(analyze(JOB, job), HEALTH) == []


# -- context-limit-required ------------------------------------------------------------------------------------------

CONTEXT_CHANGES: dict[str, tuple[str, Change, str]] = {
    "vllm-no-max-model-len": ("deployment-chat", lambda p: _set_arg(p, "--max-model-len", None),
                              "sets no context limit (--max-model-len)"),
    "sglang-zero": ("deployment-structured", lambda p: _set_arg(p, "--context-length", "0"),
                    "0 or a non-number means 'the model's full context'"),
    # qwen3-32b was trained for 40960 positions: vLLM refuses to start at 131072.
    "vllm-above-model": ("deployment-chat", lambda p: _set_arg(p, "--max-model-len", "131072"),
                         "131072 tokens per sequence (--max-model-len), above the 40960 qwen3-32b was trained for"),
}


@pytest.mark.parametrize("case", CONTEXT_CHANGES)
def test_context_limit_required(k8s_stacks: dict[str, K8sStack], case: str) -> None:
    name, change, expected = CONTEXT_CHANGES[case]
    props = _props(k8s_stacks, name)
    assert only(analyze(DEPLOYMENT, props), CONTEXT) == []
    change(props)
    assert expected in _fails(DEPLOYMENT, props, CONTEXT)


def test_context_up_to_the_trained_length_passes(k8s_stacks: dict[str, K8sStack]) -> None:
    props = _props(k8s_stacks, "deployment-chat-fallback")  # llama-3.1-8b: 131072 positions
    _set_arg(props, "--max-model-len", "131072")
    assert only(analyze(DEPLOYMENT, props), CONTEXT) == []


# -- model-fits-gpu ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("extra", "expected"), [
    ("g6e.12xlarge", "but g6e.12xlarge (4 x L40S, TP=2) has 39.83 GiB usable per GPU"),  # KV for 16 x 32k
    ("p4d.24xlarge", "A100-40GB (ampere) has no FP8 support"),
    ("g6e.xlarge", "tensor parallel 2 on g6e.xlarge, which has 1 GPU(s)"),
])
def test_node_pool_instance_the_model_does_not_fit_fails(k8s_stacks: dict[str, K8sStack], extra: str,
                                                          expected: str) -> None:
    """Every instance type the pod's node affinity (the node pool's list) allows is sized by the planner, not just
    the one the plan ranked first."""
    props = _props(k8s_stacks, "deployment-chat")
    assert only(analyze(DEPLOYMENT, props), FIT) == []
    _allowed_instance_types(props).append(extra)
    message = _fails(DEPLOYMENT, props, FIT)
    assert expected in message and "g7e.12xlarge" not in message.split(expected)[0]


def test_fit_judges_the_affinity_list_not_only_the_planned_instance(k8s_stacks: dict[str, K8sStack]) -> None:
    props = _props(k8s_stacks, "deployment-chat")
    _allowed_instance_types(props)[:] = ["g7e.24xlarge", "g6e.12xlarge"]
    assert _annotations(props)["llmstack.instance-type"] == "g7e.12xlarge"  # the label alone would pass
    assert "g6e.12xlarge" in _fails(DEPLOYMENT, props, FIT)


# -- embeddings-off-inference-gpu and gateway-on-cpu-node ------------------------------------------------------------

def _gpu_limit(p: Props) -> None:
    _engine(p).setdefault("resources", {}).setdefault("limits", {})["nvidia.com/gpu"] = 1.0


def _toleration(toleration: dict[str, str]) -> Change:
    return lambda p: _pod(p).setdefault("tolerations", []).append(dict(toleration))


GPU_CHANGES: dict[str, Change] = {
    "gpu-limit": _gpu_limit,
    "gpu-toleration": _toleration(GPU_TOLERATION),
    "tolerates-everything": _toleration({"operator": "Exists"}),
}


@pytest.mark.parametrize("stack", VARIANTS)
def test_shipped_stacks_pass_the_stack_policies(k8s_stacks: dict[str, K8sStack], stack: str) -> None:
    assert _stack(_result(k8s_stacks, stack)) == []


@pytest.mark.parametrize("case", GPU_CHANGES)
def test_embeddings_pod_on_gpu_fails(k8s_stacks: dict[str, K8sStack], case: str) -> None:
    found = _stack(_result(k8s_stacks), {"deployment-embeddings": GPU_CHANGES[case]})
    assert [d.policy for d in found] == [EMBED_GPU] and found[0].level == "mandatory"
    message = _messages(found, EMBED_GPU)[0]
    assert "embedding pod 'deployment-embeddings/engine' requests a GPU or tolerates the GPU taint" in message


@pytest.mark.parametrize("case", GPU_CHANGES)
def test_gateway_pod_on_gpu_fails(k8s_stacks: dict[str, K8sStack], case: str) -> None:
    props = _props(k8s_stacks, "deployment-gateway")
    GPU_CHANGES[case](props)
    expected = "requests GPUs" if case == "gpu-limit" else "tolerates the GPU taint"
    assert expected in _fails(DEPLOYMENT, props, GATEWAY_GPU)


# -- images-pinned ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("rtype", "name", "image"), [
    (DEPLOYMENT, "deployment-embeddings", "ghcr.io/huggingface/text-embeddings-inference:latest"),
    (DEPLOYMENT, "deployment-chat", "vllm/vllm-openai"),
    (DAEMONSET, "daemonset-dcgm-exporter", "nvcr.io/nvidia/k8s/dcgm-exporter:latest"),
    (JOB, "job-chat-stage", "vllm/vllm-openai:latest"),
])
def test_unpinned_pod_image_fails(k8s_stacks: dict[str, K8sStack], rtype: str, name: str, image: str) -> None:
    props = _props(k8s_stacks, name)
    _engine(props)["image"] = image
    assert "moves, so what runs changes on the next pull" in _fails(rtype, props, PINNED)


def test_unpinned_pod_image_passes_in_dev(k8s_stacks: dict[str, K8sStack]) -> None:
    props = _props(k8s_stacks, "deployment-embeddings")
    _engine(props)["image"] = "ghcr.io/huggingface/text-embeddings-inference:latest"
    _annotations(props)["llmstack.environment"] = "dev"
    assert only(analyze(DEPLOYMENT, props), PINNED) == []


# -- secrets-not-plaintext --------------------------------------------------------------------------------------------

def _plain_env(name: str, value: Any) -> Change:
    """A credential given by value instead of the stack Secret's secretKeyRef."""
    def change(p: Props) -> None:
        env = _engine(p)["env"]
        env[next(i for i, e in enumerate(env) if e["name"] == name)] = {"name": name, "value": value}
    return change


@pytest.mark.parametrize(("name", "change", "expected"), [
    ("deployment-chat", _plain_env("HF_TOKEN", "hf_" + "a1B2" * 8), "changed/engine env HF_TOKEN"),
    # A Pulumi secret is still plain text in the Deployment: anyone who can read it (kubectl get -o yaml) has it.
    ("deployment-chat", _plain_env("HF_TOKEN", _secret("hf_" + "a1B2" * 8)), "changed/engine env HF_TOKEN"),
    ("deployment-chat", lambda p: _engine(p)["args"].extend(["--api-key", "sk-live-0123456789abcdef"]),
     "changed/engine command (sk-liv...)"),
    ("job-chat-stage", _plain_env("HF_TOKEN", _secret("hf_" + "a1B2" * 8)), "changed/stage env HF_TOKEN"),
])
def test_credential_as_a_plain_env_value_fails(k8s_stacks: dict[str, K8sStack], name: str, change: Change,
                                               expected: str) -> None:
    props = _props(k8s_stacks, name)
    rtype = JOB if name.startswith("job-") else DEPLOYMENT
    assert only(analyze(rtype, props), SECRETS) == []
    change(props)
    message = _fails(rtype, props, SECRETS)
    assert expected in message and "secretKeyRef" in message


def test_master_key_as_a_plain_env_value_fails(k8s_stacks: dict[str, K8sStack]) -> None:
    props = _props(k8s_stacks, "deployment-gateway")
    _plain_env("LITELLM_MASTER_KEY", _secret("sk-" + "0f" * 32))(props)
    assert "gets LITELLM_MASTER_KEY as a plain value" in _fails(DEPLOYMENT, props, "gateway-master-key-secret")
    assert "env LITELLM_MASTER_KEY" in _fails(DEPLOYMENT, props, SECRETS)


# -- no-exposed-engine-services --------------------------------------------------------------------------------------

def _service_type(kind: str) -> Change:
    return lambda p: p["spec"].__setitem__("type", kind)


def _bare_load_balancer(p: Props) -> None:
    """A hand-written LoadBalancer: no component in the selector, 443 in front of the engine's 8000."""
    p["spec"].update(type="LoadBalancer", selector={"app.kubernetes.io/instance": "chat"},
                     ports=[{"name": "https", "port": 443.0, "targetPort": 8000.0, "protocol": "TCP"}])


@pytest.mark.parametrize(("name", "change", "expected"), [
    ("service-chat", _service_type("LoadBalancer"), "is type LoadBalancer in front of inference"),
    ("service-structured", _service_type("NodePort"), "is type NodePort in front of inference"),
    ("service-embeddings", _service_type("LoadBalancer"), "is type LoadBalancer in front of embedding"),
    ("service-chat", _bare_load_balancer, "is type LoadBalancer in front of engine port 8000"),
])
def test_exposed_engine_service_fails(k8s_stacks: dict[str, K8sStack], name: str, change: Change,
                                      expected: str) -> None:
    props = _props(k8s_stacks, name)
    assert props["spec"]["type"] == "ClusterIP" and only(analyze(K8S_SERVICE, props), SERVICES) == []
    change(props)
    message = _fails(K8S_SERVICE, props, SERVICES)
    assert expected in message and "type ClusterIP" in message


def test_non_engine_port_load_balancer_passes(k8s_stacks: dict[str, K8sStack]) -> None:
    props = _props(k8s_stacks, "service-chat")
    _bare_load_balancer(props)
    props["spec"]["ports"][0]["targetPort"] = 9443.0
    assert only(analyze(K8S_SERVICE, props), SERVICES) == []


# -- ingress-tls-and-cidrs --------------------------------------------------------------------------------------------

def _annotation(key: str, value: str | None) -> Change:
    def change(p: Props) -> None:
        annotations = p["metadata"]["annotations"]
        if value is None:
            annotations.pop(key)
        else:
            annotations[key] = value
    return change


def _no_tls(p: Props) -> None:
    _annotation("alb.ingress.kubernetes.io/certificate-arn", None)(p)
    p["spec"].pop("tls", None)


INGRESS_CHANGES: dict[str, tuple[Change, str]] = {
    "no-tls": (_no_tls, "has no TLS"),
    "plain-http": (_annotation("alb.ingress.kubernetes.io/listen-ports", '[{"HTTP": 80}, {"HTTPS": 443}]'),
                   "listens on plain HTTP"),
    "no-cidrs": (_annotation("alb.ingress.kubernetes.io/inbound-cidrs", None), "admits every address"),
    "world": (_annotation("alb.ingress.kubernetes.io/inbound-cidrs", "10.0.0.0/8,0.0.0.0/0"),
              "admits 0.0.0.0/0: the whole internet"),
}


@pytest.mark.parametrize("stack", ["existing-cluster", "auto-mode"])
@pytest.mark.parametrize("case", INGRESS_CHANGES)
def test_ingress_without_tls_or_cidrs_fails(k8s_stacks: dict[str, K8sStack], stack: str, case: str) -> None:
    props = _props(k8s_stacks, "ingress-gateway", stack)
    assert only(analyze(INGRESS, props), INGRESS_TLS) == []
    change, expected = INGRESS_CHANGES[case]
    change(props)
    assert expected in _fails(INGRESS, props, INGRESS_TLS)


def test_ingress_tls_from_spec_tls_passes(k8s_stacks: dict[str, K8sStack]) -> None:
    """spec.tls (the controller finds the certificate by host) is TLS too."""
    props = _props(k8s_stacks, "ingress-gateway", "existing-cluster")
    _annotation("alb.ingress.kubernetes.io/certificate-arn", None)(props)
    assert props["spec"]["tls"] and only(analyze(INGRESS, props), INGRESS_TLS) == []


# -- eks-api-endpoint-restricted --------------------------------------------------------------------------------------

EKS_CHANGES: dict[str, tuple[str, Change, str]] = {
    "public-no-cidrs": ("prod-eks", lambda p: p.__setitem__("endpointPublicAccess", True), "default: 0.0.0.0/0"),
    "public-by-default": ("prod-eks", lambda p: p.pop("endpointPublicAccess"), "default: 0.0.0.0/0"),
    "public-to-world": ("auto-mode", lambda p: p["publicAccessCidrs"].append("0.0.0.0/0"),
                        "(203.0.113.0/24, 0.0.0.0/0)"),
}


@pytest.mark.parametrize("case", EKS_CHANGES)
def test_public_eks_endpoint_without_cidrs_fails(k8s_stacks: dict[str, K8sStack], case: str) -> None:
    stack, change, expected = EKS_CHANGES[case]
    props = _props(k8s_stacks, "prod-llm", stack)
    assert only(analyze(EKS_CLUSTER, props), EKS_API) == []
    change(props)
    message = _fails(EKS_CLUSTER, props, EKS_API)
    assert "opens its API endpoint to the internet" in message and expected in message


def test_aws_eks_cluster_shape_is_judged_too(k8s_stacks: dict[str, K8sStack]) -> None:
    """aws:eks/cluster:Cluster nests the endpoint settings under vpcConfig."""
    flat = _props(k8s_stacks, "prod-llm", "auto-mode")
    nested = {"name": flat["name"], "vpcConfig": {"endpointPublicAccess": True,
                                                  "publicAccessCidrs": flat["publicAccessCidrs"]}}
    assert only(analyze("aws:eks/cluster:Cluster", nested), EKS_API) == []
    nested["vpcConfig"]["publicAccessCidrs"] = []
    assert "default: 0.0.0.0/0" in _fails("aws:eks/cluster:Cluster", nested, EKS_API)


# -- gateway-highly-available -----------------------------------------------------------------------------------------

def _replicas(value: float | None) -> Change:
    """spec.replicas set, or removed (None)."""
    def change(p: Props) -> None:
        p["spec"].pop("replicas")
        if value is not None:
            p["spec"]["replicas"] = value
    return change


def _min_replicas(value: float) -> Change:
    return lambda p: p["spec"].__setitem__("minReplicas", value)


def _budget(**spec: Any) -> Change:
    def change(p: Props) -> None:
        p["spec"].pop("minAvailable", None)
        p["spec"].update(spec)
    return change


HA_FAILS: dict[str, tuple[dict[str, Change | None], str]] = {
    # gateway.replicas: 1 sets both (the plan's HPA floor is the replica count).
    "one-replica": ({"deployment-gateway": _replicas(1.0), "horizontalpodautoscaler-gateway": _min_replicas(1.0)},
                    "runs 1 replica (its HorizontalPodAutoscaler's minReplicas)"),
    "autoscaler-floor-one": ({"horizontalpodautoscaler-gateway": _min_replicas(1.0)},
                             "runs 1 replica (its HorizontalPodAutoscaler's minReplicas)"),
    "replicas-unset": ({"deployment-gateway": _replicas(None), "horizontalpodautoscaler-gateway": None},
                       "runs 1 replica (spec.replicas)"),
    "no-budget": ({"poddisruptionbudget-gateway": None}, "has no PodDisruptionBudget keeping a replica up"),
    "budget-min-zero": ({"poddisruptionbudget-gateway": _budget(minAvailable=0.0)},
                        "has no PodDisruptionBudget keeping a replica up"),
    "budget-evicts-all": ({"poddisruptionbudget-gateway": _budget(maxUnavailable="100%")},
                          "has no PodDisruptionBudget keeping a replica up"),
}


@pytest.mark.parametrize("case", HA_FAILS)
def test_gateway_not_highly_available_in_prod_fails(k8s_stacks: dict[str, K8sStack], case: str) -> None:
    changes, expected = HA_FAILS[case]
    found = _stack(_result(k8s_stacks), changes)
    assert [(d.policy, d.level) for d in found] == [(GATEWAY_HA, "mandatory")]
    assert expected in _messages(found, GATEWAY_HA)[0]


@pytest.mark.parametrize("changes", [
    {"deployment-gateway": _replicas(1.0)},  # the HPA's floor of 2 wins
    {"poddisruptionbudget-gateway": _budget(minAvailable="50%")},
    {"poddisruptionbudget-gateway": _budget(maxUnavailable=1.0)},
], ids=["hpa-floor-two", "budget-percent", "budget-max-unavailable"])
def test_gateway_highly_available_variants_pass(k8s_stacks: dict[str, K8sStack],
                                                changes: dict[str, Change | None]) -> None:
    assert _stack(_result(k8s_stacks), changes) == []


def _one_replica_in_dev(p: Props) -> None:
    _replicas(1.0)(p)
    _annotations(p)["llmstack.environment"] = "dev"


def test_one_gateway_replica_without_budget_passes_in_dev(k8s_stacks: dict[str, K8sStack]) -> None:
    dev: dict[str, Change | None] = {"deployment-gateway": _one_replica_in_dev,
                                     "horizontalpodautoscaler-gateway": _min_replicas(1.0),
                                     "poddisruptionbudget-gateway": None}
    assert _stack(_result(k8s_stacks), dev) == []
    assert HPA in {r.type for r in _result(k8s_stacks).registrations}


# -- reading a container, Docker or pod -------------------------------------------------------------------------------

def test_docker_image_id_unknown_in_preview_hides_no_rule(results: dict[str, PreviewResult]) -> None:
    """In a real `pulumi preview` a Docker container's `image` (the RemoteImage's id) is unknown; the rules read the
    image from the `llmstack.image` label, so none of them is skipped as "can't run during preview"."""
    props = inputs(by_name(results["prod"], "gateway-container"))
    props["image"] = UNKNOWN
    assert analyze(CONTAINER, props) == []
    set_label(props, "llmstack.image", "ghcr.io/berriai/litellm:main-latest")
    assert {d.policy for d in analyze(CONTAINER, props)} == {PINNED, "litellm-version-safe"}
