"""The session stack the verify tests share (built in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.standins import DockerStandIn, LiteLLMProxy, OllamaStandIn, TeiStandIn, VllmStandIn


@dataclass
class Stack:
    vllm: VllmStandIn
    ollama: OllamaStandIn
    tei: TeiStandIn
    docker: DockerStandIn
    docker_sock: str
    proxy: LiteLLMProxy
    outputs: dict[str, Any]
    outputs_file: Path

    def reset(self) -> None:
        for s in (self.vllm, self.ollama, self.tei):
            s.fail_status = None
            s.health_status = 200
            if not s.running:
                s.start()
