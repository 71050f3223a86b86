"""Run one stand-in in its own process: `python -m tests.standins.serve vllm --ttft 0.05 --itl 0.02`.

Prints `READY <url>` on stdout once listening, then serves until stdin closes or SIGTERM. The request log
(with server-side perf_counter timestamps) is at `GET <url>/_standin/requests`. Used by `StandInProcess`
when the server must not share a GIL with the client (the client capacity benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading

from tests.standins._server import StandIn
from tests.standins.ollama import OllamaStandIn
from tests.standins.openai_server import TokenSchedule, VllmStandIn
from tests.standins.tei import TeiStandIn


def build(kind: str, model: str | None, schedule: TokenSchedule, port: int) -> StandIn:
    if kind == "vllm":
        return VllmStandIn(model or "Qwen/Qwen3-8B", schedule, port=port)
    if kind == "ollama":
        return OllamaStandIn((model or "qwen3:8b",), schedule, port=port)
    if kind == "tei":
        return TeiStandIn(model or "BAAI/bge-small-en-v1.5", port=port)
    raise SystemExit(f"unknown stand-in kind {kind!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.standins.serve")
    parser.add_argument("kind", choices=["vllm", "ollama", "tei"])
    parser.add_argument("--model")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft", type=float, default=0.0)
    parser.add_argument("--itl", type=float, default=0.0)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--uvloop", action="store_true", help="run the server loop on uvloop if installed")
    args = parser.parse_args(argv)
    if args.uvloop:
        try:
            import uvloop
        except ImportError:
            print("uvloop not installed; using asyncio", file=sys.stderr)
        else:
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    standin = build(args.kind, args.model, TokenSchedule(args.ttft, args.itl, args.tokens), args.port)
    standin.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    print(f"READY {standin.url}", flush=True)
    try:
        done.wait()
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
