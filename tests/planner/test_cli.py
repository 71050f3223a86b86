"""`llmstack plan` / `llmstack fits` through click's CliRunner, every error path included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmstack.catalog import models
from llmstack.cli import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


def test_plan_json_fits() -> None:
    code, out = run(
        "plan",
        "--model",
        "llama-3.1-8b",
        "--quant",
        "bf16",
        "--engine",
        "vllm",
        "--context",
        "8192",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["params"] == 8_030_261_248 and data["fits"] is True
    assert data["instance"]["type"] == "g6.xlarge" and data["kv_bytes_per_token"] == 131072


def test_plan_does_not_fit_exit_1() -> None:
    code, out = run(
        "plan",
        "--model",
        "llama-3.1-8b",
        "--quant",
        "bf16",
        "--engine",
        "vllm",
        "--context",
        "131072",
        "--instance",
        "g6.xlarge",
        "--explain",
    )
    assert code == 1
    assert "does NOT fit" in out and "estimated maximum model length" in out


def test_plan_table_and_explain() -> None:
    code, out = run("plan", "--model", "llama-3.1-70b", "--engine", "vllm", "--context", "8192", "--explain")
    assert code == 0 and "rejected" in out and "g4dn.xlarge" in out


def test_plan_model_config(tmp_path: Path) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(models()["qwen2.5-7b"].config))
    code, out = run("plan", "--model-config", str(cfg), "--quant", "Q4_K_M", "--json")
    assert code == 0 and json.loads(out)["params"] == 7_615_616_512


def test_fits_json() -> None:
    code, out = run("fits", "--vram", "24GB", "--context", "8192", "--json")
    assert code == 0 and any(r["model"] == "llama-3.1-8b" for r in json.loads(out))
    code, out = run("fits", "--vram", "16GiB", "--engine", "ollama")
    assert code == 0 and "Q4_K_M" in out


def test_fits_none_exit_1() -> None:
    code, _ = run("fits", "--vram", "1GB", "--engine", "vllm")
    assert code == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["plan"], "--model"),
        (["plan", "--model", "x", "--model-config", "y.json"], "exactly one"),
        (["plan", "--model", "llama-99"], "catalog model"),
        (["plan", "--model-config", "/nonexistent/config.json"], "model_config"),
        (["plan", "--model", "llama-3.1-8b", "--quant", "q9"], "quant"),
        (["plan", "--model", "llama-3.1-8b", "--engine", "vllm", "--quant", "Q4_K_M"], "ollama or llamacpp"),
        (["plan", "--model", "llama-3.1-8b", "--engine", "foo"], "engine"),
        (["plan", "--model", "llama-3.1-8b", "--engine", "litellm"], "inference engine"),
        (["plan", "--model", "llama-3.1-8b", "--gpu", "V100"], "gpu"),
        (["plan", "--model", "llama-3.1-8b", "--vram", "lots"], "vram"),
        (["plan", "--model", "llama-3.1-8b", "--gpu", "L4", "--vram", "24GB"], "at most one"),
        (["plan", "--model", "llama-3.1-8b", "--instance", "g9.huge"], "instance_type"),
        (["plan", "--model", "llama-3.1-8b", "--context", "0"], "context"),
        (["plan", "--model", "llama-3.1-8b", "--concurrency", "0"], "concurrency"),
        (["plan", "--model", "llama-3.1-8b", "--tensor-parallel", "3"], "tensor_parallel"),
        (["plan", "--model", "llama-3.1-8b", "--engine", "vllm", "--kv-dtype", "q4_0"], "kv_dtype"),
        (["plan", "--model", "llama-3.1-8b", "--workload", "cpu", "--quant", "bf16"], "GGUF"),
        (["fits", "--vram", "huge"], "vram"),
        (["fits", "--vram", "24GB", "--context", "0"], "context"),
        (["fits", "--vram", "24GB", "--engine", "nope"], "engine"),
    ],
)
def test_bad_input_exit_2(args: list[str], needle: str) -> None:
    code, out = run(*args)
    assert code == 2, out
    assert needle in out


def test_unknown_model_type_config(tmp_path: Path) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"model_type": "rwkv"}))
    code, out = run("plan", "--model-config", str(cfg))
    assert code == 2 and "qwen3_moe" in out


def test_bad_json_config(tmp_path: Path) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text("{not json")
    code, out = run("plan", "--model-config", str(cfg))
    assert code == 2 and "JSON" in out
