"""Security policies: pinned images, IMDSv2, encrypted EBS, and no secret in plaintext.

How secrets reach a policy: the engine sends secret values wrapped (KeepSecrets), and pulumi_policy 1.21's Analyze
unwraps them before the policy runs (`deserialize_properties(..., proxy_secrets=False)`), so inside a policy a secret
env var and a plain one look identical (tests/policies/test_secrets.py proves it). These policies therefore check
what is visible - where a credential appears and what it looks like - and `llmstack preview`
(`llmstack.policy_check`) adds the one check that needs the engine's raw Struct: that credential env vars and key
files are secret-wrapped.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from llmstack.engines import engines
from llmstack.images import MOVING_TAGS, parse_image
from llmstack.labels import CONTAINER, EBS_VOLUME, INSTANCE, LAUNCH_TEMPLATE, REMOTE_COMMAND, REMOTE_IMAGE, Key
from policies import props as p
from policies.registry import Report, resource_policy

# Credential env vars: the only place these may appear is a container's env, passed as a Pulumi secret. The engine
# table's `secrets`, plus the Hub's legacy name and LiteLLM's salt key (docs/engines.md §7.2).
SECRET_ENV = tuple(sorted({var for e in engines().values() for var in e.secrets}
                          | {"HUGGING_FACE_HUB_TOKEN", "LITELLM_SALT_KEY"}))
# Values that look like credentials: OpenAI-style/LiteLLM keys, Hugging Face tokens, NGC keys, AWS access keys.
SECRET_VALUE_RE = re.compile(
    r"(?<![\w/])(sk-[A-Za-z0-9_\-]{8,}|hf_[A-Za-z0-9]{16,}|nvapi-[A-Za-z0-9_\-]{16,}|AKIA[0-9A-Z]{16})"
)
_ASSIGN_RE = re.compile(r"\b(" + "|".join(SECRET_ENV) + r")\s*[=:]\s*['\"]?([^\s'\";]+)")
# A key file (the whole upload is one credential, readable by the owner only) is how Prometheus gets the gateway key.
KEY_FILE_MODES = ("0400", "0440", "0600", "400", "440", "600")


def _plain_secrets(text: str) -> list[str]:
    """Credential-looking values and NAME=value assignments of credential variables in a text, redacted."""
    found = [m.group(0) for m in SECRET_VALUE_RE.finditer(text)]
    found += [m.group(1) + "=..." for m in _ASSIGN_RE.finditer(text)
              if not m.group(2).startswith(("$", "os.environ/"))]
    return [f[:6] + "..." if not f.endswith("=...") else f for f in dict.fromkeys(found)]


@resource_policy(
    "images-pinned",
    types=(REMOTE_IMAGE, CONTAINER),
    description=f"Outside dev, every RemoteImage and container image has a release tag (not {', '.join(MOVING_TAGS)}) "
    f"or a digest. The environment is the {Key.ENVIRONMENT.label} label, the {Key.ENVIRONMENT.tag} tag, or the "
    "stack name.",
    config={
        "exemptEnvironments": {"type": "array", "items": {"type": "string"}, "default": ["dev"]},
        "movingTags": {"type": "array", "items": {"type": "string"}, "default": list(MOVING_TAGS)},
    },
)
def images_pinned(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == REMOTE_IMAGE:
        ref = str(args.props.get("name") or "")
    else:
        ref = p.container_image(args.props) or ""
        if not ref:
            args.not_applicable(f"container '{args.name}' has no {Key.IMAGE.label} label and its image is an id")
            return
    config = args.get_config()
    env = p.environment(args.props)
    if env in p.config_list(config, "exemptEnvironments", ["dev"]):
        return
    image = parse_image(ref)
    if image.digest:
        return
    moving = p.config_list(config, "movingTags", MOVING_TAGS)
    if image.tag is None or image.tag in moving:
        tag = image.tag or "latest (no tag)"
        report(f"'{args.name}' uses {ref}: tag {tag} moves, so what runs changes on the next pull"
               f"{' in ' + env if env else ''}. Fix: pin a release tag (and @sha256 digest), as the engine table "
               "does.")


@resource_policy(
    "imdsv2-required",
    types=(INSTANCE, LAUNCH_TEMPLATE),
    description="EC2 instances and launch templates require IMDSv2 (metadataOptions.httpTokens = required).",
)
def imdsv2_required(args: ResourceValidationArgs, report: Report) -> None:
    options: Any = args.props.get("metadataOptions") or {}
    if options.get("httpEndpoint") == "disabled" or options.get("httpTokens") == "required":
        return
    report(f"'{args.name}' allows IMDSv1 (metadataOptions.httpTokens is {options.get('httpTokens') or 'unset'}),"
           " so any SSRF in a container can read the node's credentials. Fix: metadata_options=http_tokens="
           "\"required\", http_put_response_hop_limit=2 (containers).")


@resource_policy(
    "ebs-encrypted",
    types=(INSTANCE, EBS_VOLUME, LAUNCH_TEMPLATE),
    description="EC2 root and EBS block devices, EBS volumes and launch-template volumes are encrypted.",
)
def ebs_encrypted(args: ResourceValidationArgs, report: Report) -> None:
    props = args.props
    bad: list[str] = []
    if args.resource_type == INSTANCE:
        root: Any = props.get("rootBlockDevice") or {}
        if root.get("encrypted") is not True:
            bad.append("rootBlockDevice")
        bad += [f"ebsBlockDevices[{i}] ({d.get('deviceName', '?')})"
                for i, d in enumerate(props.get("ebsBlockDevices") or []) if d.get("encrypted") is not True]
    elif args.resource_type == EBS_VOLUME:
        if props.get("encrypted") is not True:
            bad.append("the volume")
    else:
        for i, m in enumerate(props.get("blockDeviceMappings") or []):
            ebs: Any = m.get("ebs") or {}
            if ebs and str(ebs.get("encrypted")).lower() != "true":
                bad.append(f"blockDeviceMappings[{i}]")
    if bad:
        report(f"'{args.name}': {', '.join(bad)} not encrypted; model weights, caches and logs land there. Fix: "
               "set encrypted=True (root_block_device / ebs_block_devices / ebs.Volume).")


def _container_findings(props: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for key, value in p.envs(props).items():
        if key in SECRET_ENV:
            continue  # the intended channel; secret-wrapping is checked by llmstack preview from the raw Struct
        found += [f"env {key} ({s})" for s in _plain_secrets(value)]
    found += [f"command ({s})" for s in _plain_secrets(" ".join(p.argv(props)))]
    for name, value in p.labels(props).items():
        found += [f"label {name} ({s})" for s in _plain_secrets(f"{name}={value}")]
    hc: Any = props.get("healthcheck") or {}
    found += [f"healthcheck ({s})" for s in _plain_secrets(" ".join(str(t) for t in hc.get("tests") or []))]
    for upload in props.get("uploads") or []:
        text = upload.get("content")
        if not isinstance(text, str) and upload.get("contentBase64"):
            try:
                text = base64.b64decode(str(upload["contentBase64"])).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                text = str(upload["contentBase64"])
        if not isinstance(text, str):
            continue
        secrets = _plain_secrets(text)
        key_file = (len(text.split()) == 1 and str(upload.get("permissions", "")) in KEY_FILE_MODES)
        if secrets and not key_file:
            found += [f"upload {upload.get('file')} ({s})" for s in secrets]
    return found


def _user_data(props: Mapping[str, Any]) -> str:
    text = str(props.get("userData") or "")
    if props.get("userDataBase64"):
        try:
            text += base64.b64decode(str(props["userDataBase64"])).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            text += str(props["userDataBase64"])
    return text


@resource_policy(
    "secrets-not-plaintext",
    types=(CONTAINER, INSTANCE, LAUNCH_TEMPLATE, REMOTE_COMMAND),
    description="NGC_API_KEY, HF_TOKEN, LITELLM_MASTER_KEY and credential-looking values (sk-..., hf_..., "
    "nvapi-...) never appear in container commands, labels, health checks, uploads or other env vars, EC2 user "
    "data or remote commands; credentials travel only as secret env vars (or owner-only key files).",
)
def secrets_not_plaintext(args: ResourceValidationArgs, report: Report) -> None:
    props = args.props
    if args.resource_type == CONTAINER:
        where = _container_findings(props)
        fix = ("pass credentials as Pulumi secrets into the container env (NGC_API_KEY, HF_TOKEN, "
               "LITELLM_MASTER_KEY) and reference them (os.environ/VAR, $VAR) everywhere else")
    elif args.resource_type in (INSTANCE, LAUNCH_TEMPLATE):
        where = [f"userData ({s})" for s in _plain_secrets(_user_data(props))]
        fix = "user data is plaintext in state: fetch secrets at boot (SSM Parameter Store / Secrets Manager)"
    else:
        where = [f"{k} ({s})" for k in ("create", "update", "delete") for s in _plain_secrets(str(props.get(k)
                                                                                                or ""))]
        fix = "pass secrets through the command's environment as Pulumi secrets"
    if where:
        report(f"'{args.name}' holds credentials in plain text: {', '.join(where)}. Fix: {fix}.")

