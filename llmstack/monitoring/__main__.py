"""`python -m llmstack.monitoring > llmstack/monitoring/alerts.yml` regenerates the shipped rule file."""

import sys

from llmstack.monitoring.rules import render_alert_rules

sys.stdout.write(render_alert_rules())
