"""`llmstack bench`: TTFT, ITL, TPOT and throughput of an OpenAI-compatible streaming endpoint."""

from llmstack.bench.core import (
    BenchConfig,
    ClientPool,
    LevelResult,
    RequestResult,
    make_client,
    run_level,
    stream_request,
)
from llmstack.bench.prompts import load_prompts, synthetic_prompts
from llmstack.bench.runner import BenchReport, bench, run_benchmark
from llmstack.bench.stats import Dist, LevelSummary, percentile, summarize

__all__ = [
    "BenchConfig",
    "BenchReport",
    "ClientPool",
    "Dist",
    "LevelResult",
    "LevelSummary",
    "RequestResult",
    "bench",
    "load_prompts",
    "make_client",
    "percentile",
    "run_benchmark",
    "run_level",
    "stream_request",
    "summarize",
    "synthetic_prompts",
]
