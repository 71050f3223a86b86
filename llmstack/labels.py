"""The intent the stack plan puts on resources, and the resource type tokens that carry it: one home for both.

The plan writes container labels (`llmstack.engine`, `llmstack.model`, ...) and EC2 tags (`llmstack:role`, ...); the
components attach them; the policies and `llmstack preview` read them back by these same keys. Type tokens are the
engine's names for the provider resources the program registers (pulumi-docker 5.2, pulumi-aws 7.51, pulumi-command
1.2: docs/pulumi.md §5-6).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

PREFIX = "llmstack."
"""Container and network label prefix."""
TAG_PREFIX = "llmstack:"
"""EC2 tag prefix (tag keys may hold ':'; Docker label keys by convention use '.')."""


class Role(StrEnum):
    """What a container (or node) is for: the policies judge each role by its own rules."""

    INFERENCE = "inference"
    EMBEDDING = "embedding"
    GATEWAY = "gateway"
    MONITORING = "monitoring"
    NETWORK = "network"


class Key(StrEnum):
    """Label keys (without the prefix). The value of every label is a string."""

    ROLE = "role"
    ENVIRONMENT = "environment"
    ENGINE = "engine"
    MODEL = "model"
    FORMAT = "format"
    CONTEXT = "context"
    CONCURRENCY = "concurrency"
    TENSOR_PARALLEL = "tensor-parallel"
    PIPELINE_PARALLEL = "pipeline-parallel"  # nodes per replica (only when > 1)
    KV_DTYPE = "kv-dtype"
    NODE = "node"
    INSTANCE_TYPE = "instance-type"
    GPU = "gpu"
    GPUS = "gpus"
    ROUTE = "route"
    BACKEND = "backend"
    WEIGHTS_BYTES = "weights-bytes"
    ALLOW_GGUF_ON_VLLM = "allow-gguf-on-vllm"
    IMAGE = "image"
    CONFIG_PATH = "config-path"
    # Kubernetes pods (annotations, except `job`, a pod label): what the pod serves and where it may run.
    SERVED_MODEL = "served-model"
    INSTANCE_TYPES = "instance-types"
    CAPACITY = "capacity"
    JOB = "job"

    @property
    def label(self) -> str:
        """The full label key, e.g. `llmstack.engine`."""
        return PREFIX + self.value

    @property
    def tag(self) -> str:
        """The EC2 tag key, e.g. `llmstack:role`."""
        return TAG_PREFIX + self.value


def make(role: Role, environment: str, **values: object) -> dict[str, str]:
    """Labels for one resource: its role, its environment and every given value that is not None.

    Keyword names are `Key` member names in lower case (`tensor_parallel=2` -> `llmstack.tensor-parallel: "2"`)."""
    labels = {Key.ROLE.label: role.value, Key.ENVIRONMENT.label: environment}
    for name, value in values.items():
        if value is not None:
            labels[Key[name.upper()].label] = str(value)
    return labels


def read(labels: Mapping[str, str], key: Key) -> str | None:
    return labels.get(key.label)


# Resource type tokens (what a policy receives as `resource_type`).
CONTAINER = "docker:index/container:Container"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
DOCKER_PROVIDER = "pulumi:providers:docker"
INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EBS_VOLUME = "aws:ebs/volume:Volume"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
REMOTE_COMMAND = "command:remote:Command"
SSM_GET_PARAMETER = "aws:ssm/getParameter:getParameter"
# Kubernetes (pulumi-kubernetes tokens: `kubernetes:<group>/<version>:<Kind>`) and EKS.
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
JOB = "kubernetes:batch/v1:Job"
K8S_SERVICE = "kubernetes:core/v1:Service"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
LEADER_WORKER_SET = "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
EC2_NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
EKS_CLUSTER = "eks:index:Cluster"  # pulumi-eks's component
AWS_EKS_CLUSTER = "aws:eks/cluster:Cluster"  # the cluster it creates
# Everything that runs containers: the policies judge each container alike (policies/props.py `containers`).
POD_KINDS = (DEPLOYMENT, DAEMONSET, STATEFULSET, JOB, LEADER_WORKER_SET)

# Component type tokens: `<package>:index:<Class>` (docs/pulumi.md §3.3).
PACKAGE = "llmstack"


def component_type(cls_name: str) -> str:
    return f"{PACKAGE}:index:{cls_name}"
