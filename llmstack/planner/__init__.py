"""The VRAM planner: model architecture -> weight/KV bytes -> per-engine memory -> cheapest fitting instance.

Facts and formulas: docs/sizing.md (sections cited in each module).
"""

from __future__ import annotations

from llmstack.planner.arch import MODEL_TYPES, ModelArch, Tensor, tensors
from llmstack.planner.decide import choose_engine, choose_quant, cold_start_seconds, startup_seconds
from llmstack.planner.engines_memory import MemoryEstimate, estimate_memory
from llmstack.planner.fits import FitRow, fits_for_vram
from llmstack.planner.hub import HubClient
from llmstack.planner.kv import kv_bytes_for_sequence, kv_bytes_per_token
from llmstack.planner.load import load_config_file, load_model
from llmstack.planner.quant import GGUF_QUANTS, QUANTS, format_family, normalize_quant
from llmstack.planner.result import Plan, PlanRequest
from llmstack.planner.select import plan
from llmstack.planner.units import parse_size
from llmstack.planner.weights import weight_bytes

__all__ = [
    "GGUF_QUANTS",
    "MODEL_TYPES",
    "QUANTS",
    "FitRow",
    "HubClient",
    "MemoryEstimate",
    "ModelArch",
    "Plan",
    "PlanRequest",
    "Tensor",
    "choose_engine",
    "choose_quant",
    "cold_start_seconds",
    "estimate_memory",
    "fits_for_vram",
    "format_family",
    "kv_bytes_for_sequence",
    "kv_bytes_per_token",
    "load_config_file",
    "load_model",
    "normalize_quant",
    "parse_size",
    "plan",
    "startup_seconds",
    "tensors",
    "weight_bytes",
]
