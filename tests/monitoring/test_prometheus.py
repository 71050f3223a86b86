"""The prometheus.yml renderer: jobs, metrics paths and ports from the engine table, gateway auth, DCGM."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from llmstack.engines import engines
from llmstack.errors import InputError, NotFoundError
from llmstack.monitoring import (
    DEFAULT_RULE_FILES,
    ENGINE_CREDENTIALS_FILE,
    LITELLM_CREDENTIALS_FILE,
    DcgmTarget,
    ScrapeTarget,
    dcgm_exporter,
    metrics_prerequisite,
    render_prometheus_config,
    render_prometheus_yaml,
    unscraped_targets,
)

SCRAPED = [name for name, e in engines().items() if e.metrics_path is not None and name != "litellm"]


def target(engine: str = "vllm", **kw: str) -> ScrapeTarget:
    fields = {"backend": f"{engine}-b", "model": "m", "node": "gpu-1", "address": "gpu-1"} | kw
    return ScrapeTarget(engine=engine, **fields)


def render(targets: list[ScrapeTarget], **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"litellm_target": None, "dcgm_targets": []} | kw
    return render_prometheus_config(targets, **args)


def jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in config["scrape_configs"]}


# --- engines --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCRAPED)
def test_one_job_per_engine_with_the_engine_tables_path_and_port(name: str) -> None:
    eng = engines()[name]
    job = jobs(render([target(name, node="n1", address="n1")]))[f"engine-{name}"]
    assert job["metrics_path"] == eng.metrics_path
    assert job["static_configs"] == [
        {
            "targets": [f"n1:{eng.port}"],
            "labels": {"backend": f"{name}-b", "engine": name, "model": "m", "node": "n1"},
        }
    ]


@pytest.mark.parametrize("name", SCRAPED)
def test_an_engine_whose_key_guards_its_metrics_is_scraped_with_the_key(name: str) -> None:
    """llama.cpp's API key guards every path but /health and /v1/health (tools/server/server-http.cpp), so its job
    sends the engine key from a mounted file; vLLM, SGLang, TGI and TEI leave /metrics open (docs/engines.md §1.1)."""
    job = jobs(render([target(name)]))[f"engine-{name}"]
    if name == "llamacpp":
        assert job["authorization"] == {"type": "Bearer", "credentials_file": ENGINE_CREDENTIALS_FILE}
    else:
        assert "authorization" not in job
    assert engines()[name].scrape_needs_key == (name == "llamacpp")


def test_the_engine_key_file_is_a_path_never_a_key() -> None:
    with pytest.raises(InputError) as err:
        render([target("llamacpp")], engine_credentials_file="sk-0123456789abcdef")
    assert err.value.field == "engine_credentials_file" and err.value.value == "<redacted>"
    job = jobs(render([target("llamacpp")], engine_credentials_file="/run/secrets/engine"))["engine-llamacpp"]
    assert job["authorization"]["credentials_file"] == "/run/secrets/engine"


def test_expected_metrics_paths() -> None:
    """The engine table's answers, spelled out (reference §1): NIM differs from the rest."""
    config = render([target(n, address=f"h-{n}") for n in ("vllm", "sglang", "llamacpp", "tgi", "nim")])
    paths = {name: job["metrics_path"] for name, job in jobs(config).items()}
    assert paths == {
        "engine-vllm": "/metrics",
        "engine-sglang": "/metrics",
        "engine-llamacpp": "/metrics",
        "engine-tgi": "/metrics",
        "engine-nim": "/v1/metrics",
    }


def test_targets_of_one_engine_share_a_job_each_with_its_own_labels() -> None:
    config = render(
        [
            target("vllm", backend="chat", model="Qwen/Qwen3-8B", node="gpu-1", address="gpu-1"),
            target("vllm", backend="code", model="Qwen/Qwen3-Coder", node="gpu-2", address="gpu-2:8001"),
        ]
    )
    job = jobs(config)["engine-vllm"]
    assert [sc["targets"] for sc in job["static_configs"]] == [["gpu-1:8000"], ["gpu-2:8001"]]
    assert [sc["labels"]["backend"] for sc in job["static_configs"]] == ["chat", "code"]


def test_jobs_follow_the_engine_table_order() -> None:
    config = render([target("nim", address="a"), target("vllm", address="b"), target("llamacpp", address="c")])
    assert list(jobs(config)) == ["engine-vllm", "engine-llamacpp", "engine-nim"]


def test_ollama_is_not_scraped_and_is_named() -> None:
    ollama = target("ollama", backend="fallback", node="gpu-2", address="gpu-2")
    config = render([target("vllm"), ollama])
    assert list(jobs(config)) == ["engine-vllm"]
    assert unscraped_targets([target("vllm"), ollama]) == (ollama,)
    text = render_prometheus_yaml([target("vllm"), ollama], litellm_target=None, dcgm_targets=[])
    assert "# Not scraped: backend 'fallback' (ollama on gpu-2)" in text


def test_yaml_is_the_dict() -> None:
    kw: dict[str, Any] = {"litellm_target": "gw", "dcgm_targets": [DcgmTarget(node="gpu-1")]}
    text = render_prometheus_yaml([target("vllm")], **kw)
    assert yaml.safe_load(text) == render_prometheus_config([target("vllm")], **kw)


def test_global_and_rule_files() -> None:
    config = render([target()], scrape_interval="30s")
    assert config["global"] == {"scrape_interval": "30s", "evaluation_interval": "30s"}
    assert config["rule_files"] == list(DEFAULT_RULE_FILES)


# --- LiteLLM --------------------------------------------------------------------------------------


def test_litellm_is_scraped_with_a_bearer_token_from_a_file() -> None:
    job = jobs(render([], litellm_target="gateway"))["litellm"]
    gateway = engines()["litellm"]
    assert job["metrics_path"] == gateway.metrics_path
    assert job["authorization"] == {"type": "Bearer", "credentials_file": LITELLM_CREDENTIALS_FILE}
    assert LITELLM_CREDENTIALS_FILE == "/etc/prometheus/litellm_key"
    assert job["static_configs"] == [
        {"targets": [f"gateway:{gateway.port}"], "labels": {"engine": "litellm", "node": "gateway"}}
    ]


def test_no_secret_is_inline() -> None:
    text = render_prometheus_yaml([target()], litellm_target="gw:4000", dcgm_targets=[])
    doc = yaml.safe_load(text)
    auth = jobs(doc)["litellm"]["authorization"]
    assert set(auth) == {"type", "credentials_file"}
    for inline in ("credentials:", "bearer_token:", "password", "sk-"):
        assert inline not in text


@pytest.mark.parametrize("value", ["sk-1234567890abcdef", "Bearer sk-1234", "litellm_key", "./litellm_key"])
def test_credentials_file_must_be_an_absolute_path_not_a_key(value: str) -> None:
    with pytest.raises(InputError) as err:
        render([], litellm_target="gw", litellm_credentials_file=value)
    assert err.value.field == "litellm_credentials_file"
    assert "sk-" not in str(err.value), "the error must not echo a key"


def test_no_gateway_job_without_a_gateway() -> None:
    assert "litellm" not in jobs(render([target()]))


# --- DCGM -----------------------------------------------------------------------------------------


def test_dcgm_exporter_facts() -> None:
    exporter = dcgm_exporter()
    assert exporter.port == 9400
    assert exporter.image == "nvcr.io/nvidia/k8s/dcgm-exporter"
    assert exporter.tag and exporter.tag != "latest" and exporter.tag.count("-") >= 2  # long form: pinned
    assert exporter.image_ref() == f"nvcr.io/nvidia/k8s/dcgm-exporter:{exporter.tag}"


def test_dcgm_job_labels_nodes_by_gpu_memory_model() -> None:
    config = render(
        [
            target("vllm", node="gpu-1", address="gpu-1"),
            target("llamacpp", node="gpu-2", address="gpu-2"),
            target("ollama", node="gpu-2", address="gpu-2"),
            target("ollama", node="gpu-3", address="gpu-3"),
            target("llamacpp", node="gpu-3", address="gpu-3:8081"),
            target("tgi", node="gpu-3", address="gpu-3"),
        ],
        dcgm_targets=[
            DcgmTarget(node="gpu-1"),
            DcgmTarget(node="gpu-2"),
            DcgmTarget(node="gpu-3"),
            DcgmTarget(node="gpu-9", address="10.0.0.9:19400"),
        ],
    )
    job = jobs(config)["dcgm"]
    assert job["metrics_path"] == dcgm_exporter().metrics_path
    assert [(sc["targets"], sc["labels"]) for sc in job["static_configs"]] == [
        (["gpu-1:9400"], {"node": "gpu-1", "gpu_memory_model": "preallocate"}),
        (["gpu-2:9400"], {"node": "gpu-2", "gpu_memory_model": "ggml"}),
        (["gpu-3:9400"], {"node": "gpu-3", "gpu_memory_model": "preallocate"}),  # TGI preallocates
        (["10.0.0.9:19400"], {"node": "gpu-9", "gpu_memory_model": "unknown"}),
    ]


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "fix"),
    [
        ("http://gpu-1:8000", "without a scheme"),
        ("gpu-1:8000/metrics", "without a scheme or path"),
        ("gpu-1:0", "between 1 and 65535"),
        ("gpu-1:70000", "between 1 and 65535"),
        ("gpu 1", "host:port"),
        ("", "host:port"),
    ],
)
def test_bad_address(address: str, fix: str) -> None:
    with pytest.raises(InputError) as err:
        render([target("vllm"), target("vllm", address=address)])
    assert err.value.field == "targets[1].address"
    assert err.value.value == address
    assert fix in err.value.fix


def test_ipv6_address() -> None:
    job = jobs(render([target("vllm", address="[fd00::1]")]))["engine-vllm"]
    assert job["static_configs"][0]["targets"] == ["[fd00::1]:8000"]


def test_unknown_engine() -> None:
    with pytest.raises(NotFoundError) as err:
        render([target("vllmm")])
    assert err.value.field == "targets[0].engine"
    assert "vllm" in err.value.fix


def test_gateway_is_not_an_engine_target() -> None:
    with pytest.raises(InputError, match="litellm_target"):
        render([target("litellm")])


def test_same_instance_twice() -> None:
    with pytest.raises(InputError) as err:
        render([target("vllm", address="gpu-1"), target("vllm", address="gpu-1:8000")])
    assert err.value.field == "targets[1].address"
    assert "targets[0]" in err.value.fix


@pytest.mark.parametrize("field", ["backend", "model", "node"])
def test_empty_label(field: str) -> None:
    with pytest.raises(InputError) as err:
        render([target("vllm", **{field: " "})])
    assert err.value.field == f"targets[0].{field}"


@pytest.mark.parametrize("interval", ["15", "15 s", "", "0s", "1.5m"])
def test_bad_scrape_interval(interval: str) -> None:
    with pytest.raises(InputError) as err:
        render([target()], scrape_interval=interval)
    assert err.value.field == "scrape_interval"


def test_rule_files_must_be_a_list() -> None:
    with pytest.raises(InputError) as err:
        render([target()], rule_files="/etc/prometheus/alerts.yml")
    assert err.value.field == "rule_files"


def test_duplicate_dcgm_node() -> None:
    with pytest.raises(InputError) as err:
        render([], dcgm_targets=[DcgmTarget(node="gpu-1"), DcgmTarget(node="gpu-1", address="10.0.0.1")])
    assert err.value.field == "dcgm_targets[1].node"


def test_bad_litellm_target() -> None:
    with pytest.raises(InputError) as err:
        render([], litellm_target="https://gw:4000")
    assert err.value.field == "litellm_target"


# --- prerequisites --------------------------------------------------------------------------------


def test_metrics_prerequisites() -> None:
    assert "--enable-metrics" in metrics_prerequisite("sglang")
    assert "--metrics" in metrics_prerequisite("llamacpp")
    assert "LLAMA_ARG_ENDPOINT_METRICS" in metrics_prerequisite("llamacpp")
    assert "API key" in metrics_prerequisite("llamacpp")  # /metrics needs the engine key too
    assert "not scraped" in metrics_prerequisite("ollama")
    assert "prometheus" in metrics_prerequisite("litellm")
    for name in engines():
        assert metrics_prerequisite(name)
    with pytest.raises(NotFoundError):
        metrics_prerequisite("triton")
