"""Monitoring as tested code: `prometheus.yml` rendering, the alert rule file, and the DCGM exporter facts.

Pure Python (no Pulumi): the Observability component wraps these.

- `render_prometheus_config(targets, litellm_target=..., dcgm_targets=...)` -> dict for prometheus.yml
- `render_prometheus_yaml(...)` -> the same as YAML text, naming targets that are not scraped (Ollama)
- `alert_rules_text()` -> the packaged alerts.yml (tested with promtool)
- `render_alert_rules(AlertThresholds(...))` -> the same rules with other thresholds
- `dcgm_exporter()` -> the pinned DCGM exporter image and port
- `metrics_prerequisite(engine)` -> what the engine needs before its metrics endpoint answers
"""

from llmstack.monitoring.exporters import DcgmExporter, dcgm_exporter, metrics_prerequisite
from llmstack.monitoring.prometheus import (
    DEFAULT_RULE_FILES,
    ENGINE_CREDENTIALS_FILE,
    LITELLM_CREDENTIALS_FILE,
    DcgmTarget,
    ScrapeTarget,
    render_prometheus_config,
    render_prometheus_yaml,
    unscraped_targets,
)
from llmstack.monitoring.rules import ALERT_NAMES, AlertThresholds, alert_rules_text, render_alert_rules

__all__ = [
    "ALERT_NAMES",
    "DEFAULT_RULE_FILES",
    "ENGINE_CREDENTIALS_FILE",
    "LITELLM_CREDENTIALS_FILE",
    "AlertThresholds",
    "DcgmExporter",
    "DcgmTarget",
    "ScrapeTarget",
    "alert_rules_text",
    "dcgm_exporter",
    "metrics_prerequisite",
    "render_alert_rules",
    "render_prometheus_config",
    "render_prometheus_yaml",
    "unscraped_targets",
]
