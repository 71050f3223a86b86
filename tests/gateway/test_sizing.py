"""Gateway sizing: workers, the CPU node and pod replicas from the expected streaming load, the bottleneck warning in
the plan and in `llmstack preview`, and the measured figure it rests on."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from llmstack.catalog import cpu_instances
from llmstack.cli import main
from llmstack.spec import load_spec, parse_spec
from llmstack.stackplan import plan_stack
from llmstack.stackplan.gateway_sizing import gateway_capacity, size_gateway
from tests.conftest import ROOT, ShippedStack, stack_file

CAPACITY_RESULTS = ROOT / "benchmarks" / "results" / "gateway_capacity.json"
TARGET = {"kind": "aws", "region": "us-east-1", "vpc": {"cidr": "10.40.0.0/16"}, "allowed_cidrs": ["10.0.0.0/8"]}


def spec(concurrency: int, *, gateway: dict[str, Any] | None = None, target: dict[str, Any] | None = None,
         replicas: int = 1) -> Any:
    backend = {"name": "chat", "engine": "vllm", "model": "llama-3.1-8b", "quant": "awq", "context": 4096,
               "concurrency": concurrency, "replicas": replicas}
    return parse_spec({"environment": "prod", "target": target or TARGET, "backends": [backend],
                       "gateway": gateway or {}})


def four_workers() -> int:
    """The smallest concurrency that needs 4 workers: more than m7i.large holds, less than m7i.2xlarge does."""
    cap = gateway_capacity()
    return int(3 * cap.tokens_per_s_per_worker / cap.decode_tokens_per_s) + 1


def needed(sequences: int) -> int:
    cap = gateway_capacity()
    return max(1, math.ceil(sequences * cap.decode_tokens_per_s / cap.tokens_per_s_per_worker))


def test_the_figure_is_the_recorded_measurement() -> None:
    """The per-worker capacity in the catalog is the one-worker ceiling recorded by the benchmark."""
    recorded = json.loads(CAPACITY_RESULTS.read_text())
    cap = gateway_capacity()
    assert recorded["summary"]["tokens_per_s_per_worker"] == cap.tokens_per_s_per_worker
    assert recorded["summary"]["cpu_at_ceiling"] == cap.cpu_at_ceiling
    assert cap.litellm == "1.108.7" and "gateway_capacity" in cap.source


def test_staging_is_sized_for_its_backends(shipped: dict[str, ShippedStack]) -> None:
    plan = shipped["staging"].plan
    sizing = plan.gateway_sizing
    assert sizing is not None and sizing.warning is None and plan.warnings == ()
    sequences = sum(b.concurrency * b.replicas for b in plan.spec.backends)
    assert sizing.sequences == sequences and sizing.workers == needed(sequences)
    node = cpu_instances()[plan.gateway_node.instance_type or ""]
    assert node.type.startswith("m7i.") and node.vcpu >= 3 + sizing.workers  # m7i.xlarge's 3 other vCPUs kept
    smaller = [r for r in cpu_instances().values() if r.type.startswith("m7i.") and r.vcpu < node.vcpu]
    assert all(r.vcpu < 3 + sizing.workers for r in smaller)  # and it is the smallest that holds them
    command = plan.gateway.launch.command
    assert ("--num_workers" in command) == (sizing.workers > 1)
    if sizing.workers > 1:
        assert command[command.index("--num_workers") + 1] == str(sizing.workers)


def test_prod_outgrows_the_biggest_node_and_says_so(shipped: dict[str, ShippedStack]) -> None:
    plan = shipped["prod"].plan
    sizing = plan.gateway_sizing
    biggest = max((r for r in cpu_instances().values() if r.type.startswith("m7i.")), key=lambda r: r.vcpu)
    assert sizing is not None and sizing.needed_workers == needed(40) > biggest.vcpu - 3
    assert plan.gateway_node.instance_type == biggest.type and sizing.workers == biggest.vcpu - 3
    (warning,) = plan.warnings
    assert "40 sequences" in warning and f"{sizing.needed_workers} workers are needed" in warning


def test_the_node_grows_one_vcpu_per_extra_worker() -> None:
    for concurrency in (1, 2, 5):
        plan = plan_stack(spec(concurrency))
        sizing = plan.gateway_sizing
        assert sizing is not None and sizing.workers == needed(concurrency) and sizing.warning is None
        fits = [r for r in cpu_instances().values() if r.type.startswith("m7i.") and r.vcpu >= 3 + sizing.workers]
        assert plan.gateway_node.instance_type == min(fits, key=lambda r: r.vcpu).type


def test_an_undersized_pinned_gateway_warns() -> None:
    big = four_workers()
    plan = plan_stack(spec(big, gateway={"instance_type": "m7i.large"}))
    assert plan.gateway_node.instance_type == "m7i.large"  # a pin is kept, not changed
    sizing = plan.gateway_sizing
    assert sizing is not None and sizing.workers == 1 and sizing.needed_workers == needed(big) > 1
    (warning,) = plan.warnings
    assert warning.startswith("the gateway would be the bottleneck")
    assert f"{big} sequences" in warning and "m7i.large" in warning and "gateway.instance_type" in warning
    assert "4 workers are needed" in warning and "m7i.2xlarge" in warning
    # the same load without the pin gets a node that holds it, and no warning
    free = plan_stack(spec(big))
    assert free.warnings == () and free.gateway_sizing is not None and free.gateway_sizing.workers == needed(big)


def test_a_pinned_target_node_is_kept_and_checked() -> None:
    target = {**TARGET, "cpu_instance_type": "m7i.xlarge"}
    sizing = size_gateway(spec(64, target=target))
    assert sizing.instance_type == "m7i.xlarge" and sizing.workers == min(needed(64), 1)
    assert (sizing.warning is not None) == (needed(64) > 1)


def test_replicas_count_and_a_given_host_keeps_one_worker() -> None:
    assert size_gateway(spec(4, replicas=3)).sequences == 12
    sizing = size_gateway(spec(8, target={"kind": "local", "gpus": "all"}))
    assert sizing.instance_type is None and sizing.workers == 1 and sizing.warning is None


def test_kubernetes_pods_are_checked_against_max_replicas() -> None:
    spec = load_spec(stack_file("prod-eks"))
    sizing = size_gateway(spec)
    assert sizing.workers == 1 and sizing.replicas == min(sizing.needed_workers, spec.gateway_max_replicas)
    assert (sizing.warning is None) == (sizing.needed_workers <= spec.gateway_max_replicas)
    roomy = spec.model_copy(update={"gateway": spec.gateway.model_copy(update={"max_replicas": 64})})
    assert size_gateway(roomy).replicas == min(64, sizing.needed_workers)


def test_preview_prints_the_warning(tmp_path: Path) -> None:
    big = four_workers()
    ns = "llm-inference-stack"
    backend = {"name": "chat", "engine": "vllm", "model": "llama-3.1-8b", "quant": "awq", "context": 1024,
               "concurrency": big}
    config = {f"{ns}:environment": "prod", f"{ns}:target": TARGET, f"{ns}:backends": [backend],
              f"{ns}:gateway": {"instance_type": "m7i.large"}}
    stack = tmp_path / "Pulumi.big.yaml"
    stack.write_text(yaml.safe_dump({"config": config}))
    runner = CliRunner()
    result = runner.invoke(main, ["preview", "--stack-file", str(stack), "--json", "--out", str(tmp_path / "o")],
                           catch_exceptions=False)
    (warning,) = json.loads(result.stdout)["warnings"]
    assert warning.startswith("the gateway would be the bottleneck") and "m7i.large" in warning
    table = runner.invoke(main, ["preview", "--stack-file", str(stack), "--out", str(tmp_path / "o")],
                          catch_exceptions=False)
    assert "warning: the gateway would be the bottleneck" in " ".join(table.stdout.split())
