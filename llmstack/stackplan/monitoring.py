"""The monitoring plan: Prometheus on the CPU node with the alert rules, and one DCGM exporter per GPU node.

The scrape config is rendered by `llmstack.monitoring` from the planned services; only the addresses, which the
target knows at deploy time, are filled in later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from llmstack import labels
from llmstack.engines import engine
from llmstack.labels import Key, Role
from llmstack.monitoring import (
    DEFAULT_RULE_FILES,
    ENGINE_CREDENTIALS_FILE,
    LITELLM_CREDENTIALS_FILE,
    DcgmTarget,
    ScrapeTarget,
    alert_rules_text,
    dcgm_exporter,
    render_prometheus_yaml,
)
from llmstack.monitoring.exporters import prometheus
from llmstack.stackplan.launch import Launch

DCGM_CONTAINER = "dcgm-exporter"
PROMETHEUS_CONTAINER = "llm-prometheus"


@dataclass(frozen=True)
class EngineTarget:
    """An engine Prometheus scrapes: the service's name, its engine, the model it serves and its node."""

    name: str
    engine: str
    model: str
    node: str


@dataclass(frozen=True)
class MonitoringPlan:
    targets: tuple[EngineTarget, ...]  # engines to scrape (those without a metrics endpoint are named, not scraped)
    gpu_nodes: tuple[str, ...]  # one DCGM exporter each
    gateway_address: str  # host:port of the gateway as Prometheus reaches it
    prometheus: Launch
    dcgm: Launch
    rules_path: str
    rules: str
    credentials_path: str  # the gateway key file (owned by `credentials_uid`, mode 0400)
    credentials_uid: str
    engine_credentials_path: str = ENGINE_CREDENTIALS_FILE  # the engines' key file, the same way

    @property
    def engine_key_needed(self) -> bool:
        """Whether an engine Prometheus scrapes needs the engine key on its metrics path (llama.cpp)."""
        return any(engine(t.engine).scrape_needs_key for t in self.targets)

    @property
    def config_path(self) -> str:
        return prometheus().config_path

    def dcgm_on(self, node: str) -> Launch:
        """The DCGM exporter container of one GPU node."""
        return replace(self.dcgm, labels=self.dcgm.labels | {Key.NODE.label: node})

    def render(self, addresses: Mapping[str, str], gpu_addresses: Mapping[str, str]) -> str:
        """prometheus.yml for these addresses: `{target name: host:port}` and `{gpu node: host}`."""
        exporter = dcgm_exporter()
        scrape = [ScrapeTarget(engine=t.engine, backend=t.name, model=t.model, node=t.node, address=addresses[t.name])
                  for t in self.targets]
        dcgm = [DcgmTarget(node=n, address=f"{gpu_addresses[n]}:{exporter.port}") for n in self.gpu_nodes]
        return render_prometheus_yaml(scrape, litellm_target=self.gateway_address, dcgm_targets=dcgm,
                                      engine_credentials_file=self.engine_credentials_path)


def plan_monitoring(targets: Sequence[EngineTarget], gpu_nodes: Sequence[str], *, environment: str, node: str,
                    gateway_address: str) -> MonitoringPlan:
    server, exporter = prometheus(), dcgm_exporter()
    return MonitoringPlan(
        targets=tuple(targets), gpu_nodes=tuple(gpu_nodes), gateway_address=gateway_address,
        prometheus=Launch(
            image=server.image_ref(), entrypoint=None,
            command=(f"--config.file={server.config_path}", f"--storage.tsdb.retention.time={server.retention}"),
            env={}, secret_env={}, port=server.port, health=server.health_test, start_period_s=60,
            cache_dir=server.data_dir, shm_size_mb=None, gpus=False,
            labels=labels.make(Role.MONITORING, environment, engine="prometheus", node=node),
        ),
        dcgm=Launch(
            image=exporter.image_ref(), entrypoint=None, command=(), env={}, secret_env={}, port=exporter.port,
            health=exporter.health_test, start_period_s=60, cache_dir="", shm_size_mb=None, gpus=True,
            labels=labels.make(Role.MONITORING, environment, engine="dcgm-exporter"),
            capabilities=exporter.capabilities,
        ),
        rules_path=DEFAULT_RULE_FILES[0], rules=alert_rules_text(), credentials_path=LITELLM_CREDENTIALS_FILE,
        credentials_uid=server.uid,
    )
