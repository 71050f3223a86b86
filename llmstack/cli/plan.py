"""`llmstack plan` and `llmstack fits`: parse, call the planner, print (rich table or JSON)."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from llmstack.errors import InputError
from llmstack.planner import Plan, PlanRequest, fits_for_vram, load_config_file, parse_size
from llmstack.planner import plan as make_plan
from llmstack.planner.decide import WORKLOADS
from llmstack.planner.multinode import MAX_NODES
from llmstack.planner.units import fmt_gib


def _console() -> Console:
    return Console(width=120, soft_wrap=True)


@click.command("plan")
@click.option(
    "--model", "model", help="Catalog name (llama-3.1-8b), HF repo alias, Ollama tag or Hub repo id."
)
@click.option("--model-config", "model_config", help="Path to a Hugging Face config.json (offline).")
@click.option(
    "--quant", default="auto", show_default=True, help="bf16, fp16, fp8, int8, awq, gptq, Q4_K_M, ..."
)
@click.option("--context", type=int, help="Tokens per sequence (default: the engine's default).")
@click.option(
    "--concurrency", type=int, default=1, show_default=True, help="Concurrent full-length sequences."
)
@click.option("--engine", default="auto", show_default=True, help="ollama, vllm, sglang, llamacpp, tgi, nim.")
@click.option("--gpu", help="Only instances with this GPU (H100, L4, ...).")
@click.option("--vram", help="Size for one GPU of this much memory instead (24GB, 22888MiB).")
@click.option(
    "--kv-dtype", default="auto", show_default=True, help="auto, bf16, fp8 (vLLM); f16, q8_0, q4_0 (ggml)."
)
@click.option("--tensor-parallel", type=int, help="Pin the TP size (1, 2, 4, 8).")
@click.option("--workload", type=click.Choice(WORKLOADS), help="Decision framework input for engine auto.")
@click.option("--instance", "instance_type", help="Check only this instance type (g6.xlarge).")
@click.option("--max-nodes", type=click.IntRange(1, MAX_NODES), default=MAX_NODES, show_default=True,
              help="Nodes one replica may span when no single node fits (pipeline parallel, kubernetes targets).")
@click.option("--explain", is_flag=True, help="Show why every cheaper instance was rejected.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def plan(
    ctx: click.Context,
    model: str | None,
    model_config: str | None,
    quant: str,
    context: int | None,
    concurrency: int,
    engine: str,
    gpu: str | None,
    vram: str | None,
    kv_dtype: str,
    tensor_parallel: int | None,
    workload: str | None,
    instance_type: str | None,
    max_nodes: int,
    explain: bool,
    as_json: bool,
) -> None:
    """Size a model for a GPU and pick the cheapest instance it fits on. Exit 0 fits, 1 does not, 2 bad
    input."""
    if bool(model) == bool(model_config):
        raise InputError(
            "--model", model or model_config, "Give exactly one of --model NAME and --model-config PATH."
        )
    ref = load_config_file(model_config) if model_config else model
    assert ref is not None
    result = make_plan(
        PlanRequest(
            model=ref,
            quant=quant,
            context=context,
            concurrency=concurrency,
            engine=engine,
            gpu=gpu,
            vram=vram,
            kv_dtype=kv_dtype,
            tensor_parallel=tensor_parallel,
            workload=workload,  # type: ignore[arg-type]  # click.Choice guards the Literal
            instance_type=instance_type,
            max_nodes=max_nodes,
        )
    )
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        con = _console()
        table = Table(title=f"{result.model}: {'fits' if result.fits else 'does NOT fit'}", show_header=False)
        rows = [
            ("params", f"{result.params:,}"),
            ("engine / format", f"{result.engine} / {result.quant}"),
            ("instance", _instance(result)),
            ("pipeline x tensor parallel" if result.nodes > 1 else "tensor parallel",
             f"{result.pipeline_parallel} x {result.tensor_parallel}" if result.nodes > 1
             else str(result.tensor_parallel)),
            ("context x concurrency", f"{result.context} x {result.concurrency}"),
            ("weights (all GPUs)", fmt_gib(result.weights_bytes)),
            ("KV per token (per GPU)", f"{result.kv_bytes_per_token / 1024:.1f} KiB ({result.kv_dtype})"),
            ("KV cache (per GPU)", fmt_gib(result.kv_cache_bytes)),
            ("activations / compute", fmt_gib(result.memory.activation_bytes)),
            ("CUDA context + other", fmt_gib(result.memory.cuda_context_bytes + result.memory.other_bytes)),
            (
                "total (per GPU, worst stage)" if result.nodes > 1 else "total (per GPU)",
                f"{fmt_gib(result.total_bytes)} of {fmt_gib(result.memory.usable_bytes)} usable",
            ),
            (
                "KV capacity",
                f"{result.memory.kv_capacity_tokens} tokens, "
                f"{result.memory.max_concurrent_sequences} sequences",
            ),
            ("start_period", f"{result.startup_seconds} s"),
        ]
        for k, v in rows:
            table.add_row(k, v)
        con.print(table)
        con.print(result.memory.reason)
        if result.stages:
            stages = Table("stage (node)", "layers", "holds", "weights/GPU", "KV/GPU", "total/GPU",
                           title="pipeline stages (vLLM's layer split)", title_justify="left")
            for i, st in enumerate(result.stages):
                holds = ", ".join(x for x, on in (("embeddings", st.embeddings), ("LM head", st.head)) if on)
                stages.add_row(str(i), f"{st.first_layer}-{st.first_layer + st.layers - 1} ({st.layers})", holds,
                               fmt_gib(st.weights_bytes), fmt_gib(st.kv_cache_bytes), fmt_gib(st.total_bytes))
            con.print(stages)
        for note in result.notes:
            con.print(f"note: {note}")
        for s in result.suggestions:
            con.print(f"suggestion: {s}")
        if result.alternatives:
            alt = Table("instance types that fit (a node pool's list)", "GPUs",
                        "nodes/replica" if result.nodes > 1 else "replicas/node", "$/h", "$/h per replica",
                        title_justify="left")
            for a in result.alternatives:
                alt.add_row(a.type, f"{a.gpus} x {a.gpu}", str(result.nodes if result.nodes > 1 else a.replicas),
                            f"{a.hourly_usd:g}",
                            f"{a.usd_per_replica:g}")
            con.print(alt)
        if explain and result.rejected:
            rej = Table("rejected (cheaper first)", "why")
            for r in result.rejected:
                rej.add_row(r.instance, r.reason)
            con.print(rej)
    ctx.exit(0 if result.fits else 1)


def _instance(result: Plan) -> str:
    inst = result.instance
    if inst is None:
        return "-"
    one = f"{inst.type} ({inst.gpus} x {inst.gpu or 'CPU'}, ${inst.hourly_usd}/h)"
    return f"{result.nodes} x {one} = ${result.hourly_usd}/h" if result.nodes > 1 else one


@click.command("fits")
@click.option("--vram", required=True, help="GPU memory: 24GB, 22.35GiB, 22888MiB.")
@click.option("--context", type=int, default=8192, show_default=True, help="Tokens per sequence.")
@click.option(
    "--engine", default="auto", show_default=True, help="auto (ollama GGUF + vllm safetensors) or one."
)
@click.option("--kv-dtype", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def fits(ctx: click.Context, vram: str, context: int, engine: str, kv_dtype: str, as_json: bool) -> None:
    """List every catalog model x format that fits one GPU of VRAM at CONTEXT. Exit 1 when none does."""
    size = parse_size(vram, "--vram")
    rows = fits_for_vram(size, context, engine, kv_dtype)
    if as_json:
        click.echo(json.dumps([r.model_dump() for r in rows], indent=2))
    else:
        table = Table(
            f"fits in {fmt_gib(size)} at {context} tokens",
            "params",
            "engine",
            "format",
            "weights",
            "total",
            "KV tokens",
            "note",
        )
        for r in rows:
            table.add_row(
                r.model,
                f"{r.params / 1e9:.2f}B",
                r.engine,
                r.quant,
                fmt_gib(r.weights_bytes),
                fmt_gib(r.total_bytes),
                str(r.kv_capacity_tokens),
                r.note,
            )
        _console().print(table)
    ctx.exit(0 if rows else 1)
