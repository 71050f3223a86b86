"""The `llmstack` package schema, obtained in process from the SDK's own provider-host machinery.

`components.package.schema()` builds the same `ComponentProvider` that `component_provider_host` serves and asks it
through the gRPC servicer's `GetSchema`, so what is checked here is what the engine (and `pulumi package add` /
`gen-sdk`) receives.
"""

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

import components.schema as schema_cli
import llmstack
from components.package import COMPONENTS, PACKAGE_NAME, package_version, schema
from policies import ALL_POLICIES
from tests.conftest import ROOT

TOKENS = {f"llmstack:index:{name}" for name in (
    "InferenceBackend", "EmbeddingService", "LiteLLMGateway", "GpuNode", "CpuNode", "Network", "Observability",
    "InferenceStack")}


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    return schema()


def kind(prop: dict[str, Any]) -> str:
    """A property's type in short form: string, integer, array<string>, map<array<string>>, ref:<token>, any."""
    if "$ref" in prop:
        ref = str(prop["$ref"])
        return "any" if ref == "pulumi.json#/Any" else "ref:" + ref.removeprefix("#/types/")
    if prop["type"] == "array":
        return f"array<{kind(prop['items'])}>"
    if prop["type"] == "object" and "additionalProperties" in prop:
        return f"map<{kind(prop['additionalProperties'])}>"
    return str(prop["type"])


def inputs(generated: dict[str, Any], component: str) -> dict[str, str]:
    return {k: kind(v) for k, v in generated["resources"][f"llmstack:index:{component}"]["inputProperties"].items()}


def outputs(generated: dict[str, Any], component: str) -> dict[str, str]:
    return {k: kind(v) for k, v in generated["resources"][f"llmstack:index:{component}"]["properties"].items()}


def test_package_identity(generated: dict[str, Any]) -> None:
    assert generated["name"] == PACKAGE_NAME == "llmstack"
    assert generated["version"] == package_version() == llmstack.__version__
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert llmstack.__version__ == pyproject["project"]["version"], "venv is stale: run `uv sync`"
    assert set(generated["resources"]) == TOKENS
    assert len(COMPONENTS) == len(TOKENS)
    assert all(r["isComponent"] is True for r in generated["resources"].values())
    assert generated["dependencies"] == []  # no cross-package resource references: consumers need no other plugin


def test_inference_backend(generated: dict[str, Any]) -> None:
    res = generated["resources"]["llmstack:index:InferenceBackend"]
    ins = inputs(generated, "InferenceBackend")
    assert ins == {
        "dockerHost": "string", "networkName": "string", "publish": "string", "hostPort": "integer",
        "environment": "string", "hfToken": "string", "engine": "string", "model": "string", "context": "integer",
        "quant": "string", "concurrency": "integer", "kvDtype": "string", "tensorParallel": "integer",
        "gpuMemoryUtilization": "number", "instanceType": "string", "gpus": "boolean", "servedModelName": "string",
        "source": "string", "image": "string", "extraArgs": "array<string>", "ngcApiKey": "string",
        "allowGgufOnVllm": "boolean", "gatewayModel": "string",
    }
    assert sorted(res["requiredInputs"]) == ["context", "dockerHost", "engine", "model", "networkName"]
    # pulumi.Input[...] fields accept Outputs from another language; the planner's inputs are plain values
    props = res["inputProperties"]
    assert {k for k, v in props.items() if not v.get("plain")} == {"dockerHost", "networkName", "hfToken",
                                                                      "ngcApiKey"}
    assert outputs(generated, "InferenceBackend") == {
        "containerName": "string", "url": "string", "port": "integer", "engine": "string",
        "servedModelName": "string"}
    assert sorted(res["required"]) == ["containerName", "engine", "port", "servedModelName", "url"]


def test_litellm_gateway_routes_are_an_object_type(generated: dict[str, Any]) -> None:
    res = generated["resources"]["llmstack:index:LiteLLMGateway"]
    ins = inputs(generated, "LiteLLMGateway")
    assert ins["routes"] == "array<ref:llmstack:index:GatewayRouteArgs>"
    assert ins["fallbacks"] == "map<array<string>>"
    assert ins["masterKey"] == "string" and not res["inputProperties"]["masterKey"].get("plain")
    assert (ins["numRetries"], ins["timeout"], ins["cooldownTime"]) == ("integer", "number", "number")
    assert sorted(res["requiredInputs"]) == ["dockerHost", "masterKey", "networkName", "routes"]
    assert outputs(generated, "LiteLLMGateway") == {"url": "string", "containerName": "string",
                                                     "configYaml": "string"}
    route = generated["types"]["llmstack:index:GatewayRouteArgs"]
    assert route["type"] == "object"
    assert {k: kind(v) for k, v in route["properties"].items()} == {
        "modelName": "string", "engine": "string", "servedName": "string", "baseUrl": "string",
        "embedding": "boolean"}
    assert sorted(route["required"]) == ["baseUrl", "engine", "modelName", "servedName"]
    assert not route["properties"]["baseUrl"].get("plain")  # another component's url output can go here


def test_nodes_network_observability_stack(generated: dict[str, Any]) -> None:
    gpu, cpu = inputs(generated, "GpuNode"), inputs(generated, "CpuNode")
    assert gpu["servicePorts"] == "array<integer>" and gpu["tags"] == "map<string>"
    assert set(gpu) - set(cpu) == {"model", "engine", "quant", "context", "concurrency"}
    assert sorted(generated["resources"]["llmstack:index:GpuNode"]["requiredInputs"]) == [
        "servicePorts", "subnetId", "vpcId"]
    assert outputs(generated, "GpuNode") == outputs(generated, "CpuNode") == {
        "instanceId": "string", "instanceType": "string", "privateIp": "string", "publicIp": "string",
        "dockerHost": "string", "securityGroupId": "string"}
    assert inputs(generated, "Network") == {"dockerHost": "string", "networkName": "string"}
    assert outputs(generated, "Network") == {"networkName": "string"}
    obs = inputs(generated, "Observability")
    assert obs["engineTargets"] == "array<ref:llmstack:index:EngineTargetArgs>"
    assert obs["gpuHosts"] == "array<ref:llmstack:index:GpuHostArgs>"
    assert outputs(generated, "Observability") == {"prometheusConfig": "string"}
    stack = generated["resources"]["llmstack:index:InferenceStack"]
    assert inputs(generated, "InferenceStack") == {"spec": "any", "masterKey": "string", "hfToken": "string",
                                                    "ngcApiKey": "string", "sshPrivateKey": "string",
                                                    "kubeconfig": "string", "engineApiKey": "string"}
    assert sorted(stack["requiredInputs"]) == ["masterKey", "spec"]
    assert outputs(generated, "InferenceStack") == {"gatewayUrl": "string", "endpoints": "map<any>",
                                                     "access": "map<any>"}
    assert set(generated["types"]) == {"llmstack:index:GatewayRouteArgs", "llmstack:index:EngineTargetArgs",
                                       "llmstack:index:GpuHostArgs"}


def test_every_component_type_input_and_output_is_described(generated: dict[str, Any]) -> None:
    missing = []
    for section in ("resources", "types"):
        for token, entry in generated[section].items():
            if not entry.get("description", "").strip():
                missing.append(token)
            for group in ("inputProperties", "properties"):
                missing += [f"{token}.{name}" for name, prop in entry.get(group, {}).items()
                            if not prop.get("description", "").strip()]
    assert missing == []
    for section in ("resources", "types"):  # one-line descriptions: no source indentation leaks into SDK docs
        assert all("\n" not in e["description"] for e in generated[section].values())


def test_fields_declared_twice_stay_identical(generated: dict[str, Any]) -> None:
    """GpuNodeArgs repeats NodeArgs, the service Args repeat ServiceArgs, the public nodes and services repeat their
    base class's outputs (the analyzer reads docstrings per class). The copies must not drift."""
    res = generated["resources"]
    gpu, cpu = res["llmstack:index:GpuNode"], res["llmstack:index:CpuNode"]
    assert {k: gpu["inputProperties"][k] for k in cpu["inputProperties"]} == cpu["inputProperties"]
    assert gpu["properties"] == cpu["properties"]
    backend, embeddings = res["llmstack:index:InferenceBackend"], res["llmstack:index:EmbeddingService"]
    shared = ("dockerHost", "networkName", "publish", "hostPort", "environment", "hfToken")
    assert {k: backend["inputProperties"][k] for k in shared} == {k: embeddings["inputProperties"][k] for k in shared}
    assert backend["properties"] == embeddings["properties"]


def test_committed_schema_is_current(generated: dict[str, Any]) -> None:
    text = schema_cli.SCHEMA_PATH.read_text(encoding="utf-8")
    committed = json.loads(text)
    assert committed["version"] == llmstack.__version__, schema_cli.problem(committed, generated)
    assert schema_cli.problem(committed, generated) is None, schema_cli.problem(committed, generated)
    assert text == schema_cli.render(committed), f"not in canonical form: regenerate with `{schema_cli.REGENERATE}`"


def test_changelog_has_an_entry_for_the_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{llmstack.__version__}]" in changelog
    assert all(f"`{component.__name__}`" in changelog for component in COMPONENTS)
    assert [p.name for p in ALL_POLICIES if f"`{p.name}`" not in changelog] == []


def _changed(generated: dict[str, Any]) -> dict[str, Any]:
    edited: dict[str, Any] = json.loads(json.dumps(generated))
    del edited["resources"]["llmstack:index:InferenceBackend"]["inputProperties"]["extraArgs"]
    return edited


def _bumped(generated: dict[str, Any]) -> dict[str, Any]:
    """The same schema under the next minor version."""
    major, minor, _ = (int(part) for part in generated["version"].split("."))
    return dict(generated, version=f"{major}.{minor + 1}.0")


def test_a_schema_change_without_a_version_bump_fails(generated: dict[str, Any]) -> None:
    found = schema_cli.problem(_changed(generated), generated)
    assert found is not None
    assert found.startswith("schema changed: bump the version in pyproject.toml, add a CHANGELOG entry, and "
                            "regenerate with `python -m components.schema`")
    bumped = _bumped(generated)
    assert (schema_cli.problem(generated, bumped) or "").startswith(f"package version is now {bumped['version']}")
    assert (schema_cli.problem(_changed(generated), bumped) or "").startswith(
        f"schema changed with the version bump {generated['version']} -> {bumped['version']}: regenerate")
    assert "is missing" in (schema_cli.problem(None, generated) or "")


def test_generator_refuses_to_overwrite_without_a_bump(generated: dict[str, Any], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "schema.json"
    stale = schema_cli.render(_changed(generated))
    target.write_text(stale, encoding="utf-8")
    monkeypatch.setattr(schema_cli, "SCHEMA_PATH", target)
    assert schema_cli.main([]) == 1
    assert target.read_text(encoding="utf-8") == stale
    assert "schema changed: bump the version" in capsys.readouterr().err
    # after a bump the same command regenerates the file, and --check then passes
    monkeypatch.setattr(schema_cli, "schema", lambda: _bumped(generated))
    assert schema_cli.main(["--check"]) == 1
    assert schema_cli.main([]) == 0
    assert json.loads(target.read_text(encoding="utf-8")) == _bumped(generated)
    assert schema_cli.main(["--check"]) == 0


def test_an_untagged_version_may_be_regenerated_in_place(generated: dict[str, Any], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "schema.json"
    target.write_text(schema_cli.render(_changed(generated)), encoding="utf-8")
    monkeypatch.setattr(schema_cli, "SCHEMA_PATH", target)
    monkeypatch.setattr(schema_cli, "is_tagged", lambda version: True)
    assert schema_cli.main(["--unreleased"]) == 1  # a released schema never changes
    monkeypatch.setattr(schema_cli, "is_tagged", lambda version: False)
    assert schema_cli.main(["--unreleased"]) == 0
    assert json.loads(target.read_text(encoding="utf-8")) == generated
