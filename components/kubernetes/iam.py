"""IAM for the EKS target: roles assumed through EKS Pod Identity, and the Karpenter controller's permissions.

The controller's permissions follow the Karpenter project's own (aws/karpenter-provider-aws
website/content/en/v1.14/getting-started/getting-started-with-karpenter/cloudformation.yaml @ e0834c2): it launches
and tags instances only for this cluster's node pools, passes only its node role, manages instance profiles it
tagged, and reads the interruption queue.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

POD_IDENTITY = {"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"]}
EC2_ASSUME = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
# What a Karpenter or managed node needs (the same list in the Karpenter template above, and
# docs.aws.amazon.com/eks/latest/userguide/create-node-role.html).
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryPullOnly",
                 "AmazonSSMManagedInstanceCore")


def role(name: str, statement: dict[str, Any], managed: tuple[str, ...], opts: pulumi.ResourceOptions, *,
         role_name: str | None = None) -> aws.iam.Role:
    created = aws.iam.Role(name, name=role_name, opts=opts,
                           assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    for policy in managed:
        arn = policy if policy.startswith("arn:") else f"arn:aws:iam::aws:policy/{policy}"
        aws.iam.RolePolicyAttachment(f"{name}-{policy.rsplit('/', 1)[-1]}", role=created.name, policy_arn=arn,
                                     opts=opts)
    return created


def karpenter_controller_policy(cluster: str, region: str, node_role_arn: pulumi.Input[str],
                                queue_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    owned = {f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned",
             "aws:RequestTag/eks:eks-cluster-name": cluster}
    mine = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"}
    ec2 = f"arn:aws:ec2:{region}"
    created = [f"{ec2}:*:{kind}/*" for kind in ("fleet", "instance", "volume", "network-interface",
                                                  "launch-template", "spot-instances-request")]

    def document(node_role: str, queue: str) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": "LaunchFromSharedResources", "Effect": "Allow", "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
             "Resource": [f"{ec2}::image/*", f"{ec2}::snapshot/*", f"{ec2}:*:security-group/*",
                          f"{ec2}:*:subnet/*", f"{ec2}:*:capacity-reservation/*", f"{ec2}:*:placement-group/*"]},
            {"Sid": "LaunchWithOwnLaunchTemplates", "Effect": "Allow",
             "Action": ["ec2:RunInstances", "ec2:CreateFleet"], "Resource": f"{ec2}:*:launch-template/*",
             "Condition": {"StringEquals": mine, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}}},
            {"Sid": "CreateOwnedResources", "Effect": "Allow",
             "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"], "Resource": created,
             "Condition": {"StringEquals": owned, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
            {"Sid": "TagOnCreate", "Effect": "Allow", "Action": "ec2:CreateTags", "Resource": created,
             "Condition": {"StringEquals": {**owned, "ec2:CreateAction": ["RunInstances", "CreateFleet",
                                                                         "CreateLaunchTemplate"]},
                           "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
            {"Sid": "TagOwnInstances", "Effect": "Allow", "Action": "ec2:CreateTags",
             "Resource": f"{ec2}:*:instance/*",
             "Condition": {"StringEquals": mine, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                           "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name",
                                                                        "karpenter.sh/nodeclaim", "Name"]}}},
            {"Sid": "DeleteOwnResources", "Effect": "Allow",
             "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
             "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
             "Condition": {"StringEquals": mine, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}}},
            {"Sid": "PassNodeRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": node_role,
             "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
            {"Sid": "OwnInstanceProfiles", "Effect": "Allow",
             "Action": ["iam:CreateInstanceProfile", "iam:TagInstanceProfile", "iam:AddRoleToInstanceProfile",
                        "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
             "Resource": "arn:aws:iam::*:instance-profile/*",
             "Condition": {"StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                                          "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"},
                           "StringEqualsIfExists": {**mine, **owned}}},
            {"Sid": "Read", "Effect": "Allow", "Resource": "*",
             "Action": ["ec2:DescribeCapacityReservations", "ec2:DescribeImages", "ec2:DescribeInstances",
                        "ec2:DescribeInstanceStatus", "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes",
                        "ec2:DescribeLaunchTemplates", "ec2:DescribePlacementGroups", "ec2:DescribeSecurityGroups",
                        "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets", "pricing:GetProducts",
                        "iam:ListInstanceProfiles", "iam:GetInstanceProfile"]},
            {"Sid": "PublicAmiParameters", "Effect": "Allow", "Action": "ssm:GetParameter",
             "Resource": f"arn:aws:ssm:{region}::parameter/aws/service/*"},
            {"Sid": "DescribeCluster", "Effect": "Allow", "Action": "eks:DescribeCluster",
             "Resource": f"arn:aws:eks:{region}:*:cluster/{cluster}"},
            {"Sid": "InterruptionQueue", "Effect": "Allow", "Resource": queue,
             "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]},
        ]})

    return pulumi.Output.all(node_role_arn, queue_arn).apply(lambda v: document(str(v[0]), str(v[1])))
