"""The session stack the verify tests share (built in conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.standins import DockerStandIn, LiteLLMProxy, OllamaStandIn, StandIn, TeiStandIn, VllmStandIn

K = TypeVar("K")


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


@contextmanager
def running(standins: dict[K, StandIn]) -> Iterator[dict[K, StandIn]]:
    """Start every stand-in; stop them all after, whatever happened."""
    for standin in standins.values():
        standin.start()
    try:
        yield standins
    finally:
        for standin in standins.values():
            standin.stop()
