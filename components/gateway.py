"""`LiteLLMGateway`: the LiteLLM proxy on a CPU host, one OpenAI-compatible endpoint with fallbacks and a master key.

The config is rendered by `llmstack.gateway.render_config` (every key a real LiteLLM setting) and uploaded into the
container; the master key only ever travels as a Pulumi secret in the container's environment.
"""

from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_docker as docker
from pydantic import ValidationError

from components.container import docker_provider, engine_container, publish_ip
from llmstack.engines import engine
from llmstack.errors import InputError
from llmstack.gateway import MASTER_KEY_ENV, Route, render_config, to_yaml
from llmstack.launch import Launch
from llmstack.spec import Gateway, input_error

CONFIG_PATH = "/app/config.yaml"
# LiteLLM boots in well under a minute; its upstream compose gives 40 s (engines-and-gateway §3), doubled here.
START_PERIOD_S = 80


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


def _gateway_settings(name: str, args: LiteLLMGatewayArgs) -> Gateway:
    keys = ("num_retries", "timeout", "allowed_fails", "cooldown_time", "health_check_interval", "image")
    values: dict[str, Any] = {k: args[k] for k in keys if k in args}  # type: ignore[literal-required]
    values["fallbacks"] = {k: tuple(v) for k, v in args.get("fallbacks", {}).items()}
    try:
        gateway = Gateway.model_validate(values)
    except ValidationError as err:
        raise input_error(err, name) from None
    names = {r["model_name"] for r in args["routes"]}
    for primary, targets in gateway.fallbacks.items():
        for model in (primary, *targets):
            if model not in names:
                raise InputError(f"{name}: fallbacks", model, f"not a route model_name; known: {sorted(names)}")
    return gateway


class LiteLLMGateway(pulumi.ComponentResource):
    """The LiteLLM proxy: one OpenAI-compatible endpoint with retries, fallbacks and a master key."""

    url: pulumi.Output[str]
    """Gateway base URL on the Docker network."""
    container_name: pulumi.Output[str]
    """Docker container name."""
    config_yaml: pulumi.Output[str]
    """The rendered LiteLLM config.yaml (no secrets in it)."""

    def __init__(self, name: str, args: LiteLLMGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:index:LiteLLMGateway", name, {}, opts)
        gateway = _gateway_settings(name, args)
        eng = engine("litellm")
        bases = [pulumi.Output.from_input(r["base_url"]) for r in args["routes"]]

        def render(urls: list[str]) -> str:
            routes = [Route(r["model_name"], r["engine"], r["served_name"], url, r.get("embedding", False))
                      for r, url in zip(args["routes"], urls, strict=True)]
            return to_yaml(render_config(gateway, routes))

        self.config_yaml = pulumi.Output.all(*bases).apply(render)
        image = args.get("image") or eng.image_ref()
        launch = Launch(
            image=image, entrypoint=None, command=("--config", CONFIG_PATH, "--port", str(eng.port)),
            env=dict(eng.env), secret_env={MASTER_KEY_ENV: "masterKey"}, port=eng.port, health=eng.health,
            start_period_s=START_PERIOD_S, cache_dir="/app/cache", shm_size_mb=None, gpus=False,
            labels={"llmstack.role": "gateway", "llmstack.engine": "litellm",
                    "llmstack.environment": args.get("environment", "default"),
                    "llmstack.config-path": CONFIG_PATH,
                    **({"llmstack.node": args["node"]} if "node" in args else {}),
                    **({"llmstack.instance-type": args["instance_type"]} if "instance_type" in args else {})},
        )
        ip = publish_ip(name, args.get("publish", "loopback"))
        provider = docker_provider(f"{name}-docker", args["docker_host"], self)
        container = engine_container(
            f"{name}-container", f"llm-{name}", launch, parent=self, provider=provider,
            network=args["network_name"], alias=name, bind_ip=ip,
            secrets={"masterKey": pulumi.Output.secret(args["master_key"])},
            uploads=[docker.ContainerUploadArgs(file=CONFIG_PATH, content=self.config_yaml)],
        )
        self.container_name = container.name
        self.url = pulumi.Output.from_input(f"http://{name}:{eng.port}")
        self.register_outputs({"url": self.url, "container_name": self.container_name,
                               "config_yaml": self.config_yaml})
