"""What `pulumi up` runs: read the stack's config, build the InferenceStack, export the endpoints."""

import shutil

import pulumi

from components import InferenceStack, InferenceStackArgs
from llmstack.spec import config_values, parse_spec, resolve_local_gpus, spec_keys

config = pulumi.Config()
spec = parse_spec(config_values({key: config.get(key) for key in spec_keys()}),
                  source=f"stacks/Pulumi.{pulumi.get_stack()}.yaml")
spec = resolve_local_gpus(spec, has_gpu=shutil.which("nvidia-smi") is not None)
args: InferenceStackArgs = {"spec": spec, "master_key": config.require_secret("masterKey")}
if (hf_token := config.get_secret("hfToken")) is not None:
    args["hf_token"] = hf_token
if (ngc_api_key := config.get_secret("ngcApiKey")) is not None:
    args["ngc_api_key"] = ngc_api_key
if (ssh_private_key := config.get_secret("sshPrivateKey")) is not None:
    args["ssh_private_key"] = ssh_private_key
stack = InferenceStack("llm", args)

pulumi.export("gateway_url", stack.gateway_url)
pulumi.export("endpoints", stack.endpoints)
pulumi.export("master_key", config.require_secret("masterKey"))
