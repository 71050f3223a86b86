"""`llmstack verify`: prove a deployed stack answers, backend by backend and through the gateway.

- `checks`: the checks themselves (`verify`, `verify_async`, `Verifier`);
- `report`: what a run reports (`CheckResult`, `VerifyReport`, `CheckFailed`);
- `docker_api`: stopping and starting a container for the fallback check;
- `endpoints`: stack outputs from explicit endpoints instead of a stack;
- `forward`: local forwards (start, wait until listening, stop, rewrite URLs), shared by
- `tunnel` (`--via-ssh`, AWS: through the gateway's node) and `portforward` (`--via-kubectl`, Kubernetes);
- `cluster`: cluster Service URLs, whether they resolve here, and the `kubectl port-forward` commands.
"""

from llmstack.verify.checks import PROMPT, Verifier, verify, verify_async
from llmstack.verify.docker_api import DEFAULT_DOCKER_HOST, docker_client, docker_container, resolve_docker_host
from llmstack.verify.endpoints import outputs_from_endpoints, parse_endpoint_spec
from llmstack.verify.report import CheckFailed, CheckResult, VerifyReport

__all__ = [
    "DEFAULT_DOCKER_HOST",
    "PROMPT",
    "CheckFailed",
    "CheckResult",
    "Verifier",
    "VerifyReport",
    "docker_client",
    "docker_container",
    "outputs_from_endpoints",
    "parse_endpoint_spec",
    "resolve_docker_host",
    "verify",
    "verify_async",
]
