"""Put a stand-in executable (`ssh`, `kubectl`) first on PATH for a CLI run: a shim that runs its module with this
interpreter."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from tests.conftest import ROOT


def on_path(bin_dir: Path, command: str, module: str) -> dict[str, str]:
    """The environment that makes `command` run `python -m module`; `bin_dir` holds the shim."""
    exe = bin_dir / command
    python_path = f'"{ROOT}${{PYTHONPATH:+:$PYTHONPATH}}"'
    exe.write_text(f'#!/bin/sh\nPYTHONPATH={python_path} exec "{sys.executable}" -m {module} "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
