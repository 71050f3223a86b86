"""The EKS cluster of an `eks` target (pulumi-eks), with what its GPU capacity and model cache need.

- The cluster: API authentication (access entries), private endpoint, public only from the spec's CIDRs, control-plane
  logs; EKS Auto Mode when `compute: auto-mode`.
- Karpenter (`compute: karpenter`): a managed CPU node group for system pods, the gateway and embeddings (IMDSv2 with
  hop limit 1 and encrypted volumes through its launch template); Karpenter's node role with an access entry, its
  controller role through EKS Pod Identity, and the spot interruption queue with its EventBridge rules
  (aws/karpenter-provider-aws cloudformation.yaml @ v1.14, see iam.py).
- The model cache: an encrypted EFS file system, a mount target per node subnet, the EFS CSI driver add-on and a
  StorageClass that provisions one access point per claim (kubernetes-sigs/aws-efs-csi-driver docs/README.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components.kubernetes.iam import EC2_ASSUME, NODE_POLICIES, POD_IDENTITY, karpenter_controller_policy, role
from components.kubernetes.network import eks_vpc
from llmstack.labels import Key
from llmstack.spec import EksTarget
from llmstack.stackplan.kubernetes import KubernetesPlan, interruption_queue, karpenter_node_role
from llmstack.stackplan.kubernetes.objects import NODE_POOL

CPU_ROOT_GB = 50  # AL2023 node: the OS, the kubelet's images (LiteLLM, TEI, Prometheus)
# Spot interruptions, rebalance recommendations, instance state changes and scheduled health events: the events
# Karpenter's interruption handling reads (cloudformation.yaml @ v1.14 ScheduledChangeRule ... InstanceStateChangeRule).
INTERRUPTION_EVENTS = {
    "health": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
}
EFS_CSI_POLICY = "service-role/AmazonEFSCSIDriverPolicy"


@dataclass(frozen=True)
class EksCluster:
    provider: k8s.Provider
    file_system_id: pulumi.Output[str]  # the model cache's EFS file system (the StorageClass names it)
    ready: tuple[pulumi.Resource, ...]  # what the Kubernetes objects wait for


def build_eks(name: str, target: EksTarget, plan: KubernetesPlan, tags: dict[str, str],
              opts: pulumi.ResourceOptions) -> EksCluster:
    assert plan.cluster is not None
    cluster_name = plan.cluster
    if target.vpc.id is not None:
        vpc_id: pulumi.Input[str] = target.vpc.id
        subnets: list[pulumi.Input[str]] = list(target.vpc.subnet_ids)
        cidr: pulumi.Input[str] = aws.ec2.get_vpc_output(id=target.vpc.id, opts=pulumi.InvokeOutputOptions(
            parent=opts.parent)).cidr_block
        public: list[pulumi.Input[str]] = []
    else:
        assert target.vpc.cidr is not None
        net = eks_vpc(name, target.vpc.cidr, cluster_name, tags, opts)
        vpc_id, subnets, cidr, public = net.vpc_id, net.private_subnet_ids, net.cidr, net.public_subnet_ids
    auto = target.compute == "auto-mode"
    cluster = eks.Cluster(
        name, name=cluster_name, vpc_id=vpc_id, private_subnet_ids=subnets, public_subnet_ids=public or None,
        version=target.version, authentication_mode=eks.AuthenticationMode.API,
        endpoint_private_access=True, endpoint_public_access=target.endpoint.public,
        public_access_cidrs=list(target.endpoint.public_cidrs) or None,
        skip_default_node_group=True, node_associate_public_ip_address=False,
        enabled_cluster_log_types=["api", "audit", "authenticator"],
        auto_mode=eks.AutoModeOptionsArgs(enabled=True) if auto else None, tags=tags, opts=opts)
    provider = k8s.Provider(f"{name}-k8s", kubeconfig=cluster.kubeconfig_json, enable_server_side_apply=True,
                            opts=pulumi.ResourceOptions(parent=opts.parent))
    ready: list[pulumi.Resource] = [cluster]
    pod_identity = aws.eks.Addon(f"{name}-pod-identity", cluster_name=cluster_name, addon_name="eks-pod-identity-agent",
                                 opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[cluster])))
    ready.append(pod_identity)
    if not auto:
        ready += _karpenter(name, target, cluster_name, subnets, tags, opts, cluster)
    file_system, cache = _model_cache(name, cluster_name, vpc_id, cidr, subnets, tags, opts, cluster)
    # A multi-node backend's nodes: one cluster placement group each (one AZ, one network spine), named as the plan's
    # EC2NodeClass selects it.
    groups = [aws.ec2.PlacementGroup(group, name=group, strategy="cluster", tags=tags, opts=opts)
              for group in plan.placement_groups]
    return EksCluster(provider, file_system, (*ready, *cache, *groups))


def _karpenter(name: str, target: EksTarget, cluster_name: str, subnets: list[pulumi.Input[str]],
               tags: dict[str, str], opts: pulumi.ResourceOptions, cluster: eks.Cluster) -> list[pulumi.Resource]:
    after = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[cluster]))
    cpu_role = role(f"{name}-cpu-node", EC2_ASSUME, NODE_POLICIES, opts)
    template = aws.ec2.LaunchTemplate(
        f"{name}-cpu", tags=tags, opts=opts,
        metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1),
        block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
            device_name="/dev/xvda", ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                volume_size=CPU_ROOT_GB, volume_type="gp3", encrypted="true", delete_on_termination="true"))])
    cpu = aws.eks.NodeGroup(
        f"{name}-cpu", cluster_name=cluster_name, node_role_arn=cpu_role.arn, subnet_ids=subnets,
        instance_types=list(target.cpu_instance_types), labels={NODE_POOL: "cpu"},
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(desired_size=target.cpu_nodes, min_size=target.cpu_nodes,
                                                          max_size=2 * target.cpu_nodes),
        launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=template.id, version=template.latest_version.apply(str)),
        tags={**tags, Key.ROLE.tag: "cpu"}, opts=after)
    node_role = role(f"{name}-karpenter-node", EC2_ASSUME, NODE_POLICIES, opts,
                     role_name=karpenter_node_role(cluster_name))
    access = aws.eks.AccessEntry(f"{name}-karpenter-node", cluster_name=cluster_name, principal_arn=node_role.arn,
                                 type="EC2_LINUX", opts=after)
    queue = aws.sqs.Queue(f"{name}-interruptions", name=interruption_queue(cluster_name),
                          message_retention_seconds=300, sqs_managed_sse_enabled=True, tags=tags, opts=opts)
    aws.sqs.QueuePolicy(f"{name}-interruptions", queue_url=queue.url, opts=opts, policy=queue.arn.apply(
        lambda arn: json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
             "Action": "sqs:SendMessage", "Resource": arn},
            {"Sid": "DenyHTTP", "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": arn,
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})))
    for event, pattern in INTERRUPTION_EVENTS.items():
        rule = aws.cloudwatch.EventRule(f"{name}-{event}", event_pattern=json.dumps(pattern), tags=tags, opts=opts)
        aws.cloudwatch.EventTarget(f"{name}-{event}", rule=rule.name, arn=queue.arn, opts=opts)
    controller = role(f"{name}-karpenter", POD_IDENTITY, (), opts)
    aws.iam.RolePolicy(f"{name}-karpenter", role=controller.id, opts=opts,
                       policy=karpenter_controller_policy(cluster_name, target.region, node_role.arn, queue.arn))
    association = aws.eks.PodIdentityAssociation(f"{name}-karpenter", cluster_name=cluster_name,
                                                 namespace="kube-system", service_account="karpenter",
                                                 role_arn=controller.arn, opts=after)
    return [cpu, access, association]


def _model_cache(name: str, cluster_name: str, vpc_id: pulumi.Input[str], cidr: pulumi.Input[str],
                 subnets: list[pulumi.Input[str]], tags: dict[str, str], opts: pulumi.ResourceOptions,
                 cluster: eks.Cluster) -> tuple[pulumi.Output[str], list[pulumi.Resource]]:
    """An encrypted EFS file system reachable from the VPC on NFS only, and the CSI driver that mounts it."""
    fs = aws.efs.FileSystem(f"{name}-models", encrypted=True, throughput_mode="elastic",
                            tags={"Name": f"{cluster_name}-models", **tags}, opts=opts)
    sg = aws.ec2.SecurityGroup(f"{name}-efs", description="NFS to the model cache from the cluster's VPC",
                               vpc_id=vpc_id, tags=tags, opts=opts)
    aws.vpc.SecurityGroupIngressRule(f"{name}-efs-nfs", security_group_id=sg.id, ip_protocol="tcp", from_port=2049,
                                     to_port=2049, cidr_ipv4=cidr, description="NFS from the VPC", opts=opts)
    mounts = [aws.efs.MountTarget(f"{name}-models-{i}", file_system_id=fs.id, subnet_id=subnet,
                                  security_groups=[sg.id], opts=opts) for i, subnet in enumerate(subnets)]
    driver_role = role(f"{name}-efs-csi", POD_IDENTITY, (EFS_CSI_POLICY,), opts)
    after = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[cluster]))
    association = aws.eks.PodIdentityAssociation(f"{name}-efs-csi", cluster_name=cluster_name,
                                                 namespace="kube-system", service_account="efs-csi-controller-sa",
                                                 role_arn=driver_role.arn, opts=after)
    driver = aws.eks.Addon(f"{name}-efs-csi", cluster_name=cluster_name, addon_name="aws-efs-csi-driver",
                           opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                               depends_on=[cluster, association])))
    return fs.id, [driver, *mounts]
