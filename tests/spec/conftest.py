"""Stack files for the spec tests: a shipped stack, changed by one edit, written into tmp_path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmstack.spec import PROJECT
from tests.conftest import stack_file

P = f"{PROJECT}:"

Edit = Callable[[dict[str, Any]], object]
WriteStack = Callable[..., Path]


def shipped_document(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(stack_file(name).read_text())
    return document


@pytest.fixture
def write_stack(tmp_path: Path) -> WriteStack:
    """write_stack(edit, base="prod", name="bad") -> path of Pulumi.<name>.yaml: `base` with `edit(config)` applied,
    where `config` is the un-namespaced config mapping (keys `backends`, `target`, ...)."""

    def write(edit: Edit | None = None, base: str = "prod", name: str = "bad", text: str | None = None) -> Path:
        path = tmp_path / f"Pulumi.{name}.yaml"
        if text is not None:
            path.write_text(text)
            return path
        document = copy.deepcopy(shipped_document(base))
        config = {k.removeprefix(P): v for k, v in document["config"].items()}
        if edit is not None:
            edit(config)
        document["config"] = {(k if ":" in k else P + k): v for k, v in config.items()}
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    return write
