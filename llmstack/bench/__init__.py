"""`llmstack bench`: TTFT, ITL, TPOT, throughput and goodput of an OpenAI-compatible streaming endpoint."""

from llmstack.bench.core import BenchConfig, ConnectionPool, RequestResult, Slot, SseReceiver, stream_request
from llmstack.bench.http import Connection, Endpoint, HttpError
from llmstack.bench.loops import LevelResult, poisson_arrivals, run_level, run_open_level
from llmstack.bench.prompts import load_prompts, synthetic_prompts
from llmstack.bench.runner import BenchReport, Level, bench, open_loop_width, run_benchmark, warm_up
from llmstack.bench.stats import Dist, LevelSummary, Slo, percentile, summarize

__all__ = [
    "BenchConfig",
    "BenchReport",
    "Connection",
    "ConnectionPool",
    "Dist",
    "Endpoint",
    "HttpError",
    "Level",
    "LevelResult",
    "LevelSummary",
    "RequestResult",
    "Slo",
    "Slot",
    "SseReceiver",
    "bench",
    "load_prompts",
    "open_loop_width",
    "percentile",
    "poisson_arrivals",
    "run_benchmark",
    "run_level",
    "run_open_level",
    "stream_request",
    "summarize",
    "synthetic_prompts",
    "warm_up",
]
