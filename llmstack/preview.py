"""Run the real Pulumi program under the SDK's mock engine: no CLI, no cloud, no Docker.

The mocks are honest: a resource's state is its inputs plus the few outputs a provider computes (ids, IPs, image
ids), and invokes answer with the shape the real provider returns. What the program registers is recorded exactly as
the engine would see it (type token, name, parent, camelCase inputs), so the policy pack can analyse it.
"""

from __future__ import annotations

import asyncio
import json
import runpy
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks

from llmstack.errors import ProgramError
from llmstack.labels import INSTANCE, LAUNCH_TEMPLATE, REMOTE_COMMAND, REMOTE_IMAGE, SSM_GET_PARAMETER
from llmstack.spec import PROJECT, stack_config

ROOT = Path(__file__).resolve().parent.parent
# Deterministic fake values for provider-computed outputs.
_FAKE_AMI = "ami-0123456789abcdef0"
SQS_QUEUE = "aws:sqs/queue:Queue"
EKS_CLUSTER_COMPONENT = "eks:index:Cluster"
# Resources whose `arn` output the program reads, with the ARN's service prefix.
_ARN_TYPES = {"aws:iam/role:Role": "iam::000000000000:role", SQS_QUEUE: "sqs:us-east-1:000000000000",
              "aws:efs/fileSystem:FileSystem": "elasticfilesystem:us-east-1:000000000000:file-system"}
STANDIN_KUBECONFIG = json.dumps({"apiVersion": "v1", "kind": "Config", "clusters": [], "contexts": [], "users": []})
# What a node's readiness command prints last (components/userdata.py: `cat /etc/ssh/ssh_host_*_key.pub`): one public
# host key per line, as sshd writes them.
_FAKE_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyOfTheMockEngineOnlyAAAAAAAAAAAAAA root@node"


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    provider: str
    struct: Any = field(repr=False, default=None)  # the engine's protobuf Struct, as analyzers receive it
    # Resource options as the engine receives them (RegisterResourceRequest): the day-two behaviour tests read these.
    deleted_with: str = ""  # a URN, or ""
    replace_with: list[str] = field(default_factory=list)  # URNs
    ignore_changes: list[str] = field(default_factory=list)  # input property names
    custom_timeouts: dict[str, str] = field(default_factory=dict)  # create/update/delete durations ("25m")


class _Outputs(Mocks):
    """Provider outputs the program reads; everything else is echoed from the inputs."""

    def __init__(self) -> None:
        self._ip = 10

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == REMOTE_IMAGE:
            state["imageId"] = f"sha256:{abs(hash(args.inputs.get('name'))):064x}"[:71]
            state["repoDigest"] = f"{args.inputs.get('name')}"
        elif args.typ == INSTANCE:
            self._ip += 1
            state |= {"privateIp": f"10.40.0.{self._ip}", "publicIp": f"198.51.100.{self._ip}",
                      "arn": f"arn:aws:ec2:us-east-1:000000000000:instance/i-{args.name}"}
        elif args.typ == REMOTE_COMMAND:
            state |= {"stdout": f"{_FAKE_HOST_KEY}\n", "stderr": ""}
        elif args.typ in _ARN_TYPES:
            state.setdefault("arn", f"arn:aws:{_ARN_TYPES[args.typ]}/{args.name}")
            if args.typ == SQS_QUEUE:
                state["url"] = f"https://sqs.us-east-1.amazonaws.com/000000000000/{args.inputs.get('name', args.name)}"
        elif args.typ == LAUNCH_TEMPLATE:
            state["latestVersion"] = 1
        elif args.typ == EKS_CLUSTER_COMPONENT:
            # pulumi-eks's Cluster is a remote component: mocks see it alone, so its outputs are given here.
            state["kubeconfigJson"] = json.dumps({"apiVersion": "v1", "kind": "Config", "clusters": [], "users": []})
        return f"{args.name}-id", state

    def call(self, args: MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        if args.token == SSM_GET_PARAMETER:
            return {"name": args.args.get("name"), "type": "String", "value": _FAKE_AMI,
                    "insecureValue": _FAKE_AMI, "arn": "arn:aws:ssm:::parameter", "version": 1}, []
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": ["us-east-1a", "us-east-1b", "us-east-1c"],
                    "zoneIds": ["use1-az1", "use1-az2", "use1-az4"], "groupNames": ["us-east-1"], "id": "us-east-1",
                    "state": args.args.get("state")}, []
        if args.token == "aws:ec2/getVpc:getVpc":
            return {"id": args.args.get("id"), "cidrBlock": "10.0.0.0/16", "arn": "arn:aws:ec2:::vpc"}, []
        raise KeyError(f"the preview mocks don't know invoke {args.token}; add its real result shape here")


class _Recorder(MockMonitor):
    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        self.registrations.append(Registration(
            type=request.type, name=request.name, urn=response.urn, parent=request.parent, custom=request.custom,
            inputs=json_format.MessageToDict(request.object), provider=request.provider, struct=request.object,
            deleted_with=request.deletedWith, replace_with=list(request.replace_with),
            ignore_changes=list(request.ignoreChanges),
            custom_timeouts={k: v for k, v in json_format.MessageToDict(request.customTimeouts).items() if v},
        ))
        return response


@dataclass
class PreviewResult:
    stack: str
    registrations: list[Registration]
    exports: dict[str, Any]


def _ensure_event_loop() -> None:
    """The SDK drives its RPCs on the thread's current event loop; an async test runner may have closed or unset it."""
    try:
        if not asyncio.get_event_loop().is_closed():
            return
    except RuntimeError:  # no current loop in this thread
        pass
    asyncio.set_event_loop(asyncio.new_event_loop())


def record(program: Callable[[], object], *, stack: str = "test", config: dict[str, Any] | None = None,
           secret_config: dict[str, str] | None = None) -> PreviewResult:
    """Run `program` (any code that declares resources) under the mock engine and record what it registers.

    `config` holds un-namespaced project config values (objects are JSON-encoded as the CLI does);
    `secret_config` values are marked secret, as `pulumi config set --secret` would.
    """
    _ensure_event_loop()
    mocks = _Outputs()
    monitor = _Recorder(mocks)
    # set_mocks only creates a root stack when none exists: drop the previous run's, or this run's resources would
    # be parented to it (and its futures belong to a closed event loop).
    pulumi.runtime.settings.set_root_resource(None)  # type: ignore[arg-type]
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    values = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in (config or {}).items()}
    secret = {f"{PROJECT}:{k}": v for k, v in (secret_config or {}).items()}
    pulumi.runtime.set_all_config(values | secret, secret_keys=list(secret))
    exports: dict[str, Any] = {}

    def run() -> pulumi.Output[None]:
        program()
        root = pulumi.runtime.get_root_resource()
        assert root is not None
        return pulumi.Output.from_input(root.outputs).apply(exports.update)  # type: ignore[attr-defined]

    pulumi.runtime.test(run)()  # type: ignore[no-untyped-call]
    return PreviewResult(stack, monitor.registrations, exports)


def run_program(stack_file: Path, program_dir: Path = ROOT) -> PreviewResult:
    """Run `__main__.py` for one stack file under mocks and return what it registered and exported."""
    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    # A throwaway key stands in for the stack's encrypted secret; it never leaves this process.
    master_key = f"sk-preview-{secrets.token_hex(16)}"
    # An existing cluster's kubeconfig is a stack secret too; the stand-in names no cluster and is never dialled.
    secret_config = {"masterKey": master_key, "kubeconfig": STANDIN_KUBECONFIG}
    sys.path.insert(0, str(program_dir))
    try:
        return record(lambda: runpy.run_path(str(program_dir / "__main__.py"), run_name="__main__"),
                      stack=stack, config=stack_config(stack_file), secret_config=secret_config)
    except pulumi.RunError as err:  # what `pulumi preview` prints for it: the message alone
        raise ProgramError(f"{stack_file.name}: {err}") from None
    finally:
        sys.path.remove(str(program_dir))
