"""`Observability`: Prometheus with the engines', the gateway's and the GPUs' metrics, and the tested alert rules.

The scrape config and the rules come from `llmstack.monitoring` (rules unit-tested with promtool); this component only
places them: Prometheus on the CPU host, one DCGM exporter per GPU node. The gateway key reaches Prometheus as a
secret file, never inline in the config.
"""

from typing import NotRequired, TypedDict

import pulumi
import pulumi_docker as docker

from components.container import (
    HEALTH_INTERVAL,
    HEALTH_RETRIES,
    HEALTH_TIMEOUT,
    LOG_OPTS,
    START_INTERVAL,
    docker_provider,
    engine_container,
    publish_ip,
)
from llmstack.launch import Launch
from llmstack.monitoring import alert_rules_text
from llmstack.monitoring.exporters import dcgm_exporter
from llmstack.monitoring.prometheus import (
    DEFAULT_RULE_FILES,
    LITELLM_CREDENTIALS_FILE,
    DcgmTarget,
    ScrapeTarget,
    render_prometheus_yaml,
)

# The 2.53 long-term-support line (prometheus.io/docs/introduction/release-cycle/): the rules and the rendered config
# are validated by promtool 2.x in CI (Debian's `prometheus` package), so the server runs the same major version.
PROMETHEUS_IMAGE = "prom/prometheus:v2.53.2"
PROMETHEUS_PORT = 9090
PROMETHEUS_UID = "65534"  # `USER nobody` in prometheus/prometheus's Dockerfile
CONFIG_PATH = "/etc/prometheus/prometheus.yml"
# The prom/prometheus image is busybox-based: wget, no curl (prometheus/prometheus Dockerfile).
# The dcgm-exporter image (Ubuntu based) is not known to ship curl; bash's /dev/tcp proves the exporter listens.
DCGM_HEALTH = ("CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9400")
PROMETHEUS_HEALTH = ("CMD", "wget", "-q", "--spider", f"http://localhost:{PROMETHEUS_PORT}/-/ready")


class EngineTargetArgs(TypedDict):
    """An engine Prometheus scrapes."""

    engine: str
    """Engine name (decides the metrics path)."""
    backend: str
    """Backend name (label)."""
    model: str
    """Model (label)."""
    node: str
    """Node name (label)."""
    address: pulumi.Input[str]
    """host:port the engine listens on, as Prometheus reaches it."""


class GpuHostArgs(TypedDict):
    """A GPU node that gets a DCGM exporter container."""

    node: str
    """Node name."""
    docker_host: pulumi.Input[str]
    """Docker endpoint of the GPU node, for its DCGM exporter."""
    address: pulumi.Input[str]
    """Host Prometheus reaches the exporter on."""


class ObservabilityArgs(TypedDict):
    docker_host: pulumi.Input[str]
    """Docker endpoint of the host that runs Prometheus (the CPU node)."""
    network_name: pulumi.Input[str]
    """Docker network shared with the gateway."""
    master_key: pulumi.Input[str]
    """Gateway key Prometheus presents on /metrics (a secret)."""
    engine_targets: list[EngineTargetArgs]
    """Engines to scrape."""
    gateway_address: str
    """host:port of the gateway."""
    gpu_hosts: NotRequired[list[GpuHostArgs]]
    """GPU nodes that get a DCGM exporter."""
    publish: NotRequired[str]
    """Publish Prometheus's port: loopback (local) or none (reach it through an SSH tunnel)."""
    environment: NotRequired[str]
    """Environment name, for labels."""
    node: NotRequired[str]
    """Name of the node Prometheus runs on (label)."""


class Observability(pulumi.ComponentResource):
    """Prometheus scraping the engines, the gateway and a DCGM exporter per GPU node, with the alert rules."""

    prometheus_config: pulumi.Output[str]
    """The rendered prometheus.yml."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:index:Observability", name, {}, opts)
        gpu_hosts = args.get("gpu_hosts", [])
        environment = args.get("environment", "default")
        exporter = dcgm_exporter()
        for gpu in gpu_hosts:
            provider = docker_provider(f"{name}-{gpu['node']}-docker", gpu["docker_host"], self)
            on_host = pulumi.ResourceOptions(parent=self, provider=provider)
            image = docker.RemoteImage(f"{name}-{gpu['node']}-dcgm-image", name=exporter.image_ref(),
                                       keep_locally=True, opts=on_host)
            docker.Container(
                f"{name}-{gpu['node']}-dcgm", name="dcgm-exporter", image=image.image_id, gpus="all",
                capabilities=docker.ContainerCapabilitiesArgs(adds=["SYS_ADMIN"]),
                ports=[docker.ContainerPortArgs(internal=exporter.port, external=exporter.port)],
                restart="unless-stopped", log_driver="json-file", log_opts=LOG_OPTS,
                healthcheck=docker.ContainerHealthcheckArgs(
                    tests=list(DCGM_HEALTH), interval=HEALTH_INTERVAL, timeout=HEALTH_TIMEOUT,
                    retries=HEALTH_RETRIES, start_period="60s", start_interval=START_INTERVAL),
                labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted({
                    "llmstack.role": "monitoring", "llmstack.engine": "dcgm-exporter",
                    "llmstack.image": exporter.image_ref(), "llmstack.node": gpu["node"],
                    "llmstack.environment": environment}.items())],
                opts=on_host)
        targets = args["engine_targets"]
        addresses = [pulumi.Output.from_input(t["address"]) for t in targets]
        gpu_addresses = [pulumi.Output.from_input(g["address"]) for g in gpu_hosts]

        def render(values: list[str]) -> str:
            engine_addrs, gpu_addrs = values[: len(targets)], values[len(targets):]
            scrape = [ScrapeTarget(engine=t["engine"], backend=t["backend"], model=t["model"], node=t["node"],
                                   address=a) for t, a in zip(targets, engine_addrs, strict=True)]
            dcgm = [DcgmTarget(node=g["node"], address=f"{a}:{exporter.port}")
                    for g, a in zip(gpu_hosts, gpu_addrs, strict=True)]
            return render_prometheus_yaml(scrape, litellm_target=args["gateway_address"], dcgm_targets=dcgm)

        self.prometheus_config = pulumi.Output.all(*addresses, *gpu_addresses).apply(render)
        launch = Launch(
            image=PROMETHEUS_IMAGE, entrypoint=None,
            command=(f"--config.file={CONFIG_PATH}", "--storage.tsdb.retention.time=15d"),
            env={}, secret_env={}, port=PROMETHEUS_PORT, health=PROMETHEUS_HEALTH, start_period_s=60,
            cache_dir="/prometheus", shm_size_mb=None, gpus=False,
            labels={"llmstack.role": "monitoring", "llmstack.engine": "prometheus",
                    "llmstack.environment": environment, "llmstack.node": args.get("node", name)},
        )
        provider = docker_provider(f"{name}-docker", args["docker_host"], self)
        engine_container(
            f"{name}-prometheus", "llm-prometheus", launch, parent=self, provider=provider,
            network=args["network_name"], alias="prometheus",
            bind_ip=publish_ip(name, args.get("publish", "none")), secrets={},
            uploads=[
                docker.ContainerUploadArgs(file=CONFIG_PATH, content=self.prometheus_config),
                docker.ContainerUploadArgs(file=DEFAULT_RULE_FILES[0], content=alert_rules_text()),
                # Owner-only, owned by the user Prometheus runs as in its image (nobody, 65534).
                docker.ContainerUploadArgs(file=LITELLM_CREDENTIALS_FILE, permissions="0400", owner=PROMETHEUS_UID,
                                           group=PROMETHEUS_UID, content=pulumi.Output.secret(args["master_key"])),
            ],
        )
        self.register_outputs({"prometheus_config": self.prometheus_config})
