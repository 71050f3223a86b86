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
from llmstack.images import MOVING_TAGS, floating_tag, parse_image
from llmstack.labels import (
    CONFIGMAP,
    CONTAINER,
    EBS_VOLUME,
    EC2_NODE_CLASS,
    INSTANCE,
    LAUNCH_TEMPLATE,
    POD_KINDS,
    REMOTE_COMMAND,
    REMOTE_IMAGE,
    Key,
)
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
# A shell expansion (`${HF_TOKEN:-}`, `${HF_TOKEN:=x}`) reads the variable; it is not an assignment.
_ASSIGN_RE = re.compile(r"(?<!\$\{)\b(" + "|".join(SECRET_ENV) + r")\s*[=:]\s*['\"]?([^\s'\";]+)")
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
    types=(REMOTE_IMAGE, CONTAINER, *POD_KINDS),
    description=f"Outside dev, every RemoteImage and container image (Docker or a pod's) has a release tag (not "
    f"{', '.join(MOVING_TAGS)}) or a digest. The environment is the {Key.ENVIRONMENT.label} label or annotation, the "
    f"{Key.ENVIRONMENT.tag} tag, or the stack name.",
    config={
        "exemptEnvironments": {"type": "array", "items": {"type": "string"}, "default": ["dev"]},
        "movingTags": {"type": "array", "items": {"type": "string"}, "default": list(MOVING_TAGS)},
    },
)
def images_pinned(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == REMOTE_IMAGE:
        _pinned(args.name, str(args.props.get("name") or ""), p.environment(args.props), args, report)
        return
    for c in p.containers(args.resource_type, args.name, args.props):
        ref = p.container_image(c.props) or ""
        if not ref:
            args.not_applicable(f"container '{c.name}' has no {Key.IMAGE.label} label and its image is an id")
            return
        _pinned(c.name, ref, p.environment(c.props), args, report)


def _pinned(name: str, ref: str, env: str | None, args: ResourceValidationArgs, report: Report) -> None:
    config = args.get_config()
    if env in p.config_list(config, "exemptEnvironments", ["dev"]):
        return
    image = parse_image(ref)
    if image.digest:
        return
    moving = p.config_list(config, "movingTags", MOVING_TAGS)
    floating = floating_tag(image.tag) if image.tag and image.tag not in moving else None
    if image.tag is None or image.tag in moving or floating:
        tag = image.tag or "latest (no tag)"
        why = f" ({floating})" if floating else ""
        report(f"'{name}' uses {ref}: tag {tag} moves{why}, so what runs changes on the next pull"
               f"{' in ' + env if env else ''}. Fix: pin a release tag (and @sha256 digest), as the engine table "
               "does.")


@resource_policy(
    "imdsv2-required",
    types=(INSTANCE, LAUNCH_TEMPLATE, EC2_NODE_CLASS),
    description="EC2 instances, launch templates and Karpenter EC2NodeClasses require IMDSv2 "
    "(metadataOptions.httpTokens = required; an EC2NodeClass without metadataOptions gets Karpenter's default, "
    "required with hop limit 1).",
)
def imdsv2_required(args: ResourceValidationArgs, report: Report) -> None:
    props: Any = (args.props.get("spec") or {}) if args.resource_type == EC2_NODE_CLASS else args.props
    if args.resource_type == EC2_NODE_CLASS and "metadataOptions" not in props:
        return  # Karpenter's default (nodeclasses.md "spec.metadataOptions" @ v1.14)
    options: Any = props.get("metadataOptions") or {}
    if options.get("httpEndpoint") == "disabled" or options.get("httpTokens") == "required":
        return
    report(f"'{args.name}' allows IMDSv1 (metadataOptions.httpTokens is {options.get('httpTokens') or 'unset'}),"
           " so any SSRF in a container can read the node's credentials. Fix: metadata_options=http_tokens="
           "\"required\", http_put_response_hop_limit=2 (containers).")


@resource_policy(
    "ebs-encrypted",
    types=(INSTANCE, EBS_VOLUME, LAUNCH_TEMPLATE, EC2_NODE_CLASS),
    description="EC2 root and EBS block devices, EBS volumes, launch-template and EC2NodeClass volumes are encrypted.",
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
        mappings: Any = (props.get("spec") or {} if args.resource_type == EC2_NODE_CLASS else props)
        for i, m in enumerate(mappings.get("blockDeviceMappings") or []):
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
    types=(CONTAINER, *POD_KINDS, CONFIGMAP, INSTANCE, LAUNCH_TEMPLATE, REMOTE_COMMAND),
    description="NGC_API_KEY, HF_TOKEN, LITELLM_MASTER_KEY and credential-looking values (sk-..., hf_..., "
    "nvapi-...) never appear in container commands, labels, health checks, uploads or other env vars, ConfigMaps, EC2 "
    "user data or remote commands; credentials travel only as secret env vars (on Kubernetes, secretKeyRefs to a "
    "Secret) or owner-only key files.",
)
def secrets_not_plaintext(args: ResourceValidationArgs, report: Report) -> None:
    props = args.props
    if args.resource_type == CONTAINER:
        where = _container_findings(props)
        fix = ("pass credentials as Pulumi secrets into the container env (NGC_API_KEY, HF_TOKEN, "
               "LITELLM_MASTER_KEY) and reference them (os.environ/VAR, $VAR) everywhere else")
    elif args.resource_type in POD_KINDS:
        where = [f"{c.name} env {var}" for c in p.containers(args.resource_type, args.name, props)
                 for var in c.plain_secrets]
        where += [f"{c.name} {w}" for c in p.containers(args.resource_type, args.name, props)
                  for w in _container_findings(c.props)]
        fix = "read credentials from a Secret (env[].valueFrom.secretKeyRef), never as env[].value"
    elif args.resource_type == CONFIGMAP:
        data: Any = props.get("data") or {}
        where = [f"data.{k} ({s})" for k, v in data.items() for s in _plain_secrets(str(v))]
        fix = "a ConfigMap is plaintext: keep credentials in a Secret and reference them (os.environ/VAR)"
    elif args.resource_type in (INSTANCE, LAUNCH_TEMPLATE):
        where = [f"userData ({s})" for s in _plain_secrets(_user_data(props))]
        fix = "user data is plaintext in state: fetch secrets at boot (SSM Parameter Store / Secrets Manager)"
    else:
        where = [f"{k} ({s})" for k in ("create", "update", "delete") for s in _plain_secrets(str(props.get(k)
                                                                                                or ""))]
        fix = "pass secrets through the command's environment as Pulumi secrets"
    if where:
        report(f"'{args.name}' holds credentials in plain text: {', '.join(where)}. Fix: {fix}.")

