"""Another team's own program: one vLLM container written directly with pulumi_docker, none of our components.

Our policy pack checks it all the same (`pulumi preview --policy-pack <llm-inference-stack>/policies`): the engine is
recognised from the image, and the pack looks for a pinned image, a health check that works in that image, a restart
policy, a context limit and no credentials in plain text.
"""

import pulumi
import pulumi_docker as docker

config = pulumi.Config()
image_ref = config.get("image") or "vllm/vllm-openai:v0.30.0-cu129"
max_model_len = config.get_int("maxModelLen") or 8192

provider = docker.Provider("gpu-host", host=config.get("dockerHost") or "unix:///var/run/docker.sock")
on_host = pulumi.ResourceOptions(provider=provider)
image = docker.RemoteImage("vllm", name=image_ref, keep_locally=True, opts=on_host)
container = docker.Container(
    "vllm",
    name="team-vllm",
    image=image_ref,
    command=[config.get("model") or "Qwen/Qwen2.5-1.5B-Instruct", "--port", "8000",
             "--max-model-len", str(max_model_len)],
    gpus="all",
    ipc_mode="host",
    restart="unless-stopped",
    ports=[docker.ContainerPortArgs(internal=8000, external=8000, ip="127.0.0.1")],
    healthcheck=docker.ContainerHealthcheckArgs(
        tests=["CMD-SHELL", "curl -fsS http://localhost:8000/health || exit 1"],
        interval="30s", timeout="10s", retries=3, start_period="600s", start_interval="5s"),
    opts=pulumi.ResourceOptions(provider=provider, depends_on=[image]),
)

pulumi.export("container", container.name)
