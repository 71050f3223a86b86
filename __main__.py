"""What `pulumi up` runs: read the stack's config, build the InferenceStack, export the endpoints."""

import pulumi

from components import InferenceStack
from llmstack.spec import SECRET_KEYS, config_values, parse_spec, spec_keys

config = pulumi.Config()
spec = parse_spec(config_values({key: config.get(key) for key in spec_keys()}),
                  source=f"stacks/Pulumi.{pulumi.get_stack()}.yaml")
secrets = {name: value for name, value in ((key, config.get_secret(key)) for key in SECRET_KEYS) if value}
stack = InferenceStack("llm", {
    "spec": spec,
    "master_key": config.require_secret("masterKey"),
    **({"hf_token": secrets["hfToken"]} if "hfToken" in secrets else {}),
    **({"ngc_api_key": secrets["ngcApiKey"]} if "ngcApiKey" in secrets else {}),
    **({"ssh_private_key": secrets["sshPrivateKey"]} if "sshPrivateKey" in secrets else {}),
})

pulumi.export("gateway_url", stack.gateway_url)
pulumi.export("endpoints", stack.endpoints)
pulumi.export("master_key", config.require_secret("masterKey"))
