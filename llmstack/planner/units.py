"""Byte units and size parsing. Compute in bytes, show GiB (docs/sizing.md §1: GB = 10^9, GiB = 2^30)."""

from __future__ import annotations

import re

from llmstack.errors import InputError

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
GB = 10**9

_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": GB,
    "tb": 10**12,
    "kib": KIB,
    "mib": MIB,
    "gib": GIB,
    "tib": 1 << 40,
    "k": KIB,  # nvidia-smi / docker style single letters are binary
    "m": MIB,
    "g": GIB,
    "t": 1 << 40,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$")


def parse_size(value: str | int, field: str = "vram") -> int:
    """Bytes from `24GB` (10^9), `22.35GiB`, `22888MiB`, `24G` (binary) or an int (already bytes)."""
    if isinstance(value, bool):
        raise InputError(field, value, "Give a size such as 24GB, 22.35GiB or 22888MiB.")
    if isinstance(value, int):
        if value <= 0:
            raise InputError(field, value, "A size must be a positive number of bytes.")
        return value
    match = _SIZE_RE.match(value)
    if not match or match.group(2).lower() not in _UNITS:
        raise InputError(
            field,
            value,
            "Give a number with a unit: 24GB (10^9 B), 22.35GiB (2^30 B), 22888MiB; units: "
            + ", ".join(sorted(_UNITS))
            + ".",
        )
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size <= 0:
        raise InputError(field, value, "A size must be larger than zero.")
    return size


def gib(n: int | float) -> float:
    return n / GIB


def fmt_gib(n: int | float) -> str:
    return f"{n / GIB:.2f} GiB"
