"""`llmstack preview`: the real program under Pulumi's mock engine, checked by the policy pack, no cloud needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from llmstack.errors import InputError
from llmstack.labels import CONFIGMAP, CONTAINER, INGRESS_RULE, INSTANCE, NETWORK, PREFIX, REMOTE_IMAGE, Key
from llmstack.policy_check import Violation, analyze, load_policy_config, mandatory
from llmstack.preview import ROOT, Registration, run_program
from llmstack.spec import load_spec
from llmstack.stackplan.costs import HOURS_PER_MONTH, CostLine, fixed_costs
from llmstack.stackplan.gateway_sizing import size_gateway

# The properties worth showing per resource type (the rest is in --json).
_SHOWN = {
    CONTAINER: ("name", "ports", "gpus", "restart", "healthcheck"),
    INSTANCE: ("instanceType", "metadataOptions", "rootBlockDevice"),
    INGRESS_RULE: ("fromPort", "cidrIpv4", "referencedSecurityGroupId"),
    NETWORK: ("name", "ipv6"),
    REMOTE_IMAGE: ("name",),
}
_LABELS = tuple(k.label for k in (Key.ENGINE, Key.MODEL, Key.FORMAT, Key.CONTEXT, Key.CONCURRENCY, Key.INSTANCE_TYPE))


def _stack_file(stack: str | None, stack_file: Path | None) -> Path:
    if stack_file is not None:
        return stack_file
    if stack is None:
        raise InputError("--stack", None, "give --stack dev|staging|prod or --stack-file PATH")
    path = ROOT / "stacks" / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (ROOT / "stacks").glob("*.yaml"))
        raise InputError("--stack", stack, f"no stacks/Pulumi.{stack}.yaml; use one of: {', '.join(known)}")
    return path


def _summary(r: Registration) -> str:
    parts = [f"{key}={json.dumps(r.inputs[key], separators=(',', ':'))}" for key in _SHOWN.get(r.type, ())
             if key in r.inputs]
    labels = {item["label"]: item["value"] for item in r.inputs.get("labels", []) if isinstance(item, dict)}
    parts += [f"{k.removeprefix(PREFIX)}={labels[k]}" for k in _LABELS if k in labels]
    return "  ".join(parts)


def _tree(title: str, registrations: list[Registration]) -> Tree:
    tree = Tree(title)
    nodes: dict[str, Tree] = {}
    for r in registrations:
        if r.type == "pulumi:pulumi:Stack" or r.type.startswith("pulumi:providers:"):
            continue
        branch = nodes.get(r.parent, tree)
        label = f"[bold]{r.type}[/] {r.name}" if not r.custom else f"{r.type} [cyan]{r.name}[/]"
        summary = _summary(r)
        nodes[r.urn] = branch.add(f"{label}  [dim]{summary}[/]" if summary else label)
    return tree


def _artifacts(registrations: list[Registration], out: Path) -> list[Path]:
    """Files uploaded into containers (the LiteLLM config, prometheus.yml, alert rules) and ConfigMap files
    (Kubernetes), secrets left out."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for r in registrations:
        if r.type == CONFIGMAP:
            for key, content in (r.inputs.get("data") or {}).items():
                path = out / f"{r.name}_{key}"
                path.write_text(content)
                written.append(path)
        for upload in r.inputs.get("uploads", []) or []:
            content = upload.get("content")
            if not isinstance(content, str):  # a secret (the gateway key file) arrives as a secret object
                continue
            path = out / f"{r.name}{upload['file'].replace('/', '_')}"
            path.write_text(content)
            written.append(path)
    return written


def _violations_table(violations: list[Violation]) -> Table:
    table = Table(title=f"{len(violations)} policy violation(s)", show_lines=True)
    table.add_column("policy", style="bold")
    table.add_column("level")
    table.add_column("resource")
    table.add_column("problem and fix", overflow="fold")
    for v in violations:
        level = f"[red]{v.level}[/]" if v.level == "mandatory" else f"[yellow]{v.level}[/]"
        table.add_row(v.policy, level, f"{v.resource_name}\n[dim]{v.resource_type}[/]", v.message)
    return table


def _costs(costs: list[CostLine]) -> str:
    known = [c.hourly_usd for c in costs if c.hourly_usd is not None]
    parts = [f"{c.item} ${c.hourly_usd:.4g}/h" if c.hourly_usd is not None else f"{c.item} (no catalog price)"
             for c in costs]
    return (f"fixed cost: ${sum(known):.3f}/h, ${sum(known) * HOURS_PER_MONTH:,.0f}/month ({'; '.join(parts)}); "
            "GPU nodes on top (`llmstack plan` per backend)")


@click.command()
@click.option("--stack", help="stack name: dev, staging or prod (stacks/Pulumi.<stack>.yaml)")
@click.option("--stack-file", type=click.Path(path_type=Path), help="preview any stack file")
@click.option("--out", type=click.Path(path_type=Path),
              help="folder for rendered artifacts [.llmstack/preview/<stack>]")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--policy-config", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help='policy pack config JSON, as for `pulumi preview --policy-pack-config` '
                   '({"all": "mandatory", "<policy>": {"enforcementLevel": "advisory", ...}})')
def preview(stack: str | None, stack_file: Path | None, out: Path | None, as_json: bool,
            policy_config: Path | None) -> None:
    """Run the stack's Pulumi program offline under the mock engine, check it with the policy pack (policies/) and
    print what it would create. Exits 1 when a mandatory policy is violated."""
    config = load_policy_config(policy_config)
    path = _stack_file(stack, stack_file)
    # A bad stack file fails here, naming its path, the field, the value and the fix; the program then plans it once.
    spec = load_spec(path)
    warnings = [w for w in (size_gateway(spec).warning,) if w]  # no planner call: the program plans once
    costs = fixed_costs(spec)
    result = run_program(path)
    folder = out or Path(".llmstack") / "preview" / result.stack
    artifacts = _artifacts(result.registrations, folder)
    resources = [r for r in result.registrations if r.custom and not r.type.startswith("pulumi:providers:")]
    violations = analyze(result.registrations, config)
    failed = bool(mandatory(violations))
    if as_json:
        document: dict[str, Any] = {
            "stack": result.stack,
            "resources": [{"type": r.type, "name": r.name, "inputs": r.inputs} for r in resources],
            "artifacts": [str(p) for p in artifacts],
            "exports": {k: v for k, v in result.exports.items() if k != "master_key"},
            "violations": [v.to_json() for v in violations],
            "policy_result": "fail" if failed else "pass",
            "warnings": warnings,
            "fixed_costs": [{"item": c.item, "hourly_usd": c.hourly_usd} for c in costs],
        }
        click.echo(json.dumps(document, indent=2, default=str))
    else:
        console = Console()
        console.print(_tree(f"stack [bold]{result.stack}[/] ({path})", result.registrations))
        console.print(f"{len(resources)} resources; artifacts in {folder}: {', '.join(p.name for p in artifacts)}")
        if violations:
            console.print(_violations_table(violations))
        if costs:
            console.print(_costs(costs))
        for warning in warnings:
            console.print(f"[yellow]warning:[/] {warning}")
        verdict = "[red]failed[/] (mandatory violations)" if failed else "[green]passed[/]"
        console.print(f"policy pack llm-inference-stack: {verdict}")
    if failed:
        raise SystemExit(1)
