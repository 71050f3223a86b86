"""One vLLM engine on an existing GPU host: a Docker network and an InferenceBackend, both through `docker_host`.

The host needs Docker and the NVIDIA container toolkit; Pulumi drives its Docker daemon over SSH. The engine's port is
published on the host's loopback only: reach it with `ssh -L 8000:127.0.0.1:8000 ubuntu@gpu-host`.
"""

import pulumi

from components import InferenceBackend, InferenceBackendArgs, Network

config = pulumi.Config()
docker_host = config.get("dockerHost") or "ssh://ubuntu@gpu-host"
hf_token = config.get_secret("hfToken")  # only for gated models: pulumi config set --secret hfToken hf_...

network = Network("llm", {"docker_host": docker_host})
args: InferenceBackendArgs = {
    "engine": "vllm",
    "model": config.get("model") or "llama-3.1-8b",
    "context": config.get_int("context") or 8192,
    "docker_host": docker_host,
    "network_name": network.network_name,
    "publish": "loopback",
}
if hf_token is not None:
    args["hf_token"] = hf_token
backend = InferenceBackend("vllm", args)

pulumi.export("container", backend.container_name)
pulumi.export("served_model_name", backend.served_model_name)
pulumi.export("port", backend.port)
