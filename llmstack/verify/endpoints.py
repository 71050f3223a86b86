"""Stack outputs from explicit endpoints (`llmstack verify --gateway ... --backend name=engine[:model]@URL`)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from llmstack.engines import engine
from llmstack.errors import InputError
from llmstack.outputs import Endpoint, StackOutputs, masked, secrets_in, validate


def parse_endpoint_spec(spec: str, field: str, *, default_name: str | None = None) -> tuple[str, Endpoint]:
    """`name=engine[:model]@URL` (model optional: discovered from the backend), or a bare URL when
    `default_name` is given (TEI embeddings)."""
    fix = "Write name=engine[:model]@http://host:port, e.g. chat=vllm:Qwen/Qwen3-8B@http://10.0.2.7:8000."
    if "@" not in spec and default_name is not None:
        name, engine_name, model, url = default_name, "tei", "", spec
    else:
        left, sep, url = spec.partition("@")
        name, eq, eng = left.partition("=")
        if not sep or not eq or not name or not eng:
            raise InputError(field, spec, fix)
        engine_name, _, model = eng.partition(":")
    engine(engine_name)  # NotFoundError lists the engines
    try:
        return name, Endpoint(url=url, engine=engine_name, model=model, gateway_model=name)
    except ValueError as err:
        raise InputError(field, spec, f"{fix} ({err})") from err


def outputs_from_endpoints(
    gateway: str,
    master_key_env: str,
    backends: list[str],
    embeddings: str | None,
    env: Mapping[str, str] | None = None,
) -> StackOutputs:
    env = os.environ if env is None else env
    key = env.get(master_key_env, "")
    if not key:
        raise InputError(
            "--master-key-env", master_key_env, f"Set {master_key_env} to the gateway master key (sk-...)."
        )
    try:
        parsed = dict(parse_endpoint_spec(s, "--backend") for s in backends)
        embed = parse_endpoint_spec(embeddings, "--embeddings", default_name="embed")[1] if embeddings else None
    except InputError as err:  # a mistyped argument may hold the key: never show it
        raise masked(err, [key, *secrets_in(" ".join([*backends, embeddings or ""]))]) from None
    models = [b.gateway_model for b in parsed.values()] + ([embed.gateway_model] if embed else [])
    data = {
        "gateway_url": gateway,
        "master_key": key,
        "gateway_models": models,
        "fallbacks": {},
        "backends": {name: b.model_dump() for name, b in parsed.items()},
        "embeddings": embed.model_dump() if embed else None,
    }
    return validate(StackOutputs, data, "endpoints")
