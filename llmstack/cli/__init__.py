"""`llmstack`: the command-line face. Each subcommand lives in its own module and only parses, calls and prints.

Subcommands are imported when they run, not before: `llmstack --help` and `llmstack plan` never load Pulumi, the
provider SDKs or httpx (benchmarks/cli_startup.py measures it).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from llmstack.errors import LlmstackError

# name -> (module:attribute, one-line help shown by `llmstack --help` without importing the module)
COMMANDS: dict[str, tuple[str, str]] = {
    "plan": ("llmstack.cli.plan:plan", "How much GPU memory a model needs, and the cheapest instance that fits."),
    "fits": ("llmstack.cli.plan:fits", "Which catalog models fit in a given amount of GPU memory."),
    "preview": ("llmstack.cli.preview:preview", "Run a stack offline under Pulumi's mocks, checked by the policies."),
    "verify": ("llmstack.cli.verify:verify", "Check that a deployed stack answers, backend by backend."),
    "bench": ("llmstack.cli.bench:bench", "Benchmark TTFT, inter-token latency and throughput of an endpoint."),
}


class _LazyGroup(click.Group):
    """Loads a subcommand's module only when it is invoked; prints llmstack's own errors as one clear line and exits
    2, never with a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, short) in COMMANDS.items()])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LlmstackError as err:
            click.secho(f"error: {err}", fg="red", err=True)
            ctx.exit(2)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llm-inference-stack", prog_name="llmstack")
def main() -> None:
    """Size LLMs for GPUs, preview and check the serving stack, verify and benchmark what is deployed."""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
