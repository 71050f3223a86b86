"""The pack itself: names, levels, config plumbing, and the real `python -m pulumi.policy` process over gRPC."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel

from llmstack.errors import InputError
from llmstack.preview import PreviewResult
from policies import ALL_POLICIES, PACK_NAME, VERSION, configure_request
from tests.conftest import POLICY_PACK, ROOT
from tests.policies.policy_helpers import CONTAINER, by_name, inputs, struct

EXPECTED = {
    "no-gguf-on-vllm", "quantization-matches-engine", "container-healthcheck-required", "restart-policy-required",
    "context-limit-required", "model-fits-gpu", "embeddings-off-inference-gpu", "gateway-on-cpu-node",
    "gateway-master-key-secret", "gateway-config-valid", "litellm-version-safe", "images-pinned", "ipv6-disabled",
    "no-public-inference-ports", "engine-ports-security-groups-only", "imdsv2-required", "ebs-encrypted",
    "secrets-not-plaintext", "no-exposed-engine-services", "ingress-tls-and-cidrs", "eks-api-endpoint-restricted",
    "gateway-highly-available", "multi-node-on-kubernetes", "multi-node-gpus-per-pod", "multi-node-placement",
}


def test_policy_names_and_defaults() -> None:
    names = [p.name for p in ALL_POLICIES]
    assert sorted(names) == sorted(EXPECTED) and len(names) == len(set(names))
    for p in ALL_POLICIES:
        assert p.description and p.enforcement_level in (EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY)


def test_pulumi_policy_yaml_matches_the_package() -> None:
    meta = yaml.safe_load((POLICY_PACK / "PulumiPolicy.yaml").read_text())
    assert meta["version"] == VERSION and meta["runtime"]["name"] == "python"
    assert meta["runtime"]["options"] == {"toolchain": "uv", "virtualenv": "../.venv"}
    assert (POLICY_PACK / meta["runtime"]["options"]["virtualenv"]).resolve() == (ROOT / ".venv").resolve()


def test_config_applies_schema_defaults_levels_and_rejects_unknown_names() -> None:
    request = configure_request({"all": "advisory", "images-pinned": {"enforcementLevel": "mandatory"},
                                 "no-public-inference-ports": {"allowedCidrs": ["10.0.0.0/8"]}})
    assert request.policyConfig["no-gguf-on-vllm"].enforcementLevel == proto.ADVISORY
    assert request.policyConfig["images-pinned"].enforcementLevel == proto.MANDATORY
    assert list(request.policyConfig["images-pinned"].properties["exemptEnvironments"]) == ["dev"]
    assert list(request.policyConfig["no-public-inference-ports"].properties["allowedCidrs"]) == ["10.0.0.0/8"]
    with pytest.raises(InputError, match="unknown policies"):
        configure_request({"no-such-policy": "advisory"})
    with pytest.raises(InputError, match=r"'strict' is not valid\. use an enforcement level"):
        configure_request({"all": "strict"})


def test_the_cli_way_real_process_and_grpc(results: dict[str, PreviewResult]) -> None:
    """What `pulumi preview --policy-pack policies` starts: `python -m pulumi.policy <engine> <pack>` in the pack
    folder; it prints its port, then serves GetAnalyzerInfo/Analyze over gRPC."""
    process = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(POLICY_PACK)],
                               cwd=POLICY_PACK,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        errors = process.stderr.read() if process.poll() is not None and process.stderr is not None else ""
        assert line.strip().isdigit(), (line, errors)
        channel = grpc.insecure_channel(f"127.0.0.1:{int(line)}")
        stub = analyzer_pb2_grpc.AnalyzerStub(channel)
        info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
        assert info.name == PACK_NAME and {p.name for p in info.policies} == EXPECTED
        levels = {p.name: p.enforcementLevel for p in info.policies}
        assert levels["ipv6-disabled"] == proto.ADVISORY and levels["no-gguf-on-vllm"] == proto.MANDATORY
        good = by_name(results["prod"], "chat-container")
        response = stub.Analyze(proto.AnalyzeRequest(type=CONTAINER, properties=good.struct, urn=good.urn,
                                                     name=good.name), timeout=60)
        assert list(response.diagnostics) == []
        bad = inputs(good)
        del bad["restart"]
        response = stub.Analyze(proto.AnalyzeRequest(type=CONTAINER, properties=struct(bad), urn=good.urn,
                                                     name=good.name), timeout=60)
        assert [d.policyName for d in response.diagnostics] == ["restart-policy-required"]
        assert response.diagnostics[0].enforcementLevel == proto.MANDATORY
        channel.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
        if process.stderr is not None:
            process.stderr.close()


def test_pack_directory_holds_only_the_pack() -> None:
    assert sorted(p.name for p in Path(POLICY_PACK).glob("*.py")) == [
        "__init__.py", "__main__.py", "compute.py", "gateway.py", "kubernetes.py", "multinode.py", "network.py",
        "props.py", "registry.py", "security.py", "serving.py"]
