"""`llmstack bench` against stand-ins with a known token schedule: the schedule is the truth."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from llmstack.bench import (
    BenchConfig,
    ClientPool,
    Dist,
    LevelResult,
    bench,
    percentile,
    run_benchmark,
    run_level,
    summarize,
    synthetic_prompts,
)
from llmstack.cli import main
from llmstack.cli.bench import chat_url
from tests.standins import StandInProcess, TokenSchedule, VllmStandIn

MODEL = "Qwen/Qwen3-8B"
TOLERANCE = 0.005  # 5 ms
TTFT, ITL, TOKENS = 0.050, 0.010, 20


@pytest.fixture(scope="module")
def server() -> Iterator[StandInProcess]:
    """The stand-in in its own process, so the client under test does not share its GIL."""
    with StandInProcess("vllm", TokenSchedule(TTFT, ITL, TOKENS), model=MODEL) as proc:
        yield proc


@pytest.fixture
def vllm() -> Iterator[VllmStandIn]:
    with VllmStandIn(MODEL, TokenSchedule(0.002, 0.001, 8)) as s:
        assert isinstance(s, VllmStandIn)
        yield s


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["bench", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


ATTEMPTS = 3


def measure(server: StandInProcess, concurrency: int, attempt: int) -> dict[str, Any]:
    """One run of 16 requests; per-request errors of the client's TTFT/ITL against the server's timestamps."""
    prompts = synthetic_prompts(16, 32, seed=100 * concurrency + attempt)
    cfg = BenchConfig(server.url + "/v1/chat/completions", MODEL, max_tokens=TOKENS)

    async def go() -> list[Any]:
        async with ClientPool(concurrency, 30) as clients:
            level = await run_level(clients, cfg, [cfg.payload(p) for p in prompts], concurrency, num_requests=16)
            return level.results

    results = asyncio.run(go())
    assert all(r.ok for r in results) and len(results) == 16
    records = {r["body"]["messages"][0]["content"]: r for r in server.requests() if r["path"].endswith("/completions")}
    ttft_errors: list[float] = []
    itl_errors: list[float] = []
    server_ttft: list[float] = []
    server_itl: list[float] = []
    for result in results:
        record = records[prompts[result.prompt_index]]
        assert result.output_tokens == TOKENS and result.token_source == "usage"
        ttft_errors.append(result.ttft - (record["first_token"] - result.start))
        true_gaps = [b - a for a, b in itertools.pairwise(record["token_times"])]
        itl_errors += [m - t for m, t in zip(result.itl, true_gaps, strict=True)]
        server_ttft.append(record["first_token"] - record["arrival"])
        server_itl += true_gaps
    return {
        "ttft_p90": percentile([abs(e) for e in ttft_errors], 90),
        "itl_p90": percentile([abs(e) for e in itl_errors], 90),
        "itl_p50": percentile([abs(e) for e in itl_errors], 50),
        "server_ttft_p50": percentile(server_ttft, 50),
        "server_itl_p50": percentile(server_itl, 50),
        "level": summarize(LevelResult(concurrency, 1.0, results)),
    }


@pytest.mark.parametrize("concurrency", [1, 8])
def test_ttft_and_itl_match_the_truth_within_5ms(server: StandInProcess, concurrency: int) -> None:
    """Truth = the token schedule as the server executed it, from its own timestamps (perf_counter is
    CLOCK_MONOTONIC, shared across processes). Per request: client TTFT vs server first-token send time minus
    client start, and every client ITL gap vs the server's gap.

    Other processes on the shared 2 cores can stall the client for 10+ ms now and then; at concurrency 8 one
    stall skews two gaps of every stream. Such noise only adds error, so up to 3 runs are made and the test
    needs one clean run; a systematic client error would fail all of them."""
    runs = []
    for attempt in range(ATTEMPTS):
        run = measure(server, concurrency, attempt)
        runs.append({k: v for k, v in run.items() if k != "level"})
        if run["ttft_p90"] <= TOLERANCE and run["itl_p90"] <= TOLERANCE:
            break
    else:
        pytest.fail(f"no run had p90 TTFT and ITL errors <= 5 ms: {runs}")
    assert run["itl_p50"] <= 0.001  # typically tens of microseconds
    # the server kept the schedule, so the client's TTFT/ITL are the schedule's within 5 ms
    assert abs(run["server_ttft_p50"] - TTFT) <= TOLERANCE
    assert abs(run["server_itl_p50"] - ITL) <= TOLERANCE
    level = run["level"]
    assert abs(level.itl_s.p50 - ITL) <= TOLERANCE and abs(level.tpot_s.mean - ITL) <= TOLERANCE
    assert level.itl_s.n == 16 * (TOKENS - 1)


def test_bench_report_against_the_schedule(server: StandInProcess) -> None:
    cfg = BenchConfig(server.url + "/v1/chat/completions", MODEL, max_tokens=TOKENS)
    report = bench(cfg, synthetic_prompts(8, 32), [1, 4], num_requests=8, warmup=1)
    for level in report.levels:
        assert level.errors == 0 and level.output_tokens == 8 * TOKENS
        assert abs(level.itl_s.p50 - ITL) <= TOLERANCE
        assert level.ttft_s.p50 >= TTFT  # never earlier than the schedule allows
        assert level.request_throughput > 0 and level.output_throughput > 0


def test_counts_chunks_when_usage_is_absent(vllm: VllmStandIn) -> None:
    cfg = BenchConfig(
        vllm.url + "/v1/chat/completions", MODEL, max_tokens=6, extra_body={"stream_options": {"include_usage": False}}
    )
    report = bench(cfg, ["hello"], [2], num_requests=4, warmup=0)
    (level,) = report.levels
    assert level.token_source == "chunks" and level.output_tokens == 4 * 6


def test_errors_are_counted_with_reasons(vllm: VllmStandIn) -> None:
    vllm.fail_status = 503
    cfg = BenchConfig(vllm.url + "/v1/chat/completions", MODEL)
    report = bench(cfg, ["hello"], [2], num_requests=6, warmup=0)
    (level,) = report.levels
    assert level.errors == 6 and level.error_rate == 1.0 and level.ok == 0
    assert level.first_errors and level.first_errors[0].startswith("HTTP 503")
    assert math.isnan(level.ttft_s.p50)


def test_server_dying_mid_stream_is_an_error() -> None:
    standin = VllmStandIn(MODEL, TokenSchedule(0.0, 0.05, 200)).start()
    try:
        cfg = BenchConfig(standin.url + "/v1/chat/completions", MODEL, max_tokens=200, timeout=10)

        async def go() -> Any:
            task = asyncio.create_task(run_benchmark(cfg, ["x"], [2], num_requests=2, warmup=0))
            await asyncio.sleep(0.3)
            await asyncio.get_running_loop().run_in_executor(None, standin.stop)
            return await task

        report = asyncio.run(go())
        (level,) = report.levels
        assert level.errors == 2
        assert any("RemoteProtocolError" in e or "ReadError" in e for e in level.first_errors), level.first_errors
    finally:
        standin.stop()


def test_duration_mode_is_bounded(vllm: VllmStandIn) -> None:
    cfg = BenchConfig(vllm.url + "/v1/chat/completions", MODEL, max_tokens=4)
    report = bench(cfg, ["hi"], [4], duration=0.5, warmup=0)
    (level,) = report.levels
    assert level.requests > 4 and level.errors == 0 and 0.5 <= level.duration_s < 2.0


def test_cli_json_with_prompts_file_and_api_key(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "one two three"}\n"four five"\n')
    with VllmStandIn(MODEL, TokenSchedule(0.001, 0.001, 4), api_key="sk-bench") as s:
        code, out, _ = cli(
            s.url, "--model", MODEL, "--concurrency", "1,2", "-n", "4", "--prompts", str(prompts),
            "--api-key-env", "BENCH_KEY", "--json", env={"BENCH_KEY": "sk-bench"},
        )  # fmt: skip
        assert code == 0, out
        data = json.loads(out)
        assert [lv["concurrency"] for lv in data["levels"]] == [1, 2]
        assert all(lv["errors"] == 0 and lv["output_tokens"] == 16 for lv in data["levels"])
        assert set(data["levels"][0]["ttft_s"]) == {"mean", "p50", "p90", "p99", "n"}
        bodies = [r.body for r in s.requests if r.path == "/v1/chat/completions"]
        assert {b["messages"][0]["content"] for b in bodies} == {"one two three", "four five"}
        assert all(b["stream"] is True and b["stream_options"] == {"include_usage": True} for b in bodies)
        assert all(r.headers["authorization"] == "Bearer sk-bench" for r in s.requests if r.path.startswith("/v1"))


def test_cli_table(vllm: VllmStandIn) -> None:
    code, out, _ = cli(vllm.url + "/v1", "--model", MODEL, "-n", "3", "--max-tokens", "4")
    assert code == 0
    assert "TTFT (ms)" in out and "ITL (ms)" in out and "p99" in out and "concurrency 1" in out


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--concurrency", "0"], "--concurrency"),
        (["--concurrency", "a,b"], "--concurrency"),
        (["-n", "3", "--duration", "2"], "--duration"),
        (["-n", "0"], "--num-requests"),
        (["--max-tokens", "0"], "--max-tokens"),
        (["--prompt-tokens", "0"], "--prompt-tokens"),
        (["--api-key-env", "NO_SUCH_KEY_VAR"], "--api-key-env"),
        (["--prompts", "/nonexistent/prompts.txt"], "--prompts"),
    ],
)
def test_bad_input_is_an_input_error(args: list[str], field: str) -> None:
    code, _, err = cli("http://127.0.0.1:9/v1", "--model", MODEL, *args, env={"NO_SUCH_KEY_VAR": ""})
    assert code == 2 and err.startswith("error: ") and field in err


def test_bad_url_and_unreachable_warmup() -> None:
    code, _, err = cli("ftp://x", "--model", MODEL)
    assert code == 2 and "URL" in err
    code, _, err = cli("http://127.0.0.1:9", "--model", MODEL, "-n", "1")
    assert code == 2 and "warm-up request" in err and "ConnectError" in err


def test_chat_url_and_percentiles() -> None:
    assert chat_url("http://h:8000") == "http://h:8000/v1/chat/completions"
    assert chat_url("http://h:8000/v1/") == "http://h:8000/v1/chat/completions"
    assert chat_url("http://h:4000/v1/chat/completions") == "http://h:4000/v1/chat/completions"
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert Dist.of([2.0]).p90 == 2.0
    assert len(synthetic_prompts(3, 10)[0].split()) == 10
