"""`LiteLLMGateway`: the LiteLLM proxy on a CPU host, one OpenAI-compatible endpoint with fallbacks and a master key.

The gateway plan (`llmstack.stackplan.GatewayPlan`) renders the config (every key a real LiteLLM setting); this
component uploads it into the container once the backends' addresses are known. The master key, and the engines' API
key the config's model entries read (docs/engines.md §1.1), only ever travel as Pulumi secrets in the container's
environment.
"""

from collections.abc import Mapping
from typing import Any, NotRequired, Self, TypedDict

import pulumi
import pulumi_docker as docker
from pydantic import ValidationError

from components.container import Placement, docker_provider, engine_container
from llmstack.engines import ENGINE_API_KEY
from llmstack.errors import InputError
from llmstack.labels import component_type
from llmstack.spec import Gateway, input_error
from llmstack.stackplan import GatewayPlan, RouteTarget, plan_gateway
from llmstack.stackplan.litellm_config import CONFIG_PATH, UNUSED_KEY


class GatewayRouteArgs(TypedDict):
    """One deployment behind the gateway: a model name clients ask for, mapped to an engine endpoint."""

    model_name: str
    """Model name clients ask for."""
    engine: str
    """Engine behind it (decides the LiteLLM provider prefix)."""
    served_name: str
    """Model name the engine serves."""
    base_url: pulumi.Input[str]
    """http://host:port of the engine, without a path."""
    embedding: NotRequired[bool]
    """True for an embedding deployment."""


class LiteLLMGatewayArgs(TypedDict):
    routes: list[GatewayRouteArgs]
    """Deployments; several with one model_name are load-balanced."""
    master_key: pulumi.Input[str]
    """LiteLLM master key (a secret, `sk-` prefix)."""
    docker_host: pulumi.Input[str]
    """Docker endpoint of the CPU host."""
    network_name: pulumi.Input[str]
    """Docker network shared with local backends."""
    fallbacks: NotRequired[dict[str, list[str]]]
    """Model name -> model names tried in order when it fails."""
    num_retries: NotRequired[int]
    """Retries on the same model before falling back."""
    timeout: NotRequired[float]
    """Request timeout, seconds."""
    allowed_fails: NotRequired[int]
    """Failures per minute before a deployment cools down."""
    cooldown_time: NotRequired[float]
    """Seconds a failed deployment is skipped."""
    health_check_interval: NotRequired[int]
    """Seconds between background health checks."""
    routing_strategy: NotRequired[str]
    """How LiteLLM picks among deployments of one model name: simple-shuffle, least-busy, latency-based-routing or
    usage-based-routing-v2."""
    stream_timeout: NotRequired[float]
    """Timeout for streaming requests, seconds (default: `timeout`)."""
    publish: NotRequired[str]
    """loopback (local), host (behind a security group) or none."""
    environment: NotRequired[str]
    """Environment name, for labels."""
    image: NotRequired[str]
    """Image override; must be pinned."""
    node: NotRequired[str]
    """Name of the node it runs on (label, for policies)."""
    instance_type: NotRequired[str]
    """EC2 type of that node (label; the gateway belongs on a CPU node)."""


# The LiteLLMGatewayArgs fields that are Gateway (spec) fields.
_SETTINGS = ("num_retries", "timeout", "stream_timeout", "allowed_fails", "cooldown_time", "health_check_interval",
             "routing_strategy", "image")


def _plan(name: str, args: LiteLLMGatewayArgs) -> GatewayPlan:
    """Parse the public args into the gateway's settings and routes, then plan it as the stack plan does."""
    values: dict[str, Any] = {k: args[k] for k in _SETTINGS if k in args}  # type: ignore[literal-required]
    values["fallbacks"] = {k: tuple(v) for k, v in args.get("fallbacks", {}).items()}
    try:
        settings = Gateway.model_validate(values)
    except ValidationError as err:
        raise input_error(err, name) from None
    names = {r["model_name"] for r in args["routes"]}
    for primary, targets in settings.fallbacks.items():
        for model in (primary, *targets):
            if model not in names:
                raise InputError(f"{name}: fallbacks", model, f"not a route model_name; known: {sorted(names)}")
    routes = [RouteTarget(r["model_name"], r["engine"], r["served_name"], f"routes[{i}]", r.get("embedding", False))
              for i, r in enumerate(args["routes"])]
    return plan_gateway(settings, routes, environment=args.get("environment", "default"), node=args.get("node"),
                        instance_type=args.get("instance_type"))


class LiteLLMGateway(pulumi.ComponentResource):
    """The LiteLLM proxy: one OpenAI-compatible endpoint with retries, fallbacks and a master key."""

    TYPE = component_type("LiteLLMGateway")
    url: pulumi.Output[str]
    """Gateway base URL on the Docker network."""
    container_name: pulumi.Output[str]
    """Docker container name."""
    config_yaml: pulumi.Output[str]
    """The rendered LiteLLM config.yaml (no secrets in it)."""

    def __init__(self, name: str, args: LiteLLMGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, {}, opts)
        base_urls = {f"routes[{i}]": r["base_url"] for i, r in enumerate(args["routes"])}
        placement = Placement(args["docker_host"], args["network_name"], args.get("publish", "loopback"))
        self._build(name, _plan(name, args), base_urls, placement, args["master_key"])

    @classmethod
    def planned(cls, name: str, gateway: GatewayPlan, base_urls: Mapping[str, pulumi.Input[str]],
                placement: Placement, master_key: pulumi.Input[str],
                opts: pulumi.ResourceOptions | None = None, *,
                engine_api_key: pulumi.Input[str] | None = None) -> Self:
        """The gateway of the stack plan; `base_urls` maps each planned service to its address, `engine_api_key`
        is the key the stack's engines require."""
        component = cls.__new__(cls)
        pulumi.ComponentResource.__init__(component, cls.TYPE, name, {}, opts)
        component._build(name, gateway, base_urls, placement, master_key, engine_api_key)
        return component

    def _build(self, name: str, gateway: GatewayPlan, base_urls: Mapping[str, pulumi.Input[str]],
               placement: Placement, master_key: pulumi.Input[str],
               engine_api_key: pulumi.Input[str] | None = None) -> None:
        services = sorted(base_urls)
        self.config_yaml = pulumi.Output.all(*(base_urls[s] for s in services)).apply(
            lambda urls: gateway.config_yaml(dict(zip(services, urls, strict=True))))
        provider = docker_provider(f"{name}-docker", placement.docker_host, self)
        # Without the stack's engine key (gateway routes to engines this program did not start) the model entries
        # that read it get the placeholder OpenAI-style providers need: such an engine was started without a key.
        secrets = {"masterKey": pulumi.Output.secret(master_key),
                   ENGINE_API_KEY: pulumi.Output.secret(UNUSED_KEY if engine_api_key is None else engine_api_key)}
        wanted = {key: value for key, value in secrets.items() if key in gateway.launch.secret_env.values()}
        container = engine_container(
            f"{name}-container", f"llm-{name}", gateway.launch, placement, parent=self, provider=provider,
            alias=name, secrets=wanted,
            uploads=[docker.ContainerUploadArgs(file=CONFIG_PATH, content=self.config_yaml)],
        )
        self.container_name = container.name
        self.url = pulumi.Output.from_input(f"http://{name}:{gateway.launch.port}")
        self.register_outputs({"url": self.url, "container_name": self.container_name,
                               "config_yaml": self.config_yaml})
