"""`llmstack preview` runs the pack: violations in the table and in --json, exit 1 on mandatory ones."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from llmstack.cli.preview import preview
from tests.conftest import BAD_STACK


def test_shipped_stack_passes_with_exit_0(tmp_path: Path) -> None:
    result = CliRunner().invoke(preview, ["--stack", "dev", "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["violations"] == [] and document["policy_result"] == "pass"


def test_bad_stack_fails_with_exit_1_and_a_table(tmp_path: Path) -> None:
    result = CliRunner().invoke(preview, ["--stack-file", str(BAD_STACK), "--out", str(tmp_path)], terminal_width=200)
    assert result.exit_code == 1
    assert "policy violation(s)" in result.output and "gateway-on-cpu-node" in result.output
    assert "failed" in result.output


def test_bad_stack_json_and_policy_config(tmp_path: Path) -> None:
    result = CliRunner().invoke(preview, ["--stack-file", str(BAD_STACK), "--json", "--out", str(tmp_path)])
    assert result.exit_code == 1
    violations = json.loads(result.output)["violations"]
    assert {v["policy"] for v in violations} == {"gateway-on-cpu-node", "litellm-version-safe"}
    assert set(violations[0]) == {"policy", "level", "resource_type", "resource_name", "urn", "message"}
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"all": "advisory"}))
    result = CliRunner().invoke(preview, ["--stack-file", str(BAD_STACK), "--json", "--out", str(tmp_path),
                                          "--policy-config", str(config)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["policy_result"] == "pass" and {v["level"] for v in document["violations"]} == {"advisory"}
