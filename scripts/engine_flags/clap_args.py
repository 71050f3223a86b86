"""Snapshot a Rust launcher's clap options (TGI `text-generation-launcher`, TEI `text-embeddings-router`).

Reads the `#[derive(Parser)] struct Args` of the given file at a git tag (from a local clone or mirror; nothing is
built) and applies clap 4's derive rules: `long` = the field in kebab-case, `short` = its first letter, `env` = the
field in SCREAMING_SNAKE_CASE (each unless given explicitly); a `bool` field is a flag, `num_args = 0..=1` an optional
value, everything else one value per occurrence (`Vec<_>` repeatable). Choices come from the `ValueEnum` enums named
by the field types: variants in kebab-case unless `#[clap(name = "...")]`/`#[value(name = "...")]`, with `#[cfg(...)]`
variants kept only when the image's cargo features (read from the Dockerfile's `cargo build` line) enable them.
clap adds -h/--help and, with `#[clap(version)]`, -V/--version; it does no prefix matching.

    python clap_args.py tgi --repo /work/.mirror/huggingface+text-generation-inference/repo --tag v3.3.7
    python clap_args.py tei --repo /work/.mirror/huggingface+text-embeddings-inference/repo --tag v1.9.3
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

ENGINES: dict[str, dict[str, Any]] = {
    "tgi": {
        "main": "launcher/src/main.rs",
        "enum_files": ["launcher/src/main.rs"],
        "dockerfile": "Dockerfile",
        "github": "huggingface/text-generation-inference",
        "program": ["text-generation-launcher"],
        # env vars the launcher itself reads with std::env::var (besides clap's)
        "env_files": ["launcher/src/main.rs", "router/src/server.rs", "router/src/main.rs"],
    },
    "tei": {
        "main": "router/src/main.rs",
        "enum_files": ["router/src/main.rs", "backends/core/src/lib.rs", "backends/src/dtype.rs"],
        "dockerfile": "Dockerfile",
        "github": "huggingface/text-embeddings-inference",
        "program": ["text-embeddings-router"],
        "env_files": ["router/src/main.rs", "router/src/lib.rs", "router/src/http/server.rs"],
    },
}


def git_show(repo: Path, tag: str, path: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), "show", f"{tag}:{path}"], capture_output=True, text=True)
    return out.stdout if out.returncode == 0 else ""


def kebab(name: str) -> str:
    """heck's kebab-case as clap uses it: word breaks at lower->Upper and before Upper+lower after an Upper run."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1-\2", s)
    return s.replace("_", "-").lower()


def eval_cfg(expr: str, features: set[str]) -> bool:
    expr = expr.strip()
    m = re.fullmatch(r'feature\s*=\s*"([^"]+)"', expr)
    if m:
        return m.group(1) in features
    m = re.fullmatch(r"(any|all|not)\((.*)\)", expr, re.S)
    if not m:
        return False  # target_os etc.: the images are linux/x86_64 builds with none of these set
    parts, depth, last = [], 0, 0
    for i, c in enumerate(m.group(2)):
        depth += c == "("
        depth -= c == ")"
        if c == "," and depth == 0:
            parts.append(m.group(2)[last:i])
            last = i + 1
    parts.append(m.group(2)[last:])
    values = [eval_cfg(p, features) for p in parts if p.strip()]
    return {"any": any(values), "all": all(values), "not": not values[0]}[m.group(1)]


def _attributes(block: str) -> list[str]:
    """The `#[...]` attributes in a block of text, each as its inner text."""
    out, i = [], 0
    while (i := block.find("#[", i)) >= 0:
        depth, j = 0, i + 1
        while True:
            depth += block[j] == "["
            depth -= block[j] == "]"
            if depth == 0:
                break
            j += 1
        out.append(block[i + 2:j])
        i = j
    return out


def value_enums(sources: list[str], features: set[str]) -> dict[str, list[str]]:
    enums: dict[str, list[str]] = {}
    for src in sources:
        for m in re.finditer(r"((?:#\[[^\n]*\]\s*)+)(?:pub(?:\([^)]*\))?\s+)?enum\s+(\w+)\s*\{", src):
            if "ValueEnum" not in m.group(1):
                continue
            body_start = m.end()
            depth, j = 1, body_start
            while depth:
                depth += src[j] == "{"
                depth -= src[j] == "}"
                j += 1
            body = re.sub(r"//[^\n]*", "", src[body_start:j - 1])
            values: list[str] = []
            for vm in re.finditer(r"((?:\s*#\[(?:[^\[\]]|\[[^\]]*\])*\])*)\s*(\w+)\s*(?:\([^)]*\))?\s*(?:=\s*[^,]+)?,?",
                                  body):
                attrs, variant = _attributes(vm.group(1)), vm.group(2)
                if any(re.match(r"(clap|value)\(\s*skip", a) for a in attrs):
                    continue
                cfgs = [a[4:-1] for a in attrs if a.startswith("cfg(")]
                if any(not eval_cfg(c, features) for c in cfgs):
                    continue
                named = next((n.group(1) for a in attrs
                              if (n := re.match(r'(?:clap|value)\(\s*name\s*=\s*"([^"]+)"', a))), None)
                values.append(named or kebab(variant))
            enums[m.group(2)] = values
    return enums


def parse_args_struct(src: str, enums: dict[str, list[str]]) -> tuple[list[dict[str, Any]], bool]:
    m = re.search(r"#\[derive\([^)]*Parser[^)]*\)\]\s*((?:#\[[^\n]*\]\s*)*)(?:pub\s+)?struct\s+Args\s*\{", src)
    if not m:
        raise ValueError("no #[derive(Parser)] struct Args")
    has_version = re.search(r"\bversion\b", m.group(1)) is not None
    depth, j = 1, m.end()
    while depth:
        depth += src[j] == "{"
        depth -= src[j] == "}"
        j += 1
    body = src[m.end():j - 1]
    options: list[dict[str, Any]] = []
    pending = ""
    for line in body.splitlines():
        stripped = line.strip()
        if stripped.startswith("///") or stripped.startswith("//") or not stripped:
            continue
        pending += " " + stripped
        field = re.fullmatch(r"(.*?)\s*(?:pub\s+)?(\w+)\s*:\s*([^,]+),?", pending.strip())
        if not field or pending.count("[") != pending.count("]") or not field.group(3).strip():
            continue
        attrs = " ".join(a for a in _attributes(field.group(1)) if re.match(r"(clap|arg)\(", a))
        name, ty = field.group(2), field.group(3).strip()
        pending = ""
        if not attrs:
            continue
        names: list[str] = []
        if (short := re.search(r"\bshort\s*=\s*'(.)'", attrs)) is not None:
            names.append("-" + short.group(1))
        elif re.search(r"\bshort\b", attrs):
            names.append("-" + name[0])
        if (long := re.search(r'\blong\s*=\s*"([^"]+)"', attrs)) is not None:
            names.append("--" + long.group(1))
        elif re.search(r"\blong\b", attrs):
            names.append("--" + name.replace("_", "-"))
        env = None
        if (env_m := re.search(r'\benv\s*=\s*"([^"]+)"', attrs)) is not None:
            env = env_m.group(1)
        elif re.search(r"\benv\b(?!\s*=)", attrs):
            env = name.upper()
        inner = re.sub(r"^Option<(.*)>$", r"\1", ty)
        if re.search(r"num_args\s*=\s*0\s*\.\.=\s*1", attrs):
            lo, hi = 0, 1
        elif ty == "bool":
            lo, hi = 0, 0
        else:
            lo, hi = 1, 1
        elem = re.sub(r"^Vec<(.*)>$", r"\1", inner).split("::")[-1]
        choices = enums.get(elem)
        if elem == "bool" and lo:
            choices = ["false", "true"]
        options.append(_snapshot.option(names, lo, hi, choices=choices, env=env,
                                        note="repeatable" if inner.startswith("Vec<") else None))
    options.append(_snapshot.option(["-h", "--help"], 0, 0))
    if has_version:
        options.append(_snapshot.option(["-V", "--version"], 0, 0))
    return options, has_version


def dockerfile_features(dockerfile: str) -> set[str]:
    """Cargo features of the image's `cargo build ... --features a,b` (the first one that names any)."""
    for m in re.finditer(r"cargo build[^\n]*?(?:--features|-F)\s+([\w,-]+)", dockerfile):
        return set(m.group(1).split(","))
    return set()


def env_reads(files: list[str]) -> list[str]:
    names: set[str] = set()
    for src in files:
        names.update(re.findall(r'env::var(?:_os)?\(\s*"([A-Z][A-Z0-9_]+)"', src))
    return sorted(names)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("engine", choices=sorted(ENGINES))
    ap.add_argument("--repo", type=Path, required=True, help="a git clone/mirror of the engine's repository")
    ap.add_argument("--tag", required=True)
    ap.add_argument("--image-tag", default=None, help="the image tag this is for (default: engines.yaml's)")
    ap.add_argument("--out-dir", type=Path, default=_snapshot.OUT_DIR)
    args = ap.parse_args()
    spec = ENGINES[args.engine]
    dockerfile = git_show(args.repo, args.tag, spec["dockerfile"])
    features = dockerfile_features(dockerfile)
    enums = value_enums([git_show(args.repo, args.tag, f) for f in spec["enum_files"]], features)
    options, _ = parse_args_struct(git_show(args.repo, args.tag, spec["main"]), enums)
    shorts: dict[str, list[str]] = {}
    for opt in options:
        for n in opt["names"]:
            if not n.startswith("--"):
                shorts.setdefault(n, []).append(opt["names"][-1])
    clashes = {s: longs for s, longs in shorts.items() if len(longs) > 1}
    image, tag = _snapshot.engines_yaml_image(args.engine)
    tag = args.image_tag or tag
    commit = subprocess.run(["git", "-C", str(args.repo), "rev-list", "-n1", args.tag], capture_output=True,
                            text=True).stdout.strip()
    entrypoint = re.findall(r'ENTRYPOINT\s+(\[.*\])', dockerfile)
    cmd = re.findall(r'^CMD\s+(\[.*\])', dockerfile, re.M)
    image_env = re.findall(r"^ENV\s+((?:[^\n]*\\\n)*[^\n]*)", dockerfile, re.M)
    clap_env = sorted({o["env"] for o in options if "env" in o})
    snapshot = {
        "engine": args.engine,
        "upstream_version": args.tag.lstrip("v"),
        "image": f"{image}:{tag}",
        "image_tag": tag,
        "source": f"github:{spec['github']}@{args.tag} ({commit[:12]}): {spec['main']} (clap derive struct Args)",
        "command": _snapshot.invocation(),
        "generated": _snapshot.today(),
        "parser": {
            "style": "clap", "program": spec["program"], "allow_abbrev": False, "underscore_to_dash": False,
            "dotted_json_args": False, "equals_form": True, "value_may_start_with_dash": False,
            "launcher_prefixes": [spec["program"]],
        },
        "positionals": [],
        "env": {"prefixes": [], "names": sorted(set(clap_env) | set(env_reads(
            [git_show(args.repo, args.tag, f) for f in spec["env_files"]]))),
                "source": "clap `env` of each option + std::env::var() reads in " + ", ".join(spec["env_files"])},
        "image_facts": {
            "dockerfile": f"{spec['dockerfile']}@{args.tag}", "cargo_features": sorted(features),
            "entrypoint": entrypoint[-1] if entrypoint else None, "cmd": cmd[-1] if cmd else None,
            "env": [" ".join(e.replace("\\\n", " ").split()) for e in image_env],
        },
        "notes": [
            "clap: exact spellings only (no prefix matching), '--opt=value' accepted, a value may not start with '-'.",
            *(f"short {s} is derived for several fields ({', '.join(v)}); clap only asserts on that in debug "
              "builds, the first field wins in release builds" for s, v in clashes.items()),
        ],
        "options": options,
    }
    _snapshot.write(args.engine, snapshot, args.out_dir)


if __name__ == "__main__":
    main()
