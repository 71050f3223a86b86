"""`llmstack`: the command-line face. Each subcommand lives in its own module and only parses, calls and prints."""

from __future__ import annotations

import sys
from typing import Any

import click

from llmstack.cli.bench import bench
from llmstack.cli.plan import fits, plan
from llmstack.cli.preview import preview
from llmstack.cli.verify import verify
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


# Subcommands (add new ones here and in the imports above).
for _command in (plan, fits, preview, verify, bench):
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
