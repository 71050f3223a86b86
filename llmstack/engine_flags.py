"""Check rendered engine command lines and environments against snapshots of each engine's own parser.

`llmstack/catalog/engine_flags/<engine>.json` records, for the image tag pinned in `catalog/engines.yaml`, every option
the engine's parser accepts (spellings, value count, choices) and the env var names it reads. The snapshots are made
by `scripts/engine_flags/generate.sh` from the real parser (vLLM, SGLang: their argparse parsers built from the
pinned wheels), the parser's source (llama.cpp `common/arg.cpp`, TGI/TEI clap structs, Ollama `envconfig`) or, for
NIM, its documentation; each file says which, with the command and date.

    check_argv("sglang", ["python3", "-m", "sglang.launch_server", "--tp", "2"])
    -> ["--tp: only an abbreviation of --tp-size; it parses through argparse prefix matching, spell it out"]
    check_env("llamacpp", {"LLAMA_ARG_PORT": "8080"}) -> []

What counts as a problem: an option the parser does not know, one that only parses as an argparse abbreviation
(argparse's `allow_abbrev`: a unique prefix of a real option), a missing value, a value outside the parser's
choices, a value given to a flag, a deprecated option, a positional the parser has no room for; in the environment,
a variable the engine does not read. Generic variables (Hugging Face, CUDA/NCCL, proxies, ...) are on `GENERIC_ENV`
and `GENERIC_ENV_PREFIXES` and never reported: the engines read them through their libraries, not their parsers.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "GENERIC_ENV",
    "GENERIC_ENV_PREFIXES",
    "Option",
    "Process",
    "Snapshot",
    "check_argv",
    "check_env",
    "check_launch",
    "check_process",
    "engines",
    "load",
    "process",
    "shell_commands",
    "snapshot_image",
    "snapshot_image_tag",
    "snapshot_version",
]

_PACKAGE = "llmstack.catalog"
_FOLDER = "engine_flags"

# Variables any engine container may carry without its own parser reading them: read by libraries the engines use
# (huggingface_hub / hf-hub, PyTorch, CUDA, NCCL, OpenMP), by the container runtime, or by the project's gateway
# wiring. Kept deliberately short: an engine-specific name belongs in that engine's snapshot, not here.
GENERIC_ENV: frozenset[str] = frozenset({
    "HF_HOME", "HF_TOKEN", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_HUB_ENABLE_HF_TRANSFER", "HF_ENDPOINT",
    "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE", "TRANSFORMERS_OFFLINE",
    "TOKENIZERS_PARALLELISM", "NGC_API_KEY",
    "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "OMP_NUM_THREADS",
    "PYTORCH_CUDA_ALLOC_CONF", "HOME", "PATH", "TZ", "LANG", "LD_LIBRARY_PATH",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE",
})
GENERIC_ENV_PREFIXES: tuple[str, ...] = ("NCCL_", "CUDA_", "TORCH_", "AWS_")

_TRUTHY = ("on", "enabled", "true", "1")  # llama.cpp common_arg_utils::is_truthy
_FALSEY = ("off", "disabled", "false", "0")  # ... and is_falsey
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


@dataclass(frozen=True)
class Option:
    """One option as the engine's parser knows it: every spelling, how many values it takes, what they may be."""

    names: tuple[str, ...]
    min_values: int
    max_values: int | None  # None: unbounded
    choices: tuple[str, ...] | None = None
    env: str | None = None
    env_negated: str | None = None
    deprecated: bool = False

    @property
    def is_flag(self) -> bool:
        return self.max_values == 0

    @property
    def canonical(self) -> str:
        longs = [n for n in self.names if n.startswith("--")]
        return longs[0] if longs else self.names[0]


@dataclass(frozen=True)
class Snapshot:
    """One engine's parser at one version (the parsed `<engine>.json`)."""

    engine: str
    upstream_version: str
    image: str
    image_tag: str
    source: str
    generated: str
    style: str
    allow_abbrev: bool
    underscore_to_dash: bool
    dotted_json_args: bool
    equals_form: bool
    value_may_start_with_dash: bool
    launcher_prefixes: tuple[tuple[str, ...], ...]
    argv_engine: str | None
    passthrough_env: str | None
    options: tuple[Option, ...]
    positional_max: int | None
    subcommands: Mapping[str, tuple[Option, ...]]
    env_names: frozenset[str]
    env_prefixes: tuple[str, ...]
    env_complete: bool
    env_value_choices: Mapping[str, tuple[str, ...]]
    env_source: str

    def lookup(self, options: Iterable[Option] | None = None) -> dict[str, Option]:
        table: dict[str, Option] = {}
        for opt in self.options if options is None else options:
            for name in opt.names:
                table.setdefault(name, opt)  # a clashing short (clap derives -p twice in TGI): the first wins
        return table


def _option(raw: Mapping[str, Any]) -> Option:
    choices = raw.get("choices")
    return Option(
        names=tuple(str(n) for n in raw["names"]),
        min_values=int(raw["min"]),
        max_values=None if raw["max"] is None else int(raw["max"]),
        choices=None if choices is None else tuple(str(c) for c in choices),
        env=None if raw.get("env") is None else str(raw["env"]),
        env_negated=None if raw.get("env_negated") is None else str(raw["env_negated"]),
        deprecated=bool(raw.get("deprecated", False)),
    )


def _parse(raw: Mapping[str, Any]) -> Snapshot:
    parser: Mapping[str, Any] = raw["parser"]
    env: Mapping[str, Any] = raw["env"]
    positionals: list[Mapping[str, Any]] = list(raw.get("positionals", []))
    maxes = [p["max"] for p in positionals]
    return Snapshot(
        engine=str(raw["engine"]),
        upstream_version=str(raw["upstream_version"]),
        image=str(raw["image"]),
        image_tag=str(raw["image_tag"]),
        source=str(raw["source"]),
        generated=str(raw["generated"]),
        style=str(parser["style"]),
        allow_abbrev=bool(parser.get("allow_abbrev", False)),
        underscore_to_dash=bool(parser.get("underscore_to_dash", False)),
        dotted_json_args=bool(parser.get("dotted_json_args", False)),
        equals_form=bool(parser.get("equals_form", False)),
        value_may_start_with_dash=bool(parser.get("value_may_start_with_dash", False)),
        launcher_prefixes=tuple(tuple(str(t) for t in p) for p in parser.get("launcher_prefixes", [])),
        argv_engine=parser.get("argv_engine"),
        passthrough_env=parser.get("passthrough_env"),
        options=tuple(_option(o) for o in raw.get("options", [])),
        positional_max=None if None in maxes else sum(int(m) for m in maxes),
        subcommands={str(k): tuple(_option(o) for o in v) for k, v in raw.get("subcommands", {}).items()},
        env_names=frozenset(str(n) for n in env.get("names", [])),
        env_prefixes=tuple(str(p) for p in env.get("prefixes", [])),
        env_complete=bool(env.get("complete", True)),
        env_value_choices={str(k): tuple(str(c) for c in v) for k, v in env.get("value_choices", {}).items()},
        env_source=str(env.get("source", raw["source"])),
    )


def engines() -> tuple[str, ...]:
    """The engines that have a snapshot."""
    folder = resources.files(_PACKAGE).joinpath(_FOLDER)
    return tuple(sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")))


@cache
def load(engine: str) -> Snapshot:
    """The snapshot for `engine` (ValueError names the engines that have one)."""
    if engine not in engines():
        raise ValueError(f"no engine flag snapshot for {engine!r}; snapshots exist for {', '.join(engines())}")
    text = resources.files(_PACKAGE).joinpath(_FOLDER, f"{engine}.json").read_text()
    return _parse(json.loads(text))


def snapshot_version(engine: str) -> str:
    """The upstream version the snapshot describes (e.g. `0.30.0`, `b11206`)."""
    return load(engine).upstream_version


def snapshot_image_tag(engine: str) -> str:
    """The image tag the snapshot was made for; it must equal the tag `catalog/engines.yaml` pins."""
    return load(engine).image_tag


def snapshot_image(engine: str) -> str:
    """`repository:tag` the snapshot was made for."""
    return load(engine).image


def _strip_launcher(snap: Snapshot, argv: list[str]) -> list[str]:
    for prefix in sorted(snap.launcher_prefixes, key=len, reverse=True):
        if tuple(argv[: len(prefix)]) == prefix:
            return argv[len(prefix):]
    return argv


def _looks_like_option(snap: Snapshot, token: str) -> bool:
    if not token.startswith("-") or token in ("-", "--"):
        return False
    return not (snap.style == "argparse" and _NEGATIVE_NUMBER.match(token))


def _resolve(snap: Snapshot, table: Mapping[str, Option], name: str) -> tuple[Option | None, str | None]:
    """(option, problem) for one option spelling, following the engine's own lookup rules."""
    if name in table:
        return table[name], None
    if snap.allow_abbrev and name.startswith("--"):
        spellings = sorted(n for n in table if n.startswith("--") and n.startswith(name))
        hits = {table[n] for n in spellings}
        if len(hits) == 1:
            opt = next(iter(hits))
            also = "" if spellings == [opt.canonical] else f" (= {opt.canonical})"
            return opt, (f"{name}: only an abbreviation of {' / '.join(spellings)}{also}; it parses through "
                         "argparse prefix matching (allow_abbrev), spell it out")
        if hits:
            spelled = ", ".join(sorted(o.canonical for o in hits))
            return None, f"{name}: ambiguous abbreviation ({spelled}); the parser rejects it"
    return None, None


def _check_options(snap: Snapshot, table: Mapping[str, Option], argv: Sequence[str],
                   positional_max: int | None) -> list[str]:
    problems: list[str] = []
    positionals = 0
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if token == "--" and snap.style != "llama.cpp":
            positionals += len(argv) - i
            break
        if not _looks_like_option(snap, token):
            positionals += 1
            if positional_max is not None and positionals > positional_max:
                problems.append(f"{token}: unexpected positional argument (the parser takes "
                                f"{positional_max or 'none'})")
            continue
        name, inline = token, None
        if snap.equals_form and "=" in token:
            name, inline = token.split("=", 1)
        if snap.underscore_to_dash and name.startswith("--"):
            head, dot, tail = name.partition(".") if snap.dotted_json_args else (name, "", "")
            name = head.replace("_", "-") + dot + tail
        if snap.dotted_json_args and name.startswith("-") and "." in name:
            base = name.split(".", 1)[0]
            opt, problem = _resolve(snap, table, base)
            if opt is None:
                problems.append(problem or f"{token}: unknown option {base} (in a --json-arg.key form)")
            elif problem:
                problems.append(problem)
            if inline is None:
                if i >= len(argv):
                    problems.append(f"{token}: needs a value")
                i += 1
            continue
        if snap.dotted_json_args and re.fullmatch(r"-O(=?[0-3a-z]\w*)?", name) and "-O" not in table:
            # vLLM's FlexibleArgumentParser: -O3, -O=3, -O 3 mean --optimization-level 3
            if name == "-O" and inline is None and i < len(argv) and argv[i] in {"0", "1", "2", "3"}:
                i += 1
            continue
        opt, problem = _resolve(snap, table, name)
        if opt is None and problem is None and not name.startswith("--") and len(name) > 2 \
                and snap.style in ("argparse", "clap") and name[:2] in table and not table[name[:2]].is_flag:
            opt, inline = table[name[:2]], name[2:]  # -p8080: a short option with its value attached
        if opt is None:
            problems.append(problem or f"{name}: unknown option")
            if inline is None and i < len(argv) and not _looks_like_option(snap, argv[i]):
                i += 1  # take what follows as its value, so that one typo reports one problem
            continue
        if problem:
            problems.append(problem)
        if opt.deprecated:
            problems.append(f"{name}: deprecated in {snap.engine} {snap.upstream_version}")
        values: list[str] = []
        if inline is not None:
            if opt.is_flag:
                problems.append(f"{name}: a flag, takes no value (got {inline!r})")
            else:
                values.append(inline)
        else:
            limit = opt.max_values
            while (limit is None or len(values) < limit) and i < len(argv):
                nxt = argv[i]
                must_take = len(values) < opt.min_values
                if snap.style == "llama.cpp" and must_take:
                    pass  # llama.cpp takes the next argv element as the value, whatever it is
                elif _looks_like_option(snap, nxt) and not (snap.value_may_start_with_dash and must_take):
                    break
                values.append(nxt)
                i += 1
        if len(values) < opt.min_values:
            need = "a value" if opt.min_values == 1 else f"{opt.min_values} values"
            problems.append(f"{name}: needs {need}")
        if opt.choices is not None:
            bad = [v for v in values if v not in opt.choices]
            problems.extend(f"{name}: {v!r} is not one of {', '.join(opt.choices)}" for v in bad)
    return problems


def check_argv(engine: str, argv: Sequence[str]) -> list[str]:
    """Problems the engine's own parser has (or hides) with `argv`; [] when it parses cleanly as written.

    `argv` is what follows the image's entrypoint (`vllm serve`, `llama-server`, `text-generation-launcher`...); a
    leading launcher the snapshot names (`python3 -m sglang.launch_server`, `vllm serve`) is accepted and skipped.
    For Ollama, `argv` is one `ollama` command line (`serve`, `pull MODEL`...). For NIM, the arguments after the image,
    read by the backend's parser (vLLM).
    """
    snap = load(engine)
    args = _strip_launcher(snap, list(argv))
    if snap.argv_engine:
        return check_argv(snap.argv_engine, args)
    if snap.subcommands:
        if not args:
            return [f"{engine}: no subcommand (one of {', '.join(sorted(snap.subcommands))})"]
        sub, rest = args[0], args[1:]
        if sub not in snap.subcommands:
            return [f"{sub}: unknown {engine} subcommand (one of {', '.join(sorted(snap.subcommands))})"]
        return _check_options(snap, snap.lookup(snap.subcommands[sub]), rest, None)
    return _check_options(snap, snap.lookup(), args, snap.positional_max)


def _generic(name: str) -> bool:
    return name in GENERIC_ENV or name.startswith(GENERIC_ENV_PREFIXES)


def check_env(engine: str, env: Mapping[str, str]) -> list[str]:
    """Problems with the container environment `env` for `engine`: names the engine does not read, values it rejects.

    A name passes when the snapshot lists it (the engine reads it) or it is generic (`GENERIC_ENV`,
    `GENERIC_ENV_PREFIXES`). For NIM, `NIM_PASSTHROUGH_ARGS` is also checked as backend (vLLM) arguments.
    """
    snap = load(engine)
    problems: list[str] = []
    by_env = {o.env: o for o in snap.options if o.env} | {o.env_negated: o for o in snap.options if o.env_negated}
    for name in sorted(env):
        value = env[name]
        if name in snap.env_names:
            opt = by_env.get(name)
            if opt is not None and opt.choices is not None and value not in opt.choices:
                problems.append(f"{name}={value!r}: not one of {', '.join(opt.choices)} ({opt.canonical})")
            negatable = opt is not None and any(n.startswith("--no-") for n in opt.names)
            if opt is not None and opt.is_flag and not negatable and value not in _TRUTHY:
                problems.append(f"{name}={value!r}: a flag's variable only takes effect when truthy "
                                f"({', '.join(_TRUTHY)})")
            if opt is not None and opt.is_flag and negatable and value not in _TRUTHY + _FALSEY:
                problems.append(f"{name}={value!r}: must be one of {', '.join(_TRUTHY + _FALSEY)}")
            allowed = snap.env_value_choices.get(name)
            if allowed is not None and value not in allowed:
                problems.append(f"{name}={value!r}: not one of {', '.join(allowed)}")
            continue
        if _generic(name):
            continue
        if any(name.startswith(p) for p in snap.env_prefixes):
            if snap.env_complete:
                problems.append(f"{name}: not an environment variable {engine} {snap.upstream_version} reads "
                                f"({snap.env_source})")
            else:
                problems.append(f"{name}: not among the {engine} variables documented for {snap.upstream_version} "
                                f"(the documented list is partial: {snap.env_source})")
        else:
            problems.append(f"{name}: {engine} {snap.upstream_version} does not read it and it is not a generic "
                            "variable (llmstack.engine_flags.GENERIC_ENV)")
    if snap.passthrough_env and snap.passthrough_env in env and snap.argv_engine:
        try:
            passthrough = shlex.split(env[snap.passthrough_env])
        except ValueError as exc:
            problems.append(f"{snap.passthrough_env}: not a shell-style argument string ({exc})")
        else:
            problems.extend(f"{snap.passthrough_env}: {p}" for p in check_argv(snap.argv_engine, passthrough))
    return problems


def check_launch(engine: str, argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """`check_argv` + `check_env`, and options set both ways (the command line silently wins over the variable)."""
    return check_argv(engine, argv) + check_env(engine, env) + _set_twice(engine, argv, env)


def _set_twice(engine: str, argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    snap = load(engine)
    if snap.argv_engine or snap.subcommands:
        return []
    table = snap.lookup()
    given = {table[t.split("=", 1)[0]] for t in _strip_launcher(snap, list(argv)) if t.split("=", 1)[0] in table}
    return [f"{var} and {opt.canonical} both set {opt.canonical}; the command line wins"
            for opt in sorted(given, key=lambda o: o.canonical) for var in (opt.env, opt.env_negated)
            if var and var in env]


# --- a container's whole process: entrypoint + command, a `sh -c` script's commands, plain and secret env ---------

SHELLS = frozenset({"/bin/sh", "sh", "/bin/bash", "bash"})
SECRET_VALUE = "<secret>"  # what a secret variable's value is checked as (its value is never in the plan)
_SHELL_WORDS = frozenset({"exec", "if", "then", "else", "elif", "fi", "until", "while", "do", "done", "{", "}", "!"})
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Process:
    """What one container runs, as its engine's parsers see it."""

    argvs: tuple[tuple[str, ...], ...]  # each command line of the engine (a script may run several: Ollama)
    script_env: frozenset[str]  # variables a `sh -c` script itself reads (not the engine)


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a POSIX shell script, words only: split at `;` `&&` `||` `&` `|` and newlines, with
    redirections, variable assignments and the keywords `exec`, `if`/`then`/`fi`, `until`/`do`/`done`, `{`/`}`
    dropped."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    tokens = list(lexer)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token in (";", "&&", "||", "&", "|", "(", ")", ";;"):
            commands.append([])
        elif token[0] in "<>" or token in ("&>", "&>>"):
            i += 1  # the redirection's target
            if commands[-1] and commands[-1][-1].isdigit():
                commands[-1].pop()  # `2>&1`: the file descriptor before the operator
        else:
            commands[-1].append(token)
    out = []
    for words in commands:
        while words and (words[0] in _SHELL_WORDS or _ASSIGNMENT.match(words[0])):
            words = words[1:]
        if words:
            out.append(words)
    return out


def process(engine: str, entrypoint: Sequence[str] | None, command: Sequence[str]) -> Process:
    """The command lines `engine`'s parser gets when a container runs `entrypoint` (None: the image's) + `command`.

    A shell entrypoint (`/bin/sh -c SCRIPT`) is read command by command, and the engine's command lines are those
    that start with one of the snapshot's launchers (`ollama`, `python3 -m sglang.launch_server`, ...)."""
    snap = load(engine)
    if not entrypoint or entrypoint[0] not in SHELLS:
        return Process(((*(entrypoint or ()), *command),), frozenset())
    args = [*entrypoint[1:], *command]
    if "-c" not in args or args.index("-c") + 1 >= len(args):
        return Process((), frozenset())
    script = args[args.index("-c") + 1]
    prefixes = sorted(snap.launcher_prefixes, key=len, reverse=True)
    argvs = tuple(tuple(words) for words in shell_commands(script)
                  if any(tuple(words[: len(p)]) == p for p in prefixes))
    assigned = {m.group(1) for m in re.finditer(r"(?:^|[;&|\s])([A-Za-z_][A-Za-z0-9_]*)=", script)}
    return Process(argvs, frozenset(_REFERENCE.findall(script)) - assigned)


def check_process(engine: str, entrypoint: Sequence[str] | None, command: Sequence[str], env: Mapping[str, str],
                  secret_env: Iterable[str] = ()) -> list[str]:
    """Every problem `engine`'s own parsers have with one container: each command line it runs (inside a `sh -c`
    script too), and every variable it is given, plain (`env`) or secret (`secret_env`: names only). A variable the
    script itself reads (`$VAR`) is the script's, not the engine's: it must be given, and is not checked as the
    engine's."""
    found = process(engine, entrypoint, command)
    secrets = set(secret_env)
    if not found.argvs:
        launchers = " / ".join(shlex.join(p) for p in load(engine).launcher_prefixes)
        return [f"{engine}: the container runs no {engine} command line (expected {launchers})"]
    problems = [f"${var}: the script reads it, but the container does not set it"
                for var in sorted(found.script_env - set(env) - secrets)]
    given = {**env, **{name: SECRET_VALUE for name in secrets}}
    engine_env = {k: v for k, v in given.items() if k not in found.script_env}
    for argv in found.argvs:
        problems += check_argv(engine, argv) + _set_twice(engine, argv, engine_env)
    return problems + check_env(engine, engine_env)
