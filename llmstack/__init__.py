"""llm-inference-stack: VRAM planner, Pulumi components and CrossGuard policies for self-hosted LLM serving."""

from typing import Any


def __getattr__(name: str) -> Any:
    # The version is read from the installed metadata on first use: importing `llmstack` stays cheap for the CLI.
    if name == "__version__":
        import importlib.metadata

        return importlib.metadata.version("llm-inference-stack")
    raise AttributeError(f"module 'llmstack' has no attribute {name!r}")
