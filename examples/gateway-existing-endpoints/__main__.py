"""A LiteLLM gateway in front of engines this program does not manage: an existing vLLM and an existing Ollama.

Clients ask for `llama-3.1-8b`; LiteLLM sends it to vLLM and, when vLLM fails, falls back to the same model on Ollama.
The master key comes from secret config and only reaches the container's environment as a secret.
"""

import pulumi

from components import LiteLLMGateway, Network

config = pulumi.Config()
docker_host = config.get("dockerHost") or "unix:///var/run/docker.sock"

network = Network("gateway-net", {"docker_host": docker_host})
gateway = LiteLLMGateway("gateway", {
    "routes": [
        {"model_name": "llama-3.1-8b", "engine": "vllm", "served_name": "meta-llama/Llama-3.1-8B-Instruct",
         "base_url": config.get("vllmUrl") or "http://10.0.0.5:8000"},
        {"model_name": "llama-3.1-8b-ollama", "engine": "ollama", "served_name": "llama3.1:8b",
         "base_url": config.get("ollamaUrl") or "http://10.0.0.6:11434"},
    ],
    "fallbacks": {"llama-3.1-8b": ["llama-3.1-8b-ollama"]},
    "num_retries": 1,
    "master_key": config.require_secret("masterKey"),
    "docker_host": docker_host,
    "network_name": network.network_name,
    "publish": "loopback",
})

pulumi.export("container", gateway.container_name)
pulumi.export("config_yaml", gateway.config_yaml)
