"""Snapshot the real argparse parser of vLLM (`vllm serve`) or SGLang (`sglang.launch_server`).

Run it with the python of a throw-away venv that has the pinned release installed (see generate.sh): it imports the
engine, builds the parser exactly as the engine's own entry point does, and writes every option's spellings, value
count, choices and deprecation to `llmstack/catalog/engine_flags/<engine>.json`, plus the env names the engine reads.

    python argparse_dump.py vllm   # vllm.entrypoints.cli.serve.ServeSubcommand().subparser_init(...)
    python argparse_dump.py sglang # sglang.srt.server_args.ServerArgs.add_cli_args(ArgumentParser())
"""

from __future__ import annotations

import argparse
import enum
import importlib.metadata
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _snapshot  # sibling module: these files run as scripts

_NARGS: dict[object, tuple[int, int | None]] = {
    None: (1, 1), "?": (0, 1), "*": (0, None), "+": (1, None), argparse.REMAINDER: (0, None),
    argparse.PARSER: (1, None),
}


def _value_count(action: argparse.Action) -> tuple[int, int | None]:
    if action.nargs == 0 or isinstance(action, argparse._StoreConstAction | argparse._CountAction
                                       | argparse._HelpAction | argparse._VersionAction):
        return 0, 0
    if isinstance(action.nargs, int):
        return action.nargs, action.nargs
    return _NARGS.get(action.nargs, (1, 1))


def _choice(value: object) -> str:
    return str(value.value) if isinstance(value, enum.Enum) else str(value)


def dump(
    parser: argparse.ArgumentParser, deprecated: set[argparse.Action]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    options: list[dict[str, Any]] = []
    positionals: list[dict[str, Any]] = []
    for action in parser._actions:
        lo, hi = _value_count(action)
        if not action.option_strings:
            positionals.append({"name": action.dest, "min": lo, "max": hi})
            continue
        is_deprecated = action in deprecated or bool(getattr(action, "deprecated", False)) \
            or "Deprecated" in type(action).__name__
        choices = sorted({_choice(c) for c in action.choices}) if action.choices is not None else None
        options.append(_snapshot.option(
            list(action.option_strings), lo, hi, choices=choices, deprecated=is_deprecated,
            note=type(action).__name__ if type(action).__name__ not in ("_StoreAction",) else None,
        ))
    return options, positionals


def _literal_env_names(package_dir: Path, prefixes: tuple[str, ...]) -> list[str]:
    """Every string literal in the package source that names an env var with one of the engine's prefixes."""
    alternatives = "|".join(re.escape(p) for p in prefixes)
    pattern = re.compile(r"""["'](""" + alternatives + r""")[A-Z0-9_]*["']""")
    names: set[str] = set()
    for path in package_dir.rglob("*.py"):
        for match in pattern.finditer(path.read_text(errors="replace")):
            name = match.group(0)[1:-1]
            if name not in prefixes and not name.endswith("_"):
                names.add(name)
    return sorted(names)


def vllm_snapshot() -> dict[str, Any]:
    import vllm
    from vllm import envs, platforms
    from vllm.platforms.cpu import CpuPlatform

    # No GPU here: vLLM cannot infer a device and some config defaults need one. Substitute the CPU platform the same
    # way `vllm bench` does (vllm/entrypoints/cli/main.py); option names and choices do not depend on it, except
    # --mm-processor-device, which gains the platform's device type (patched to "cuda" below).
    platforms.current_platform = CpuPlatform()
    import vllm.entrypoints.cli.serve as serve
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    top = FlexibleArgumentParser(description="vLLM CLI")
    sub = top.add_subparsers(required=False, dest="subparser")
    parser = serve.ServeSubcommand().subparser_init(sub)
    options, positionals = dump(parser, set(FlexibleArgumentParser._deprecated))
    for opt in options:
        if "--mm-processor-device" in opt["names"] and "cuda" not in opt.get("choices", []):
            opt["choices"] = sorted([*opt["choices"], "cuda"])
            opt["note"] = "choices: + the platform device type ('cuda' in the CUDA image)"
    version = importlib.metadata.version("vllm")
    env_names = sorted(set(envs.environment_variables) | set(_literal_env_names(Path(vllm.__file__).parent,
                                                                                 ("VLLM_",))))
    image, tag = _snapshot.engines_yaml_image("vllm")
    return {
        "engine": "vllm",
        "upstream_version": version,
        "image": f"{image}:{tag}",
        "image_tag": tag,
        "source": f"pypi:vllm=={version} (wheel, --no-deps), parser of `vllm serve`: "
                  "vllm.entrypoints.cli.serve.ServeSubcommand().subparser_init()",
        "command": _snapshot.invocation(),
        "generated": _snapshot.today(),
        "parser": {
            "style": "argparse", "program": ["vllm", "serve"], "allow_abbrev": parser.allow_abbrev,
            "underscore_to_dash": True, "dotted_json_args": True, "equals_form": True,
            "launcher_prefixes": [["vllm", "serve"]],
        },
        "positionals": positionals,
        "env": {"prefixes": ["VLLM_"], "names": env_names,
                "source": "vllm/envs.py environment_variables + every 'VLLM_*' literal in the package"},
        "notes": [
            "The image's ENTRYPOINT is `vllm serve`, so the argv checked is what follows it (model first).",
            "FlexibleArgumentParser turns '_' into '-' in --option names and accepts --json-arg.key value; "
            "argparse prefix matching (allow_abbrev) stays on.",
        ],
        "options": options,
    }


def sglang_snapshot() -> dict[str, Any]:
    import sglang
    from sglang.srt.server_args import ServerArgs

    # Exactly what sglang.srt.server_args.prepare_server_args() builds for `python -m sglang.launch_server`.
    parser = argparse.ArgumentParser(prog="sglang serve")
    ServerArgs.add_cli_args(parser)
    options, positionals = dump(parser, set())
    version = importlib.metadata.version("sglang")
    env_names = _literal_env_names(Path(sglang.__file__).parent, ("SGLANG_", "SGL_"))
    image, tag = _snapshot.engines_yaml_image("sglang")
    return {
        "engine": "sglang",
        "upstream_version": version,
        "image": f"{image}:{tag}",
        "image_tag": tag,
        "source": f"pypi:sglang=={version} (wheel, --no-deps), parser of sglang.srt.server_args.prepare_server_args",
        "command": _snapshot.invocation(),
        "generated": _snapshot.today(),
        "parser": {
            "style": "argparse", "program": ["python3", "-m", "sglang.launch_server"],
            "allow_abbrev": parser.allow_abbrev, "underscore_to_dash": False, "dotted_json_args": False,
            "equals_form": True,
            "launcher_prefixes": [["python3", "-m", "sglang.launch_server"], ["python", "-m", "sglang.launch_server"],
                                  ["sglang", "serve"]],
        },
        "positionals": positionals,
        "env": {"prefixes": ["SGLANG_", "SGL_"], "names": env_names,
                "source": "every 'SGLANG_*' / 'SGL_*' literal in the package (sglang/srt/environ.py Envs and others)"},
        "notes": [
            "Plain argparse.ArgumentParser: allow_abbrev is on, so a unique prefix such as --tp still parses "
            "(as --tp-size); no '_' to '-' translation.",
        ],
        "options": options,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("engine", choices=["vllm", "sglang"])
    ap.add_argument("--out-dir", type=Path, default=_snapshot.OUT_DIR)
    args = ap.parse_args()
    snap = vllm_snapshot() if args.engine == "vllm" else sglang_snapshot()
    _snapshot.write(args.engine, snap, args.out_dir)


if __name__ == "__main__":
    main()
