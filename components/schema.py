"""Generate or check `components/schema.json`, the committed schema of the `llmstack` component package.

    python -m components.schema          # regenerate (refuses when the schema changed but the version did not)
    python -m components.schema --check  # exit 1 when the committed file is out of date (CI, tests/package)
    python -m components.schema --unreleased  # rewrite without a bump while vX.Y.Z is not tagged yet

The schema is the package's public contract: every language's generated SDK is built from it. Any change to it (an
input, an output, a type, a description) ships as a new version: bump `version` in pyproject.toml, add a CHANGELOG.md
entry, then regenerate. The committed file carries its version in the schema's own `version` field.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from components.package import schema

SCHEMA_PATH = Path(__file__).resolve().parent / "schema.json"
REGENERATE = "python -m components.schema"
BUMP_MESSAGE = ("schema changed: bump the version in pyproject.toml, add a CHANGELOG entry, and regenerate with "
                f"`{REGENERATE}`")


def render(value: dict[str, Any]) -> str:
    """Pretty JSON with sorted keys and a final newline: the committed file's exact text."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _without_version(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k != "version"}


def problem(committed: dict[str, Any] | None, generated: dict[str, Any]) -> str | None:
    """Why the committed schema can't stand as it is, or None when it matches the generated one."""
    if committed == generated:
        return None
    if committed is None:
        return f"components/schema.json is missing: generate it with `{REGENERATE}`"
    if committed.get("version") == generated["version"]:
        version = generated["version"]
        return (f"{BUMP_MESSAGE} (package version is still {version}; only while v{version} is not tagged yet, "
                f"`{REGENERATE} --unreleased` rewrites it in place)")
    if _without_version(committed) == _without_version(generated):
        return (f"package version is now {generated['version']} but components/schema.json says "
                f"{committed.get('version')}: regenerate with `{REGENERATE}`")
    return (f"schema changed with the version bump {committed.get('version')} -> {generated['version']}: "
            f"regenerate components/schema.json with `{REGENERATE}`")


def load_committed(path: Path | None = None) -> dict[str, Any] | None:
    path = path or SCHEMA_PATH
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def is_tagged(version: str) -> bool:
    """Whether the repository has the release tag `v<version>` (then its schema must never change again)."""
    found = subprocess.run(["git", "rev-parse", "-q", "--verify", f"refs/tags/v{version}"],
                           cwd=SCHEMA_PATH.parent, capture_output=True, text=True, check=False)
    return found.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if the committed file is stale")
    parser.add_argument("--unreleased", action="store_true",
                        help="rewrite without a version bump: the current version has not been tagged yet")
    args = parser.parse_args(argv)
    generated = schema()
    committed = load_committed()
    found = problem(committed, generated)
    if found is None:
        print(f"components/schema.json is up to date (llmstack {generated['version']})")
        return 0
    same_version = committed is not None and committed.get("version") == generated["version"]
    if same_version and args.unreleased and is_tagged(generated["version"]):
        print(f"v{generated['version']} is already tagged: its schema can't change. {BUMP_MESSAGE}", file=sys.stderr)
        return 1
    if args.check or (same_version and not args.unreleased):
        print(found, file=sys.stderr)
        return 1
    SCHEMA_PATH.write_text(render(generated), encoding="utf-8")
    print(f"wrote components/schema.json (llmstack {generated['version']}, {len(generated['resources'])} components)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
