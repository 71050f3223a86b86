"""What a verify run reports (each check's result), and how a wrong HTTP answer becomes a failed check."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import httpx


class CheckFailed(Exception):
    """A check ran and the answer was wrong; the message says what was expected and what came back."""


@dataclass(frozen=True)
class CheckResult:
    check: str
    target: str
    ok: bool
    seconds: float
    detail: str
    skipped: bool = False  # not run: the endpoint is out of reach from here, or the drill does not apply (`detail`)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VerifyReport:
    checks: list[CheckResult]
    hints: list[str] = field(default_factory=list)  # what to do about the skips (printed under the table)

    @property
    def ok(self) -> bool:
        """Every check that ran passed, and at least one ran."""
        return any(not c.skipped for c in self.checks) and all(c.ok for c in self.checks)

    @property
    def skipped(self) -> list[CheckResult]:
        return [c for c in self.checks if c.skipped]

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.ok]

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.to_json() for c in self.checks], "hints": self.hints}


def describe(err: httpx.HTTPError) -> str:
    try:
        where = f" ({err.request.method} {err.request.url})"
    except RuntimeError:  # an error raised before a request existed has no .request
        where = ""
    if isinstance(err, httpx.TimeoutException):
        return f"timed out: {type(err).__name__}{where}"
    return f"{type(err).__name__}: {err or 'connection failed'}{where}"


def expect(resp: httpx.Response, codes: tuple[int, ...] = (200,)) -> None:
    if resp.status_code not in codes:
        body = resp.text.strip().replace("\n", " ")[:300]
        raise CheckFailed(
            f"HTTP {resp.status_code} from {resp.request.method} {resp.request.url} "
            f"(expected {'/'.join(map(str, codes))}): {body}"
        )


def json_of(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError as err:
        raise CheckFailed(f"{resp.request.url} answered non-JSON: {resp.text[:200]!r}") from err
