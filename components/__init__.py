"""Reusable Pulumi components for LLM serving. Each is a `ComponentResource` with the type token
`llmstack:index:<Name>`; they can be used one by one or composed by `InferenceStack`."""

from components.backend import EmbeddingService, EmbeddingServiceArgs, InferenceBackend, InferenceBackendArgs
from components.litellm_gateway import GatewayRouteArgs, LiteLLMGateway, LiteLLMGatewayArgs
from components.network import Network, NetworkArgs
from components.nodes import CpuNode, GpuNode, GpuNodeArgs, NodeArgs
from components.observability import Observability, ObservabilityArgs
from components.stack import InferenceStack, InferenceStackArgs

__all__ = [
    "CpuNode",
    "EmbeddingService",
    "EmbeddingServiceArgs",
    "GatewayRouteArgs",
    "GpuNode",
    "GpuNodeArgs",
    "InferenceBackend",
    "InferenceBackendArgs",
    "InferenceStack",
    "InferenceStackArgs",
    "LiteLLMGateway",
    "LiteLLMGatewayArgs",
    "Network",
    "NetworkArgs",
    "NodeArgs",
    "Observability",
    "ObservabilityArgs",
]
