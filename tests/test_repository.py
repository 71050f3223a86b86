"""The repository stands alone and its module map is true: docs/architecture.md names every module that exists, and
nothing it names is missing; no file cites material users don't have."""

from __future__ import annotations

import re
import subprocess

from llmstack.spec import parse_spec, stack_config
from llmstack.stackplan.costs import HOURS_PER_MONTH, fixed_costs
from tests.conftest import ROOT, ShippedStack, stack_file

MAP = ROOT / "docs" / "architecture.md"
PACKAGES = ("llmstack", "components", "policies")


def _tracked(*patterns: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if (ROOT / line).exists()]


def _named_paths() -> set[str]:
    """Every `path` in the map's first column (`a.py`, `b.py` after a path share its folder)."""
    named: set[str] = set()
    for row in MAP.read_text().splitlines():
        if not row.startswith("| `"):
            continue
        first = row.split("|")[1]
        folder = ""
        for token in re.findall(r"`([^`]+)`", first):
            if "/" in token:
                folder = token.rsplit("/", 1)[0] + "/" if not token.endswith("/") else token
                named.add(token)
            else:
                named.add(folder + token)
    return named


def test_the_module_map_names_only_what_exists() -> None:
    missing = sorted(p for p in _named_paths() if not (ROOT / p).exists())
    assert missing == [], f"docs/architecture.md names paths that don't exist: {missing}"


def test_every_module_is_on_the_map() -> None:
    named = _named_paths()
    unmapped = []
    for path in _tracked(*(f"{p}/*.py" for p in PACKAGES)):
        folder = path.rsplit("/", 1)[0] + "/"
        covered = path in named or folder in named or any(folder.startswith(n) for n in named if n.endswith("/"))
        if not covered and not path.endswith("/__init__.py"):
            unmapped.append(path)
    assert unmapped == [], f"add these to the module map in docs/architecture.md: {unmapped}"


def test_nothing_cites_what_users_do_not_have() -> None:
    pattern = re.compile(r"\.\./shared/|shared/(reference|design|seed)/")
    offenders = [path for path in _tracked() if not path.endswith(".lock") and (ROOT / path).is_file()
                 and pattern.search((ROOT / path).read_text(errors="replace"))]
    assert offenders == [], f"cite the public source or a doc in docs/ instead: {offenders}"


def test_readme_target_costs_come_from_the_catalog(shipped: dict[str, ShippedStack]) -> None:
    """The "Choosing a target" table quotes each AWS stack's fixed cost as `llmstack preview` computes it."""
    readme = (ROOT / "README.md").read_text()
    for name in ("staging", "prod", "prod-eks"):
        spec = shipped[name].spec if name in shipped else parse_spec(stack_config(stack_file(name)))
        hourly = sum(c.hourly_usd or 0.0 for c in fixed_costs(spec))
        assert f"${hourly:.3f}/h (${hourly * HOURS_PER_MONTH:,.0f}/month)" in readme, name
