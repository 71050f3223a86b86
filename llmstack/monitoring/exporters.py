"""Monitoring facts that are not engine facts: the DCGM exporter image and what each engine needs for metrics.

The data lives in `exporters.yaml` next to this module (with its sources); the engine table
(`llmstack/catalog/engines.yaml`) stays the only place for engine ports and metrics paths.
"""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict

from llmstack.datafiles import load_yaml
from llmstack.engines import engines
from llmstack.errors import NotFoundError


class _Image(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    image: str
    tag: str
    digest: str | None
    port: int
    health: tuple[str, ...]

    def image_ref(self) -> str:
        """The pinned image reference: `image:tag@digest` when the digest is known, else `image:tag`."""
        return f"{self.image}:{self.tag}@{self.digest}" if self.digest else f"{self.image}:{self.tag}"

    @property
    def health_test(self) -> tuple[str, ...]:
        """The Docker HEALTHCHECK test, with the port filled in."""
        return tuple(part.replace("{port}", str(self.port)) for part in self.health)


class Prometheus(_Image):
    """The Prometheus server: one per stack, on the CPU node."""

    uid: str
    config_path: str
    data_dir: str
    retention: str


class DcgmExporter(_Image):
    """NVIDIA's DCGM exporter: one per GPU node, serving GPU telemetry on `port` at `metrics_path`."""

    metrics_path: str
    docker_args: tuple[str, ...]
    capabilities: tuple[str, ...]


@cache
def _data() -> dict[str, object]:
    raw = load_yaml("llmstack.monitoring", "exporters.yaml")
    if not isinstance(raw, dict):
        raise TypeError("llmstack/monitoring/exporters.yaml must be a mapping")
    return raw


@cache
def dcgm_exporter() -> DcgmExporter:
    """The pinned DCGM exporter (image, tag, port 9400, docker args) from `exporters.yaml`."""
    return DcgmExporter.model_validate(_data()["dcgm_exporter"])


@cache
def prometheus() -> Prometheus:
    """The pinned Prometheus server (image, port, config path, health check) from `exporters.yaml`."""
    return Prometheus.model_validate(_data()["prometheus"])


def metrics_prerequisite(engine_name: str) -> str:
    """What `engine_name` needs before its metrics endpoint answers (e.g. SGLang: `--enable-metrics`)."""
    table = _data()["engine_metrics_prerequisites"]
    if not isinstance(table, dict):
        raise TypeError("exporters.yaml: engine_metrics_prerequisites must be a mapping")
    if engine_name not in engines() or engine_name not in table:
        raise NotFoundError("engine", engine_name, f"Use one of: {', '.join(sorted(table))}.")
    return str(table[engine_name])
