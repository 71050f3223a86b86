"""images-pinned, imdsv2-required, ebs-encrypted, secrets-not-plaintext; and how secrets reach a policy."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime import proto
from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy

from llmstack.policy_check import _unwrapped_secrets
from llmstack.preview import PreviewResult
from policies import make_analyzer
from tests.policies.policy_helpers import CONTAINER, analyze, by_name, inputs, only, set_label, struct

REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
INSTANCE = "aws:ec2/instance:Instance"
SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}


def _instance(results: dict[str, PreviewResult]) -> dict[str, Any]:
    return inputs(by_name(results["prod"], "gpu-chat-instance"))


# -- images-pinned ---------------------------------------------------------------------------------------------------

def test_shipped_images_are_pinned(results: dict[str, PreviewResult]) -> None:
    for env in ("dev", "staging", "prod"):
        for r in results[env].registrations:
            if r.type in (REMOTE_IMAGE, CONTAINER):
                assert only(analyze(r.type, inputs(r), r.name), "images-pinned") == [], r.name


@pytest.mark.parametrize("tag", ["latest", "main", "main-latest", "main-stable", "stable", None])
def test_moving_tags_fail_outside_dev(results: dict[str, PreviewResult], tag: str | None) -> None:
    props = inputs(by_name(results["prod"], "chat-container"))
    set_label(props, "llmstack.image", "vllm/vllm-openai" + (f":{tag}" if tag else ""))
    found = only(analyze(CONTAINER, props), "images-pinned")
    assert len(found) == 1 and "moves" in found[0].message and "in prod" in found[0].message


def test_moving_tags_pass_in_dev(results: dict[str, PreviewResult]) -> None:
    props = inputs(by_name(results["dev"], "chat-container"))
    set_label(props, "llmstack.image", "ollama/ollama:latest")
    assert only(analyze(CONTAINER, props), "images-pinned") == []
    strict: dict[str, Any] = {"images-pinned": {"exemptEnvironments": []}}
    assert len(only(analyze(CONTAINER, props, config=strict), "images-pinned")) == 1


def test_remote_image_with_registry_port_and_no_tag_fails() -> None:
    found = only(analyze(REMOTE_IMAGE, {"name": "registry.local:5000/vllm"}), "images-pinned")
    assert len(found) == 1 and "latest (no tag)" in found[0].message
    assert only(analyze(REMOTE_IMAGE, {"name": "registry.local:5000/vllm:v0.30.0"}), "images-pinned") == []


# -- imdsv2-required / ebs-encrypted ---------------------------------------------------------------------------------

def test_real_instances_pass(results: dict[str, PreviewResult]) -> None:
    for r in results["prod"].registrations:
        if r.type == INSTANCE:
            diags = analyze(INSTANCE, inputs(r), r.name)
            assert only(diags, "imdsv2-required") == [] and only(diags, "ebs-encrypted") == [], r.name


def test_imdsv1_fails(results: dict[str, PreviewResult]) -> None:
    props = _instance(results)
    props["metadataOptions"]["httpTokens"] = "optional"
    found = only(analyze(INSTANCE, props), "imdsv2-required")
    assert len(found) == 1 and "httpTokens is optional" in found[0].message
    del props["metadataOptions"]
    assert len(only(analyze(INSTANCE, props), "imdsv2-required")) == 1
    template = {"metadataOptions": {"httpTokens": "required"}}
    assert only(analyze("aws:ec2/launchTemplate:LaunchTemplate", template), "imdsv2-required") == []


def test_unencrypted_volumes_fail(results: dict[str, PreviewResult]) -> None:
    props = _instance(results)
    props["rootBlockDevice"]["encrypted"] = False
    props["ebsBlockDevices"] = [{"deviceName": "/dev/sdf", "volumeSize": 500}]
    found = only(analyze(INSTANCE, props), "ebs-encrypted")
    assert len(found) == 1 and "rootBlockDevice" in found[0].message and "/dev/sdf" in found[0].message
    assert len(only(analyze("aws:ebs/volume:Volume", {"size": 100}), "ebs-encrypted")) == 1
    assert only(analyze("aws:ebs/volume:Volume", {"size": 100, "encrypted": True}), "ebs-encrypted") == []


# -- secrets-not-plaintext -------------------------------------------------------------------------------------------

def test_shipped_resources_hold_no_plain_secrets(results: dict[str, PreviewResult]) -> None:
    for env in ("dev", "staging", "prod"):
        for r in results[env].registrations:
            if r.custom:
                assert only(analyze(r.type, inputs(r), r.name), "secrets-not-plaintext") == [], r.name


@pytest.mark.parametrize("where", ["command", "label", "upload", "env"])
def test_secrets_in_container_fail(results: dict[str, PreviewResult], where: str) -> None:
    props = inputs(by_name(results["prod"], "chat-fallback-container"))
    token = "hf_" + "a" * 30
    if where == "command":
        props["command"] += ["--hf-token", token]
    elif where == "label":
        set_label(props, "token", token)
    elif where == "upload":
        props["uploads"] = [{"file": "/app/.env", "content": f"HF_TOKEN={token}\nOTHER=1\n"}]
    else:  # a plain variable list (the stack's own lists are secret-wrapped whole: each holds the engine key)
        props["envs"] = ["LOG_LEVEL=info", f"OPENAI_API_KEY=sk-{'b' * 40}"]
    found = only(analyze(CONTAINER, props), "secrets-not-plaintext")
    assert len(found) == 1 and "plain text" in found[0].message
    assert token not in found[0].message  # findings are redacted


def test_secrets_in_user_data_fail(results: dict[str, PreviewResult]) -> None:
    props = _instance(results)
    props["userData"] += "export NGC_API_KEY=nvapi-abcdefghijklmnopqrstuv\n"
    found = only(analyze(INSTANCE, props), "secrets-not-plaintext")
    assert len(found) == 1 and "NGC_API_KEY=..." in found[0].message and "SSM" in found[0].message


def test_owner_only_key_file_upload_passes(results: dict[str, PreviewResult]) -> None:
    prometheus = inputs(by_name(results["prod"], "monitoring-prometheus"))
    key_file = [u for u in prometheus["uploads"] if u.get("permissions") == "0400"]
    assert key_file and "4dabf18193072939515e22adb298388d" in key_file[0]["content"]  # secret in the Struct
    assert only(analyze(CONTAINER, prometheus), "secrets-not-plaintext") == []


# -- how pulumi_policy presents secrets ------------------------------------------------------------------------------

def test_policies_see_secret_values_unwrapped_like_plain_ones() -> None:
    """The engine sends secrets wrapped (KeepSecrets); pulumi_policy 1.21 unwraps them before `validate`, so a policy
    cannot tell a secret env var from a plain one. Hence llmstack.policy_check checks the raw Struct."""
    seen: list[Any] = []

    def capture(args: ResourceValidationArgs, report: Any) -> None:
        seen.append(list(args.props["envs"]))

    analyzer = make_analyzer(policies=[ResourceValidationPolicy("capture", "capture envs", capture)])
    plain = {"envs": ["LITELLM_MASTER_KEY=sk-abc123456789"]}
    secret = {"envs": {**SIG, "value": ["LITELLM_MASTER_KEY=sk-abc123456789"]}}
    for props in (plain, secret):
        request = proto.AnalyzeRequest(type=CONTAINER, properties=struct(props), urn="urn:x", name="x")
        analyzer.Analyze(request, None)  # type: ignore[no-untyped-call]
    assert seen[0] == seen[1] == ["LITELLM_MASTER_KEY=sk-abc123456789"]


def test_policy_check_flags_credentials_sent_without_the_secret_wrapper() -> None:
    plain = {"envs": ["LITELLM_MASTER_KEY=sk-abc123456789", "HF_TOKEN=hf_x"],
             "uploads": [{"file": "/k", "content": "sk-abc", "permissions": "0400"}]}
    found = _unwrapped_secrets(plain)
    assert [p for p, _ in found] == ["gateway-master-key-secret", "secrets-not-plaintext", "secrets-not-plaintext"]
    wrapped = {"envs": {**SIG, "value": plain["envs"]},
               "uploads": [{"file": "/k", "content": {**SIG, "value": "sk-abc"}, "permissions": "0400"}]}
    assert _unwrapped_secrets(wrapped) == []
