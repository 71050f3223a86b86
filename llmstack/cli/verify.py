"""`llmstack verify`: parse options, run `llmstack.verify`, print a table (or JSON), exit 1 on any failure."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from llmstack.errors import InputError
from llmstack.outputs import StackOutputs
from llmstack.verify import VerifyReport, outputs_from_endpoints
from llmstack.verify import verify as run_verify


def render(report: VerifyReport, console: Console) -> None:
    table = Table(title="llmstack verify", title_justify="left")
    table.add_column("check")
    table.add_column("target", overflow="fold")
    table.add_column("result")
    table.add_column("ms", justify="right")
    table.add_column("detail", overflow="fold")
    for c in report.checks:
        result = "[green]PASS[/]" if c.ok else "[bold red]FAIL[/]"
        table.add_row(c.check, c.target, result, f"{c.seconds * 1000:.0f}", c.detail)
    console.print(table)
    failed = len(report.failures)
    if failed:
        console.print(f"[bold red]{failed} of {len(report.checks)} checks failed[/]")
    else:
        console.print(f"[green]all {len(report.checks)} checks passed[/]")


@click.command()
@click.option("--stack", "stack", metavar="ENV", help="Read `pulumi stack output --json --show-secrets --stack ENV`.")
@click.option(
    "--outputs",
    "outputs_file",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Read stack outputs from this JSON file instead of calling pulumi.",
)
@click.option("--gateway", metavar="URL", help="Explicit endpoints: the LiteLLM gateway URL.")
@click.option(
    "--master-key-env",
    default="LITELLM_MASTER_KEY",
    show_default=True,
    metavar="VAR",
    help="Explicit endpoints: environment variable holding the gateway master key.",
)
@click.option(
    "--backend",
    "backends",
    multiple=True,
    metavar="NAME=ENGINE[:MODEL]@URL",
    help="Explicit endpoints: a backend; NAME is its gateway model name. Repeatable.",
)
@click.option(
    "--embeddings",
    metavar="[NAME=ENGINE[:MODEL]@]URL",
    help="Explicit endpoints: the embeddings server (TEI).",
)
@click.option("--fallback", is_flag=True, help="Also stop each primary's container and check the fallback answers.")
@click.option("--docker-host", metavar="URL", help="Docker API for --fallback (unix:///... or tcp://host:port).")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds per request.")
@click.option(
    "--recover-timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds to wait for a restarted backend to be healthy again.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (for CI).")
@click.pass_context
def verify(
    ctx: click.Context,
    stack: str | None,
    outputs_file: Path | None,
    gateway: str | None,
    master_key_env: str,
    backends: tuple[str, ...],
    embeddings: str | None,
    fallback: bool,
    docker_host: str | None,
    timeout: float,
    recover_timeout: float,
    as_json: bool,
) -> None:
    """Check every backend, the embeddings server and the gateway of a deployed stack (exit 1 on failure)."""
    sources = [
        name for name, given in (("--stack", stack), ("--outputs", outputs_file), ("--gateway", gateway)) if given
    ]
    if len(sources) != 1:
        raise InputError(
            "source",
            " ".join(sources) or "(none)",
            "Give exactly one of --stack ENV, --outputs FILE, or --gateway URL with --backend/--embeddings.",
        )
    if (backends or embeddings) and not gateway:
        raise InputError("--backend", backends or embeddings, "--backend/--embeddings go with --gateway.")
    for name, value in (("--timeout", timeout), ("--recover-timeout", recover_timeout)):
        if value <= 0:
            raise InputError(name, value, "Use a positive number of seconds.")
    if stack:
        outputs = StackOutputs.from_stack(stack)
    elif outputs_file:
        outputs = StackOutputs.from_file(outputs_file)
    else:
        assert gateway is not None
        if fallback:
            raise InputError("--fallback", True, "Fallback checks need container names: use --stack or --outputs.")
        outputs = outputs_from_endpoints(gateway, master_key_env, list(backends), embeddings)
    report = run_verify(
        outputs, fallback=fallback, timeout=timeout, docker_host=docker_host, recover_timeout=recover_timeout
    )
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        render(report, Console())
    if not report.ok:
        ctx.exit(1)
