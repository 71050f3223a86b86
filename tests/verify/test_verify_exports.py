"""`llmstack verify` on what the program really exports: each shipped stack's `__main__.py` under the mock engine,
its exports moved onto loopback stand-ins (the private 10.x addresses a preview exports are never contacted), checked
through the CLI. On AWS the engines are private to the gateway's node: skipped directly, checked through the gateway,
and checked directly with `--via-ssh` (through the ssh stand-in, tests/verify/ssh_standin.py)."""

from __future__ import annotations

import copy
import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from llmstack.cli import main
from llmstack.outputs import EXPORT_KEYS, StackExports, StackOutputs
from llmstack.stackplan import EMBEDDINGS
from llmstack.verify import checks
from llmstack.verify.tunnel import SSH_OPTIONS
from tests.conftest import AWS_STACKS, STACKS, ShippedStack
from tests.standins import OllamaStandIn, StandIn, VllmStandIn
from tests.verify.on_path import on_path
from tests.verify.stack import Stack, running


@pytest.fixture(scope="module")
def engines(shipped: dict[str, ShippedStack]) -> Iterator[dict[tuple[str, str], StandIn]]:
    """A stand-in per (engine, served model) the shipped stacks export, speaking that engine's protocol (SGLang
    serves vLLM's OpenAI routes and /health)."""
    wanted = {(b["engine"], b["model"]) for s in shipped.values()
              for b in s.result.exports["endpoints"]["backends"].values()}
    standins: dict[tuple[str, str], StandIn] = {}
    for engine, model in sorted(wanted):
        assert engine in ("vllm", "sglang", "ollama"), engine
        standins[(engine, model)] = OllamaStandIn((model,)) if engine == "ollama" else VllmStandIn(model)
    with running(standins):
        yield standins


def on_loopback(exports: dict[str, Any], live: Stack, engines: dict[tuple[str, str], StandIn]) -> dict[str, Any]:
    """The exports with every host moved to its loopback stand-in, and the stand-in gateway's key."""
    moved = copy.deepcopy(exports)
    endpoints = moved["endpoints"]
    for url in [moved["gateway_url"], *(b["url"] for b in endpoints["backends"].values())]:
        host = ipaddress.ip_address(urlsplit(url).hostname or "")
        assert host.is_private or host.is_loopback, url  # nothing here is ever contacted as exported
    moved["gateway_url"] = endpoints["gateway_url"] = live.proxy.url
    moved["master_key"] = live.proxy.master_key
    for backend in endpoints["backends"].values():
        backend["url"] = engines[(backend["engine"], backend["model"])].url
    endpoints["embeddings"]["url"] = live.tei.url
    return moved


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["verify", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def ssh_on_path(bin_dir: Path) -> dict[str, str]:
    return on_path(bin_dir, "ssh", "tests.verify.ssh_standin") | {"SSH_STANDIN_LOG": str(bin_dir / "ssh-args.json")}


@pytest.mark.parametrize("name", STACKS)
def test_exports_are_the_one_schema(shipped: dict[str, ShippedStack], name: str) -> None:
    stack = shipped[name]
    exports = stack.result.exports
    assert list(exports) == list(EXPORT_KEYS)
    parsed = StackExports.model_validate(exports)
    assert parsed.master_key.get_secret_value() == exports["master_key"]
    services = [s.name for s in stack.plan.services]
    if name in AWS_STACKS:
        gateway_host = urlsplit(exports["gateway_url"]).hostname
        assert parsed.access.private == services and parsed.access.ssh is not None
        assert parsed.access.ssh.startswith("ubuntu@")
        # The gateway's node: the Docker host the embeddings (on the CPU node) are deployed to.
        assert f"ssh://{parsed.access.ssh}" == exports["endpoints"]["embeddings"]["docker_host"]
        assert gateway_host is not None
    else:
        assert parsed.access.private == [] and parsed.access.ssh is None
    assert checks.EMBEDDINGS == EMBEDDINGS


@pytest.mark.parametrize("name", STACKS)
def test_verify_runs_on_each_shipped_stacks_exports(shipped: dict[str, ShippedStack], name: str, live: Stack,
                                                    engines: dict[tuple[str, str], StandIn], tmp_path: Path) -> None:
    exports = on_loopback(shipped[name].result.exports, live, engines)
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(exports))
    code, out, _ = run_cli("--outputs", str(path), "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True, out
    plan = shipped[name].plan
    gateway = {c["target"].removeprefix("gateway model ") for c in report["checks"]
               if c["check"] in ("gateway chat", "gateway embed") and c["ok"] and not c["skipped"]}
    assert gateway == set(plan.gateway.model_names)
    direct = [c for c in report["checks"] if c["check"] in ("health", "chat", "embed")]
    assert len(direct) == 2 * len(plan.services)
    if name in AWS_STACKS:  # engine ports answer the gateway's node only: checked through the gateway
        assert all(c["skipped"] and "--via-ssh" in c["detail"] for c in direct)
        assert {c["target"].split()[0] for c in direct} == {s.name for s in plan.services}
    else:
        assert all(c["ok"] and not c["skipped"] for c in direct)


def test_table_says_what_was_skipped(shipped: dict[str, ShippedStack], live: Stack,
                                     engines: dict[tuple[str, str], StandIn], tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(on_loopback(shipped["staging"].result.exports, live, engines)))
    code, out, _ = run_cli("--outputs", str(path))
    assert code == 0 and "SKIP" in out and "FAIL" not in out
    assert "4 direct checks skipped" in out and "--via-ssh" in out


def test_via_ssh_checks_the_private_endpoints_through_the_gateways_node(
        shipped: dict[str, ShippedStack], live: Stack, engines: dict[tuple[str, str], StandIn],
        tmp_path: Path) -> None:
    exports = on_loopback(shipped["prod"].result.exports, live, engines)
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(exports))
    env = ssh_on_path(tmp_path)
    before = {key: s.count("/health") for key, s in engines.items()}
    code, out, _ = run_cli("--outputs", str(path), "--via-ssh", "--json", env=env)
    report = json.loads(out)
    assert code == 0 and report["ok"] is True, out
    assert not [c for c in report["checks"] if c["skipped"]]
    direct = [c for c in report["checks"] if c["check"] in ("health", "chat", "embed")]
    assert len(direct) == 2 * len(shipped["prod"].plan.services)
    assert all(urlsplit(c["target"].split()[-1]).hostname == "127.0.0.1" for c in direct)
    assert all(engines[k].count("/health") > n for k, n in before.items() if k[0] != "ollama")
    # One ssh to the gateway's node, a local forward per endpoint, never a prompt.
    argv = json.loads((tmp_path / "ssh-args.json").read_text())
    assert argv[0] == "-N" and argv[-1] == exports["access"]["ssh"]
    assert " ".join(SSH_OPTIONS) in " ".join(argv)
    forwards = sorted(a.split(":", 2)[2] for a in argv if a.startswith("-L127.0.0.1:"))
    endpoints = exports["endpoints"]
    urls = [exports["gateway_url"], endpoints["embeddings"]["url"], *(b["url"] for b in endpoints["backends"].values())]
    assert forwards == sorted({urlsplit(u).netloc for u in urls})


def test_via_ssh_names_the_login_failure(shipped: dict[str, ShippedStack], live: Stack,
                                         engines: dict[tuple[str, str], StandIn], tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(on_loopback(shipped["staging"].result.exports, live, engines)))
    env = ssh_on_path(tmp_path) | {"SSH_STANDIN_FAIL": "ubuntu@10.40.0.12: Permission denied (publickey)."}
    code, _, err = run_cli("--outputs", str(path), "--via-ssh", env=env)
    assert code == 2 and "ended (exit 255)" in err and "Permission denied (publickey)" in err


def test_via_ssh_needs_a_host(shipped: dict[str, ShippedStack], live: Stack,
                              engines: dict[tuple[str, str], StandIn], tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(on_loopback(shipped["dev"].result.exports, live, engines)))
    code, _, err = run_cli("--outputs", str(path), "--via-ssh", env=ssh_on_path(tmp_path))
    assert code == 2 and "--via-ssh" in err and "ubuntu@<address>" in err


def test_explicit_ssh_host_overrides_the_outputs(shipped: dict[str, ShippedStack], live: Stack,
                                                 engines: dict[tuple[str, str], StandIn], tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(on_loopback(shipped["staging"].result.exports, live, engines)))
    code, out, _ = run_cli("--outputs", str(path), "--via-ssh", "ops@bastion.example", "--json",
                           env=ssh_on_path(tmp_path))
    assert code == 0, out
    assert json.loads((tmp_path / "ssh-args.json").read_text())[-1] == "ops@bastion.example"


def test_outputs_parse_the_exports_not_a_flat_document(shipped: dict[str, ShippedStack]) -> None:
    exports = shipped["prod"].result.exports
    parsed = StackOutputs.parse(exports, "prod")
    assert sorted(parsed.backends) == sorted(exports["endpoints"]["backends"])
    flat = {**exports["endpoints"], "master_key": exports["master_key"]}
    with pytest.raises(ValueError, match=r"prod: endpoints"):
        StackOutputs.parse(flat, "prod")
