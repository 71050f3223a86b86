"""`llmstack verify` on each shipped Kubernetes stack's real preview exports, where every endpoint is a ClusterIP
Service (`http://<service>.<namespace>.svc.cluster.local:<port>`).

This machine is outside the cluster: its resolver knows no cluster name (tests/verify/kubernetes.py). Without
`--via-kubectl` every check is a skip that prints the `kubectl port-forward` commands; with it, the kubectl stand-in
(tests/verify/kubectl_standin.py) forwards each Service for real to its loopback stand-in, and every check runs."""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from llmstack.cli import main
from llmstack.outputs import StackOutputs
from llmstack.verify.portforward import port_forwards
from tests.conftest import KUBERNETES_STACKS
from tests.standins import StandIn
from tests.verify.kubectl_standin import forwards_for
from tests.verify.kubernetes import (
    Cluster,
    kubectl_on_path,
    on_standin_ports,
    resolver_outside_the_cluster,
    service_of,
    urls_of,
    with_key,
)
from tests.verify.stack import Stack

DIRECT = ("health", "chat", "embed")
GATEWAY = ("gateway live", "gateway auth", "gateway chat", "gateway embed")


@pytest.fixture(autouse=True)
def outside(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return resolver_outside_the_cluster(monkeypatch)


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["verify", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def expected_forwards(exports: dict[str, Any]) -> set[tuple[str, str, int]]:
    return {service_of(url) for url in urls_of(exports)}


def forwarded(cluster: Cluster) -> list[tuple[str, str, int]]:
    """(namespace, svc, remote port) of each run, after checking it is kubectl's port-forward syntax on loopback."""
    out = []
    for argv in cluster.runs().values():
        sub = argv[argv.index("port-forward"):]
        assert sub[:3] == ["port-forward", "--address", "127.0.0.1"] and sub[3] == "-n", argv
        assert sub[5].startswith("svc/") and len(sub) == 7, argv
        out.append((sub[4], sub[5].removeprefix("svc/"), int(sub[6].split(":")[1])))
    return out


@pytest.mark.parametrize("name", KUBERNETES_STACKS)
def test_exports_are_cluster_services_of_one_namespace(k8s_exports: dict[str, dict[str, Any]], name: str) -> None:
    exports = k8s_exports[name]
    parsed = StackOutputs.parse(exports, name)
    assert parsed.access.namespace and parsed.access.ssh is None
    services = expected_forwards(exports)
    assert {ns for ns, _, _ in services} == {parsed.access.namespace}
    assert {svc for _, svc, _ in services} == {"gateway", *parsed.access.private}
    assert all(b.docker_host is None for b in parsed.backends.values())


@pytest.mark.parametrize("name", KUBERNETES_STACKS)
def test_via_kubectl_checks_every_service_through_port_forward(
        k8s_exports: dict[str, dict[str, Any]], name: str, live: Stack, pods: dict[tuple[str, str], StandIn],
        tmp_path: Path, outside: list[str]) -> None:
    exports = k8s_exports[name]
    cluster = kubectl_on_path(tmp_path, exports, live, pods)
    before = {key: s.count("/health") for key, s in pods.items()}
    tei_before, gateway_before = live.tei.count("/health"), live.vllm.count("/v1/chat/completions")
    path = with_key(exports, live, tmp_path / "outputs.json")
    code, out, err = run_cli("--outputs", str(path), "--via-kubectl", "--json", env=cluster.env)
    assert code == 0, out + err
    report = json.loads(out)
    assert report["ok"] is True and not [c for c in report["checks"] if c["skipped"]], out
    backends = exports["endpoints"]["backends"]
    direct = [c for c in report["checks"] if c["check"] in DIRECT]
    assert len(direct) == 2 * (len(backends) + 1)
    assert all(urlsplit(c["target"].split()[-1]).hostname == "127.0.0.1" for c in direct)
    through_gateway = {c["target"].removeprefix("gateway model ") for c in report["checks"]
                       if c["check"] in ("gateway chat", "gateway embed")}
    assert through_gateway == set(exports["endpoints"]["gateway_models"])
    # The answers came from the stand-ins behind the forwarded Services.
    used = {(b["engine"], b["model"]) for b in backends.values()}
    assert all(pods[key].count("/health") > before[key] for key in used)
    assert live.tei.count("/health") > tei_before and live.vllm.count("/v1/chat/completions") > gateway_before
    # One kubectl port-forward per Service, each stopped; no cluster name was ever looked up.
    assert sorted(forwarded(cluster)) == sorted(expected_forwards(exports))
    cluster.assert_stopped()
    assert outside == []


def test_via_kubectl_uses_the_given_context(k8s_exports: dict[str, dict[str, Any]], live: Stack,
                                            pods: dict[tuple[str, str], StandIn], tmp_path: Path) -> None:
    cluster = kubectl_on_path(tmp_path, k8s_exports["frontier-eks"], live, pods)
    path = with_key(k8s_exports["frontier-eks"], live, tmp_path / "outputs.json")
    code, out, _ = run_cli("--outputs", str(path), "--via-kubectl", "arn:aws:eks:us-east-1:1:cluster/llm",
                           "--json", env=cluster.env)
    assert code == 0, out
    runs = cluster.runs().values()
    assert len(runs) == len(expected_forwards(k8s_exports["frontier-eks"]))
    assert all(argv[:3] == ["--context", "arn:aws:eks:us-east-1:1:cluster/llm", "port-forward"] for argv in runs)


@pytest.mark.parametrize("name", KUBERNETES_STACKS)
def test_without_via_kubectl_every_check_is_a_skip_with_its_port_forward_command(
        k8s_exports: dict[str, dict[str, Any]], name: str, live: Stack, pods: dict[tuple[str, str], StandIn],
        tmp_path: Path, outside: list[str]) -> None:
    exports = k8s_exports[name]
    cluster = kubectl_on_path(tmp_path, exports, live, pods)  # on PATH, and never run without the option
    path = with_key(exports, live, tmp_path / "outputs.json")
    code, out, _ = run_cli("--outputs", str(path), "--json", env=cluster.env)
    report = json.loads(out)
    assert code == 1 and report["ok"] is False, out  # nothing was checked: not a pass
    endpoints = exports["endpoints"]
    assert len(report["checks"]) == 2 + 2 * (len(endpoints["backends"]) + 1) + len(endpoints["gateway_models"])
    assert all(c["skipped"] for c in report["checks"])
    ports = {svc: port for _, svc, port in expected_forwards(exports)}
    for c in report["checks"]:
        svc = "gateway" if c["check"] in GATEWAY else c["target"].split()[0]
        command = re.search(r"`(kubectl port-forward [^`]+)`", c["detail"])
        assert command and "--via-kubectl" in c["detail"], c
        argv = shlex.split(command.group(1))
        assert argv[:7] == ["kubectl", "port-forward", "--address", "127.0.0.1", "-n", "llm", f"svc/{svc}"], c
        assert argv[7].endswith(f":{ports[svc]}"), c
    # The note under the table: every command, distinct local ports, each one the kubectl stand-in takes.
    (hint,) = report["hints"]
    commands = [shlex.split(line.strip().removesuffix("&")) for line in hint.splitlines()[1:]]
    assert sorted(service_of_command(c) for c in commands) == sorted(expected_forwards(exports))
    assert len({c[-1].split(":")[0] for c in commands}) == len(commands)
    for argv in commands:
        assert forwards_for(argv[1:], cluster.services)
    assert cluster.runs() == {}
    assert set(outside) == {urlsplit(u).hostname for u in urls_of(exports)}


def service_of_command(argv: list[str]) -> tuple[str, str, int]:
    return argv[argv.index("-n") + 1], argv[-2].removeprefix("svc/"), int(argv[-1].split(":")[1])


def test_inside_the_cluster_every_service_is_checked_directly(
        k8s_exports: dict[str, dict[str, Any]], live: Stack, pods: dict[tuple[str, str], StandIn], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Where cluster DNS resolves (a CI pod), the exported names are used as they are: no skip, no kubectl."""
    asked = resolver_outside_the_cluster(monkeypatch, inside=True)
    cluster = kubectl_on_path(tmp_path, k8s_exports["prod-eks"], live, pods)
    exports = on_standin_ports(k8s_exports["prod-eks"], cluster)
    path = with_key(exports, live, tmp_path / "outputs.json")
    code, out, _ = run_cli("--outputs", str(path), "--json", env=cluster.env)
    report = json.loads(out)
    assert code == 0 and report["ok"] is True and not [c for c in report["checks"] if c["skipped"]], out
    direct = [c for c in report["checks"] if c["check"] in DIRECT]
    assert all(str(urlsplit(c["target"].split()[-1]).hostname).endswith(".llm.svc.cluster.local") for c in direct)
    assert set(asked) == {urlsplit(u).hostname for u in urls_of(exports)} and cluster.runs() == {}


def test_table_says_to_use_via_kubectl(k8s_exports: dict[str, dict[str, Any]], live: Stack, tmp_path: Path) -> None:
    path = with_key(k8s_exports["prod-eks"], live, tmp_path / "outputs.json")
    code, out, _ = run_cli("--outputs", str(path))
    assert code == 1 and "SKIP" in out and "PASS" not in out and "FAIL" not in out
    assert "no check ran" in out and "14 checks skipped" in out and "--via-kubectl [CONTEXT]" in out
    assert "  kubectl port-forward --address 127.0.0.1 -n llm svc/embeddings 8080:80 &" in out.splitlines()


def test_fallback_is_a_skip_that_says_how_to_drill_it(
        k8s_exports: dict[str, dict[str, Any]], live: Stack, pods: dict[tuple[str, str], StandIn],
        tmp_path: Path) -> None:
    exports = k8s_exports["prod-eks"]
    cluster = kubectl_on_path(tmp_path, exports, live, pods)
    path = with_key(exports, live, tmp_path / "outputs.json")
    docker_calls = live.docker.count()
    code, out, _ = run_cli("--outputs", str(path), "--via-kubectl", "--fallback", "--json", env=cluster.env)
    report = json.loads(out)
    assert code == 0 and report["ok"] is True, out
    drills = [c for c in report["checks"] if c["check"].startswith("fallback")]
    assert [c["target"] for c in drills] == [f"gateway model {p} -> {', '.join(chain)}"
                                             for p, chain in exports["endpoints"]["fallbacks"].items()]
    for c, primary in zip(drills, exports["endpoints"]["fallbacks"], strict=True):
        assert c["skipped"] and f"`kubectl scale deployment/{primary} --replicas 0 -n llm`" in c["detail"], c
        assert f"scaledobject/{primary} autoscaling.keda.sh/paused-replicas=0" in c["detail"], c
    assert live.docker.count() == docker_calls  # no container was stopped
    cluster.assert_stopped()


def test_an_ingress_gateway_is_reached_directly(
        k8s_exports: dict[str, dict[str, Any]], live: Stack, pods: dict[tuple[str, str], StandIn],
        tmp_path: Path) -> None:
    """A gateway URL that is not a cluster Service (an Ingress; here the live proxy's loopback URL) is checked as it
    is: without the option too, and with it only the engines' Services are forwarded."""
    exports = copy.deepcopy(k8s_exports["prod-eks"])
    cluster = kubectl_on_path(tmp_path, exports, live, pods)
    exports["gateway_url"] = exports["endpoints"]["gateway_url"] = live.proxy.url
    path = with_key(exports, live, tmp_path / "outputs.json")
    code, out, _ = run_cli("--outputs", str(path), "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True, out
    assert all(not c["skipped"] for c in report["checks"] if c["check"] in GATEWAY)
    assert all(c["skipped"] and "svc/gateway" not in c["detail"] for c in report["checks"] if c["check"] in DIRECT)
    code, out, _ = run_cli("--outputs", str(path), "--via-kubectl", "--json", env=cluster.env)
    assert code == 0 and not [c for c in json.loads(out)["checks"] if c["skipped"]], out
    assert sorted(svc for _, svc, _ in forwarded(cluster)) == sorted(exports["access"]["private"])
    cluster.assert_stopped()


def test_a_failing_port_forward_names_the_service_and_stops_the_others(
        k8s_exports: dict[str, dict[str, Any]], live: Stack, pods: dict[tuple[str, str], StandIn],
        tmp_path: Path) -> None:
    failure = "error: unable to forward port because pod is not running. Current status=Pending"
    exports = k8s_exports["prod-eks"]
    cluster = kubectl_on_path(tmp_path, exports, live, pods, KUBECTL_STANDIN_FAIL=f"structured={failure}")
    path = with_key(exports, live, tmp_path / "outputs.json")
    code, _, err = run_cli("--outputs", str(path), "--via-kubectl", env=cluster.env)
    assert code == 2, err
    assert re.search(r"-n llm svc/structured \d+:30000` ended \(exit 1\)", err) and failure in err, err
    assert "`kubectl get svc,pods -n llm`" in err
    cluster.assert_stopped()


def test_interrupt_stops_every_port_forward(k8s_exports: dict[str, dict[str, Any]], live: Stack,
                                            pods: dict[tuple[str, str], StandIn], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    exports = k8s_exports["prod-eks"]
    cluster = kubectl_on_path(tmp_path, exports, live, pods)
    for key, value in cluster.env.items():
        monkeypatch.setenv(key, value)
    outputs = StackOutputs.parse(exports, "prod-eks")
    with pytest.raises(KeyboardInterrupt), port_forwards(outputs, None) as local:
        assert urlsplit(local.gateway_url).hostname == "127.0.0.1"
        assert len(cluster.runs()) == len(expected_forwards(exports))
        raise KeyboardInterrupt
    cluster.assert_stopped()


def test_the_stand_in_refuses_what_is_not_loopback(k8s_exports: dict[str, dict[str, Any]], live: Stack,
                                                   pods: dict[tuple[str, str], StandIn], tmp_path: Path) -> None:
    cluster = kubectl_on_path(tmp_path, k8s_exports["prod-eks"], live, pods)
    assert forwards_for(["port-forward", "--address", "127.0.0.1", "-n", "llm", "svc/chat", "9:8000"],
                        cluster.services)
    for argv, refusal in [
        (["port-forward", "--address", "0.0.0.0", "-n", "llm", "svc/chat", "9:8000"], "refusing to listen"),
        (["port-forward", "-n", "llm", "svc/chat", "9:8001"], "does not have a service port 8001"),
        (["port-forward", "svc/chat", "9:8000"], 'services "chat" not found'),
    ]:
        with pytest.raises(Exception, match=refusal):
            forwards_for(argv, cluster.services)
    elsewhere = {"llm/chat": {"port": 8000, "to": "10.0.3.7:8000"}}
    with pytest.raises(Exception, match=r"refusing to forward to 10\.0\.3\.7"):
        forwards_for(["port-forward", "--address", "127.0.0.1", "-n", "llm", "svc/chat", "9:8000"], elsewhere)


@pytest.mark.parametrize(("args", "fix"), [
    (["--via-kubectl", "--via-ssh"], "not both"),
    (["--via-ssh"], "--via-kubectl [CONTEXT]"),
])
def test_option_mistakes_say_what_to_use(k8s_exports: dict[str, dict[str, Any]], live: Stack, tmp_path: Path,
                                         args: list[str], fix: str) -> None:
    path = with_key(k8s_exports["prod-eks"], live, tmp_path / "outputs.json")
    code, _, err = run_cli("--outputs", str(path), *args)
    assert code == 2 and fix in err, err


def test_via_kubectl_on_aws_outputs_says_use_via_ssh(live: Stack, tmp_path: Path) -> None:
    data = json.loads(live.outputs_file.read_text())
    data["access"] = {"ssh": "ubuntu@10.40.0.12", "private": ["chat"]}
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(data))
    code, _, err = run_cli("--outputs", str(path), "--via-kubectl")
    assert code == 2 and "no cluster Service" in err and "use --via-ssh" in err, err
