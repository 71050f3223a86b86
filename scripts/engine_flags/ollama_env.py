"""Snapshot what configures an Ollama server: its OLLAMA_* environment variables and the CLI subcommands.

Ollama takes no server flags; `ollama serve` reads env vars. Names come from `envconfig/config.go` at the tag (every
"OLLAMA_*" literal there: the documented set), plus any other "OLLAMA_*" literal in the tag's non-test Go files
(`also_read`: real reads outside envconfig). Subcommands and their flags are read from the cobra definitions in
`cmd/cmd.go` (`xxxCmd := &cobra.Command{Use: "name ..."}` and `xxxCmd.Flags().Bool|String|Int...("flag", ...)`).

    python ollama_env.py --repo /work/.mirror/ollama+ollama/repo --tag v0.12.10
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _snapshot  # sibling module: these files run as scripts


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def subcommands(cmd_go: str) -> dict[str, list[dict[str, Any]]]:
    var_to_name = {m.group(1): m.group(2) for m in re.finditer(
        r'(\w+)\s*:=\s*&cobra\.Command\{\s*Use:\s*"([\w-]+)', cmd_go)}
    commands: dict[str, list[dict[str, Any]]] = {name: [_snapshot.option(["-h", "--help"], 0, 0)]
                                                 for var, name in var_to_name.items() if name != "ollama"}
    for m in re.finditer(r'(\w+)\.(?:Persistent)?Flags\(\)\.(\w+?)(P?)\("([\w-]+)"(?:,\s*"(\w)")?', cmd_go):
        var, kind, _, flag, short = m.groups()
        name = var_to_name.get(var)
        if name is None or name == "ollama" or kind in ("Lookup", "Get", "GetBool", "GetString"):
            continue
        names = ([f"-{short}"] if short else []) + [f"--{flag}"]
        lo, hi = (0, 0) if kind == "Bool" else (1, 1)
        if re.search(re.escape(f'{var}.Flags().Lookup("{flag}").NoOptDefVal'), cmd_go):
            lo = 0  # pflag NoOptDefVal: the value is optional (--think or --think=high)
        commands[name].append(_snapshot.option(names, lo, hi))
    for m in re.finditer(r'(\w+)\s*:=\s*&cobra\.Command\{[^}]*?Aliases:\s*\[\]string\{([^}]*)\}', cmd_go, re.S):
        if (name := var_to_name.get(m.group(1))) and name in commands:
            for alias in re.findall(r'"([\w-]+)"', m.group(2)):
                commands[alias] = commands[name]
    return commands


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--tag", required=True)
    ap.add_argument("--out-dir", type=Path, default=_snapshot.OUT_DIR)
    args = ap.parse_args()
    config = git(args.repo, "show", f"{args.tag}:envconfig/config.go")
    documented = sorted(set(re.findall(r'"(OLLAMA_[A-Z0-9_]+)"', config)))
    elsewhere: set[str] = set()
    for path in git(args.repo, "ls-tree", "-r", "--name-only", args.tag).splitlines():
        if path.endswith(".go") and not path.endswith("_test.go") and path != "envconfig/config.go":
            elsewhere.update(re.findall(r'"(OLLAMA_[A-Z0-9_]+)"', git(args.repo, "show", f"{args.tag}:{path}")))
    ggml = git(args.repo, "show", f"{args.tag}:fs/ggml/ggml.go")
    kv = re.search(r"func \(f GGML\) SupportsKVCacheType.*?\n}\n", ggml, re.S)
    kv_types = sorted(set(re.findall(r'"(\w+)"', kv.group(0)))) if kv else []
    commit = git(args.repo, "rev-list", "-n1", args.tag).strip()
    image, tag = _snapshot.engines_yaml_image("ollama")
    snapshot = {
        "engine": "ollama",
        "upstream_version": args.tag.lstrip("v"),
        "image": f"{image}:{tag}",
        "image_tag": tag,
        "source": f"github:ollama/ollama@{args.tag} ({commit[:12]}): envconfig/config.go, cmd/cmd.go, "
                  "fs/ggml/ggml.go (SupportsKVCacheType)",
        "command": _snapshot.invocation(),
        "generated": _snapshot.today(),
        "parser": {"style": "cobra", "program": ["ollama"], "allow_abbrev": False, "underscore_to_dash": False,
                   "dotted_json_args": False, "equals_form": True, "launcher_prefixes": [["ollama"]]},
        "positionals": [],
        "subcommands": subcommands(git(args.repo, "show", f"{args.tag}:cmd/cmd.go")),
        "env": {
            "prefixes": ["OLLAMA_"], "names": sorted(set(documented) | elsewhere),
            "documented": documented, "also_read": sorted(elsewhere - set(documented)),
            "value_choices": {"OLLAMA_KV_CACHE_TYPE": kv_types},
            "source": "envconfig/config.go (documented) + other OLLAMA_* literals in non-test Go files (also_read)",
        },
        "notes": [
            "OLLAMA_KV_CACHE_TYPE only applies with flash attention on (llm/server.go): otherwise it is ignored with "
            "'quantized kv cache requested but flash attention disabled'. OLLAMA_FLASH_ATTENTION is strconv.ParseBool; "
            "an unparsable value counts as true (envconfig.BoolWithDefault).",
        ],
        "options": [],
    }
    _snapshot.write("ollama", snapshot, args.out_dir)


if __name__ == "__main__":
    main()
