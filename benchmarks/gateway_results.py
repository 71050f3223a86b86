"""Shared by the gateway benchmarks: each writes its own section of `benchmarks/results/gateway.md` (between
`<!-- name -->` / `<!-- /name -->` markers, other sections untouched), its raw data to `gateway_<name>.json`, and
they all boot stand-ins from the config the gateway plan renders for the prod stack (what `LiteLLMGateway`
uploads: tests/components checks the two are equal)."""

from __future__ import annotations

import os
import platform
import re
import time
from pathlib import Path
from typing import Any

from llmstack.spec import load_spec
from llmstack.stackplan import StackPlan, plan_stack

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
GATEWAY_MD = RESULTS / "gateway.md"
TITLE = "# Gateway benchmarks (LiteLLM 1.108.7, loopback stand-ins)\n"


def machine() -> dict[str, Any]:
    """Where a figure was measured: the facts a reader needs to compare it with their own CPU node."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        model = found.group(1).strip() if found else ""
    return {"arch": platform.machine(), "cpu": model, "cores": os.cpu_count(),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d"),
            "loadavg_1m": round(os.getloadavg()[0], 2)}


def measured_on(meta: dict[str, Any]) -> str:
    """The opening of a results section: when, on what, and how busy the machine was."""
    m = meta["machine"]
    return (f"Measured {m['date']} on {m['arch']} ({m['cpu'] or 'unknown CPU'}), {m['cores']} cores, Python "
            f"{m['python']}, load average {meta['load_before']} before / {m['loadavg_1m']} after.")


def write_section(name: str, text: str) -> None:
    """Replace (or append) the `name` section of gateway.md."""
    begin, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    current = GATEWAY_MD.read_text() if GATEWAY_MD.exists() else TITLE
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        _, tail = rest.split(end, 1)
        current = head + block + tail
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    GATEWAY_MD.write_text(current)


def prod_plan() -> StackPlan:
    return plan_stack(load_spec(ROOT / "stacks" / "Pulumi.prod.yaml"))


def prod_env() -> dict[str, str]:
    """The prod gateway container's plain environment (its secrets are the master key, which the proxy gets)."""
    return dict(prod_plan().gateway.launch.env)


def prod_config() -> dict[str, Any]:
    """The prod gateway's config.yaml as a dict, api_base hosts named after the services (to be put on loopback)."""
    plan = prod_plan()
    return plan.gateway.render({s.name: f"http://{s.name}:{s.launch.port}" for s in plan.services})


def kind_for(dep: dict[str, Any]) -> str:
    """The stand-in that speaks a rendered deployment's protocol."""
    if dep.get("model_info", {}).get("mode") == "embedding":
        return "tei"
    return "ollama" if dep["litellm_params"]["model"].startswith("ollama_chat/") else "vllm"
