"""Shared by the generators: the snapshot file format and where the snapshots live.

A snapshot is one JSON object per engine and version (`llmstack/catalog/engine_flags/<engine>.json`):

    engine, upstream_version, image, image_tag   what it was made for (image_tag must match engines.yaml)
    source, command, generated                   where the data came from, the exact command, the date (UTC)
    parser                                       how the engine's own parser reads argv (see llmstack/engine_flags.py)
    positionals                                  [{"name", "min", "max"}]
    options                                      one object per option, one per line, sorted by first name:
                                                 names (every accepted spelling, negations included), min/max values
                                                 (0/0 = a flag, 1/1 = one value, 0/1 = optional value, max null =
                                                 unbounded), and where known choices, env, deprecated
    env                                          prefixes the engine owns, names it reads, notes
    notes                                        free text: what is approximate and why

Values are written sorted and one option per line so that a regeneration diffs cleanly.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "llmstack" / "catalog" / "engine_flags"
_ORDER = ("names", "min", "max", "choices", "env", "env_negated", "deprecated", "note")


def today() -> str:
    return _dt.datetime.now(_dt.UTC).date().isoformat()


def invocation() -> str:
    """The command line that ran this generator (and, when generate.sh ran it, that step), as a shell takes it."""
    script = Path(sys.argv[0]).resolve()
    argv0 = str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else sys.argv[0]
    cmd = " ".join(shlex.quote(a) for a in ["python", argv0, *sys.argv[1:]])
    via = os.environ.get("ENGINE_FLAGS_VIA")
    return f"{via} -> {cmd}" if via else cmd


def option(names: list[str], lo: int, hi: int | None, **extra: Any) -> dict[str, Any]:
    opt: dict[str, Any] = {"names": list(names), "min": lo, "max": hi}
    for key, value in extra.items():
        if value not in (None, [], False, ""):
            opt[key] = value
    return opt


def _ordered(opt: dict[str, Any]) -> dict[str, Any]:
    return {k: opt[k] for k in sorted(opt, key=lambda k: (_ORDER.index(k) if k in _ORDER else len(_ORDER), k))}


def _sorted_options(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(options, key=lambda o: (o["names"][0].lstrip("-").lower(), o["names"]))


def _fmt(value: Any, indent: int) -> str:
    """Indented JSON, except: an option (a dict with "names") and a short list of scalars stay on one line."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, dict) and {"names", "min"} <= value.keys():
        return json.dumps(_ordered(value), ensure_ascii=False, separators=(", ", ": "))
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {_fmt(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        flat = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
        if all(not isinstance(v, dict) for v in value) and len(flat) <= 100:
            return flat
        if value and all(isinstance(v, dict) and {"names", "min"} <= v.keys() for v in value):
            value = _sorted_options(value)
        return "[\n" + ",\n".join(inner + _fmt(v, indent + 2) for v in value) + "\n" + pad + "]"
    return json.dumps(value, ensure_ascii=False)


def render(snapshot: dict[str, Any]) -> str:
    """JSON with one option per line and short lists inline (small diffs, still one `json.loads`)."""
    return _fmt(snapshot, 0) + "\n"


def write(engine: str, snapshot: dict[str, Any], out_dir: Path = OUT_DIR) -> Path:
    path = out_dir / f"{engine}.json"
    text = render(snapshot)
    json.loads(text)  # the writer's own check: never leave a file the loader cannot read
    path.write_text(text)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
          f"{len(snapshot.get('options', []))} options, {len(snapshot.get('env', {}).get('names', []))} env names")
    return path


def engines_yaml_image(engine: str) -> tuple[str, str]:
    """(image, tag) the project pins today, read from engines.yaml without importing the project."""
    import yaml  # the generators run in throw-away venvs; PyYAML is the only third-party import here

    table = yaml.safe_load((ROOT / "llmstack" / "catalog" / "engines.yaml").read_text())["engines"][engine]
    return str(table["image"]), str(table["tag"])
