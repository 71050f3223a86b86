"""`llmstack`: the command-line face. Each subcommand lives in its own module and only parses, calls and prints."""

from __future__ import annotations

import sys
from typing import Any

import click

from llmstack.errors import LlmstackError


class _Group(click.Group):
    """Prints llmstack's own errors as one clear line and exits 2, never with a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LlmstackError as err:
            click.secho(f"error: {err}", fg="red", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llm-inference-stack", prog_name="llmstack")
def main() -> None:
    """Size LLMs for GPUs, preview and check the serving stack, verify and benchmark what is deployed."""


# Subcommands: one `main.add_command(...)` line each, below.
from llmstack.cli.plan import fits, plan  # noqa: E402

main.add_command(plan)
main.add_command(fits)
from llmstack.cli.preview import preview  # noqa: E402

main.add_command(preview)
from llmstack.cli.verify import verify
main.add_command(verify)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
