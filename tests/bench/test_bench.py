"""`llmstack bench` against stand-ins with a known token schedule: correctness, with bounds that cannot flake.

How close the client's TTFT and ITL are to the truth is a speed figure, so it lives in a benchmark
(`benchmarks/bench_reference.py`, results in `benchmarks/results/bench_reference.md`), not here. These tests check
what must hold on any machine under any load: warm-up opens and uses each level's connections, the open loop
follows its schedule without waiting for responses, goodput counts what it should, errors are reported.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from llmstack.bench import (
    BenchConfig,
    ConnectionPool,
    Dist,
    Level,
    LevelResult,
    RequestResult,
    Slo,
    bench,
    open_loop_width,
    percentile,
    poisson_arrivals,
    run_benchmark,
    run_open_level,
    summarize,
    synthetic_prompts,
)
from llmstack.cli import main
from llmstack.cli.bench import chat_url
from tests.standins import StandInProcess, TokenSchedule, VllmStandIn

MODEL = "Qwen/Qwen3-8B"
TTFT, ITL, TOKENS = 0.050, 0.020, 10
CHAT = "/v1/chat/completions"


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


def records(server: StandInProcess, prompts: list[str]) -> dict[str, dict[str, Any]]:
    """The server's log of these prompts' requests (the last one per prompt), keyed by prompt."""
    wanted = set(prompts)
    out = {}
    for r in server.requests():
        if r["path"] == CHAT and r["body"]["messages"][0]["content"] in wanted:
            out[r["body"]["messages"][0]["content"]] = r
    return out


def test_every_request_is_measured_against_the_schedule(server: StandInProcess) -> None:
    prompts = synthetic_prompts(12, 16, seed=1)
    cfg = BenchConfig(server.url + CHAT, MODEL, max_tokens=TOKENS)
    report = bench(cfg, prompts, [Level(concurrency=1), Level(concurrency=4)], num_requests=12)
    for level in report.levels:
        assert level.mode == "closed" and level.errors == 0 and level.output_tokens == 12 * TOKENS
        assert level.token_source == "usage" and level.itl_s.n == 12 * (TOKENS - 1)
        # the server cannot send the first token earlier than its schedule, nor the stream faster
        assert level.ttft_s.p50 >= TTFT and level.tpot_s.n == 12
        assert level.request_throughput > 0 and level.output_throughput > 0
        assert level.goodput is None and level.connect_s.n == 0


def test_each_level_warms_up_its_own_connections(server: StandInProcess) -> None:
    """A level of N streams times N connections that were opened and used once before its clock started, whatever
    level ran before (a 1-stream level used to leave N-1 connects inside the timed requests)."""
    prompts = synthetic_prompts(40, 8, seed=2)
    cfg = BenchConfig(server.url + CHAT, MODEL, max_tokens=TOKENS)

    async def go() -> tuple[list[LevelResult], ConnectionPool]:
        from llmstack.bench import run_level, warm_up

        requests = cfg.requests(prompts)
        out = []
        async with ConnectionPool(cfg.endpoint, 30) as pool:
            for c in (1, 6):
                warmed = await warm_up(pool, requests, c, 1)
                assert len(warmed) == c and sum(r.connect > 0 for r in warmed) == (1 if c == 1 else 5)
                out.append(await run_level(pool, requests, c, num_requests=18))
            return out, pool

    levels, pool = asyncio.run(go())
    assert [lv.connections_opened for lv in levels] == [0, 0]
    assert all(r.connect == 0 for lv in levels for r in lv.results)
    assert pool.opened == 6
    ours = [r for r in server.requests() if r["path"] == CHAT and r["body"]["messages"][0]["content"] in prompts]
    assert len(ours) == 1 + 18 + 6 + 18
    assert len({r["peer"] for r in ours}) == 6  # 6 connections carried every warm-up and timed request


def test_the_runner_warms_every_level_and_reports_connects_apart() -> None:
    with VllmStandIn(MODEL, TokenSchedule(0.001, 0.001, 4)) as s:
        cfg = BenchConfig(s.url + CHAT, MODEL, max_tokens=4)
        warm = bench(cfg, ["a", "b"], [Level(concurrency=1), Level(concurrency=5)], num_requests=10)
        assert [lv.connect_s.n for lv in warm.levels] == [0, 0]
        cold = bench(cfg, ["a", "b"], [Level(concurrency=1), Level(concurrency=5)], num_requests=10, warmup=0)
        # without warm-up the new connections are opened inside the level, timed apart from TTFT
        assert [lv.connect_s.n for lv in cold.levels] == [1, 4]
        assert all(lv.connect_s.p50 > 0 for lv in cold.levels)


def test_poisson_arrivals_have_the_asked_rate() -> None:
    arrivals = poisson_arrivals(8.0, count=20_000, seed=3)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert arrivals[0] == 0.0 and all(g > 0 for g in gaps)
    assert statistics.fmean(gaps) == pytest.approx(1 / 8, rel=0.02)  # deterministic for a fixed seed
    assert statistics.stdev(gaps) / statistics.fmean(gaps) == pytest.approx(1.0, rel=0.03)  # exponential: CV 1
    assert poisson_arrivals(8.0, count=50, seed=3) == arrivals[:50]
    timed = poisson_arrivals(8.0, duration=10.0, seed=4)
    assert timed[-1] < 10.0 and 50 < len(timed) < 120
    with pytest.raises(ValueError, match="positive finite"):
        poisson_arrivals(0.0, count=3)


def test_open_loop_sends_on_schedule_without_waiting_for_answers() -> None:
    """16 arrivals at 40/s against a server that answers after 2 s: all 16 reach the server before the first answer
    (a closed loop could not), and none leaves before its scheduled time."""
    prompts = synthetic_prompts(16, 8, seed=5)
    with StandInProcess("vllm", TokenSchedule(2.0, 0.001, 2), model=MODEL) as slow:
        cfg = BenchConfig(slow.url + CHAT, MODEL, max_tokens=2)

        async def go() -> LevelResult:
            async with ConnectionPool(cfg.endpoint, 30) as pool:
                return await run_open_level(pool, cfg.requests(prompts), 40.0, num_requests=16, seed=6)

        level = asyncio.run(go())
        log = records(slow, prompts)
    assert len(level.results) == 16 and all(r.ok for r in level.results)
    assert level.request_rate == 40.0 and level.concurrency == 16 and level.connections_opened == 16
    first_answer = min(r["first_token"] for r in log.values())
    assert max(r["arrival"] for r in log.values()) < first_answer
    offsets = poisson_arrivals(40.0, count=16, seed=6)
    for r in level.results:
        assert r.scheduled is not None and r.send_lag is not None
        assert r.send_lag >= -1e-6  # never early
        assert log[prompts[r.prompt_index]]["arrival"] >= r.scheduled
    scheduled = sorted(r.scheduled for r in level.results if r.scheduled is not None)
    assert [b - a for a, b in itertools.pairwise(scheduled)] == pytest.approx(
        [b - a for a, b in itertools.pairwise(offsets)], abs=1e-9)
    summary = summarize(level)
    assert summary.mode == "open" and summary.send_lag_s.n == 16 and summary.connect_s.n == 16


def test_open_loop_cap_bounds_requests_in_flight() -> None:
    prompts = synthetic_prompts(12, 8, seed=7)
    with StandInProcess("vllm", TokenSchedule(0.2, 0.001, 2), model=MODEL) as slow:
        cfg = BenchConfig(slow.url + CHAT, MODEL, max_tokens=2)

        async def go() -> LevelResult:
            async with ConnectionPool(cfg.endpoint, 30) as pool:
                return await run_open_level(pool, cfg.requests(prompts), 100.0, num_requests=12,
                                            max_concurrency=3, seed=8)

        level = asyncio.run(go())
        log = list(records(slow, prompts).values())
    assert all(r.ok for r in level.results) and level.concurrency == 3 and level.connections_opened == 3
    for r in log:  # at each arrival, at most 3 requests (this one included) were streaming at the server
        assert sum(1 for o in log if o["arrival"] <= r["arrival"] <= o["token_times"][-1]) <= 3


def test_open_loop_through_the_runner_and_warm_up_width() -> None:
    assert open_loop_width(10.0, 0.5, 1000) == math.ceil(5 + 3 * math.sqrt(5)) + 1
    assert open_loop_width(10.0, 0.5, 4) == 4 and open_loop_width(0.1, 0.01, 9) == 2
    with VllmStandIn(MODEL, TokenSchedule(0.001, 0.001, 4)) as s:
        cfg = BenchConfig(s.url + CHAT, MODEL, max_tokens=4)
        report = bench(cfg, ["x", "y"], [Level(rate=50.0), Level(rate=100.0)], num_requests=20, seed=1)
    assert [lv.request_rate for lv in report.levels] == [50.0, 100.0]
    assert all(lv.mode == "open" and lv.ok == 20 and lv.send_lag_s.n == 20 for lv in report.levels)


def test_goodput_against_the_schedule(server: StandInProcess) -> None:
    """TTFT >= 50 ms and TPOT >= 20 ms always hold against this schedule, so these verdicts cannot flake."""
    cfg = BenchConfig(server.url + CHAT, MODEL, max_tokens=TOKENS)
    prompts = synthetic_prompts(8, 8, seed=9)
    goodput = {}
    for name, slo in {"loose": Slo(10.0, 10.0), "ttft": Slo(ttft=0.010), "itl": Slo(itl=0.002)}.items():
        (level,) = bench(cfg, prompts, [Level(concurrency=4)], num_requests=8, slo=slo).levels
        goodput[name] = (level.goodput, level.goodput_rps, level.slo_ttft_s, level.slo_itl_s)
    assert goodput["loose"][0] == 1.0 and goodput["loose"][1] is not None and goodput["loose"][1] > 0
    assert goodput["ttft"] == (0.0, 0.0, 0.010, None)
    assert goodput["itl"] == (0.0, 0.0, None, 0.002)


def _result(ok: bool, ttft: float | None, tokens: int, e2e: float) -> RequestResult:
    r = RequestResult(ok=ok, start=0.0, end=e2e, ttft=ttft, usage_tokens=tokens if ok else None,
                      error=None if ok else "HTTP 500: boom")
    r.chunk_times = [ttft + i * 0.01 for i in range(tokens)] if ttft is not None else []
    r.chunks = len(r.chunk_times)
    return r


def test_goodput_counts_failures_and_each_slo() -> None:
    results = [
        _result(True, 0.10, 11, 0.10 + 10 * 0.02),  # TTFT 100 ms, TPOT 20 ms: meets both
        _result(True, 0.30, 11, 0.30 + 10 * 0.02),  # TTFT too slow
        _result(True, 0.10, 11, 0.10 + 10 * 0.05),  # TPOT 50 ms: too slow
        _result(True, 0.10, 1, 0.10),  # one token: no TPOT, only TTFT counts
        _result(False, None, 0, 0.05),  # failed: never meets
    ]
    level = LevelResult(4, 2.0, results)
    both = summarize(level, Slo(ttft=0.2, itl=0.03))
    assert both.goodput == pytest.approx(2 / 5) and both.goodput_rps == pytest.approx(1.0)
    assert summarize(level, Slo(ttft=0.2)).goodput == pytest.approx(3 / 5)
    assert summarize(level, Slo(itl=0.03)).goodput == pytest.approx(3 / 5)
    assert summarize(level).goodput is None
    assert both.errors == 1 and both.first_errors == ["HTTP 500: boom"]


def test_counts_chunks_when_usage_is_absent(vllm: VllmStandIn) -> None:
    cfg = BenchConfig(vllm.url + CHAT, MODEL, max_tokens=6, extra_body={"stream_options": {"include_usage": False}})
    report = bench(cfg, ["hello"], [Level(concurrency=2)], num_requests=4, warmup=0)
    (level,) = report.levels
    assert level.token_source == "chunks" and level.output_tokens == 4 * 6


def test_errors_are_counted_with_reasons(vllm: VllmStandIn) -> None:
    vllm.fail_status = 503
    cfg = BenchConfig(vllm.url + CHAT, MODEL)
    report = bench(cfg, ["hello"], [Level(concurrency=2)], num_requests=6, warmup=0)
    (level,) = report.levels
    assert level.errors == 6 and level.error_rate == 1.0 and level.ok == 0
    assert level.first_errors and level.first_errors[0].startswith("HTTP 503")
    assert "stand-in failure injected (503)" in level.first_errors[0]
    assert math.isnan(level.ttft_s.p50)
    # an error response (Content-Length framed) leaves the connection reusable: 2 connections for 6 requests
    assert level.connect_s.n == 2


def test_server_dying_mid_stream_is_an_error() -> None:
    standin = VllmStandIn(MODEL, TokenSchedule(0.0, 0.05, 200)).start()
    try:
        cfg = BenchConfig(standin.url + CHAT, MODEL, max_tokens=200, timeout=10)

        async def go() -> Any:
            task = asyncio.create_task(run_benchmark(cfg, ["x"], [Level(concurrency=2)], num_requests=2, warmup=0))
            await asyncio.sleep(0.3)
            await asyncio.get_running_loop().run_in_executor(None, standin.stop)
            return await task

        report = asyncio.run(go())
        (level,) = report.levels
        assert level.errors == 2
        assert all(e.startswith(("ReadError", "RemoteProtocolError")) for e in level.first_errors), level.first_errors
    finally:
        standin.stop()


def test_duration_mode_is_bounded(vllm: VllmStandIn) -> None:
    cfg = BenchConfig(vllm.url + CHAT, MODEL, max_tokens=4)
    report = bench(cfg, ["hi"], [Level(concurrency=4)], duration=0.5, warmup=0)
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
        bodies = [r.body for r in s.requests if r.path == CHAT]
        assert {b["messages"][0]["content"] for b in bodies} == {"one two three", "four five"}
        assert all(b["stream"] is True and b["stream_options"] == {"include_usage": True} for b in bodies)
        assert all(r.headers["authorization"] == "Bearer sk-bench" for r in s.requests if r.path.startswith("/v1"))
        assert all(r.headers["host"] == s.url.removeprefix("http://") for r in s.requests)


def test_cli_open_loop_with_slos(vllm: VllmStandIn) -> None:
    code, out, _ = cli(vllm.url, "--model", MODEL, "--request-rate", "20,40", "-n", "6", "--max-tokens", "4",
                       "--slo-ttft-ms", "60000", "--slo-itl-ms", "60000", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert [(lv["mode"], lv["request_rate"]) for lv in data["levels"]] == [("open", 20.0), ("open", 40.0)]
    assert all(lv["goodput"] == 1.0 and lv["slo_ttft_s"] == 60.0 for lv in data["levels"])
    code, out, _ = cli(vllm.url, "--model", MODEL, "--request-rate", "30", "-n", "4", "--max-tokens", "4",
                       "--slo-ttft-ms", "60000")
    assert code == 0 and "goodput: 100.0% of requests met TTFT <= 60000 ms" in out
    assert "send lag (ms)" in out and "request rate 30/s (peak" in out


def test_cli_table(vllm: VllmStandIn) -> None:
    code, out, _ = cli(vllm.url + "/v1", "--model", MODEL, "-n", "3", "--max-tokens", "4")
    assert code == 0
    assert "TTFT (ms)" in out and "ITL (ms)" in out and "p99" in out and "concurrency 1" in out


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--concurrency", "0"], "--concurrency"),
        (["--concurrency", "a,b"], "--concurrency"),
        (["--request-rate", "0"], "--request-rate"),
        (["--request-rate", "fast"], "--request-rate"),
        (["--request-rate", "inf"], "--request-rate"),
        (["--concurrency", "2", "--request-rate", "1"], "--request-rate"),
        (["--max-concurrency", "3"], "--max-concurrency"),
        (["--request-rate", "1", "--max-concurrency", "0"], "--max-concurrency"),
        (["--slo-ttft-ms", "0"], "--slo-ttft-ms"),
        (["--slo-itl-ms", "-5"], "--slo-itl-ms"),
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
