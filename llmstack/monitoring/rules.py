"""Alert rules for llmstack, rendered from tunable thresholds; the shipped `alerts.yml` is the default render.

`alert_rules_text()` returns the packaged `alerts.yml` (what `promtool test rules` tests in
tests/monitoring/promtool/). `render_alert_rules(AlertThresholds(...))` fills the template `alerts.yml.in`
with other thresholds; a test checks that `render_alert_rules(AlertThresholds())` is byte-for-byte the shipped
file, so the two cannot drift. After editing the template or the defaults, regenerate the file:

    .venv/bin/python -m llmstack.monitoring > llmstack/monitoring/alerts.yml

Metric names and their sources (cited again next to each rule in the rendered file):

- DCGM exporter: `DCGM_FI_DEV_FB_USED`, `DCGM_FI_DEV_FB_FREE` (gauges, MiB): NVIDIA/dcgm-exporter
  deployment/values.yaml (default counters list) and etc/default-counters.csv.
- vLLM: `vllm:generation_tokens_total` (counter `vllm:generation_tokens`), `vllm:num_requests_running`,
  `vllm:num_requests_waiting`, `vllm:kv_cache_usage_perc`: vllm-project/vllm vllm/v1/metrics/loggers.py.
  The KV gauge was `vllm:gpu_cache_usage_perc` (V0 vllm/engine/metrics.py); deprecated for
  `vllm:kv_cache_usage_perc` in vllm-project/vllm PR #18354, hidden one minor release later and removed by
  PR #29330 (deprecation policy: docs.vllm.ai usage/metrics). The rules read either name.
- LiteLLM: `litellm_proxy_failed_requests_metric_total` (label `exception_status`),
  `litellm_proxy_total_requests_metric_total` (label `status_code`), `litellm_deployment_cooled_down_total`:
  BerriAI/litellm litellm/integrations/prometheus.py and litellm/types/integrations/prometheus.py (v1.108.7,
  the version pinned in pyproject.toml). They are prometheus_client Counters, which append `_total` to the
  exposed name. A failed request increments both the failed and the total counter
  (`async_post_call_failure_hook`).
- Prometheus: `up` (per-target scrape health).
"""

from __future__ import annotations

import re
from importlib import resources

from pydantic import BaseModel, ConfigDict

from llmstack.errors import InputError
from llmstack.monitoring.prometheus import DCGM_JOB, ENGINE_JOB_PREFIX, LITELLM_JOB

ALERT_NAMES: tuple[str, ...] = (
    "GpuMemoryHigh",
    "BackendDown",
    "TokenThroughputDrop",
    "KvCacheNearlyFull",
    "RequestsQueueing",
    "GatewayDown",
    "GatewayHigh5xxRate",
    "GatewayDeploymentCooledDown",
)

_DURATION = re.compile(r"^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$")


class AlertThresholds(BaseModel):
    """Every tunable number in the rules.

    Defaults: docs/engines.md §10.5 (VRAM > 90 %, tok/s drop > 30 %, backend down) plus the project choices
    explained next to each rule in the template and in docs/monitoring.md.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    gpu_memory_ratio: float = 0.90
    gpu_memory_for: str = "10m"
    backend_down_for: str = "5m"
    throughput_drop_ratio: float = 0.30
    throughput_window: str = "10m"
    throughput_baseline: str = "1h"
    throughput_min_baseline_tokens_per_s: float = 10.0
    throughput_for: str = "10m"
    kv_cache_ratio: float = 0.90
    kv_cache_for: str = "10m"
    queue_waiting_requests: int = 5
    queue_for: str = "10m"
    gateway_down_for: str = "2m"
    gateway_5xx_ratio: float = 0.05
    gateway_5xx_window: str = "5m"
    gateway_min_requests_per_s: float = 0.1
    gateway_5xx_for: str = "5m"
    cooldowns: int = 3
    cooldown_window: str = "15m"
    cooldown_for: str = "1m"


def alert_rules_text() -> str:
    """The packaged `alerts.yml` (default thresholds), as tested by promtool: mount it as the rule file."""
    return resources.files("llmstack.monitoring").joinpath("alerts.yml").read_text()


def render_alert_rules(thresholds: AlertThresholds | None = None) -> str:
    """The rule file for `thresholds` (default: `AlertThresholds()`, i.e. exactly `alert_rules_text()`)."""
    th = thresholds or AlertThresholds()
    _check(th)
    values = {
        "engine_job_re": f"{ENGINE_JOB_PREFIX}.+",
        "litellm_job": LITELLM_JOB,
        "dcgm_job": DCGM_JOB,
        "gpu_memory_ratio": _num(th.gpu_memory_ratio),
        "gpu_memory_pct": _pct(th.gpu_memory_ratio),
        "gpu_memory_for": th.gpu_memory_for,
        "backend_down_for": th.backend_down_for,
        "throughput_keep_ratio": _num(round(1 - th.throughput_drop_ratio, 6)),
        "throughput_drop_pct": _pct(th.throughput_drop_ratio),
        "throughput_window": th.throughput_window,
        "throughput_baseline": th.throughput_baseline,
        "throughput_min": _num(th.throughput_min_baseline_tokens_per_s),
        "throughput_for": th.throughput_for,
        "kv_cache_ratio": _num(th.kv_cache_ratio),
        "kv_cache_pct": _pct(th.kv_cache_ratio),
        "kv_cache_for": th.kv_cache_for,
        "queue_waiting": str(th.queue_waiting_requests),
        "queue_for": th.queue_for,
        "gateway_down_for": th.gateway_down_for,
        "gateway_5xx_ratio": _num(th.gateway_5xx_ratio),
        "gateway_5xx_pct": _pct(th.gateway_5xx_ratio),
        "gateway_5xx_window": th.gateway_5xx_window,
        "gateway_min_rps": _num(th.gateway_min_requests_per_s),
        "gateway_5xx_for": th.gateway_5xx_for,
        "cooldowns": str(th.cooldowns),
        "cooldown_window": th.cooldown_window,
        "cooldown_for": th.cooldown_for,
    }
    template = resources.files("llmstack.monitoring").joinpath("alerts.yml.in").read_text()
    text = "".join(line for line in template.splitlines(keepends=True) if not line.startswith("##"))
    for key, value in values.items():
        text = text.replace(f"<<{key}>>", value)
    leftover = re.search(r"<<\w+>>", text)
    if leftover is not None:
        raise KeyError(f"rules template placeholder without a value: {leftover.group(0)}")
    return text


def _check(th: AlertThresholds) -> None:
    for name, value in th.model_dump().items():
        field = f"thresholds.{name}"
        if isinstance(value, str):
            if not value or _DURATION.match(value) is None or not any(c in "123456789" for c in value):
                raise InputError(field, value, "Use a positive Prometheus duration such as 30s, 10m or 1h.")
        elif name.endswith("_ratio"):
            if not 0 < value < 1:
                raise InputError(field, value, "Give a fraction between 0 and 1 (0.9 means 90 %).")
        elif value <= 0:
            raise InputError(field, value, "Give a positive number.")


def _num(x: float) -> str:
    return f"{x:g}"


def _pct(ratio: float) -> str:
    return f"{ratio * 100:g}%"
