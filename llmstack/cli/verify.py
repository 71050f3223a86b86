"""`llmstack verify`: parse options, run `llmstack.verify`, print a table (or JSON), exit 1 on any failure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from llmstack.errors import InputError
from llmstack.outputs import StackOutputs
from llmstack.verify import VerifyReport, outputs_from_endpoints
from llmstack.verify import verify as run_verify
from llmstack.verify.portforward import port_forwards
from llmstack.verify.tunnel import ssh_tunnel


def render(report: VerifyReport, console: Console) -> None:
    table = Table(title="llmstack verify", title_justify="left")
    table.add_column("check")
    table.add_column("target", overflow="fold")
    table.add_column("result")
    table.add_column("ms", justify="right")
    table.add_column("detail", overflow="fold")
    for c in report.checks:
        result = "[yellow]SKIP[/]" if c.skipped else "[green]PASS[/]" if c.ok else "[bold red]FAIL[/]"
        table.add_row(c.check, c.target, result, f"{c.seconds * 1000:.0f}", c.detail)
    console.print(table)
    failed, skipped = len(report.failures), len(report.skipped)
    ran = len(report.checks) - skipped
    if failed:
        console.print(f"[bold red]{failed} of {ran} checks failed[/]")
    elif ran == 0:
        console.print("[bold red]no check ran: every endpoint is out of reach from here[/]")
    else:
        console.print(f"[green]all {ran} checks passed[/]")
    for hint in report.hints:
        console.print(hint, style="yellow", markup=False, highlight=False, soft_wrap=True)


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
@click.option(
    "--via-ssh",
    "via_ssh",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[USER@HOST]",
    help="Reach every endpoint through an SSH tunnel to the gateway's node (default: the outputs' access.ssh).",
)
@click.option(
    "--via-kubectl",
    "via_kubectl",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[CONTEXT]",
    help="Kubernetes stacks: reach every cluster Service through `kubectl port-forward` (kubeconfig CONTEXT, "
    "default the current one).",
)
@click.option(
    "--fallback",
    is_flag=True,
    help="Also stop each primary's container and check the fallback answers (Docker targets; on Kubernetes a skip "
    "that says how to drill it by hand).",
)
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
    via_ssh: str | None,
    via_kubectl: str | None,
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
    if via_ssh is not None and via_kubectl is not None:
        raise InputError("--via-ssh", via_ssh or "(outputs' host)", "Give one of --via-ssh (AWS: through the "
                         "gateway's node) or --via-kubectl (Kubernetes: kubectl port-forward), not both.")
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
    options: dict[str, Any] = {
        "fallback": fallback, "timeout": timeout, "docker_host": docker_host, "recover_timeout": recover_timeout,
    }
    if via_ssh is not None:
        with ssh_tunnel(outputs, via_ssh or None, timeout=max(timeout, 30.0)) as tunnelled:
            report = run_verify(tunnelled, **options)
    elif via_kubectl is not None:
        with port_forwards(outputs, via_kubectl or None, timeout=max(timeout, 60.0)) as forwarded:
            report = run_verify(forwarded, **options)
    else:
        report = run_verify(outputs, **options)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        render(report, Console())
    if not report.ok:
        ctx.exit(1)
