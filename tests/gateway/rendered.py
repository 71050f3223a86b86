"""The gateway config exactly as the `LiteLLMGateway` component renders it, re-pointed at loopback stand-ins.

`rendered_config(stack)` runs the real Pulumi program under mocks (`llmstack.preview.run_program`) and returns the
content the gateway container uploads to /app/config.yaml. `to_loopback(config, urls)` rewrites only the host:port
of each `api_base` (scheme and path are kept: `http://10.40.0.11:8000/v1` -> `http://127.0.0.1:<port>/v1`).
`standins_for(config, engine_key)` builds one stand-in per deployment, speaking that deployment's protocol and serving
the model name the rendered config asks for; a deployment whose `api_key` is the stack's engine key gets a stand-in
that refuses requests without `engine_key`, as the engine does (docs/engines.md §1.1).
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from llmstack.labels import CONTAINER
from llmstack.preview import PreviewResult, run_program
from llmstack.stackplan.litellm_config import CONFIG_PATH, ENGINE_KEY_ENV
from tests.conftest import stack_file
from tests.standins import OllamaStandIn, StandIn, TeiStandIn, VllmStandIn


def rendered_config(stack: str) -> dict[str, Any]:
    """The config.yaml the gateway container of `stacks/Pulumi.<stack>.yaml` is given, parsed."""
    return uploaded_config(run_program(stack_file(stack)), stack)


def uploaded_config(result: PreviewResult, stack: str) -> dict[str, Any]:
    """The config.yaml a recorded program uploads into its gateway container, parsed."""
    contents = [
        reg.inputs["uploads"][0]["content"]
        for reg in result.registrations
        if reg.type == CONTAINER and any(u.get("file") == CONFIG_PATH for u in reg.inputs.get("uploads", []))
    ]
    if len(contents) != 1:
        raise AssertionError(f"{stack}: expected one gateway container uploading {CONFIG_PATH}, got {len(contents)}")
    config = yaml.safe_load(contents[0])
    assert isinstance(config, dict)
    return config


def served_model(deployment: dict[str, Any]) -> str:
    """`hosted_vllm/chat` -> `chat`: the model name the backend is asked for."""
    model: str = deployment["litellm_params"]["model"]
    return model.split("/", 1)[1]


def provider(deployment: dict[str, Any]) -> str:
    model: str = deployment["litellm_params"]["model"]
    return model.split("/", 1)[0]


def standins_for(config: dict[str, Any], engine_key: str | None = None) -> dict[str, StandIn]:
    """One (unstarted) stand-in per model_name, speaking the protocol its provider prefix implies."""
    out: dict[str, StandIn] = {}
    for dep in config["model_list"]:
        name, prov, model = dep["model_name"], provider(dep), served_model(dep)
        key = engine_key if dep["litellm_params"].get("api_key") == f"os.environ/{ENGINE_KEY_ENV}" else None
        if name in out:
            raise AssertionError(f"{name}: several deployments per model name; extend standins_for")
        if dep.get("model_info", {}).get("mode") == "embedding":
            # Ollama's embeddings go to its own /api/embed (LiteLLM's ollama/ provider), the rest to TEI's API.
            out[name] = OllamaStandIn((model,)) if prov.startswith("ollama") else TeiStandIn(model, api_key=key)
        elif prov == "ollama_chat":
            out[name] = OllamaStandIn((model,))
        elif prov in ("hosted_vllm", "openai"):
            # vLLM, SGLang, llama.cpp and NIM all speak the OpenAI API that the vLLM stand-in serves.
            out[name] = VllmStandIn(model, api_key=key)
        else:
            raise AssertionError(f"{name}: no stand-in for provider {prov!r}")
    return out


def to_loopback(config: dict[str, Any], urls: dict[str, str]) -> dict[str, Any]:
    """A deep copy of `config` whose api_base hosts point at `urls[model_name]` (http://127.0.0.1:PORT)."""
    out = copy.deepcopy(config)
    for dep in out["model_list"]:
        params = dep["litellm_params"]
        original = urlsplit(params["api_base"])
        target = urlsplit(urls[dep["model_name"]])
        if original.scheme != target.scheme or target.hostname != "127.0.0.1":
            raise AssertionError(f"{dep['model_name']}: cannot map {params['api_base']} onto {target.geturl()}")
        params["api_base"] = urlunsplit((original.scheme, target.netloc, original.path, original.query, ""))
    return out
