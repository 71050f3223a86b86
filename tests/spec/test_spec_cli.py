"""`llmstack preview --stack-file` on bad stack files: exit 2 and one `error: ...` line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from llmstack.cli import main
from tests.conftest import stack_file
from tests.spec.conftest import WriteStack
from tests.spec.test_spec_errors import CASES


def preview(*args: str) -> Result:
    return CliRunner().invoke(main, ["preview", *args])


def assert_one_error_line(result: Result, *phrases: str) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in lines[0]
    return lines[0]


CLI_CASES = ["unknown key (typo)", "missing backends", "bad engine name", "context below 256",
             "0.0.0.0/0 in allowed_cidrs", "malformed CIDR", "vpc id and cidr", "unpinned image override",
             "cooldown not above health interval", "GGUF on vLLM", "GPU engine on a laptop without GPUs",
             "unknown model", "non-stack config key", "duplicate backend names", "fallback to an unknown model",
             "fallback to itself"]


@pytest.mark.parametrize("case", CLI_CASES)
def test_bad_stack_file(case: str, write_stack: WriteStack) -> None:
    edit, base, field, value, fix = CASES[case]
    line = assert_one_error_line(preview("--stack-file", str(write_stack(edit, base=base))), value, fix)
    assert field in line


def test_model_that_fits_nowhere(write_stack: WriteStack) -> None:
    huge = {"model": "llama-3.1-405b", "quant": "bf16", "context": 131072, "concurrency": 16}
    edit = CASES["unknown model"][0]
    path = write_stack(lambda c: (edit(c), c["backends"][0].update(huge)))
    assert_one_error_line(preview("--stack-file", str(path)), "backends[0]", "llama-3.1-405b", "GiB", "Try:")


def test_missing_stack_file(tmp_path: Path) -> None:
    assert_one_error_line(preview("--stack-file", str(tmp_path / "Pulumi.none.yaml")), "Pulumi.none.yaml")


def test_unknown_stack_name() -> None:
    assert_one_error_line(preview("--stack", "qa"), "'qa'", "dev", "prod", "staging")


def test_invalid_yaml(write_stack: WriteStack) -> None:
    path = write_stack(text="config:\n  llm-inference-stack:backends: [1, 2\n")
    assert_one_error_line(preview("--stack-file", str(path)), "not valid YAML", "line 2")


def test_valid_stack_file_previews(tmp_path: Path) -> None:
    result = preview("--stack-file", str(stack_file("dev")), "--json", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["stack"] == "dev"
    assert "master_key" not in document["exports"]
    types = {r["type"] for r in document["resources"]}
    assert "docker:index/container:Container" in types
    assert (tmp_path / "gateway-container_app_config.yaml").is_file()
