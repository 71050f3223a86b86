"""The alert rules and the rendered prometheus.yml, checked by promtool itself (not re-implemented in Python).

promtool is required: a missing promtool fails these tests (CI installs it with .ci/install-promtool.sh).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmstack.errors import InputError
from llmstack.monitoring import (
    ALERT_NAMES,
    AlertThresholds,
    DcgmTarget,
    ScrapeTarget,
    alert_rules_text,
    render_alert_rules,
    render_prometheus_yaml,
)
from tests.conftest import ROOT

SHIPPED_RULES = ROOT / "llmstack" / "monitoring" / "alerts.yml"
PROMTOOL_TESTS = sorted((Path(__file__).parent / "promtool").glob("*.test.yml"))


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed, so the alert rules cannot be checked. Install it with "
            "`apt-get update && apt-get install -y prometheus` (Debian/Ubuntu), "
            "or run .ci/install-promtool.sh.",
            pytrace=False,
        )
    return path


def run_promtool(*args: str | Path) -> str:
    cmd = [promtool(), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"`{' '.join(cmd)}` exited {proc.returncode}:\n{output}", pytrace=False)
    return output


def rules_doc(text: str) -> list[dict[str, Any]]:
    doc = yaml.safe_load(text)
    return [rule for group in doc["groups"] for rule in group["rules"]]


# --- promtool -------------------------------------------------------------------------------------


def test_promtool_check_rules_accepts_the_shipped_file() -> None:
    out = run_promtool("check", "rules", SHIPPED_RULES)
    assert f"SUCCESS: {len(ALERT_NAMES)} rules found" in out


def test_promtool_unit_tests_pass() -> None:
    assert len(PROMTOOL_TESTS) >= 3, f"expected the promtool test files, found {PROMTOOL_TESTS}"
    out = run_promtool("test", "rules", *PROMTOOL_TESTS)
    assert out.count("SUCCESS") == len(PROMTOOL_TESTS), out


def test_promtool_unit_tests_use_the_shipped_file() -> None:
    for path in PROMTOOL_TESTS:
        doc = yaml.safe_load(path.read_text())
        resolved = {(path.parent / f).resolve() for f in doc["rule_files"]}
        assert resolved == {SHIPPED_RULES.resolve()}, f"{path.name} must test llmstack/monitoring/alerts.yml"


def test_every_alert_has_a_firing_and_a_silent_promtool_case() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for path in PROMTOOL_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (fires if case.get("exp_alerts") else silent).add(case["alertname"])
    assert fires == set(ALERT_NAMES), f"alerts without a firing case: {set(ALERT_NAMES) - fires}"
    assert silent == set(ALERT_NAMES), f"alerts without a must-not-fire case: {set(ALERT_NAMES) - silent}"


def test_promtool_rejects_a_broken_expectation(tmp_path: Path) -> None:
    """Guards the harness: a promtool test expecting the wrong thing must fail, so SUCCESS means something."""
    source = PROMTOOL_TESTS[0]
    broken = yaml.safe_load(source.read_text())
    broken["rule_files"] = [str(SHIPPED_RULES)]
    for test in broken["tests"]:
        for case in test.get("alert_rule_test", []):
            case["exp_alerts"] = [] if case.get("exp_alerts") else [{"exp_labels": {"severity": "warning"}}]
    path = tmp_path / "broken.test.yml"
    path.write_text(yaml.safe_dump(broken, sort_keys=False))
    proc = subprocess.run([promtool(), "test", "rules", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "FAILED" in proc.stdout + proc.stderr


def test_promtool_check_config_accepts_a_rendered_prometheus_yml(tmp_path: Path) -> None:
    rules = tmp_path / "rules" / "llmstack-alerts.yml"
    rules.parent.mkdir()
    rules.write_text(alert_rules_text())
    key = tmp_path / "litellm_key"
    key.write_text("placeholder-not-a-real-key\n")
    engine_key = tmp_path / "engine_key"  # llama.cpp's API key guards its /metrics too (docs/engines.md §1.1)
    engine_key.write_text("placeholder-not-a-real-key\n")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        render_prometheus_yaml(
            [
                ScrapeTarget(engine="vllm", backend="chat", model="Qwen/Qwen3-8B", node="gpu-1", address="gpu-1"),
                ScrapeTarget(engine="sglang", backend="alt", model="Qwen/Qwen3-8B", node="gpu-1", address="gpu-1"),
                ScrapeTarget(engine="llamacpp", backend="small", model="qwen3-4b", node="gpu-2", address="gpu-2:8081"),
                ScrapeTarget(engine="ollama", backend="fallback", model="qwen3:8b", node="gpu-2", address="gpu-2"),
                ScrapeTarget(engine="tgi", backend="legacy", model="m", node="gpu-3", address="gpu-3:8080"),
                ScrapeTarget(engine="nim", backend="nim", model="meta/llama-3.1-8b", node="gpu-4", address="gpu-4"),
            ],
            litellm_target="gateway:4000",
            dcgm_targets=[DcgmTarget(node=n) for n in ("gpu-1", "gpu-2", "gpu-3", "gpu-4")],
            rule_files=[str(rules)],
            litellm_credentials_file=str(key),
            engine_credentials_file=str(engine_key),
        )
    )
    out = run_promtool("check", "config", config)
    assert "is valid prometheus config file syntax" in out
    assert f"SUCCESS: {len(ALERT_NAMES)} rules found" in out


def test_promtool_check_config_needs_the_key_file(tmp_path: Path) -> None:
    """The key is read from a file at scrape time; a config pointing at a missing file is rejected."""
    config = tmp_path / "prometheus.yml"
    config.write_text(
        render_prometheus_yaml(
            [],
            litellm_target="gateway",
            dcgm_targets=[],
            rule_files=[],
            litellm_credentials_file=str(tmp_path / "missing_key"),
        )
    )
    proc = subprocess.run([promtool(), "check", "config", str(config)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    assert "missing_key" in proc.stdout + proc.stderr


def test_custom_thresholds_render_rules_promtool_accepts(tmp_path: Path) -> None:
    th = AlertThresholds(gpu_memory_ratio=0.95, throughput_drop_ratio=0.5, kv_cache_ratio=0.97, cooldowns=5)
    text = render_alert_rules(th)
    path = tmp_path / "alerts.yml"
    path.write_text(text)
    run_promtool("check", "rules", path)
    exprs = {r["alert"]: r["expr"] for r in rules_doc(text)}
    assert ") > 0.95" in exprs["GpuMemoryHigh"]
    assert ") < 0.5" in exprs["TokenThroughputDrop"]
    assert ") > 0.97" in exprs["KvCacheNearlyFull"]
    assert ">= 5" in exprs["GatewayDeploymentCooledDown"]


# --- the rule file itself -------------------------------------------------------------------------


def test_shipped_file_is_the_default_render() -> None:
    assert alert_rules_text() == SHIPPED_RULES.read_text()
    assert alert_rules_text() == render_alert_rules(), (
        "llmstack/monitoring/alerts.yml is stale: run "
        "`.venv/bin/python -m llmstack.monitoring > llmstack/monitoring/alerts.yml`"
    )


def test_every_rule_has_for_severity_and_actionable_annotations() -> None:
    rules = rules_doc(alert_rules_text())
    assert [r["alert"] for r in rules] == list(ALERT_NAMES)
    for rule in rules:
        name = rule["alert"]
        assert rule.get("for"), f"{name}: no for:"
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert set(rule["annotations"]) == {"summary", "description"}, name
        assert len(rule["annotations"]["description"]) > 80, f"{name}: say what to do"


def test_docs_table_names_every_alert() -> None:
    docs = (ROOT / "docs" / "monitoring.md").read_text()
    for name in ALERT_NAMES:
        assert f"| `{name}` |" in docs, f"docs/monitoring.md: add {name} to the alerts table"


@pytest.mark.parametrize(
    ("alert", "metric"),
    [
        ("GpuMemoryHigh", "DCGM_FI_DEV_FB_USED"),
        ("GpuMemoryHigh", "DCGM_FI_DEV_FB_FREE"),
        ("TokenThroughputDrop", "vllm:generation_tokens_total"),
        ("KvCacheNearlyFull", "vllm:kv_cache_usage_perc"),
        ("KvCacheNearlyFull", "vllm:gpu_cache_usage_perc"),
        ("RequestsQueueing", "vllm:num_requests_waiting"),
        ("GatewayHigh5xxRate", "litellm_proxy_failed_requests_metric_total"),
        ("GatewayHigh5xxRate", "litellm_proxy_total_requests_metric_total"),
        ("GatewayDeploymentCooledDown", "litellm_deployment_cooled_down_total"),
    ],
)
def test_rules_read_the_cited_metric(alert: str, metric: str) -> None:
    exprs = {r["alert"]: r["expr"] for r in rules_doc(alert_rules_text())}
    assert metric in exprs[alert]


def test_litellm_metric_names_match_the_pinned_litellm() -> None:
    """The gateway rules read counters defined by the LiteLLM release pinned in pyproject.toml (1.108.7)."""
    spec = importlib.util.find_spec("litellm")
    assert spec is not None and spec.submodule_search_locations, "litellm (dev dependency) is not installed"
    root = Path(next(iter(spec.submodule_search_locations)))
    source = (root / "integrations" / "prometheus.py").read_text()
    labels = (root / "types" / "integrations" / "prometheus.py").read_text()
    for counter in ("litellm_proxy_failed_requests_metric", "litellm_proxy_total_requests_metric"):
        assert f'name="{counter}"' in source, counter
    assert '"litellm_deployment_cooled_down",' in source
    assert re.search(r'^EXCEPTION_STATUS: Final = "exception_status"$', labels, re.M)
    assert re.search(r'^STATUS_CODE: Final = "status_code"$', labels, re.M)
    # The label lists of the two counters the 5xx rule divides (PrometheusMetricLabels).
    for counter, label in (
        ("litellm_proxy_failed_requests_metric", "EXCEPTION_STATUS"),
        ("litellm_proxy_total_requests_metric", "STATUS_CODE"),
    ):
        block = re.search(rf"^    {counter} = \[(.*?)^    \]", labels, re.M | re.S)
        assert block is not None, counter
        assert f"UserAPIKeyLabelNames.{label}.value" in block.group(1), (counter, label)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gpu_memory_ratio", 90.0),
        ("throughput_drop_ratio", 0.0),
        ("kv_cache_ratio", 1.0),
        ("gpu_memory_for", "10 minutes"),
        ("throughput_baseline", "0h"),
        ("cooldowns", 0),
        ("throughput_min_baseline_tokens_per_s", -1.0),
    ],
)
def test_bad_thresholds_are_input_errors(field: str, value: object) -> None:
    th = AlertThresholds.model_validate({field: value})
    with pytest.raises(InputError) as err:
        render_alert_rules(th)
    assert err.value.field == f"thresholds.{field}"
    assert err.value.value == value
    assert err.value.fix
