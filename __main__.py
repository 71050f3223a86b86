"""What `pulumi up` runs: read the stack's config, build the InferenceStack, export the endpoints.

The exports are `llmstack.outputs.StackExports`, key for key: `llmstack verify` reads exactly this document.
A wrong setting stops the run before anything is created, with the message alone (a `RunError` shows no traceback).
"""

import shutil

import pulumi

from components import InferenceStack, InferenceStackArgs
from components.nodes import check_private_key
from llmstack.errors import LlmstackError
from llmstack.outputs import EXPORT_KEYS
from llmstack.spec import config_values, parse_spec, resolve_local_gpus, spec_keys


def main() -> None:
    config = pulumi.Config()
    spec = parse_spec(config_values({key: config.get(key) for key in spec_keys()}),
                      source=f"stacks/Pulumi.{pulumi.get_stack()}.yaml")
    spec = resolve_local_gpus(spec, has_gpu=shutil.which("nvidia-smi") is not None)
    args: InferenceStackArgs = {"spec": spec, "master_key": config.require_secret("masterKey")}
    if (hf_token := config.get_secret("hfToken")) is not None:
        args["hf_token"] = hf_token
    if (ngc_api_key := config.get_secret("ngcApiKey")) is not None:
        args["ngc_api_key"] = ngc_api_key
    if (engine_api_key := config.get_secret("engineApiKey")) is not None:  # else derived from masterKey
        args["engine_api_key"] = engine_api_key
    if (ssh_private_key := config.get_secret("sshPrivateKey")) is not None:
        check_private_key(config.get("sshPrivateKey") or "")  # before anything is created; never shows the value
        args["ssh_private_key"] = ssh_private_key
    if (kubeconfig := config.get_secret("kubeconfig")) is not None:
        args["kubeconfig"] = kubeconfig
    stack = InferenceStack("llm", args)

    exports = {"gateway_url": stack.gateway_url, "endpoints": stack.endpoints,
               "master_key": config.require_secret("masterKey"), "access": stack.access}
    for key in EXPORT_KEYS:
        pulumi.export(key, exports[key])


try:
    main()
except LlmstackError as err:
    raise pulumi.RunError(str(err)) from None
