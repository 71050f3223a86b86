"""The `llmstack` Pulumi component package: which components it hosts, under which name and version.

`components/__main__.py` serves them with the SDK's `component_provider_host` when the Pulumi CLI runs this folder
as a plugin (`pulumi package add <repo>/components@vX.Y.Z`, docs/reuse.md). The schema the engine then asks for
(`GetSchema`) is inferred from the components' TypedDict args, output annotations and docstrings; `schema()` gets the
same JSON in process, through the same provider object and gRPC servicer method, for `components/schema.json` and
tests/package.
"""

import asyncio
import json
from typing import Any

import pulumi
from pulumi.provider.experimental import component_provider_host
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.server import ProviderServicer
from pulumi.runtime.proto import provider_pb2

import llmstack
from components.backend import EmbeddingService, InferenceBackend
from components.litellm_gateway import LiteLLMGateway
from components.network import Network
from components.nodes import CpuNode, GpuNode
from components.observability import Observability
from components.stack import InferenceStack
from llmstack.labels import PACKAGE

PACKAGE_NAME = PACKAGE
"""Package name: resource tokens are `llmstack:index:<Class>`, generated SDKs `pulumi_llmstack`/`@pulumi/llmstack`."""

COMPONENTS: list[type[pulumi.ComponentResource]] = [
    InferenceBackend,
    EmbeddingService,
    LiteLLMGateway,
    GpuNode,
    CpuNode,
    Network,
    Observability,
    InferenceStack,
]


def package_version() -> str:
    """The package version: the project version from pyproject.toml, as installed (`llmstack.__version__`)."""
    return str(llmstack.__version__)


def provider() -> ComponentProvider:
    """The provider object `component_provider_host` builds and serves (schema inference runs here)."""
    return ComponentProvider(COMPONENTS, PACKAGE_NAME, None, package_version())


def schema() -> dict[str, Any]:
    """The package schema exactly as the plugin answers the engine's `GetSchema` call, as a dict."""
    servicer = ProviderServicer(provider(), [], "")
    # A private loop, not asyncio.run: that would unset the thread's current loop, which the SDK's mocks still use.
    loop = asyncio.new_event_loop()
    try:
        response = loop.run_until_complete(servicer.GetSchema(provider_pb2.GetSchemaRequest(version=0), None))
    finally:
        loop.close()
    loaded: dict[str, Any] = json.loads(response.schema)
    return loaded


def serve() -> None:
    """Run the plugin: start the provider's gRPC server for the engine (blocks until the engine stops it)."""
    component_provider_host(COMPONENTS, PACKAGE_NAME, version=package_version())
