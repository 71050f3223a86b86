"""Engine stand-ins: real HTTP servers on loopback speaking each engine's protocol (see README.md)."""

from tests.standins._server import RequestRecord, StandIn
from tests.standins.docker_api import DockerStandIn
from tests.standins.litellm_proxy import LiteLLMProxy, ProxyBootError, free_port
from tests.standins.ollama import OllamaStandIn
from tests.standins.openai_server import TokenSchedule, VllmStandIn
from tests.standins.process import StandInProcess
from tests.standins.tei import TeiStandIn

__all__ = [
    "DockerStandIn",
    "LiteLLMProxy",
    "OllamaStandIn",
    "ProxyBootError",
    "RequestRecord",
    "StandIn",
    "StandInProcess",
    "TeiStandIn",
    "TokenSchedule",
    "VllmStandIn",
    "free_port",
]
