"""`llmstack verify` against stand-in engines, a Docker API stand-in and the real LiteLLM proxy."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from llmstack.cli import main
from llmstack.outputs import StackOutputs
from llmstack.verify import VerifyReport, verify
from tests.verify.stack import Stack


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["verify", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def report_of(stdout: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(stdout)
    return data


def by_check(report: dict[str, Any], check: str, target_part: str = "") -> dict[str, Any]:
    (match,) = [
        c
        for c in report["checks"]
        if c["check"] == check
        and (not target_part or c["target"] == target_part or c["target"].startswith(target_part + " "))
    ]
    assert isinstance(match, dict)
    return match


def test_healthy_stack_passes_every_check(live: Stack) -> None:
    code, out, _ = run_cli("--outputs", str(live.outputs_file), "--json")
    report = report_of(out)
    assert code == 0, out
    assert report["ok"] is True
    names = sorted({c["check"] for c in report["checks"]})
    assert names == [
        "chat",
        "embed",
        "gateway auth",
        "gateway chat",
        "gateway embed",
        "gateway live",
        "health",
    ]
    # gateway x2, backends x2 each, embeddings x2, one per gateway model
    assert len(report["checks"]) == 2 + 2 * 2 + 2 + 3
    assert by_check(report, "gateway auth")["detail"] == "no key: HTTP 401"
    assert live.vllm.url in by_check(report, "gateway chat", "gateway model chat")["detail"]  # served by the primary
    assert by_check(report, "embed")["detail"] == "dim 384"
    assert live.ollama.count("/api/chat") >= 2  # directly and through the gateway (ollama_chat -> /api/chat)
    assert "not a valid argument" not in live.proxy.log_text()
    # the engine table's health paths were used
    assert live.vllm.count("/health") >= 1 and live.ollama.count("/api/version") >= 1


def test_table_output_names_checks_and_timings(live: Stack) -> None:
    code, out, _ = run_cli("--outputs", str(live.outputs_file))
    assert code == 0
    assert "llmstack verify" in out and "PASS" in out and "FAIL" not in out
    assert "all 11 checks passed" in out


def test_failing_backend_fails_and_says_which_check_and_why(live: Stack) -> None:
    live.vllm.fail_status = 500
    code, out, _ = run_cli("--outputs", str(live.outputs_file), "--json")
    report = report_of(out)
    assert code == 1 and report["ok"] is False
    failed = [c for c in report["checks"] if not c["ok"]]
    assert [(c["check"], c["target"].split()[0]) for c in failed] == [("chat", "chat")]
    assert "HTTP 500" in failed[0]["detail"] and "/v1/chat/completions" in failed[0]["detail"]
    assert "failure injected" in failed[0]["detail"]
    # the gateway still answers "chat" through its fallback
    gateway_chat = by_check(report, "gateway chat", "gateway model chat")
    assert gateway_chat["ok"] and live.ollama.url in gateway_chat["detail"]


def test_dead_backend_reports_connection_refused(live: Stack) -> None:
    live.ollama.stop()
    report = verify(StackOutputs.from_file(live.outputs_file), timeout=10)
    assert not report.ok
    failed = {(c.check, c.target.split()[0]) for c in report.failures}
    assert ("health", "chat-fallback") in failed and ("chat", "chat-fallback") in failed
    assert ("gateway chat", "gateway") in failed  # the gateway model chat-fallback has no other deployment
    health = next(c for c in report.failures if c.check == "health")
    assert "ConnectError" in health.detail and live.ollama.url in health.detail


def test_table_shows_failures_and_exit_code(live: Stack) -> None:
    live.tei.fail_status = 503
    code, out, _ = run_cli("--outputs", str(live.outputs_file))
    assert code == 1
    assert "FAIL" in out and "checks failed" in out


def test_fallback_stops_primary_checks_gateway_and_restarts(live: Stack) -> None:
    port = live.vllm.port
    fallback_before = live.ollama.count("/api/chat")
    code, out, _ = run_cli("--outputs", str(live.outputs_file), "--fallback", "--json")
    report = report_of(out)
    assert code == 0, out
    stop = by_check(report, "fallback stop")
    assert stop["ok"] and stop["detail"] == "stopped" and "llm-chat" in stop["target"]
    chat = by_check(report, "fallback chat")
    assert chat["ok"] and live.ollama.url in chat["detail"]  # answered by the fallback deployment
    assert by_check(report, "fallback start")["detail"] == "started"
    assert by_check(report, "fallback recover")["ok"]
    assert live.vllm.running and live.vllm.port == port
    assert live.ollama.count("/api/chat") > fallback_before
    assert live.docker.count("/containers/llm-chat/stop") >= 1
    assert live.docker.count("/containers/llm-chat/start") >= 1


def test_fallback_restarts_container_even_when_gateway_fails(live: Stack, tmp_path: Path) -> None:
    live.ollama.fail_status = 500  # the fallback itself is broken: the fallback check must fail
    report = verify(StackOutputs.from_file(live.outputs_file), fallback=True, timeout=10)
    chat = next(c for c in report.checks if c.check == "fallback chat")
    assert not chat.ok and "HTTP" in chat.detail
    assert next(c for c in report.checks if c.check == "fallback start").ok
    assert live.vllm.running


def test_fallback_over_ssh_needs_a_tunnel(live: Stack, tmp_path: Path) -> None:
    data = json.loads(live.outputs_file.read_text())
    data["endpoints"]["backends"]["chat"]["docker_host"] = "ssh://ubuntu@10.0.2.7"
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(data))
    report = verify(StackOutputs.from_file(path), fallback=True, env={})
    stop = next(c for c in report.checks if c.check == "fallback stop")
    assert not stop.ok and "tunnel" in stop.detail and "DOCKER_HOST=unix://" in stop.detail
    assert live.vllm.running  # nothing was stopped
    tunnelled = verify(StackOutputs.from_file(path), fallback=True, env={"DOCKER_HOST": f"unix://{live.docker_sock}"})
    assert tunnelled.ok, [c for c in tunnelled.checks if not c.ok]


def test_explicit_endpoints_discover_models(live: Stack) -> None:
    env = {"GW_KEY": live.proxy.master_key}
    code, out, _ = run_cli(
        "--gateway",
        live.proxy.url,
        "--master-key-env",
        "GW_KEY",
        "--backend",
        f"chat=vllm@{live.vllm.url}",
        "--backend",
        f"chat-fallback=ollama:qwen3:8b@{live.ollama.url}",
        "--embeddings",
        live.tei.url,
        "--json",
        env=env,
    )
    report = report_of(out)
    assert code == 0, out
    assert by_check(report, "chat", "chat (vllm)")["detail"].startswith("Qwen/Qwen3-8B:")
    assert by_check(report, "chat", "chat-fallback")["detail"].startswith("qwen3:8b:")


def test_report_json_shape() -> None:
    assert VerifyReport([]).ok is False  # nothing checked is not a pass


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ([], "source"),
        (["--outputs", "x.json", "--gateway", "http://127.0.0.1:1"], "source"),
        (["--gateway", "http://127.0.0.1:1", "--backend", "chat"], "--backend"),
        (["--gateway", "http://127.0.0.1:1", "--backend", "chat=nope@http://127.0.0.1:2"], "engine"),
        (["--gateway", "http://127.0.0.1:1", "--backend", "chat=vllm@ftp://x"], "--backend"),
        (["--gateway", "http://127.0.0.1:1", "--master-key-env", "UNSET_KEY_VAR"], "--master-key-env"),
        (["--gateway", "http://127.0.0.1:1", "--fallback"], "--fallback"),
        (["--outputs", "/nonexistent/outputs.json"], "--outputs"),
        (["--outputs", "x.json", "--timeout", "0"], "--timeout"),
    ],
)
def test_bad_input_is_an_input_error(args: list[str], field: str) -> None:
    env = {"LITELLM_MASTER_KEY": "sk-test", "UNSET_KEY_VAR": ""}
    code, _, err = run_cli(*args, env=env)
    assert code == 2
    assert err.startswith("error: ") and field in err


def test_outputs_validation_names_the_field(tmp_path: Path, live: Stack) -> None:
    data = json.loads(live.outputs_file.read_text())
    data["master_key"] = "[secret]"
    path = tmp_path / "o.json"
    path.write_text(json.dumps(data))
    code, _, err = run_cli("--outputs", str(path))
    assert code == 2 and "master_key" in err and "--show-secrets" in err and live.proxy.master_key not in err
    data["master_key"] = "sk-x"
    data["endpoints"]["fallbacks"] = {"chat": ["nope"]}
    path.write_text(json.dumps(data))
    code, _, err = run_cli("--outputs", str(path))
    assert code == 2 and "'nope'" in err
    path.write_text("{not json")
    code, _, err = run_cli("--outputs", str(path))
    assert code == 2 and "Not JSON" in err


def test_stack_without_pulumi_cli_suggests_outputs_file(tmp_path: Path) -> None:
    code, _, err = run_cli("--stack", "dev", env={"PATH": str(tmp_path)})
    assert code == 2 and "pulumi CLI is not on PATH" in err and "--outputs FILE" in err


def _fake_pulumi(bin_dir: Path, script: str) -> None:
    exe = bin_dir / "pulumi"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


def test_stack_reads_pulumi_stack_output(live: Stack, tmp_path: Path) -> None:
    """A stand-in `pulumi` executable on PATH: checks the arguments and prints the outputs."""
    args_file = tmp_path / "args"
    _fake_pulumi(tmp_path, f'echo "$@" > {args_file}\ncat {live.outputs_file}\n')
    code, out, _ = run_cli("--stack", "dev", "--json", env={"PATH": f"{tmp_path}:{os.environ['PATH']}"})
    assert code == 0, out
    assert args_file.read_text().split() == ["stack", "output", "--json", "--show-secrets", "--stack", "dev"]


def test_stack_pulumi_failure_is_reported(tmp_path: Path) -> None:
    _fake_pulumi(tmp_path, "echo \"error: no stack named 'dev' found\" >&2\nexit 255\n")
    code, _, err = run_cli("--stack", "dev", env={"PATH": f"{tmp_path}:{os.environ['PATH']}"})
    assert code == 2 and "no stack named" in err


def test_private_backend_is_checked_through_the_gateway_only(live: Stack, tmp_path: Path) -> None:
    """An endpoint the outputs call private (on AWS: its port answers the gateway's node only) gets skip rows for
    its direct checks and for the fallback drill's recovery wait (its health port); the drill itself still runs."""
    data = json.loads(live.outputs_file.read_text())
    data["access"] = {"ssh": "ubuntu@10.40.0.12", "private": ["chat"]}
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(data))
    before = live.vllm.count("/health")
    code, out, _ = run_cli("--outputs", str(path), "--fallback", "--json")
    report = report_of(out)
    assert code == 0 and report["ok"] is True, out
    skipped = [(c["check"], c["target"].split()[0]) for c in report["checks"] if c["skipped"]]
    assert skipped == [("health", "chat"), ("chat", "chat"), ("fallback recover", "chat")]
    assert by_check(report, "fallback chat")["ok"] and by_check(report, "fallback start")["detail"] == "started"
    assert live.vllm.count("/health") == before  # never contacted directly
