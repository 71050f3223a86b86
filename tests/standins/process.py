"""A stand-in in a child process (own GIL), for measurements where the server must not slow the client."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.standins.openai_server import TokenSchedule

ROOT = Path(__file__).resolve().parents[2]


class StandInProcess:
    def __init__(self, kind: str, schedule: TokenSchedule, *, model: str | None = None, uvloop: bool = True,
                 port: int = 0) -> None:
        self.kind = kind
        self.schedule = schedule
        self.model = model
        self.uvloop = uvloop
        self.port = port  # 0: any free port; a fixed port lets `kill()` + `start()` come back at the same address
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 20.0) -> StandInProcess:
        """Start the child; with a fixed port, retry the bind (bounded by `timeout`) while it sits in TIME_WAIT."""
        began = time.monotonic()
        while True:
            try:
                return self._start_once()
            except RuntimeError:
                if not self.port or time.monotonic() - began > timeout:
                    raise
                time.sleep(0.2)

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs (to pin it to CPUs or read its CPU time)."""
        return self._proc.pid if self._proc is not None else None

    def kill(self) -> None:
        """SIGKILL, like a crashed container: in-flight streams break, new connections are refused."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.communicate(timeout=10)

    def _start_once(self) -> StandInProcess:
        cmd = [
            sys.executable,
            "-m",
            "tests.standins.serve",
            self.kind,
            "--ttft",
            str(self.schedule.ttft),
            "--itl",
            str(self.schedule.itl),
            "--tokens",
            str(self.schedule.output_tokens),
        ]
        if self.model:
            cmd += ["--model", self.model]
        if self.port:
            cmd += ["--port", str(self.port)]
        if self.uvloop:
            cmd.append("--uvloop")
        self._proc = subprocess.Popen(
            cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self._proc.stdout is not None
        with contextlib.ExitStack() as on_failure:  # stop the child if it does not come up, then re-raise
            on_failure.callback(self.stop)
            line = self._proc.stdout.readline()  # bounded: the child prints READY or exits
            if not line.startswith("READY "):
                raise RuntimeError(f"stand-in process failed to start: {line!r} {self._stderr()}")
            on_failure.pop_all()
        self.url = line.split()[1]
        return self

    def _stderr(self) -> str:
        if self._proc is None or self._proc.poll() is None or self._proc.stderr is None:
            return ""
        return self._proc.stderr.read()[-2000:]

    def requests(self) -> list[dict[str, Any]]:
        """The child's request log (`RequestRecord.to_json()` dicts, perf_counter seconds)."""
        data: list[dict[str, Any]] = httpx.get(self.url + "/_standin/requests", timeout=30).json()
        return data

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> StandInProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
