"""`components/` as a Pulumi plugin: the host entry, its metadata, and the cross-language construct path."""

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pulumi
import pytest
import yaml
from google.protobuf import empty_pb2
from pulumi.provider.experimental import host
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

import llmstack
from components.package import PACKAGE_NAME, provider, schema
from llmstack.preview import Registration, record
from tests.conftest import ROOT

PLUGIN_DIR = ROOT / "components"
PIN = re.compile(r"^llm-inference-stack @ git\+https://\S+/llm-inference-stack@v(?P<version>\S+)$", re.M)


def test_importing_components_or_the_entry_module_hosts_nothing() -> None:
    import components

    entry = importlib.import_module("components.__main__")
    assert entry.__name__ == "components.__main__"  # so its `if __name__ == "__main__"` guard is false
    assert host.is_hosting is False
    assert {"InferenceBackend", "LiteLLMGateway", "InferenceStack"} <= set(components.__all__)


def test_plugin_metadata() -> None:
    plugin = yaml.safe_load((PLUGIN_DIR / "PulumiPlugin.yaml").read_text())
    assert plugin["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}
    assert set(plugin) <= {"runtime", "packages", "requiredPulumiVersion", "template"}  # PluginProject keys
    assert (PLUGIN_DIR / "__main__.py").is_file()


@pytest.mark.parametrize("requirements", [
    "components/requirements.txt",
    "examples/vllm-on-existing-host/requirements.txt",
    "examples/gateway-existing-endpoints/requirements.txt",
    "examples/policy-pack-only/requirements.txt",
])
def test_dependency_pins_follow_the_package_version(requirements: str) -> None:
    pins = PIN.findall((ROOT / requirements).read_text())
    assert pins == [llmstack.__version__], f"{requirements}: pin this project at tag v{llmstack.__version__}"


def test_the_cli_launch_serves_the_schema_over_grpc(tmp_path: Path) -> None:
    """Start the plugin the way the Python language host does (`python <plugin dir> <engine address>`, from another
    directory) and call GetPluginInfo and GetSchema on the gRPC server it announces."""
    proc = subprocess.Popen([sys.executable, str(PLUGIN_DIR), "127.0.0.1:1"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.isdigit():
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"plugin did not announce a port: {line!r}\n{err}")
        with grpc.insecure_channel(f"127.0.0.1:{line}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            info = stub.GetPluginInfo(empty_pb2.Empty(), timeout=30)
            served = json.loads(stub.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=30).schema)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert info.version == llmstack.__version__
    assert served == schema()


def _container(registrations: list[Registration]) -> dict[str, Any]:
    (found,) = [r.inputs for r in registrations if r.type == "docker:index/container:Container"]
    return found


def test_construct_maps_schema_inputs_onto_the_python_component() -> None:
    """What another language's SDK sends (camelCase names, numbers as floats) builds the same Python component."""
    prov = provider()
    state: dict[str, Any] = {}

    def program() -> pulumi.Output[None]:
        result = prov.construct("vllm", f"{PACKAGE_NAME}:index:InferenceBackend", {
            "engine": "vllm", "model": "llama-3.1-8b", "context": 16384.0, "concurrency": 4.0,
            "extraArgs": ["--enable-prefix-caching"], "hostPort": 18000.0,
            "dockerHost": "ssh://ubuntu@gpu-host", "networkName": "llmstack",
        }, None)
        return pulumi.Output.all(result.state["url"], result.state["port"]).apply(
            lambda v: state.update(url=v[0], port=v[1]))

    run = record(program)
    backend = [r for r in run.registrations if r.type == "llmstack:index:InferenceBackend"]
    assert [r.name for r in backend] == ["vllm"]
    container = _container(run.registrations)
    command = container["command"]
    assert command[command.index("--max-model-len") + 1] == "16384"
    assert command[command.index("--max-num-seqs") + 1] == "4"
    assert command[-1] == "--enable-prefix-caching"
    assert container["ports"] == [{"internal": 8000, "external": 18000, "ip": "127.0.0.1"}]
    assert state == {"url": "http://vllm:8000", "port": 8000}
    hosts = [r.inputs["host"] for r in run.registrations if r.type == "pulumi:providers:docker"]
    assert hosts == ["ssh://ubuntu@gpu-host"]


def test_construct_rejects_a_missing_required_input() -> None:
    prov = provider()
    with pytest.raises(pulumi.InputPropertyError, match="Missing required input 'context'"):
        prov.construct("vllm", "llmstack:index:InferenceBackend",
                       {"engine": "vllm", "model": "llama-3.1-8b", "dockerHost": "unix:///var/run/docker.sock",
                        "networkName": "llmstack"}, None)
