"""The gateway plan: the LiteLLM container and its config, rendered from the spec's `gateway` block and the routes.

Every key written here is a real LiteLLM setting (docs/engines.md §7). Provider prefixes per engine come from the
engine table (`hosted_vllm/` for vLLM, `ollama_chat/` with no `/v1` for Ollama, `openai/` plus a dummy key for the
rest). Fallbacks have no on/off switch: they are active once `router_settings.fallbacks` is set (§7.4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from llmstack import labels
from llmstack.engines import engine
from llmstack.labels import Role
from llmstack.spec import Gateway
from llmstack.stackplan.launch import Launch

MASTER_KEY_ENV = "LITELLM_MASTER_KEY"
# The engines' API key in the gateway container (engine table: litellm secrets); model entries read it (§1.1).
ENGINE_KEY_ENV = "LLMSTACK_ENGINE_API_KEY"
CONFIG_PATH = "/app/config.yaml"
# LiteLLM boots in well under a minute; its upstream compose gives 40 s (docs/engines.md §3), doubled here.
START_PERIOD_S = 80
# OpenAI-compatible providers need an api_key even when the backend ignores it (§7.6); it is not a secret.
UNUSED_KEY = "unused"

# Keys LiteLLM 1.108.7 accepts in each section (§7.3: docs/my-website/docs/proxy/config_settings.md and
# Router.__init__). The gateway policy and the tests check rendered configs against these sets, and
# tests/gateway/test_config_keys.py checks the sets against the installed LiteLLM source.
ROUTER_SETTINGS = frozenset({
    "routing_strategy", "routing_strategy_args", "model_group_alias", "num_retries", "timeout", "stream_timeout",
    "retry_after", "retry_policy", "allowed_fails", "allowed_fails_policy", "cooldown_time", "disable_cooldowns",
    "fallbacks", "context_window_fallbacks", "content_policy_fallbacks", "default_fallbacks", "max_fallbacks",
    "enable_pre_call_checks", "optional_pre_call_checks", "redis_host", "redis_port", "redis_password",
    "redis_url", "cache_responses", "enable_tag_filtering", "ignore_invalid_deployments",
})
GENERAL_SETTINGS = frozenset({
    "master_key", "database_url", "background_health_checks", "health_check_interval", "health_check_details",
    "enable_health_check_routing", "max_parallel_requests", "global_max_parallel_requests", "allowed_ips",
    "alerting", "dangerously_permit_weak_or_unset_master_key",
})
LITELLM_SETTINGS = frozenset({
    "callbacks", "success_callback", "failure_callback", "json_logs", "request_timeout", "force_ipv4",
    "num_retries", "fallbacks", "default_fallbacks", "context_window_fallbacks", "cache", "cache_params",
    "drop_params", "modify_params", "prometheus_metrics_config", "require_auth_for_metrics_endpoint",
})
# The LiteLLM series the stack uses: the alert rules' (llmstack/monitoring/rules.py) and the deployment health and
# fallback series docs/gateway.md points to. Names as LiteLLM 1.108.7 defines them (DEFINED_PROMETHEUS_METRICS in
# litellm/types/integrations/prometheus.py); counters are exposed with a `_total` suffix.
PROMETHEUS_METRICS = (
    "litellm_proxy_total_requests_metric", "litellm_proxy_failed_requests_metric", "litellm_deployment_cooled_down",
    "litellm_deployment_state", "litellm_deployment_successful_fallbacks", "litellm_deployment_failed_fallbacks",
)
# Keys that appear in example configs but are not LiteLLM settings: dropped with only a log line (§7.4).
DROPPED_KEYS = frozenset({"enable_fallback", "fallback_route_order", "health_check_enabled"})


@dataclass(frozen=True)
class Route:
    """One deployment behind a gateway model name."""

    model_name: str
    engine: str
    served_name: str
    base_url: str  # http://host:port, no path
    embedding: bool = False


@dataclass(frozen=True)
class RouteTarget:
    """A route before deploy: the planned service it points at, whose address only the target knows."""

    model_name: str
    engine: str
    served_name: str
    service: str  # the planned service's name (key of the base URLs the target supplies)
    embedding: bool = False


@dataclass(frozen=True)
class GatewayPlan:
    """The gateway: its settings (the spec's whole `gateway` block), its routes and its container."""

    settings: Gateway
    routes: tuple[RouteTarget, ...]
    launch: Launch

    def render(self, base_urls: Mapping[str, str]) -> dict[str, Any]:
        """The config for these service addresses (`{service name: http://host:port}`)."""
        return render_config(self.settings, [
            Route(r.model_name, r.engine, r.served_name, base_urls[r.service], r.embedding) for r in self.routes])

    def config_yaml(self, base_urls: Mapping[str, str]) -> str:
        return to_yaml(self.render(base_urls))

    @property
    def model_names(self) -> list[str]:
        return sorted({r.model_name for r in self.routes})


def plan_gateway(settings: Gateway, routes: Sequence[RouteTarget], *, environment: str, node: str | None = None,
                 instance_type: str | None = None, workers: int = 1) -> GatewayPlan:
    """The LiteLLM container for these (already validated) settings and routes; `workers` from the gateway sizing."""
    eng = engine("litellm")
    command: tuple[str, ...] = ("--config", CONFIG_PATH, "--port", str(eng.port))
    if workers > 1:  # one process per vCPU (gateway_sizing.py); 1 is LiteLLM's default
        command += ("--num_workers", str(workers))
    launch = Launch(
        image=settings.image or eng.image_ref(), entrypoint=None,
        command=command, env=dict(eng.env), secret_env=dict(eng.secrets),
        port=eng.port, health=eng.health, start_period_s=START_PERIOD_S, cache_dir="/app/cache", shm_size_mb=None,
        gpus=False,
        labels=labels.make(Role.GATEWAY, environment, engine=eng.name, config_path=CONFIG_PATH, node=node,
                           instance_type=instance_type),
    )
    return GatewayPlan(settings, tuple(routes), launch)


def deployment(route: Route) -> dict[str, Any]:
    eng = engine(route.engine)
    # LiteLLM's embedding() knows ollama/, not ollama_chat/ (§7.6)
    provider = (eng.litellm_embedding_provider or eng.litellm_provider) if route.embedding else eng.litellm_provider
    params: dict[str, Any] = {
        "model": f"{provider}/{route.served_name}",
        "api_base": route.base_url.rstrip("/") + eng.api_path,
    }
    if eng.api_key is not None:  # the engine requires the stack's engine key (§1.1)
        params["api_key"] = f"os.environ/{ENGINE_KEY_ENV}"
    elif eng.needs_api_key_for_litellm:
        params["api_key"] = UNUSED_KEY
    entry: dict[str, Any] = {"model_name": route.model_name, "litellm_params": params}
    if route.embedding:
        # Without mode: embedding the health check sends a chat request to an embedding model (§7.5).
        entry["model_info"] = {"mode": "embedding"}
    return entry


def render_config(gateway: Gateway, routes: list[Route]) -> dict[str, Any]:
    """The proxy's config.yaml as a dict. The master key is read from the environment, never written here."""
    # Why each value: docs/gateway.md and the comments on spec.Gateway (measured in benchmarks/gateway_latency.py).
    router: dict[str, Any] = {
        "routing_strategy": gateway.routing_strategy,
        "num_retries": gateway.num_retries,
        "timeout": gateway.timeout,
        "allowed_fails": gateway.allowed_fails,
        "cooldown_time": gateway.cooldown_time,
    }
    if gateway.stream_timeout is not None:
        router["stream_timeout"] = gateway.stream_timeout
    if gateway.fallbacks:
        router["fallbacks"] = [{primary: list(targets)} for primary, targets in gateway.fallbacks.items()]
    return {
        "model_list": [deployment(r) for r in routes],
        "router_settings": router,
        "general_settings": {
            "master_key": f"os.environ/{MASTER_KEY_ENV}",
            # A refused connection never cools a deployment down in 1.108.7 (APIConnectionError is exempt): the
            # failing background health check is what takes a dead backend out of routing (docs/gateway.md).
            "background_health_checks": True,
            "health_check_interval": gateway.health_check_interval,
            "enable_health_check_routing": True,
        },
        "litellm_settings": {
            "callbacks": ["prometheus"],
            "require_auth_for_metrics_endpoint": True,
            # Only the series the stack reads: the others (~80) become no-ops, measured cheaper per request.
            "prometheus_metrics_config": [{"group": "llmstack", "metrics": list(PROMETHEUS_METRICS)}],
            "force_ipv4": True,
            "request_timeout": gateway.timeout,
        },
    }


def to_yaml(config: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False)


def unknown_keys(config: Mapping[str, Any]) -> list[str]:
    """Keys in a LiteLLM config that LiteLLM would drop or reject, as `section.key` paths."""
    sections = {"router_settings": ROUTER_SETTINGS, "general_settings": GENERAL_SETTINGS,
                "litellm_settings": LITELLM_SETTINGS}
    problems = [f"{key}" for key in config if key not in (*sections, "model_list", "environment_variables")]
    for section, allowed in sections.items():
        values = config.get(section) or {}
        if isinstance(values, Mapping):
            problems += [f"{section}.{key}" for key in values if key not in allowed]
    return problems
