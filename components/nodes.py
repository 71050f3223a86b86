"""EC2 nodes: `GpuNode` for engines, `CpuNode` for the gateway, embeddings and monitoring.

pulumi_aws v7 facts: docs/pulumi.md §6 (DLAMI id from SSM via `insecure_value`, IMDSv2 with hop limit 2 for
containers, per-rule security-group resources, user data is plaintext in state). Day-two behaviour (pinned AMIs, one
SSH key and host-key policy for the readiness check and the Docker provider, the readiness timeout, replacement):
docs/aws.md.
"""

import json
import os
import re
import tempfile
from pathlib import Path
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_command as command

from components.container import NodeAccess, bind_node
from components.userdata import user_data, wait_ready_command
from llmstack.errors import InputError
from llmstack.labels import Key, component_type
from llmstack.monitoring import dcgm_exporter
from llmstack.planner import PlanRequest, plan

# SSM public parameters: AWS Deep Learning Base OSS Nvidia Driver GPU AMI, and Canonical's Ubuntu 24.04 for CPU nodes
# (docs.aws.amazon.com/dlami/latest/devguide/find-dlami-id.html; ubuntu.com/server/docs/cloud-images/amazon-ec2).
# Read only for a node whose AMI is not pinned, and then kept (`ignore_changes`): docs/aws.md, "AMI".
GPU_AMI_PARAMETER = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"
CPU_AMI_PARAMETER = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
# Lets AWS Systems Manager reach the node without opening SSH to the world.
SSM_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
SSH_PORT = 22

# How long the readiness check may take, from the instance's creation to a working runtime. SSH answers about 30 s
# after RunInstances on a current Linux AMI (daemonology.net/blog/2021-08-12-EC2-boot-time-benchmarking.html: 1.5 s
# API + 4.9 s pending + 17.2 s to a closed port 22 + 5.6 s to an open one) and "one to two minutes" is a reasonable
# expectation across distributions (ADMIN magazine 65/2021, "Comparing startup times of Linux distros in the cloud");
# encrypted EBS and a large DLAMI snapshot add to that (martysweet.co.uk/ec2-launch-times, 2023): 5 minutes to SSH.
# The setup itself may wait 10 minutes for the first-boot dpkg lock (components/userdata.py) plus its installs and
# the probe image pull, and it runs at most twice: 10 minutes each.
BOOT_BUDGET_S, SETUP_BUDGET_S = 5 * 60, 10 * 60
READY_TIMEOUT_S = BOOT_BUDGET_S + 2 * SETUP_BUDGET_S
# Each SSH dial may take this long (pulumi-command's default is 15 s); dials are retried without a count limit
# (`dial_error_limit=-1`) until READY_TIMEOUT_S, which pulumi-command enforces through the create timeout
# (pulumi-go-provider `middleware/cancel`). The default limit of 10 refused dials gave up after ~11 s, while sshd
# was still starting (pulumi/pulumi-command#1238).
PER_DIAL_TIMEOUT_S = 30
UNLIMITED_DIALS = -1
# The Docker provider's own ssh: fail instead of prompting, give up on a dead node after 30 s.
DOCKER_SSH_CONNECT_TIMEOUT_S = 30
# Where this machine keeps the SSH files the Docker provider's ssh reads: the key (from the `sshPrivateKey` secret)
# and each node's pinned host keys. Fixed per user, project and stack, so the provider's `ssh_opts` don't change from
# one run to the next; `LLMSTACK_SSH_DIR` moves it.
SSH_DIR_ENV = "LLMSTACK_SSH_DIR"
_PRIVATE_KEY = re.compile(r"-----BEGIN ([A-Z0-9]+ )?PRIVATE KEY-----")
_HOST_KEY = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}")


class NodeArgs(TypedDict):
    vpc_id: pulumi.Input[str]
    """VPC the node's security group lives in."""
    subnet_id: pulumi.Input[str]
    """Subnet to launch into."""
    service_ports: list[int]
    """Ports the node serves (engine or gateway ports)."""
    allowed_cidrs: NotRequired[list[str]]
    """CpuNode: private networks that may reach `service_ports` (the gateway). A GpuNode refuses it: engine ports
    accept only the gateway's and Prometheus's security groups (see `engine_access_cidrs`)."""
    engine_access_cidrs: NotRequired[list[str]]
    """GpuNode: explicit override, private networks that may reach the engine ports directly (unauthenticated); the
    `engine-ports-security-groups-only` policy refuses them unless its `directAccessCidrs` lists them."""
    peer_security_group_id: NotRequired[pulumi.Input[str]]
    """Security group (the gateway's) that may reach `service_ports`."""
    monitoring_security_group_id: NotRequired[pulumi.Input[str]]
    """Security group of the Prometheus node: may reach `service_ports` (engine /metrics) and the DCGM exporter."""
    ami: NotRequired[str]
    """Pinned AMI id; changing it replaces the node. Without it the role's SSM parameter is read once, at creation."""
    instance_type: NotRequired[str]
    """Pinned instance type; for a GpuNode without it, the planner picks from `model`."""
    root_volume_gb: NotRequired[int]
    """Encrypted gp3 root volume size, sized for images plus the model cache."""
    ssh_user: NotRequired[str]
    """Login user of the AMI (ubuntu)."""
    ssh_key_name: NotRequired[str]
    """EC2 key pair name for SSH."""
    ssh_cidrs: NotRequired[list[str]]
    """Networks allowed to SSH in (the Docker provider runs over SSH)."""
    ssh_via: NotRequired[str]
    """`private-ip` (VPN or bastion) or `public-ip`."""
    public_ip: NotRequired[bool]
    """Give the node a public IP (egress through an internet gateway); inbound stays closed by the security group."""
    ssh_private_key: NotRequired[pulumi.Input[str]]
    """Private key (a secret) for every SSH connection to the node: the readiness check and the Docker provider.
    Without it both use the SSH agent (SSH_AUTH_SOCK)."""
    environment: NotRequired[str]
    """Environment name, for tags."""
    tags: NotRequired[dict[str, str]]
    """Extra tags."""


class GpuNodeArgs(TypedDict):
    # NodeArgs' fields, declared again rather than inherited: the component schema analyzer takes attribute
    # docstrings only from the class it analyses (tests/package checks GpuNode's copy matches CpuNode's).
    vpc_id: pulumi.Input[str]
    """VPC the node's security group lives in."""
    subnet_id: pulumi.Input[str]
    """Subnet to launch into."""
    service_ports: list[int]
    """Ports the node serves (engine or gateway ports)."""
    allowed_cidrs: NotRequired[list[str]]
    """CpuNode: private networks that may reach `service_ports` (the gateway). A GpuNode refuses it: engine ports
    accept only the gateway's and Prometheus's security groups (see `engine_access_cidrs`)."""
    engine_access_cidrs: NotRequired[list[str]]
    """GpuNode: explicit override, private networks that may reach the engine ports directly (unauthenticated); the
    `engine-ports-security-groups-only` policy refuses them unless its `directAccessCidrs` lists them."""
    peer_security_group_id: NotRequired[pulumi.Input[str]]
    """Security group (the gateway's) that may reach `service_ports`."""
    monitoring_security_group_id: NotRequired[pulumi.Input[str]]
    """Security group of the Prometheus node: may reach `service_ports` (engine /metrics) and the DCGM exporter."""
    ami: NotRequired[str]
    """Pinned AMI id; changing it replaces the node. Without it the role's SSM parameter is read once, at creation."""
    instance_type: NotRequired[str]
    """Pinned instance type; for a GpuNode without it, the planner picks from `model`."""
    root_volume_gb: NotRequired[int]
    """Encrypted gp3 root volume size, sized for images plus the model cache."""
    ssh_user: NotRequired[str]
    """Login user of the AMI (ubuntu)."""
    ssh_key_name: NotRequired[str]
    """EC2 key pair name for SSH."""
    ssh_cidrs: NotRequired[list[str]]
    """Networks allowed to SSH in (the Docker provider runs over SSH)."""
    ssh_via: NotRequired[str]
    """`private-ip` (VPN or bastion) or `public-ip`."""
    public_ip: NotRequired[bool]
    """Give the node a public IP (egress through an internet gateway); inbound stays closed by the security group."""
    ssh_private_key: NotRequired[pulumi.Input[str]]
    """Private key (a secret) for every SSH connection to the node: the readiness check and the Docker provider.
    Without it both use the SSH agent (SSH_AUTH_SOCK)."""
    environment: NotRequired[str]
    """Environment name, for tags."""
    tags: NotRequired[dict[str, str]]
    """Extra tags."""
    model: NotRequired[str]
    """Model to size the instance for (catalog name or Hub id), when `instance_type` is not pinned."""
    engine: NotRequired[str]
    """Engine of that model."""
    quant: NotRequired[str]
    """Format of that model (auto)."""
    context: NotRequired[int]
    """Context length per sequence."""
    concurrency: NotRequired[int]
    """Concurrent sequences."""


class _Ec2Node(pulumi.ComponentResource):
    # Declared again, with descriptions, on each public subclass (the schema analyzer reads docstrings per class).
    instance_id: pulumi.Output[str]
    instance_type: pulumi.Output[str]
    private_ip: pulumi.Output[str]
    public_ip: pulumi.Output[str]
    docker_host: pulumi.Output[str]
    security_group_id: pulumi.Output[str]

    def _build(self, name: str, args: NodeArgs, *, gpu: bool, instance_type: str, ami_parameter: str,
               role_tag: str) -> None:
        child = pulumi.ResourceOptions(parent=self)
        env = args.get("environment", "default")
        tags = {"Name": name, Key.ROLE.tag: role_tag, Key.ENVIRONMENT.tag: env, Key.INSTANCE_TYPE.tag: instance_type,
                **args.get("tags", {})}
        sg = aws.ec2.SecurityGroup(f"{name}-sg", description=f"llmstack {role_tag} node {name}",
                                   vpc_id=args["vpc_id"], tags=tags, opts=child)
        _ingress_rules(name, args, sg, gpu=gpu, child=child)

        role = aws.iam.Role(f"{name}-role", tags=tags, opts=child, assume_role_policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                           "Principal": {"Service": "ec2.amazonaws.com"}}],
        }))
        aws.iam.RolePolicyAttachment(f"{name}-ssm", role=role.name, policy_arn=SSM_POLICY_ARN, opts=child)
        profile = aws.iam.InstanceProfile(f"{name}-profile", role=role.name, tags=tags, opts=child)
        user = args.get("ssh_user", "ubuntu")
        ami, latest, keep_ami = _ami(name, args, ami_parameter, self)
        instance = aws.ec2.Instance(
            f"{name}-instance",
            ami=ami,
            instance_type=instance_type,
            subnet_id=args["subnet_id"],
            vpc_security_group_ids=[sg.id],
            iam_instance_profile=profile.name,
            key_name=args.get("ssh_key_name"),
            associate_public_ip_address=args.get("public_ip", args.get("ssh_via") == "public-ip"),
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=2),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                encrypted=True, volume_type="gp3", volume_size=args.get("root_volume_gb", 100),
                delete_on_termination=True, tags=tags),
            user_data=user_data(gpu=gpu, user=user),
            # A new user data, like a new AMI, is a new instance; every Docker resource on it follows
            # (components/container.py, `tie_to_node`).
            user_data_replace_on_change=True,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["ami"] if keep_ami else None),
        )
        if latest is not None:
            _warn_on_newer_ami(name, instance, latest, ami_parameter, gpu=gpu)
        host = instance.public_ip if args.get("ssh_via") == "public-ip" else instance.private_ip
        if isinstance(args.get("ssh_private_key"), str):
            check_private_key(str(args.get("ssh_private_key")), f"{name}: ssh_private_key")
        key_path = _key_file(name, args["ssh_private_key"]) if "ssh_private_key" in args else None
        preflight = command.local.Command(
            f"{name}-ssh-preflight",
            create=_preflight_script(name, key_path, args.get("ssh_key_name")),
            triggers=[instance.id],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[instance]),
        )
        ready = command.remote.Command(
            f"{name}-ready",
            connection=command.remote.ConnectionArgs(
                host=host, user=user, private_key=args.get("ssh_private_key"),
                dial_error_limit=UNLIMITED_DIALS, per_dial_timeout=PER_DIAL_TIMEOUT_S),
            create=host.apply(lambda h: wait_ready_command(h, user)),
            triggers=[instance.id],
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[instance, preflight], deleted_with=instance,
                custom_timeouts=pulumi.CustomTimeouts(create=f"{READY_TIMEOUT_S // 60}m")),
        )
        known_hosts = pulumi.Output.all(host, ready.stdout).apply(
            lambda v: _known_hosts_file(name, str(v[0]), str(v[1])))
        ssh_opts = pulumi.Output.all(key_path, known_hosts).apply(lambda v: docker_ssh_opts(v[0], str(v[1])))
        self.instance_id = instance.id
        self.instance_type = pulumi.Output.from_input(instance_type)
        self.private_ip = instance.private_ip
        self.public_ip = instance.public_ip
        self.security_group_id = sg.id
        # Known once the node passed its readiness check (and its host keys are pinned).
        self.docker_host = pulumi.Output.all(host, ready.id, known_hosts).apply(lambda v: f"ssh://{user}@{v[0]}")
        bind_node(self.docker_host, NodeAccess(instance, pulumi.Output.unsecret(ssh_opts)))
        self.register_outputs({
            "instance_id": self.instance_id, "instance_type": self.instance_type, "private_ip": self.private_ip,
            "public_ip": self.public_ip, "docker_host": self.docker_host, "security_group_id": sg.id,
        })


def _ingress_rules(name: str, args: NodeArgs, sg: aws.ec2.SecurityGroup, *, gpu: bool,
                   child: pulumi.ResourceOptions) -> None:
    """Engine ports (a GpuNode's service ports) accept only the gateway's and Prometheus's security groups, or the
    explicit `engine_access_cidrs`; the gateway's port (a CpuNode's) also `allowed_cidrs`. SSH only from `ssh_cidrs`."""
    if gpu and args.get("allowed_cidrs"):
        raise InputError(f"GpuNode {name}: allowed_cidrs", args.get("allowed_cidrs"),
                         "engine ports accept only the gateway's and Prometheus's security groups "
                         "(peer_security_group_id, monitoring_security_group_id); for direct access use "
                         "engine_access_cidrs and list them in the engine-ports-security-groups-only policy's "
                         "directAccessCidrs")
    cidrs = args.get("engine_access_cidrs", []) if gpu else args.get("allowed_cidrs", [])
    peer, monitoring = args.get("peer_security_group_id"), args.get("monitoring_security_group_id")
    # InferenceStack's gateway and Prometheus share the CPU node's group: one rule (AWS refuses a duplicate).
    groups = [("peer", peer, "the gateway")]
    if monitoring is not None and monitoring is not peer and not (isinstance(peer, str) and monitoring == peer):
        groups.append(("monitoring", monitoring, "Prometheus"))
    for port in args["service_ports"]:
        for i, cidr in enumerate(cidrs):
            suffix = f"direct{i}" if gpu else f"cidr{i}"
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{port}-{suffix}", security_group_id=sg.id, ip_protocol="tcp", from_port=port,
                to_port=port, cidr_ipv4=cidr, description=f"port {port} from {cidr}", opts=child)
        for suffix, group, who in groups:
            if group is not None:
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-{port}-{suffix}", security_group_id=sg.id, ip_protocol="tcp", from_port=port,
                    to_port=port, referenced_security_group_id=group, description=f"port {port} from {who}",
                    opts=child)
    if gpu and monitoring is not None:
        dcgm_port = dcgm_exporter().port
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-dcgm", security_group_id=sg.id, ip_protocol="tcp", from_port=dcgm_port, to_port=dcgm_port,
            referenced_security_group_id=monitoring, description="dcgm-exporter from Prometheus", opts=child)
    for i, cidr in enumerate(args.get("ssh_cidrs", [])):
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-ssh{i}", security_group_id=sg.id, ip_protocol="tcp", from_port=SSH_PORT, to_port=SSH_PORT,
            cidr_ipv4=cidr, description=f"ssh from {cidr}", opts=child)
    aws.vpc.SecurityGroupEgressRule(f"{name}-egress", security_group_id=sg.id, ip_protocol="-1",
                                    cidr_ipv4="0.0.0.0/0", description="image and model downloads", opts=child)


# -- AMI ------------------------------------------------------------------------------------------------------------


def _ami(name: str, args: NodeArgs, parameter: str, parent: pulumi.Resource) -> tuple[
        pulumi.Input[str], pulumi.Output[str] | None, bool]:
    """(the AMI to launch, the SSM parameter's current value or None, whether to keep the AMI the node has).

    Pinned: the given id, nothing read; a new pin is a replacement that `pulumi preview` shows. Unpinned: the SSM
    parameter, read when the node is created and then kept with `ignore_changes` (the engine diffs the old value, so
    a newer AMI behind `latest` never replaces a running node by itself: pulumi.com/docs/iac/concepts/options/
    ignorechanges). `ec2.Instance.ami` forces a replacement (terraform-provider-aws `aws_instance`, ForceNew)."""
    if "ami" in args:
        if not re.fullmatch(r"ami-([0-9a-f]{8}|[0-9a-f]{17})", args["ami"]):
            raise InputError(f"{name}: ami", args["ami"], "give an AMI id like ami-0123456789abcdef0")
        return args["ami"], None, False
    latest = aws.ssm.get_parameter_output(name=parameter, opts=pulumi.InvokeOutputOptions(parent=parent)).insecure_value
    return latest, latest, True


def _warn_on_newer_ami(name: str, instance: aws.ec2.Instance, latest: pulumi.Output[str], parameter: str, *,
                       gpu: bool) -> None:
    """An unpinned node keeps its AMI; say when the SSM parameter has moved on, and how to roll to it."""
    role = "gpu" if gpu else "cpu"

    def warn(values: list[str]) -> None:
        running, newest = values
        if running and newest and running != newest:
            pulumi.log.warn(f"{name} runs {running}; {parameter} now names {newest}. Nothing changes until you pin "
                            f"it: set target.ami.{role}: {newest} in the stack file, which replaces the node and "
                            "its containers (docs/aws.md, 'AMI').", resource=instance)

    pulumi.Output.all(instance.ami, latest).apply(warn)


# -- SSH: one key and one host-key policy for the readiness check and the Docker provider ---------------------------


def ssh_dir() -> Path:
    """This machine's folder for the stack's SSH files (owner-only)."""
    base = os.environ.get(SSH_DIR_ENV) or str(Path(tempfile.gettempdir()) / f"llmstack-ssh-{os.getuid()}")
    return Path(base) / f"{pulumi.get_project()}.{pulumi.get_stack()}"


def _private_file(path: Path, text: str) -> str:
    """Write `text` to `path` readable by the owner only (ssh refuses a key others can read)."""
    for folder in (path.parent.parent, path.parent):
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text if text.endswith("\n") else text + "\n")
    return str(path)


def check_private_key(text: str, field: str = "sshPrivateKey") -> None:
    """A clear error for a value that is not a private key (a public key, a path); the value itself is never shown."""
    if not _PRIVATE_KEY.search(text):
        raise InputError(field, "(a secret, not shown)",
                         "it is not a private key. Set the key itself: `pulumi config set --secret sshPrivateKey "
                         "< ~/.ssh/<key-pair>.pem` (the private half of ssh.key_name), or leave it unset and load "
                         "the key into ssh-agent", problem="is not usable")


def _key_file(name: str, key: pulumi.Input[str]) -> pulumi.Output[str]:
    """The `sshPrivateKey` secret as a 0600 file for the Docker provider's `ssh -i`; the path itself is not secret."""

    def write(text: str) -> str:
        check_private_key(text, f"{name}: ssh_private_key")
        return _private_file(ssh_dir() / "id", text)

    return pulumi.Output.unsecret(pulumi.Output.from_input(key).apply(write))


def _known_hosts_file(name: str, host: str, printed: str) -> str:
    """Pin the host keys the readiness check printed (its last output) for `host`, in this node's known_hosts."""
    keys = [m.group(0) for line in printed.splitlines() if (m := _HOST_KEY.match(line.strip()))]
    if not keys:
        raise InputError(f"{name}: readiness check", printed[-200:],
                         "it printed no SSH host key; run `pulumi up` again, or read the node's setup log "
                         "(docs/aws.md, 'When a node does not come up')", problem="ended without the host keys")
    return _private_file(ssh_dir() / f"{name}.known_hosts", "".join(f"{host} {k}\n" for k in keys))


def docker_ssh_opts(key_path: str | None, known_hosts: str) -> list[str]:
    """The Docker provider's ssh options: the node's pinned host keys only, the stack's key (or the agent), never a
    prompt. Passed to `ssh` before the host by docker's connhelper (terraform-provider-docker
    `internal/provider/config.go`, `connhelper.GetConnectionHelperWithSSHOpts`)."""
    opts = ["-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", f"ConnectTimeout={DOCKER_SSH_CONNECT_TIMEOUT_S}", "-o", "BatchMode=yes"]
    if key_path is not None:
        opts += ["-i", key_path, "-o", "IdentitiesOnly=yes"]
    return opts


def _preflight_script(name: str, key_path: pulumi.Output[str] | None, key_pair: str | None) -> pulumi.Output[str]:
    """Runs on the machine running `pulumi up`, before the readiness check: the ssh client the Docker provider needs,
    and a usable key (the secret's file, or one in the agent). Fails in a second, where a missing key would otherwise
    retry until the readiness timeout."""
    pair = f" (the private key of EC2 key pair {key_pair})" if key_pair else ""
    need_ssh = ("command -v ssh >/dev/null || { echo \"llmstack: the machine running pulumi needs the OpenSSH client "
                f"(ssh): the Docker provider reaches {name} through it\" >&2; exit 1; }}\n")
    if key_path is None:
        return pulumi.Output.from_input(need_ssh + (
            "ssh-add -l >/dev/null 2>&1 || { echo \"llmstack: no SSH key for "
            f"{name}: set the sshPrivateKey secret{pair} (pulumi config set --secret sshPrivateKey < KEY.pem) or "
            "load the key into ssh-agent (ssh-add KEY.pem) with SSH_AUTH_SOCK set\" >&2; exit 1; }\n"))
    return key_path.apply(lambda path: need_ssh + (
        f"ssh-keygen -y -f '{path}' >/dev/null 2>&1 || {{ echo \"llmstack: the sshPrivateKey secret{pair} is not "
        "a key ssh can use without a passphrase; set an unencrypted key, or unset it and use ssh-agent\" >&2; "
        "exit 1; }\n"))


class GpuNode(_Ec2Node):
    """An EC2 GPU instance from the Deep Learning AMI, sized by the planner unless its type is pinned."""

    instance_id: pulumi.Output[str]
    """EC2 instance id."""
    instance_type: pulumi.Output[str]
    """EC2 instance type (pinned, or picked by the planner)."""
    private_ip: pulumi.Output[str]
    """Private IP in the VPC; engines are reached on it from the gateway."""
    public_ip: pulumi.Output[str]
    """Public IP, empty unless the node has one."""
    docker_host: pulumi.Output[str]
    """`ssh://user@ip` for a Docker provider, available once the node's runtime checks passed."""
    security_group_id: pulumi.Output[str]
    """The node's security group (pass it as a peer or monitoring group to other nodes)."""

    def __init__(self, name: str, args: GpuNodeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(component_type("GpuNode"), name, {}, opts)
        self._build(name, args, gpu=True, instance_type=_gpu_instance_type(name, args),
                    ami_parameter=GPU_AMI_PARAMETER, role_tag="gpu")


class CpuNode(_Ec2Node):
    """An EC2 CPU instance for the gateway, the embedding service and monitoring."""

    instance_id: pulumi.Output[str]
    """EC2 instance id."""
    instance_type: pulumi.Output[str]
    """EC2 instance type (pinned, or picked by the planner)."""
    private_ip: pulumi.Output[str]
    """Private IP in the VPC; engines are reached on it from the gateway."""
    public_ip: pulumi.Output[str]
    """Public IP, empty unless the node has one."""
    docker_host: pulumi.Output[str]
    """`ssh://user@ip` for a Docker provider, available once the node's runtime checks passed."""
    security_group_id: pulumi.Output[str]
    """The node's security group (pass it as a peer or monitoring group to other nodes)."""

    def __init__(self, name: str, args: NodeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(component_type("CpuNode"), name, {}, opts)
        self._build(name, args, gpu=False, instance_type=args.get("instance_type", "m7i.xlarge"),
                    ami_parameter=CPU_AMI_PARAMETER, role_tag="cpu")


def _gpu_instance_type(name: str, args: GpuNodeArgs) -> str:
    if "instance_type" in args:
        return args["instance_type"]
    if "model" not in args or "context" not in args:
        raise InputError(f"GpuNode {name}: instance_type", None,
                         "pin instance_type, or give model and context (plus engine, quant, concurrency) to size it")
    result = plan(PlanRequest(model=args["model"], engine=args.get("engine", "auto"), quant=args.get("quant", "auto"),
                              context=args["context"], concurrency=args.get("concurrency", 1)))
    if not result.fits or result.instance is None:
        raise InputError(f"GpuNode {name}: model", args["model"],
                         f"no catalog instance fits: {result.memory.reason}. {'; '.join(result.suggestions)}")
    return result.instance.type
