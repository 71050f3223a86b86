"""`llmstack bench`: parse options, run `llmstack.bench`, show progress and a percentile table (or JSON)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from urllib.parse import urlsplit

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from llmstack.bench.core import BenchConfig, RequestResult
from llmstack.bench.prompts import load_prompts, synthetic_prompts
from llmstack.bench.runner import BenchReport, Level
from llmstack.bench.runner import bench as run_bench
from llmstack.bench.stats import Dist, LevelSummary, Slo
from llmstack.errors import InputError


def chat_url(url: str) -> str:
    """`http://h:8000` or `.../v1` -> `.../v1/chat/completions`; a full `.../chat/completions` URL is kept."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError("URL", url, "Give the server's base URL, e.g. http://10.0.2.7:8000/v1.")
    base = url.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if not base.endswith("/v1"):
        base += "/v1"
    return base + "/chat/completions"


def parse_concurrency(value: str) -> list[int]:
    try:
        levels = [int(v) for v in value.split(",") if v.strip()]
    except ValueError as err:
        raise InputError("--concurrency", value, "Use comma-separated positive integers, e.g. 1,8,64.") from err
    if not levels or any(c < 1 for c in levels):
        raise InputError("--concurrency", value, "Use comma-separated positive integers, e.g. 1,8,64.")
    return levels


def parse_rates(value: str) -> list[float]:
    fix = "Use comma-separated positive request rates per second, e.g. 0.5,2,8."
    try:
        rates = [float(v) for v in value.split(",") if v.strip()]
    except ValueError as err:
        raise InputError("--request-rate", value, fix) from err
    if not rates or any(not (0 < r < math.inf) for r in rates):
        raise InputError("--request-rate", value, fix)
    return rates


def _slo_ms(option: str, value: float | None) -> float | None:
    if value is None:
        return None
    if not value > 0:
        raise InputError(option, value, "Use a positive number of milliseconds.")
    return value / 1000


def _ms(d: Dist) -> list[str]:
    return ["-" if math.isnan(v) else f"{v * 1000:.1f}" for v in (d.mean, d.p50, d.p90, d.p99)]


def _level(lv: LevelSummary) -> str:
    return str(lv.concurrency) if lv.mode == "closed" else f"{lv.request_rate:g}/s"


def render(report: BenchReport, console: Console) -> None:
    summary = Table(title=f"llmstack bench: {report.model} at {report.url}", title_justify="left")
    open_loop = any(lv.mode == "open" for lv in report.levels)
    slo = any(lv.goodput is not None for lv in report.levels)
    cols = ["rate" if open_loop else "conc", "reqs", "errors", "req/s", "tok/s", "TTFT p50", "ITL p50"]
    for col in cols + (["goodput"] if slo else []):
        summary.add_column(col, justify="right")
    for lv in report.levels:
        row = [
            _level(lv),
            str(lv.requests),
            f"{lv.errors} ({lv.error_rate:.1%})",
            f"{lv.request_throughput:.2f}",
            f"{lv.output_throughput:.1f}",
            _ms(lv.ttft_s)[1] + " ms",
            _ms(lv.itl_s)[1] + " ms",
        ]
        if slo:
            row.append("-" if lv.goodput is None else f"{lv.goodput:.1%}")
        summary.add_row(*row)
    console.print(summary)
    for lv in report.levels:
        what = (f"concurrency {lv.concurrency}" if lv.mode == "closed"
                else f"request rate {lv.request_rate:g}/s (peak {lv.concurrency} in flight)")
        table = Table(title=f"{what}: {lv.ok} ok in {lv.duration_s:.2f} s, tokens from {lv.token_source}",
                      title_justify="left")
        table.add_column("metric")
        for col in ("mean", "p50", "p90", "p99"):
            table.add_column(col, justify="right")
        table.add_row("TTFT (ms)", *_ms(lv.ttft_s))
        table.add_row("ITL (ms)", *_ms(lv.itl_s))
        table.add_row("TPOT (ms)", *_ms(lv.tpot_s))
        table.add_row("E2E latency (ms)", *_ms(lv.e2e_s))
        tps = lv.request_output_tps
        table.add_row(
            "output tok/s per request",
            *["-" if math.isnan(v) else f"{v:.1f}" for v in (tps.mean, tps.p50, tps.p90, tps.p99)],
        )
        if lv.connect_s.n:  # connections opened inside the timed part: never counted in TTFT
            table.add_row(f"connect, {lv.connect_s.n} new (ms)", *_ms(lv.connect_s))
        if lv.mode == "open":
            table.add_row("send lag (ms)", *_ms(lv.send_lag_s))
        console.print(table)
        if lv.goodput is not None and lv.goodput_rps is not None:
            slos = [f"TTFT <= {lv.slo_ttft_s * 1000:g} ms" if lv.slo_ttft_s is not None else "",
                    f"TPOT <= {lv.slo_itl_s * 1000:g} ms" if lv.slo_itl_s is not None else ""]
            console.print(f"goodput: {lv.goodput:.1%} of requests met {' and '.join(s for s in slos if s)} "
                          f"({lv.goodput_rps:.2f} req/s)")
        for err in lv.first_errors:
            console.print(f"[red]error:[/] {err}")


@click.command()
@click.argument("url")
@click.option("--model", required=True, help="Model name to send (the served or gateway model name).")
@click.option("--concurrency", help="Closed loop: comma-separated stream counts, e.g. 1,8,64  [default: 1]")
@click.option("--request-rate", help="Open loop: comma-separated Poisson arrival rates (requests/s), e.g. 1,4,16.")
@click.option("--max-concurrency", type=int, help="Open loop: at most this many requests in flight.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the open loop's arrival times.")
@click.option("--num-requests", "-n", type=int, help="Requests per level (default 32 unless --duration).")
@click.option("--duration", type=float, help="Seconds per level instead of a request count.")
@click.option("--prompt-tokens", type=int, default=128, show_default=True, help="Synthetic prompt length.")
@click.option("--prompts", "prompts_file", type=click.Path(path_type=Path), help="Prompts file (lines or JSONL).")
@click.option("--max-tokens", type=int, default=128, show_default=True, help="max_tokens per request.")
@click.option("--ignore-eos", is_flag=True, help="Send ignore_eos (vLLM) so every request makes max_tokens.")
@click.option("--api-key-env", metavar="VAR", help="Environment variable holding the bearer token.")
@click.option("--slo-ttft-ms", type=float, help="Goodput: a request's TTFT must be at most this.")
@click.option("--slo-itl-ms", type=float, help="Goodput: a request's mean inter-token latency (TPOT) at most this.")
@click.option("--warmup", type=int, default=1, show_default=True,
              help="Uncounted rounds before each level, one request on every connection the level uses.")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds per request (read gaps).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (for CI).")
def bench(
    url: str,
    model: str,
    concurrency: str | None,
    request_rate: str | None,
    max_concurrency: int | None,
    seed: int,
    num_requests: int | None,
    duration: float | None,
    prompt_tokens: int,
    prompts_file: Path | None,
    max_tokens: int,
    ignore_eos: bool,
    api_key_env: str | None,
    slo_ttft_ms: float | None,
    slo_itl_ms: float | None,
    warmup: int,
    timeout: float,
    as_json: bool,
) -> None:
    """Benchmark an OpenAI-compatible endpoint with streaming chat completions: fixed concurrency (closed loop) or
    Poisson arrivals (open loop, --request-rate)."""
    if concurrency is not None and request_rate is not None:
        raise InputError("--request-rate", request_rate,
                         "Give --concurrency (closed loop) or --request-rate (open loop), not both; cap an open "
                         "loop's requests in flight with --max-concurrency.")
    if request_rate is not None:
        levels = [Level(rate=r) for r in parse_rates(request_rate)]
    else:
        levels = [Level(concurrency=c) for c in parse_concurrency(concurrency or "1")]
        if max_concurrency is not None:
            raise InputError("--max-concurrency", max_concurrency,
                             "It caps an open loop; with --concurrency the level is the number of streams.")
    if max_concurrency is not None and max_concurrency < 1:
        raise InputError("--max-concurrency", max_concurrency, "Use at least 1.")
    if num_requests is not None and duration is not None:
        raise InputError("--duration", duration, "Give --num-requests or --duration, not both.")
    if num_requests is None and duration is None:
        num_requests = 32
    if num_requests is not None and num_requests < 1:
        raise InputError("--num-requests", num_requests, "Use at least 1 request per level.")
    if duration is not None and duration <= 0:
        raise InputError("--duration", duration, "Use a positive number of seconds.")
    if max_tokens < 1:
        raise InputError("--max-tokens", max_tokens, "Use at least 1.")
    if warmup < 0:
        raise InputError("--warmup", warmup, "Use 0 or more.")
    if timeout <= 0:
        raise InputError("--timeout", timeout, "Use a positive number of seconds.")
    slo = Slo(_slo_ms("--slo-ttft-ms", slo_ttft_ms), _slo_ms("--slo-itl-ms", slo_itl_ms))
    api_key = None
    if api_key_env:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise InputError("--api-key-env", api_key_env, f"Set {api_key_env} to the API key (it is unset or empty).")
    if prompts_file is not None:
        prompts = load_prompts(prompts_file)
    else:
        widest = max((lv.concurrency or 0) for lv in levels)
        prompts = synthetic_prompts(max(num_requests or 0, widest * 2, 64), prompt_tokens)
    cfg = BenchConfig(chat_url(url), model, max_tokens, api_key, timeout, ignore_eos)
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.fields[level]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("errors {task.fields[errors]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        refresh_per_second=2,  # each refresh holds the GIL the timestamps share; 2/s is plenty for a progress bar
        disable=as_json and not console.is_terminal,
    ) as progress:
        tasks: dict[str, TaskID] = {}
        errors: dict[str, int] = {}

        def start(label: str, total: int | None) -> None:
            errors[label] = 0
            tasks[label] = progress.add_task("level", total=total, level=label, errors=0)

        def advance(label: str, total: int | None, result: RequestResult) -> None:
            errors[label] += 0 if result.ok else 1
            progress.update(tasks[label], advance=1, errors=errors[label])

        report = run_bench(
            cfg,
            prompts,
            levels,
            num_requests=num_requests,
            duration=duration,
            warmup=warmup,
            max_concurrency=max_concurrency,
            slo=slo,
            seed=seed,
            progress=advance,
            on_level_start=start,
        )
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        render(report, Console())
