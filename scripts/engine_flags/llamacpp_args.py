"""Snapshot `llama-server`'s options from llama.cpp's `common/arg.cpp`, without building anything.

Every option is an `add_opt(common_arg({names...}, [{negations...} | value hint[, hint 2]], help, handler))` call with
chained `.set_examples({...})`, `.set_excludes({...})` and `.set_env("...")`. An option reaches `llama-server` when
its examples include LLAMA_EXAMPLE_SERVER or LLAMA_EXAMPLE_COMMON and it does not exclude LLAMA_EXAMPLE_SERVER
(`common_params_parser_init`'s add_opt). The constructor used gives the value count: (names, help, fn) a flag;
(names, {negations}, help, fn(bool)) a flag with --no-x spellings; (names, hint, help, fn) one value; (names, hint,
hint2, help, fn) two values. Choices are read from the handler where it checks them itself: `kv_cache_type_from_str`
(the kv_cache_types list), `is_truthy`/`is_falsey`/`is_autoy`, or `value == "..."` comparisons before a throw.

    python llamacpp_args.py --src /tmp/.../llama.cpp --revision 0c1e57098 --source-label "..." \
        [--compare b11063=/tmp/.../llama.cpp --compare b11549=/tmp/.../llama.cpp]

`--compare` reads other trees the same way and records, per option, which of them have it (`seen_in`), so a snapshot
taken from a revision near the image's build says how settled each option is.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _snapshot  # sibling module: these files run as scripts

_CLOSE = {"(": ")", "[": "]", "{": "}"}


def _skip_literal(text: str, i: int) -> int:
    """Index just past the string/char literal, raw string or comment starting at text[i] (else i)."""
    if text.startswith("//", i):
        j = text.find("\n", i)
        return len(text) if j < 0 else j
    if text.startswith("/*", i):
        return text.index("*/", i) + 2
    if text.startswith('R"', i):
        delim_end = text.index("(", i)
        delim = text[i + 2:delim_end]
        return text.index(")" + delim + '"', delim_end) + len(delim) + 2
    if text[i] in "\"'":
        quote, j = text[i], i + 1
        while text[j] != quote:
            j += 2 if text[j] == "\\" else 1
        return j + 1
    return i


def _balanced(text: str, start: int) -> int:
    """text[start] is an opening bracket; return the index of its matching close."""
    stack = [_CLOSE[text[start]]]
    i = start + 1
    while stack:
        j = _skip_literal(text, i)
        if j != i:
            i = j
            continue
        c = text[i]
        if c in _CLOSE:
            stack.append(_CLOSE[c])
        elif c in ")]}" and c != stack.pop():
            raise ValueError(f"unbalanced {c!r} at {i}")
        i += 1
    return i - 1


def _split_top(text: str) -> list[str]:
    """Split a call's argument text on commas that are not nested in brackets or literals."""
    parts, depth, last, i = [], 0, 0, 0
    while i < len(text):
        j = _skip_literal(text, i)
        if j != i:
            i = j
            continue
        c = text[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[last:i].strip())
            last = i + 1
        i += 1
    parts.append(text[last:].strip())
    return parts


def _strip_comments(text: str) -> str:
    """The source with // and /* */ comments blanked (string literals kept as they are)."""
    out, i, last = [], 0, 0
    while i < len(text):
        j = _skip_literal(text, i)
        if j == i:
            i += 1
            continue
        if text.startswith(("//", "/*"), i):
            out.append(text[last:i] + " ")
            last = j
        i = j
    out.append(text[last:])
    return "".join(out)


def _strings(text: str) -> list[str]:
    return re.findall(r'"((?:[^"\\]|\\.)*)"', text)


def _kv_cache_types(source: str) -> list[str]:
    block = re.search(r"kv_cache_types\s*=\s*\{(.*?)\};", source, re.S)
    return [t.lower() for t in re.findall(r"GGML_TYPE_(\w+)", block.group(1))] if block else []


def _truthy_sets(source: str) -> dict[str, list[str]]:
    sets: dict[str, list[str]] = {}
    for name in ("is_truthy", "is_falsey", "is_autoy"):
        body = re.search(r"bool\s+common_arg_utils::" + name + r"\([^)]*\)\s*\{(.*?)\}", source, re.S)
        sets[name] = _strings(body.group(1)) if body else []
    return sets


def _choices(handler: str, kv_types: list[str], truthy: dict[str, list[str]]) -> list[str] | None:
    if "kv_cache_type_from_str" in handler:
        return kv_types
    rejects = re.search(r"\bthrow\b|invalid_argument|runtime_error", handler) is not None
    if not rejects:
        return None
    used = [name for name in ("is_truthy", "is_falsey", "is_autoy") if re.search(r"\b" + name + r"\(", handler)]
    literal = re.findall(r'\bvalue\s*==\s*"((?:[^"\\]|\\.)*)"', handler)
    # A closed set only when the handler uses `value` for nothing but those tests (and its error message).
    rest = re.sub(r"\bthrow\b[^;]*;", "", handler)
    rest = re.sub(r'\bvalue\s*==\s*"(?:[^"\\]|\\.)*"', "", rest)
    rest = re.sub(r"\b(?:is_truthy|is_falsey|is_autoy)\(\s*value\s*\)", "", rest)
    if re.search(r"\bvalue\b", rest.split("{", 1)[-1]) or not (used or literal):
        return None
    return sorted({v for name in used for v in truthy[name]} | set(literal))


def parse_arg_cpp(source: str) -> list[dict[str, Any]]:
    source = _strip_comments(source)
    kv_types, truthy = _kv_cache_types(source), _truthy_sets(source)
    options: list[dict[str, Any]] = []
    for m in re.finditer(r"\badd_opt\(\s*common_arg\(", source):
        ctor_open = m.end() - 1
        ctor_close = _balanced(source, ctor_open)
        call_close = _balanced(source, source.index("(", m.start()))
        args = _split_top(source[ctor_open + 1:ctor_close])
        chain = source[ctor_close + 1:call_close]
        names = _strings(args[0])
        negations: list[str] = []
        handler = args[-1]
        if len(args) == 3:
            lo = hi = 0
        elif len(args) == 4 and args[1].startswith("{"):
            negations, lo, hi = _strings(args[1]), 0, 0
        elif len(args) == 4:
            lo = hi = 1
        elif len(args) == 5:
            lo = hi = 2
        else:
            raise ValueError(f"unexpected common_arg with {len(args)} arguments: {names}")
        examples = re.findall(r"LLAMA_EXAMPLE_\w+", "".join(re.findall(r"\.set_examples\(([^)]*)\)", chain)))
        if re.search(r"\.set_examples\(\s*mmproj_examples\s*\)", chain):
            examples = ["LLAMA_EXAMPLE_SERVER"]  # mmproj_examples = {MTMD, SERVER, CLI}
        excludes = re.findall(r"LLAMA_EXAMPLE_\w+", "".join(re.findall(r"\.set_excludes\(([^)]*)\)", chain)))
        if not examples and ".set_examples(" not in chain:
            examples = ["LLAMA_EXAMPLE_COMMON"]
        if ".set_preset_only()" in chain:
            continue
        if not ({"LLAMA_EXAMPLE_SERVER", "LLAMA_EXAMPLE_COMMON"} & set(examples)) or "LLAMA_EXAMPLE_SERVER" in excludes:
            continue
        env = re.search(r'\.set_env\(\s*"([^"]+)"\s*\)', chain)
        env_name = env.group(1) if env else None
        env_negated = env_name.replace("LLAMA_ARG_", "LLAMA_ARG_NO_") if env_name and negations else None
        choices = _choices(handler, kv_types, truthy) if lo else None
        options.append(_snapshot.option(names + negations, lo, hi, choices=choices, env=env_name,
                                        env_negated=env_negated if env_negated != env_name else None))
    merged: dict[tuple[str, ...], dict[str, Any]] = {}
    for opt in options:  # the same option defined twice for different examples (e.g. -np): keep one
        merged.setdefault(tuple(opt["names"]), opt)
    return list(merged.values())


def other_env_names(root: Path) -> list[str]:
    """LLAMA_* variables read with getenv() / common_get_path_from_env() in the server's code paths."""
    names: set[str] = set()
    for sub in ("common", "tools/server", "src"):
        for path in (root / sub).rglob("*.cpp"):
            names.update(re.findall(r'(?:getenv|common_get_path_from_env)\(\s*"(LLAMA_[A-Z0-9_]+)"',
                                    path.read_text(errors="replace")))
    return sorted(names)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, required=True, help="a llama.cpp source tree")
    ap.add_argument("--revision", required=True, help="what --src is, e.g. the commit it was cut from")
    ap.add_argument("--source-label", required=True, help="where --src came from (package==version, URL)")
    ap.add_argument("--build", default=None, help="the b-number the image was built from (default: engines.yaml)")
    ap.add_argument("--compare", action="append", default=[], metavar="LABEL=DIR",
                    help="another llama.cpp tree to note per option (repeatable)")
    ap.add_argument("--out-dir", type=Path, default=_snapshot.OUT_DIR)
    args = ap.parse_args()

    options = parse_arg_cpp((args.src / "common" / "arg.cpp").read_text())
    compared: dict[str, set[tuple[str, ...]]] = {}
    for item in args.compare:
        label, _, folder = item.partition("=")
        compared[label] = {tuple(o["names"]) for o in parse_arg_cpp((Path(folder) / "common" / "arg.cpp").read_text())}
    for opt in options:
        if compared:
            missing = [label for label, seen in compared.items() if tuple(opt["names"]) not in seen]
            if missing:
                opt["note"] = "not in " + ", ".join(missing)
    image, tag = _snapshot.engines_yaml_image("llamacpp")
    build = args.build or tag.rsplit("-", 1)[-1]
    env_names = sorted({o["env"] for o in options if "env" in o} | {o["env_negated"] for o in options
                                                                    if "env_negated" in o}
                       | set(other_env_names(args.src)))
    bracket = {label: sorted(
        {" ".join(n) for n in seen} - {" ".join(o["names"]) for o in options}) for label, seen in compared.items()}
    snapshot = {
        "engine": "llamacpp",
        "upstream_version": build,
        "image": f"{image}:{tag}",
        "image_tag": tag,
        "source": f"{args.source_label}: common/arg.cpp at ggml-org/llama.cpp@{args.revision}",
        "source_revision": args.revision,
        "approximate": build not in args.revision,
        "compared_with": {label: {"only_there": names} for label, names in bracket.items()},
        "command": _snapshot.invocation(),
        "generated": _snapshot.today(),
        "parser": {
            "style": "llama.cpp", "program": ["/app/llama-server"], "allow_abbrev": False,
            "underscore_to_dash": True, "dotted_json_args": False, "equals_form": False,
            "value_may_start_with_dash": True, "launcher_prefixes": [["/app/llama-server"], ["llama-server"]],
        },
        "positionals": [],
        "env": {"prefixes": ["LLAMA_ARG_"], "names": env_names,
                "source": "each option's set_env() (+ LLAMA_ARG_NO_* for options with --no-x), and LLAMA_* read "
                          "with getenv()/common_get_path_from_env() in common/, src/, tools/server/"},
        "notes": [
            "No '--opt=value' form and no prefix matching: the exact spelling or 'invalid argument'. A value is the "
            "next argv element, whatever it looks like.",
            "Env vars are read before argv; a flag's env var (handler without value) takes effect only when truthy "
            "(on/enabled/true/1).",
        ],
        "options": options,
    }
    _snapshot.write("llamacpp", snapshot, args.out_dir)


if __name__ == "__main__":
    main()
