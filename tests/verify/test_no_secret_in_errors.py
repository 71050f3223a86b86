"""No error path of `llmstack verify` shows a secret: a master key planted in every place a mistake can put it, each
CLI error path run, and its whole output searched for the key."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from llmstack.cli import main
from llmstack.outputs import StackOutputs
from llmstack.verify import CheckFailed, Verifier
from tests.standins import StandIn
from tests.verify.kubernetes import kubectl_on_path, resolver_outside_the_cluster
from tests.verify.stack import Stack
from tests.verify.test_verify_exports import ssh_on_path

PLANTED = "sk-planted-" + secrets.token_hex(16)


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["verify", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


def exported(live: Stack) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(live.outputs_file.read_text())
    data["master_key"] = PLANTED
    return data


def broken(live: Stack, case: str) -> Any:
    data: Any = exported(live)
    endpoints = data["endpoints"]
    if case == "bad gateway url":
        data["gateway_url"] = "not a url"
    elif case == "key as a url":
        endpoints["backends"]["chat"]["url"] = PLANTED
    elif case == "key as the gateway url":
        data["gateway_url"] = PLANTED
    elif case == "key in a fallback":
        endpoints["fallbacks"] = {"chat": [PLANTED]}
    elif case == "key under the wrong name":  # the case: the whole object used to be printed
        data["masterKey"] = data.pop("master_key")
    elif case == "endpoints not an object":
        data["endpoints"] = f"gateway {PLANTED}"
    elif case == "flat document":
        data = {**endpoints, "master_key": PLANTED}
    elif case == "a list":
        data = [data]
    elif case == "unknown engine":
        endpoints["backends"]["chat"]["engine"] = "tgi-" + PLANTED
    else:
        raise AssertionError(case)
    return data


CASES = ["bad gateway url", "key as a url", "key as the gateway url", "key in a fallback", "key under the wrong name",
         "endpoints not an object", "flat document", "a list", "unknown engine"]


@pytest.mark.parametrize("case", CASES)
def test_outputs_file_errors(live: Stack, tmp_path: Path, case: str) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(broken(live, case)))
    code, shown = run_cli("--outputs", str(path))
    assert code == 2 and shown.startswith("error: ") and PLANTED not in shown, shown


def test_outputs_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(f'{{"master_key": "{PLANTED}", "gateway_url": ')
    code, shown = run_cli("--outputs", str(path))
    assert code == 2 and "Not JSON" in shown and PLANTED not in shown


def _fake_pulumi(bin_dir: Path, script: str) -> dict[str, str]:
    exe = bin_dir / "pulumi"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


@pytest.mark.parametrize("script", [
    f'echo \'{{"master_key": "{PLANTED}", "gateway_url": \'\n',                      # not JSON, key inside
    f'echo \'{{"master_key": "{PLANTED}"}}\'\necho "error: stack {PLANTED} is locked" >&2\nexit 255\n',
    f'echo \'{{"master_key": "{PLANTED}", "endpoints": {{}}}}\'\n',                   # JSON, wrong shape
])
def test_stack_errors(tmp_path: Path, script: str) -> None:
    code, shown = run_cli("--stack", "prod", env=_fake_pulumi(tmp_path, script))
    assert code == 2 and shown.startswith("error: ") and PLANTED not in shown, shown


@pytest.mark.parametrize("args", [
    ["--gateway", "ftp://gateway"],
    ["--gateway", PLANTED],
    ["--gateway", "http://127.0.0.1:9", "--backend", f"chat=vllm@{PLANTED}"],
    ["--gateway", "http://127.0.0.1:9", "--backend", "chat=vllm@http://127.0.0.1:9", "--fallback"],
])
def test_explicit_endpoint_errors(args: list[str]) -> None:
    code, shown = run_cli(*args, env={"LITELLM_MASTER_KEY": PLANTED})
    assert code == 2 and shown.startswith("error: ") and PLANTED not in shown, shown


def test_tunnel_error(live: Stack, tmp_path: Path) -> None:
    data = exported(live)
    data["access"] = {"ssh": "ubuntu@10.40.0.12", "private": ["chat"]}
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(data))
    env = ssh_on_path(tmp_path) | {"SSH_STANDIN_FAIL": f"ubuntu@10.40.0.12: refused {PLANTED}"}
    code, shown = run_cli("--outputs", str(path), "--via-ssh", env=env)
    assert code == 2 and "ended (exit 255)" in shown and PLANTED not in shown, shown


def test_failed_checks_never_show_the_key(live: Stack) -> None:
    """A check's answer may quote the request (a proxy echoing its Authorization header): the report masks it."""
    outputs = StackOutputs.parse(exported(live), "test")
    verifier = Verifier(outputs)

    async def echoing() -> str:
        raise CheckFailed(f"HTTP 500: bad header Authorization: Bearer {PLANTED}")

    result = asyncio.run(verifier._timed("gateway chat", f"gateway {PLANTED}", echoing()))
    assert not result.ok and "Authorization: Bearer ***" in result.detail
    assert PLANTED not in json.dumps(result.to_json())


def test_a_failing_run_prints_no_key(live: Stack, tmp_path: Path) -> None:
    """The whole table and JSON of a run against a gateway that refuses the (wrong) key."""
    data = exported(live)
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(data))
    for args in (["--outputs", str(path)], ["--outputs", str(path), "--json"]):
        code, shown = run_cli(*args)
        assert code == 1 and PLANTED not in shown


def k8s_outputs(k8s_exports: dict[str, dict[str, Any]], tmp_path: Path) -> Path:
    data = copy.deepcopy(k8s_exports["prod-eks"])
    data["master_key"] = PLANTED
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(data))
    return path


def test_port_forward_error(k8s_exports: dict[str, dict[str, Any]], live: Stack,
                            pods: dict[tuple[str, str], StandIn], tmp_path: Path) -> None:
    cluster = kubectl_on_path(tmp_path, k8s_exports["prod-eks"], live, pods,
                              KUBECTL_STANDIN_FAIL=f"chat=error: pod chat rejected token {PLANTED}")
    code, shown = run_cli("--outputs", str(k8s_outputs(k8s_exports, tmp_path)), "--via-kubectl", env=cluster.env)
    assert code == 2 and "svc/chat" in shown and "rejected token ***" in shown and PLANTED not in shown, shown


def test_a_kubernetes_run_prints_no_key(k8s_exports: dict[str, dict[str, Any]], live: Stack,
                                        pods: dict[tuple[str, str], StandIn], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Skipped (outside the cluster), and through the port-forwards against a gateway that refuses the planted key:
    table and JSON, with --fallback."""
    resolver_outside_the_cluster(monkeypatch)
    cluster = kubectl_on_path(tmp_path, k8s_exports["prod-eks"], live, pods)
    path = str(k8s_outputs(k8s_exports, tmp_path))
    for args, exit_code in [((), 1), (("--json",), 1), (("--via-kubectl",), 1), (("--via-kubectl", "--json"), 1),
                            (("--via-kubectl", "--fallback"), 1)]:
        code, shown = run_cli("--outputs", path, *args, env=cluster.env)
        assert code == exit_code and PLANTED not in shown, (args, shown)
    cluster.assert_stopped()
