"""Wall time of the `llmstack` CLI's commands, against `python -c pass` in the same run.

    uv run python benchmarks/cli_startup.py [--runs 7]     # writes benchmarks/results/cli_startup.{md,json}

Each command runs `--runs` times, interleaved (one of each per round, so load drift hits all alike); the table shows
the median, min and max. Bytecode is compiled first (`compileall` over the project and its site-packages): an installed
CLI does not compile its sources on every start, but with PYTHONDONTWRITEBYTECODE set (as on this project's machines)
Python never caches it, and every start would compile pydantic, pulumi and the provider SDKs again. Targets (on this
project's 2-core machine): `--help` and `plan` <= 0.5 s, `preview --stack prod` and `--stack prod-eks` (policy pack
included) <= 3 s.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
LLMSTACK = [str(Path(sys.executable).parent / "llmstack")]  # the console script, as users run it
COMMANDS: dict[str, tuple[list[str], float | None]] = {
    "python -c pass": ([sys.executable, "-c", "pass"], None),
    "llmstack --help": ([*LLMSTACK, "--help"], 0.5),
    "llmstack plan --model llama-3.1-8b": ([*LLMSTACK, "plan", "--model", "llama-3.1-8b"], 0.5),
    "llmstack fits --vram 24GB": ([*LLMSTACK, "fits", "--vram", "24GB"], None),
    "llmstack preview --stack dev": ([*LLMSTACK, "preview", "--stack", "dev"], None),
    "llmstack preview --stack prod": ([*LLMSTACK, "preview", "--stack", "prod"], 3.0),
    "llmstack preview --stack prod-eks": ([*LLMSTACK, "preview", "--stack", "prod-eks"], 3.0),
    "llmstack preview --stack frontier-eks": ([*LLMSTACK, "preview", "--stack", "frontier-eks"], None),
}


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    for folder in (ROOT / "llmstack", ROOT / "components", ROOT / "policies", Path(sysconfig.get_paths()["purelib"])):
        compileall.compile_dir(folder, quiet=1, workers=0)
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for argv, _ in COMMANDS.values():
        _time(argv)  # warm the page cache once
    for _ in range(runs):
        for name, (argv, _) in COMMANDS.items():
            samples[name].append(_time(argv))
    load = os.getloadavg()
    rows = []
    for name, (_, target) in COMMANDS.items():
        values = samples[name]
        median = statistics.median(values)
        rows.append({"command": name, "median_s": round(median, 3), "min_s": round(min(values), 3),
                     "max_s": round(max(values), 3), "target_s": target,
                     "met": None if target is None else median <= target})
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(),
               "load_average_after": [round(x, 2) for x in load], "runs": runs,
               "date": time.strftime("%Y-%m-%d")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cli_startup.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    lines = [
        "# CLI start-up time",
        "",
        f"`benchmarks/cli_startup.py`, {runs} interleaved runs per command, {machine['cpus']} cores, Python "
        f"{machine['python']}, {machine['date']}; load average after the run {machine['load_average_after']}.",
        "",
        "| command | median | min | max | target | met |",
        "|---|---:|---:|---:|---:|:-:|",
    ]
    for r in rows:
        target = f"<= {r['target_s']} s" if r["target_s"] is not None else ""
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        lines.append(f"| `{r['command']}` | {r['median_s']:.2f} s | {r['min_s']:.2f} s | {r['max_s']:.2f} s | "
                     f"{target} | {met} |")
    (RESULTS / "cli_startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
