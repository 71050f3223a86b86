"""Every Python example in examples/ runs under the SDK's mock engine (`llmstack.preview.record` + `runpy`) with its
config set, and registers what its README promises. The policy-pack example is also checked by the pack itself,
through the analyzer servicer the CLI talks to."""

import runpy
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import proto
from pulumi_policy.policy import _PolicyAnalyzerServicer

from llmstack.preview import PreviewResult, Registration, record
from policies import ALL_POLICIES, make_analyzer
from tests.conftest import EXAMPLES

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # the Struct marker of a secret value
MASTER_KEY = "sk-" + "5a" * 16


def run_example(name: str, config: dict[str, Any] | None = None,
                secret_config: dict[str, str] | None = None) -> PreviewResult:
    main = EXAMPLES / name / "__main__.py"
    return record(lambda: runpy.run_path(str(main), run_name="__main__"), config=config, secret_config=secret_config)


def of_type(run: PreviewResult, rtype: str) -> list[Registration]:
    return [r for r in run.registrations if r.type == rtype]


def one(run: PreviewResult, rtype: str) -> Registration:
    (found,) = of_type(run, rtype)
    return found


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def analyze(run: PreviewResult) -> list[tuple[str, int, str, str]]:
    """(policy, level, resource name, message) for every diagnostic the pack reports on the program's resources."""
    analyzer = make_analyzer()
    assert isinstance(analyzer, _PolicyAnalyzerServicer)
    resources = [r for r in run.registrations if r.custom and not r.type.startswith("pulumi:providers:")]
    found = []
    for r in resources:
        request = proto.AnalyzeRequest(type=r.type, properties=r.struct, urn=r.urn, name=r.name)
        response = analyzer.Analyze(request, None)  # type: ignore[no-untyped-call]
        found += [(d.policyName, d.enforcementLevel, r.name, d.message) for d in response.diagnostics]
    items = [proto.AnalyzerResource(type=r.type, properties=r.struct, urn=r.urn, name=r.name) for r in resources]
    stack = analyzer.AnalyzeStack(proto.AnalyzeStackRequest(resources=items), None)  # type: ignore[no-untyped-call]
    return found + [(d.policyName, d.enforcementLevel, d.urn, d.message) for d in stack.diagnostics]


def test_every_example_is_a_complete_pulumi_project() -> None:
    folders = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    assert folders == ["gateway-existing-endpoints", "policy-pack-only", "vllm-on-existing-host"]
    for folder in folders:
        project = yaml.safe_load((EXAMPLES / folder / "Pulumi.yaml").read_text())
        assert project["name"] == folder
        assert project["runtime"]["name"] == "python"
        for key, decl in project.get("config", {}).items():
            assert ":" not in key and decl["type"] in ("string", "integer", "boolean") and decl["description"]
        assert (EXAMPLES / folder / "__main__.py").is_file() and (EXAMPLES / folder / "README.md").is_file()


def test_vllm_on_existing_host() -> None:
    run = run_example("vllm-on-existing-host", config={"dockerHost": "ssh://ubuntu@gpu-host", "context": 16384})
    backend = one(run, "llmstack:index:InferenceBackend")
    assert backend.name == "vllm" and not backend.custom
    assert [r.name for r in of_type(run, "llmstack:index:Network")] == ["llm"]
    assert {r.inputs["host"] for r in of_type(run, "pulumi:providers:docker")} == {"ssh://ubuntu@gpu-host"}
    assert one(run, "docker:index/remoteImage:RemoteImage").inputs["name"].startswith("vllm/vllm-openai:")
    container = one(run, "docker:index/container:Container")
    assert container.parent == backend.urn
    command = container.inputs["command"]
    assert flag(command, "--max-model-len") == "16384"
    assert flag(command, "--served-model-name") == "vllm"
    assert container.inputs["gpus"] == "all"
    assert container.inputs["ports"] == [{"internal": 8000, "external": 8000, "ip": "127.0.0.1"}]
    assert container.inputs["networksAdvanced"] == [{"name": "llmstack", "aliases": ["vllm"]}]
    assert run.exports["container"] == "llm-vllm"
    assert run.exports["port"] == 8000
    assert [v for v in analyze(run) if v[1] == proto.MANDATORY] == []


def test_vllm_on_existing_host_defaults() -> None:
    run = run_example("vllm-on-existing-host")
    assert {r.inputs["host"] for r in of_type(run, "pulumi:providers:docker")} == {"ssh://ubuntu@gpu-host"}
    assert flag(one(run, "docker:index/container:Container").inputs["command"], "--max-model-len") == "8192"


def test_gateway_in_front_of_existing_endpoints() -> None:
    run = run_example("gateway-existing-endpoints", config={"vllmUrl": "http://10.0.0.5:8000"},
                      secret_config={"masterKey": MASTER_KEY})
    gateway = one(run, "llmstack:index:LiteLLMGateway")
    container = one(run, "docker:index/container:Container")
    assert container.parent == gateway.urn
    assert {r.inputs["host"] for r in of_type(run, "pulumi:providers:docker")} == {"unix:///var/run/docker.sock"}
    assert of_type(run, "docker:index/network:Network")[0].inputs["ipv6"] is False
    # the master key travels only as a secret: the env list is wrapped, and the rendered config only names the var
    assert container.inputs["envs"][SECRET_SIG] and MASTER_KEY in str(container.inputs["envs"]["value"])
    (upload,) = container.inputs["uploads"]
    assert upload["file"] == "/app/config.yaml" and MASTER_KEY not in upload["content"]
    config = yaml.safe_load(upload["content"])
    assert config["router_settings"]["fallbacks"] == [{"llama-3.1-8b": ["llama-3.1-8b-ollama"]}]
    assert config["router_settings"]["num_retries"] == 1
    assert config["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    models = {m["model_name"]: m["litellm_params"] for m in config["model_list"]}
    assert models == {
        # vLLM takes an API key (docs/engines.md §1.1): the gateway reads it from its environment
        "llama-3.1-8b": {"model": "hosted_vllm/meta-llama/Llama-3.1-8B-Instruct", "api_base": "http://10.0.0.5:8000/v1",
                         "api_key": "os.environ/LLMSTACK_ENGINE_API_KEY"},
        "llama-3.1-8b-ollama": {"model": "ollama_chat/llama3.1:8b", "api_base": "http://10.0.0.6:11434"},
    }
    assert run.exports["config_yaml"] == upload["content"]
    assert [v for v in analyze(run) if v[1] == proto.MANDATORY] == []


def test_gateway_example_needs_the_master_key() -> None:
    with pytest.raises(pulumi.ConfigMissingError, match="masterKey"):
        run_example("gateway-existing-endpoints")


def test_policy_pack_only_program_passes_the_pack() -> None:
    run = run_example("policy-pack-only")
    assert [r.type for r in run.registrations if r.custom] == [
        "pulumi:providers:docker", "docker:index/remoteImage:RemoteImage", "docker:index/container:Container"]
    container = one(run, "docker:index/container:Container")
    assert flag(container.inputs["command"], "--max-model-len") == "8192"
    assert analyze(run) == []
    assert len(ALL_POLICIES) >= 10  # the whole pack ran, not a subset


def test_policy_pack_only_program_with_a_moving_tag_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_STACK", "prod")  # what the CLI sets for the analyzer process
    run = run_example("policy-pack-only", config={"image": "vllm/vllm-openai:latest"})
    found = analyze(run)
    assert {(policy, level) for policy, level, _, _ in found} == {("images-pinned", proto.MANDATORY)}
    assert len(found) == 2 and {name for _, _, name, _ in found} == {"vllm"}  # the RemoteImage and the container
    assert all("latest" in message for *_, message in found)
