"""EC2 nodes: `GpuNode` for engines, `CpuNode` for the gateway, embeddings and monitoring.

pulumi_aws v7 facts: docs/pulumi.md §6 (DLAMI id from SSM via `insecure_value`, IMDSv2 with
hop limit 2 for containers, per-rule security-group resources, user data is plaintext in state).
"""

import json
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_command as command

from components.userdata import user_data, wait_ready_command
from llmstack.errors import InputError
from llmstack.labels import Key, component_type
from llmstack.monitoring import dcgm_exporter
from llmstack.planner import PlanRequest, plan

# SSM public parameters: AWS Deep Learning Base OSS Nvidia Driver GPU AMI, and Canonical's Ubuntu 24.04 for CPU nodes
# (docs.aws.amazon.com/dlami/latest/devguide/find-dlami-id.html; ubuntu.com/server/docs/cloud-images/amazon-ec2).
GPU_AMI_PARAMETER = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"
CPU_AMI_PARAMETER = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
# Lets AWS Systems Manager reach the node without opening SSH to the world.
SSM_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
SSH_PORT = 22


class NodeArgs(TypedDict):
    vpc_id: pulumi.Input[str]
    """VPC the node's security group lives in."""
    subnet_id: pulumi.Input[str]
    """Subnet to launch into."""
    service_ports: list[int]
    """Ports the node serves (engine or gateway ports)."""
    allowed_cidrs: NotRequired[list[str]]
    """Networks that may reach `service_ports`; never 0.0.0.0/0 for engine ports."""
    peer_security_group_id: NotRequired[pulumi.Input[str]]
    """Security group (the gateway's) that may reach `service_ports`."""
    monitoring_security_group_id: NotRequired[pulumi.Input[str]]
    """Security group of the Prometheus node, allowed to scrape the DCGM exporter."""
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
    """Private key for the readiness check over SSH (a secret); without it the SSH agent is used."""
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
    """Networks that may reach `service_ports`; never 0.0.0.0/0 for engine ports."""
    peer_security_group_id: NotRequired[pulumi.Input[str]]
    """Security group (the gateway's) that may reach `service_ports`."""
    monitoring_security_group_id: NotRequired[pulumi.Input[str]]
    """Security group of the Prometheus node, allowed to scrape the DCGM exporter."""
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
    """Private key for the readiness check over SSH (a secret); without it the SSH agent is used."""
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
        for port in args["service_ports"]:
            for i, cidr in enumerate(args.get("allowed_cidrs", [])):
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-{port}-cidr{i}", security_group_id=sg.id, ip_protocol="tcp", from_port=port,
                    to_port=port, cidr_ipv4=cidr, description=f"port {port} from {cidr}", opts=child)
            if "peer_security_group_id" in args:
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-{port}-peer", security_group_id=sg.id, ip_protocol="tcp", from_port=port, to_port=port,
                    referenced_security_group_id=args["peer_security_group_id"],
                    description=f"port {port} from the gateway", opts=child)
        if gpu and "monitoring_security_group_id" in args:
            dcgm_port = dcgm_exporter().port
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-dcgm", security_group_id=sg.id, ip_protocol="tcp", from_port=dcgm_port, to_port=dcgm_port,
                referenced_security_group_id=args["monitoring_security_group_id"],
                description="dcgm-exporter from Prometheus", opts=child)
        for i, cidr in enumerate(args.get("ssh_cidrs", [])):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-ssh{i}", security_group_id=sg.id, ip_protocol="tcp", from_port=SSH_PORT, to_port=SSH_PORT,
                cidr_ipv4=cidr, description=f"ssh from {cidr}", opts=child)
        aws.vpc.SecurityGroupEgressRule(f"{name}-egress", security_group_id=sg.id, ip_protocol="-1",
                                        cidr_ipv4="0.0.0.0/0", description="image and model downloads", opts=child)

        role = aws.iam.Role(f"{name}-role", tags=tags, opts=child, assume_role_policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                           "Principal": {"Service": "ec2.amazonaws.com"}}],
        }))
        aws.iam.RolePolicyAttachment(f"{name}-ssm", role=role.name, policy_arn=SSM_POLICY_ARN, opts=child)
        profile = aws.iam.InstanceProfile(f"{name}-profile", role=role.name, tags=tags, opts=child)
        ami = aws.ssm.get_parameter_output(name=ami_parameter, opts=pulumi.InvokeOutputOptions(parent=self))
        user = args.get("ssh_user", "ubuntu")
        instance = aws.ec2.Instance(
            f"{name}-instance",
            ami=ami.insecure_value,
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
            user_data_replace_on_change=True,
            tags=tags,
            opts=child,
        )
        host = instance.public_ip if args.get("ssh_via") == "public-ip" else instance.private_ip
        ready = command.remote.Command(
            f"{name}-ready",
            connection=command.remote.ConnectionArgs(host=host, user=user, private_key=args.get("ssh_private_key")),
            create=wait_ready_command(),
            triggers=[instance.id],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[instance]),
        )
        self.instance_id = instance.id
        self.instance_type = pulumi.Output.from_input(instance_type)
        self.private_ip = instance.private_ip
        self.public_ip = instance.public_ip
        self.security_group_id = sg.id
        self.docker_host = pulumi.Output.all(host, ready.stdout).apply(lambda v: f"ssh://{user}@{v[0]}")
        self.register_outputs({
            "instance_id": self.instance_id, "instance_type": self.instance_type, "private_ip": self.private_ip,
            "public_ip": self.public_ip, "docker_host": self.docker_host, "security_group_id": sg.id,
        })


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
