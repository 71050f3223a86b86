"""The dev stack on a laptop with an NVIDIA GPU (`target.gpus: all`) previews clean (issue 11 item 6).

Ollama then runs on the GPU and TEI stays a CPU container on the same Docker host: `embeddings-off-inference-gpu`
judges GPU sharing, not the host, so `llmstack preview` (the real program under mocks, then the whole policy pack)
reports nothing.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from llmstack.labels import CONTAINER
from llmstack.policy_check import analyze
from llmstack.preview import run_program
from tests.components.helpers import labels
from tests.conftest import stack_file


def test_dev_stack_with_gpus_all_previews_clean(tmp_path: Path) -> None:
    document = yaml.safe_load(stack_file("dev").read_text())
    target = document["config"]["llm-inference-stack:target"]
    assert target["gpus"] == "auto"
    target["gpus"] = "all"
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(document))
    result = run_program(path)
    containers = {r.name: r for r in result.registrations if r.type == CONTAINER}
    assert containers["chat-container"].inputs["gpus"] == "all"  # Ollama on the GPU
    assert "gpus" not in containers["embeddings-container"].inputs  # TEI on the CPU, same Docker host
    assert labels(containers["embeddings-container"])["llmstack.role"] == "embedding"
    assert analyze(result.registrations) == []
