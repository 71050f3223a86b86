"""Render `prometheus.yml` for an llmstack deployment: engines, the LiteLLM gateway and DCGM exporters.

Every port and metrics path comes from the engine table (`llmstack/catalog/engines.yaml`) or, for DCGM, from
`exporters.yaml`; nothing here hard-codes one. Engines without a Prometheus endpoint (Ollama: `metrics_path:
null`) are not scraped: `unscraped_targets` lists them and `render_prometheus_yaml` names them in its header.

Jobs and labels (the alert rules in `alerts.yml` select on these, so keep them in step with `rules.py`):

- `engine-<name>`: one job per engine kind, `metrics_path` from the engine table; each target carries the
  labels `backend`, `engine`, `model`, `node`. vLLM V1 exports its own `engine` label (the engine-core index);
  with the default `honor_labels: false` Prometheus keeps ours and renames vLLM's to `exported_engine`.
- `engine-llamacpp` (and any engine whose API key protects its metrics path: engine table `api_key.open`) sends
  the stack's engine key as a bearer token read from `engine_credentials_file` (docs/engines.md §1.1).
- `litellm`: the gateway's `/metrics` with a bearer token read from `credentials_file` (LiteLLM >= 1.85
  requires auth on `/metrics` by default: docs/engines.md §7.8). Its target
  carries only `engine` and `node`: a `model` target label would clobber LiteLLM's own `model` series label.
- `dcgm`: NVIDIA's DCGM exporter on each GPU node, labels `node` and `gpu_memory_model` (`preallocate` when an
  engine on the node reserves its GPU memory up front, see `GpuMemoryHigh` in `rules.py`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from llmstack.engines import Engine, engines
from llmstack.errors import InputError, NotFoundError
from llmstack.monitoring.exporters import dcgm_exporter

# Where the Observability component mounts the gateway key and the rule file inside the Prometheus container.
LITELLM_CREDENTIALS_FILE = "/etc/prometheus/litellm_key"
ENGINE_CREDENTIALS_FILE = "/etc/prometheus/engine_key"  # the engines' API key, for those whose /metrics needs it
DEFAULT_RULE_FILES: tuple[str, ...] = ("/etc/prometheus/rules/llmstack-alerts.yml",)

ENGINE_JOB_PREFIX = "engine-"
LITELLM_JOB = "litellm"
DCGM_JOB = "dcgm"
GATEWAY_ENGINE = "litellm"

# Prometheus duration syntax (prometheus/common model.ParseDuration): units y w d h m s ms, largest first.
_DURATION = re.compile(r"^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$")
# host[:port] where host is a DNS name / IPv4 address, or a bracketed IPv6 address.
_ADDRESS = re.compile(
    r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?::(?P<port>\d{1,5}))?$"
)
_SECRET_PREFIXES = ("sk-", "Bearer ", "bearer ")


class ScrapeTarget(BaseModel):
    """One engine instance to scrape. `address` is `host:port`, or `host` to use the engine table's port."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: str
    backend: str
    model: str
    node: str
    address: str

    @property
    def job(self) -> str:
        return f"{ENGINE_JOB_PREFIX}{self.engine}"


class DcgmTarget(BaseModel):
    """The DCGM exporter on one GPU node. `address` defaults to `<node>:<exporter port>` (9400)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node: str
    address: str | None = None


def unscraped_targets(targets: Sequence[ScrapeTarget]) -> tuple[ScrapeTarget, ...]:
    """The targets whose engine has no Prometheus endpoint (engine table `metrics_path: null`: Ollama)."""
    return tuple(t for t in targets if _engine_of(t, "targets").metrics_path is None)


def render_prometheus_config(
    targets: Sequence[ScrapeTarget],
    *,
    litellm_target: str | None,
    dcgm_targets: Sequence[DcgmTarget],
    scrape_interval: str = "15s",
    rule_files: Sequence[str] = DEFAULT_RULE_FILES,
    litellm_credentials_file: str = LITELLM_CREDENTIALS_FILE,
    engine_credentials_file: str = ENGINE_CREDENTIALS_FILE,
) -> dict[str, Any]:
    """Build a `prometheus.yml` document as a plain dict (`render_prometheus_yaml` gives the YAML text).

    `targets` are the engine instances (Ollama ones are accepted and skipped: it has no metrics endpoint, but
    they still tell which nodes run a non-preallocating engine). `litellm_target` is the gateway's `host:port`
    (or `host`: port 4000 from the engine table), or None for no gateway job. `litellm_credentials_file` is
    the path, inside the Prometheus container, of the mounted file holding the gateway key: never the key;
    `engine_credentials_file` the same for the engines' API key, used by the jobs of engines whose key guards
    their metrics path. Raises `InputError` naming the bad field and the fix.
    """
    _check_duration("scrape_interval", scrape_interval)
    _check_rule_files(rule_files)
    _check_credentials_file("litellm_credentials_file", litellm_credentials_file)
    _check_credentials_file("engine_credentials_file", engine_credentials_file)

    scrape_configs: list[dict[str, Any]] = []
    scrape_configs.extend(_engine_jobs(targets, engine_credentials_file))
    if litellm_target is not None:
        scrape_configs.append(_litellm_job(litellm_target, litellm_credentials_file))
    if dcgm_targets:
        scrape_configs.append(_dcgm_job(dcgm_targets, targets))
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": list(rule_files),
        "scrape_configs": scrape_configs,
    }


def render_prometheus_yaml(
    targets: Sequence[ScrapeTarget],
    *,
    litellm_target: str | None,
    dcgm_targets: Sequence[DcgmTarget],
    scrape_interval: str = "15s",
    rule_files: Sequence[str] = DEFAULT_RULE_FILES,
    litellm_credentials_file: str = LITELLM_CREDENTIALS_FILE,
    engine_credentials_file: str = ENGINE_CREDENTIALS_FILE,
) -> str:
    """`render_prometheus_config` as YAML text, with a header naming the targets that are not scraped."""
    config = render_prometheus_config(
        targets,
        litellm_target=litellm_target,
        dcgm_targets=dcgm_targets,
        scrape_interval=scrape_interval,
        rule_files=rule_files,
        litellm_credentials_file=litellm_credentials_file,
        engine_credentials_file=engine_credentials_file,
    )
    header = ["# prometheus.yml rendered by llmstack.monitoring.render_prometheus_config; do not edit by hand."]
    for t in unscraped_targets(targets):
        header.append(
            f"# Not scraped: backend {t.backend!r} ({t.engine} on {t.node}): the engine has no Prometheus "
            "endpoint (engine table metrics_path: null); watch it through the gateway's cooldown alerts."
        )
    return "\n".join(header) + "\n" + yaml.safe_dump(config, sort_keys=False)


# --- jobs ---------------------------------------------------------------------------------------------------


def _engine_jobs(targets: Sequence[ScrapeTarget], credentials_file: str) -> list[dict[str, Any]]:
    by_engine: dict[str, list[dict[str, Any]]] = {}
    seen: dict[tuple[str, str], int] = {}
    for i, t in enumerate(targets):
        field = f"targets[{i}]"
        eng = _engine_of(t, field)
        for name in ("backend", "model", "node"):
            _check_label(f"{field}.{name}", getattr(t, name))
        address = _address(f"{field}.address", t.address, eng.port)
        if eng.metrics_path is None:
            continue
        key = (t.engine, address)
        if key in seen:
            raise InputError(
                f"{field}.address",
                t.address,
                f"targets[{seen[key]}] already scrapes {address} for {t.engine}; give each instance once.",
            )
        seen[key] = i
        labels = {"backend": t.backend, "engine": t.engine, "model": t.model, "node": t.node}
        by_engine.setdefault(t.engine, []).append({"targets": [address], "labels": labels})
    table = engines()
    jobs: list[dict[str, Any]] = []
    for name, sc in sorted(by_engine.items(), key=lambda kv: list(table).index(kv[0])):
        job: dict[str, Any] = {"job_name": f"{ENGINE_JOB_PREFIX}{name}", "metrics_path": table[name].metrics_path}
        if table[name].scrape_needs_key:  # the engine's API key guards its metrics too (docs/engines.md §1.1)
            job["authorization"] = {"type": "Bearer", "credentials_file": credentials_file}
        jobs.append(job | {"static_configs": sc})
    return jobs


def _litellm_job(litellm_target: str, credentials_file: str) -> dict[str, Any]:
    gateway = engines()[GATEWAY_ENGINE]
    address = _address("litellm_target", litellm_target, gateway.port)
    return {
        "job_name": LITELLM_JOB,
        "metrics_path": gateway.metrics_path,
        # The key is a file mounted into the Prometheus container; Prometheus re-reads it on every scrape.
        "authorization": {"type": "Bearer", "credentials_file": credentials_file},
        "static_configs": [
            {"targets": [address], "labels": {"engine": GATEWAY_ENGINE, "node": _host(address)}},
        ],
    }


def _dcgm_job(dcgm_targets: Sequence[DcgmTarget], targets: Sequence[ScrapeTarget]) -> dict[str, Any]:
    exporter = dcgm_exporter()
    memory_models: dict[str, set[str]] = {}
    for t in targets:
        memory_models.setdefault(t.node, set()).add(engines()[t.engine].memory_model)
    static_configs: list[dict[str, Any]] = []
    nodes: dict[str, int] = {}
    addresses: dict[str, int] = {}
    for i, d in enumerate(dcgm_targets):
        field = f"dcgm_targets[{i}]"
        _check_label(f"{field}.node", d.node)
        if d.node in nodes:
            raise InputError(f"{field}.node", d.node, f"dcgm_targets[{nodes[d.node]}] is the same node.")
        nodes[d.node] = i
        address = _address(f"{field}.address", d.address or d.node, exporter.port)
        if address in addresses:
            raise InputError(f"{field}.address", address, f"dcgm_targets[{addresses[address]}] scrapes it.")
        addresses[address] = i
        static_configs.append(
            {
                "targets": [address],
                "labels": {"node": d.node, "gpu_memory_model": _gpu_memory_model(memory_models.get(d.node))},
            }
        )
    return {"job_name": DCGM_JOB, "metrics_path": exporter.metrics_path, "static_configs": static_configs}


def _gpu_memory_model(models: set[str] | None) -> str:
    """The node's label for `GpuMemoryHigh`.

    `preallocate` if any engine on the node reserves GPU memory up front (usage sits near the reservation by
    design), else the other model seen (`ggml`), else `unknown` (no engine target names this node).
    """
    if not models:
        return "unknown"
    if "preallocate" in models:
        return "preallocate"
    return sorted(models)[0]


# --- checks -------------------------------------------------------------------------------------------------


def _engine_of(t: ScrapeTarget, field: str) -> Engine:
    table = engines()
    if t.engine == GATEWAY_ENGINE:
        raise InputError(f"{field}.engine", t.engine, "Pass the gateway as litellm_target='host:port'.")
    if t.engine not in table:
        allowed = ", ".join(sorted(n for n in table if n != GATEWAY_ENGINE))
        raise NotFoundError(f"{field}.engine", t.engine, f"Use one of: {allowed}.")
    return table[t.engine]


def _address(field: str, value: str, default_port: int) -> str:
    if "://" in value or "/" in value:
        raise InputError(field, value, "Give host:port without a scheme or path (the path comes from the engine).")
    m = _ADDRESS.match(value)
    if m is None:
        raise InputError(field, value, "Give host:port (e.g. gpu-1:8000), or just the host to use the default port.")
    port = m.group("port")
    if port is None:
        return f"{m.group('host')}:{default_port}"
    if not 1 <= int(port) <= 65535:
        raise InputError(field, value, "The port must be between 1 and 65535.")
    return value


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0].strip("[]")


def _check_label(field: str, value: str) -> None:
    if not value.strip():
        raise InputError(field, value, "Give a non-empty name; alerts and dashboards group by it.")


def _check_duration(field: str, value: str) -> None:
    if not value or _DURATION.match(value) is None or not any(c.isdigit() and c != "0" for c in value):
        raise InputError(field, value, "Use a positive Prometheus duration such as 15s, 1m or 1m30s.")


def _check_rule_files(rule_files: Sequence[str]) -> None:
    if isinstance(rule_files, str):
        raise InputError("rule_files", rule_files, "Pass a list of paths, e.g. [rule_files].")
    for i, path in enumerate(rule_files):
        if not path.strip():
            raise InputError(f"rule_files[{i}]", path, "Give the path of the mounted alerts.yml.")


def _check_credentials_file(field: str, path: str) -> None:
    if path.startswith(_SECRET_PREFIXES) or not path.startswith("/"):
        raise InputError(
            field,
            "<redacted>" if path.startswith(_SECRET_PREFIXES) else path,
            "Give the absolute path of a file that holds the key (mounted into the Prometheus container), "
            "never the key itself.",
        )
