"""llm-inference-stack: VRAM planner, Pulumi components and CrossGuard policies for self-hosted LLM serving."""

import importlib.metadata

__version__ = importlib.metadata.version("llm-inference-stack")
