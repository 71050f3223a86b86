"""Bad stack files give one clear error: the field path, the bad value and the fix (llmstack.spec + plan_stack)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmstack.errors import InputError
from llmstack.planner import PlanRequest, plan
from llmstack.spec import load_spec, resolve_local_gpus
from llmstack.stackplan import plan_stack
from tests.spec.conftest import Edit, WriteStack

PROD_VPC = "vpc-0a1b2c3d4e5f60718"  # in the prod stack; a message that shows it dumped the whole spec


def check(path: Path) -> None:
    """What every face does before building anything: parse, resolve the local GPU, plan."""
    plan_stack(resolve_local_gpus(load_spec(path), has_gpu=False))


def error(path: Path) -> InputError:
    with pytest.raises(InputError) as caught:
        check(path)
    return caught.value


def backend(i: int, **changes: Any) -> Edit:
    return lambda c: c["backends"][i].update(changes)


def set_key(*keys: str, value: Any) -> Edit:
    def edit(config: dict[str, Any]) -> None:
        node = config
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return edit


GPU_ON_LAPTOP = backend(0, engine="vllm", model="llama-3.1-8b", quant="awq")

# (edit, base stack, field path in the error, the bad value as shown, a phrase of the fix)
CASES: dict[str, tuple[Edit, str, str, str, str]] = {
    "unknown key (typo)": (backend(0, contxt=8192), "prod", "backends.0.contxt", "8192", "spelling"),
    "missing backends": (lambda c: c.pop("backends"), "prod", "backends", "None", "required"),
    "bad engine name": (backend(0, engine="vlm"), "prod", "backends.0.engine", "'vlm'", "'vllm'"),
    "context below 256": (backend(0, context=10), "prod", "backends.0.context", "10", "256"),
    "duplicate backend names": (backend(1, name="chat"), "prod", "", "chat", "must be unique"),
    "fallback to an unknown model": (set_key("gateway", "fallbacks", "chat", value=["nope"]), "prod", "",
                                     "'nope'", "known models: chat, chat-fallback, structured"),
    "fallback from an unknown model": (set_key("gateway", "fallbacks", "nope", value=["chat"]), "prod", "",
                                       "'nope'", "not a backend's model name"),
    "fallback to itself": (set_key("gateway", "fallbacks", "chat", value=["chat"]), "prod", "",
                           "gateway.fallbacks.chat", "can't fall back to itself"),
    "0.0.0.0/0 in allowed_cidrs": (set_key("target", "allowed_cidrs", value=["0.0.0.0/0"]), "prod",
                                   "target.aws.allowed_cidrs", "0.0.0.0/0", "list your client networks"),
    "0.0.0.0/0 for ssh": (set_key("target", "ssh", "allowed_cidrs", value=["0.0.0.0/0"]), "prod",
                          "target.aws.ssh.allowed_cidrs", "0.0.0.0/0", "whole internet"),
    "malformed CIDR": (set_key("target", "allowed_cidrs", value=["10.0.0.300/8"]), "prod",
                       "target.aws.allowed_cidrs", "10.0.0.300/8", "write e.g. 10.0.0.0/16"),
    "vpc id and cidr": (set_key("target", "vpc", "cidr", value="10.9.0.0/16"), "prod", "target.aws.vpc",
                        "10.9.0.0/16", "not both"),
    "vpc id without subnets": (set_key("target", "vpc", value={"id": "vpc-1"}), "prod", "target.aws.vpc",
                               "vpc-1", "subnet_ids"),
    "unpinned image override": (backend(0, image="vllm/vllm-openai"), "prod", "backends.0.image",
                                "'vllm/vllm-openai'", "pin the image by release tag or digest"),
    "cooldown not above health interval": (lambda c: c["gateway"].update(cooldown_time=15, health_check_interval=15),
                                           "prod", "gateway", "cooldown_time", "raise cooldown_time"),
    "GGUF on vLLM": (backend(0, quant="Q4_K_M"), "prod", "backends[0].quant", "'Q4_K_M'", "llamacpp"),
    "GPU engine on a laptop without GPUs": (GPU_ON_LAPTOP, "dev", "backends[0].engine", "'vllm'",
                                            "target.gpus: all"),
    "unknown model": (backend(2, model="gpt-5-mega"), "prod", "backends[2].model", "'gpt-5-mega'",
                      "llama-3.1-8b"),
    "non-stack config key": (set_key("colour", value="blue"), "prod", "config.llm-inference-stack:colour",
                             "'blue'", "not a stack setting"),
    "bad region": (set_key("target", "region", value="mars-1"), "prod", "target.aws.region", "'mars-1'",
                   "should match"),
    "bad environment name": (set_key("environment", value="Prod"), "prod", "environment", "'Prod'",
                             "should match"),
    "zero replicas": (backend(0, replicas=0), "prod", "backends.0.replicas", "0", "greater than or equal to 1"),
    # Settings of one kind of target, refused on the other.
    "autoscaling on EC2": (backend(0, min_replicas=1, max_replicas=3), "prod", "backends[0].min_replicas", "1",
                           "only kubernetes targets"),
    "spot capacity on EC2": (backend(0, capacity="spot"), "prod", "backends[0].capacity", "'spot'",
                             "only kubernetes targets"),
    "gateway replicas on EC2": (set_key("gateway", "replicas", value=3), "prod", "gateway.replicas", "3",
                                "only kubernetes targets"),
    "pinned instance on EKS": (backend(0, instance_type="p5.48xlarge"), "prod-eks", "backends[0].instance_type",
                               "'p5.48xlarge'", "node pool offers the planner's ranked list"),
    "gateway instance on EKS": (set_key("gateway", "instance_type", value="c7i.xlarge"), "prod-eks",
                                "gateway.instance_type", "'c7i.xlarge'", "target.cpu_instance_types"),
    "min above max replicas": (backend(0, min_replicas=5), "prod-eks", "backends.0", "5", "exceeds max_replicas"),
    "min without max replicas": (backend(2, min_replicas=1), "prod-eks", "backends.2", "min_replicas",
                                 "give both min_replicas and max_replicas"),
    "autoscaling an engine without metrics": (backend(2, engine="ollama", model="llama-3.1-8b", quant="Q4_K_M",
                                                      min_replicas=1, max_replicas=2), "prod-eks",
                                              "backends[2].max_replicas", "2", "no metrics to scale on"),
    "gateway max below replicas": (set_key("gateway", "max_replicas", value=1), "prod-eks", "gateway.max_replicas",
                                   "1", "below the gateway's 2 replicas"),
    "ingress without a controller": (set_key("target", "ingress", value={
        "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abc", "allowed_cidrs": ["10.0.0.0/8"]}),
        "prod-eks", "target.eks", "ingress", "auto-mode"),
    "ingress open to the internet": (set_key("target", "ingress", value={
        "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abc", "allowed_cidrs": ["0.0.0.0/0"]}),
        "prod-eks", "target.eks.ingress.allowed_cidrs", "0.0.0.0/0", "list your client networks"),
    "multi-node on EC2": (backend(0, max_nodes=2), "prod", "backends[0].max_nodes", "2",
                          "runs only on a kubernetes target (target.kind: eks or kubernetes"),
    "a model larger than one node on EC2": (backend(0, model="deepseek-v3", quant="bf16", context=8192), "prod",
                                            "backends[0].model", "'deepseek-v3'",
                                            "allow 2 nodes per replica with max_nodes (pipeline parallel with vLLM, "
                                            "on a kubernetes target)"),
    "multi-node on Auto Mode": (lambda c: (c["target"].update(compute="auto-mode"),
                                           c["backends"][0].update(max_nodes=2)), "prod-eks",
                                "backends[0].max_nodes", "2", "use compute: karpenter"),
    "multi-node with SGLang": (backend(1, max_nodes=2), "prod-eks", "backends.1", "max_nodes",
                               "needs engine vllm"),
    "public API endpoint without CIDRs": (set_key("target", "endpoint", value={"public": True}), "prod-eks",
                                          "target.eks.endpoint", "public", "public_cidrs"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_stack_file(case: str, write_stack: WriteStack) -> None:
    edit, base, field, value, fix = CASES[case]
    err = error(write_stack(edit, base=base))
    message = str(err)
    assert field in err.field
    assert value in message, message
    assert fix in message, message


def test_errors_from_the_spec_name_the_file(write_stack: WriteStack) -> None:
    err = error(write_stack(backend(0, engine="vlm"), name="mystack"))
    assert err.field.startswith("Pulumi.mystack.yaml: ")


def test_model_that_fits_no_instance_shows_the_planners_numbers(write_stack: WriteStack) -> None:
    huge = {"model": "llama-3.1-405b", "quant": "bf16", "context": 131072, "concurrency": 16}
    err = error(write_stack(backend(0, **huge)))
    expected = plan(PlanRequest(engine="vllm", **huge))  # type: ignore[arg-type]
    assert not expected.fits
    assert err.field == "backends[0].model"
    assert "llama-3.1-405b" in str(err) and "131072" in str(err)
    assert expected.memory.reason in str(err)
    assert expected.suggestions[0] in str(err)


def test_model_too_big_for_a_pinned_instance(write_stack: WriteStack) -> None:
    """The error blames the pinned instance (not the model), gives the planner's numbers and what would fit."""
    err = error(write_stack(backend(2, model="llama-3.1-70b", quant="bf16", instance_type="g6e.xlarge")))
    assert err.field == "backends[2].instance_type" and err.value == "g6e.xlarge"
    assert "GiB" in str(err) and "fits it" in str(err)
    cheapest = plan(PlanRequest(model="llama-3.1-70b", quant="bf16", engine="vllm", context=16384, concurrency=8))
    assert cheapest.instance is not None and cheapest.instance.type in str(err)
    assert "--" not in err.fix  # stack-file errors never point at CLI flags


def test_pinned_instance_that_cannot_run_the_format_is_blamed(write_stack: WriteStack) -> None:
    """FP8 on an A10G: no candidate can even be tried; the pinned instance is at fault, not the model."""
    err = error(write_stack(backend(0, instance_type="g5.xlarge")))  # prod chat: qwen3-32b fp8
    assert err.field == "backends[0].instance_type" and err.value == "g5.xlarge"
    assert "FP8" in str(err) and "--" not in err.fix


def test_gpu_engine_on_a_laptop_that_auto_detects_no_gpu(write_stack: WriteStack) -> None:
    path = write_stack(lambda c: (GPU_ON_LAPTOP(c), c["target"].update(gpus="auto")), base="dev")
    with pytest.raises(InputError) as caught:
        plan_stack(resolve_local_gpus(load_spec(path), has_gpu=False))
    assert "backends[0].engine" in caught.value.field
    # The same file plans on a machine with a GPU.
    assert plan_stack(resolve_local_gpus(load_spec(path), has_gpu=True)).backends[0].launch.gpus


def test_invalid_yaml(write_stack: WriteStack) -> None:
    err = error(write_stack(text="config:\n  llm-inference-stack:backends: [1, 2\n"))
    assert "Pulumi.bad.yaml" in err.field
    assert "not valid YAML" in str(err)
    assert "line 2" in str(err)


def test_no_config_mapping(write_stack: WriteStack) -> None:
    err = error(write_stack(text="config: [1, 2]\n"))
    assert "config" in err.field and "`config:` mapping" in err.fix


def test_missing_file(tmp_path: Path) -> None:
    err = error(tmp_path / "Pulumi.nope.yaml")
    assert "Pulumi.nope.yaml" in str(err) and "existing" in err.fix


def test_several_problems_are_counted(write_stack: WriteStack) -> None:
    err = error(write_stack(lambda c: (c["backends"][0].update(context=10), c["backends"][1].update(context=20))))
    assert "backends.0.context" in err.field
    assert "1 more problem" in str(err)


# -- bugs: see the report ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["duplicate backend names", "fallback to an unknown model", "fallback to itself"])
def test_cross_field_errors_name_the_field_not_the_whole_spec(case: str, write_stack: WriteStack) -> None:
    """Errors from StackSpec's model validator say `<root>` and print the whole stack config as the value."""
    edit, *_ = CASES[case]
    err = error(write_stack(edit))
    assert "<root>" not in err.field
    assert PROD_VPC not in str(err)  # unrelated parts of the stack are not echoed


def test_embeddings_model_name_clash_names_the_field(write_stack: WriteStack) -> None:
    err = error(write_stack(set_key("embeddings", "gateway_model", value="chat")))
    assert "also a chat model name" in str(err)
    assert "embeddings" in err.field
    assert PROD_VPC not in str(err)


def test_latest_is_not_a_pin(write_stack: WriteStack) -> None:
    """`:latest` is the moving tag the engine table warns about (docs/engines.md §1: vLLM "never latest")."""
    err = error(write_stack(backend(0, image="vllm/vllm-openai:latest")))
    assert "backends.0.image" in err.field


@pytest.mark.parametrize(("section", "image"), [
    ("gateway", "ghcr.io/berriai/litellm"),
    ("embeddings", "ghcr.io/huggingface/text-embeddings-inference"),
])
def test_gateway_and_embeddings_image_overrides_must_be_pinned(section: str, image: str,
                                                               write_stack: WriteStack) -> None:
    err = error(write_stack(set_key(section, "image", value=image)))
    assert f"{section}.image" in err.field
    assert "pin" in err.fix
