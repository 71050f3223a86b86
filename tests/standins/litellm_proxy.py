"""Start the real LiteLLM proxy (the venv's `litellm` CLI) on loopback from a config dict.

    with LiteLLMProxy(config) as proxy:           # writes config.yaml, boots, waits for /health/liveliness
        httpx.get(proxy.url + "/v1/models", headers=proxy.auth_headers)
        assert "not a valid argument" not in proxy.log_text()

The master key is `sk-<random hex>` in `LITELLM_MASTER_KEY` (1.108.7 refuses to start without a strong one);
`LITELLM_LOCAL_MODEL_COST_MAP=True` keeps boot offline (reference §7.1). stdout+stderr go to `proxy.log_path`.
Boot took 22-45 s on the shared 2-core dev box, so share one proxy per test session (see README.md).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

LITELLM_BIN = Path(sys.executable).with_name("litellm")


class ProxyBootError(RuntimeError):
    """The proxy exited or did not become live in time; the message carries the log tail."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiteLLMProxy:
    def __init__(
        self,
        config: dict[str, Any],
        *,
        workdir: Path | None = None,
        port: int | None = None,
        master_key: str | None = None,
        env: dict[str, str] | None = None,
        boot_timeout: float = 120.0,
        args: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="litellm-proxy-")
            workdir = Path(self._tmp.name)
        self.workdir = workdir
        self.port = port or free_port()
        self.master_key = master_key or "sk-" + secrets.token_hex(24)
        self.extra_env = env or {}
        self.boot_timeout = boot_timeout
        self.args = args  # extra CLI arguments, e.g. ("--num_workers", "2")
        self.config_path = workdir / "litellm_config.yaml"
        self.log_path = workdir / "litellm_proxy.log"
        self.boot_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The proxy's process id (the leader of its own process group), while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.master_key}"}

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
        env.update(
            {
                "LITELLM_MASTER_KEY": self.master_key,
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "LITELLM_TELEMETRY": "False",
                "NO_PROXY": "127.0.0.1,localhost",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> LiteLLMProxy:
        if self._proc is not None:
            return self
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        cmd = [
            str(LITELLM_BIN),
            "--config",
            str(self.config_path),
            "--port",
            str(self.port),
            "--host",
            "127.0.0.1",
            *self.args,
        ]
        began = time.perf_counter()
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                cwd=self.workdir,
                start_new_session=True,
            )
        with contextlib.ExitStack() as on_failure:  # stop the process if the boot fails, then re-raise
            on_failure.callback(self.stop)
            self._wait_live(began)
            on_failure.pop_all()
        self.boot_seconds = time.perf_counter() - began
        return self

    def _wait_live(self, began: float) -> None:
        assert self._proc is not None
        deadline = began + self.boot_timeout
        with httpx.Client(timeout=2.0) as client:
            while time.perf_counter() < deadline:
                if self._proc.poll() is not None:
                    raise ProxyBootError(
                        f"litellm proxy exited with code {self._proc.returncode} during boot; log tail:\n"
                        + self.log_tail()
                    )
                try:
                    if client.get(self.url + "/health/liveliness").status_code == 200:
                        return
                except httpx.TransportError:
                    pass  # not listening yet: keep polling until the deadline
                time.sleep(0.25)
        raise ProxyBootError(
            f"litellm proxy not live at {self.url}/health/liveliness after {self.boot_timeout:.0f}s; "
            "log tail:\n" + self.log_tail()
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the proxy's own session: only what we started
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LiteLLMProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
