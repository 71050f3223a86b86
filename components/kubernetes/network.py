"""A VPC for a new EKS cluster: private subnets for the nodes in two Availability Zones (EKS needs at least two), public
subnets for the NAT gateway and load balancers, one NAT gateway for egress (image and model downloads).

Subnet tags: `karpenter.sh/discovery` lets Karpenter's EC2NodeClass find the node subnets; `kubernetes.io/role/elb`
and `.../internal-elb` tell load balancers where internet-facing and internal ALBs go
(docs.aws.amazon.com/eks/latest/userguide/network-reqs.html).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

ZONES = 2


@dataclass(frozen=True)
class EksNetwork:
    vpc_id: pulumi.Input[str]
    cidr: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    public_subnet_ids: list[pulumi.Input[str]]


def eks_vpc(name: str, cidr: str, cluster: str, tags: dict[str, str], opts: pulumi.ResourceOptions) -> EksNetwork:
    blocks = list(ipaddress.ip_network(cidr).subnets(new_prefix=max(ipaddress.ip_network(cidr).prefixlen + 2, 20)))
    zones = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOutputOptions(parent=opts.parent))
    vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=cidr, enable_dns_hostnames=True, enable_dns_support=True,
                      tags={"Name": f"{name}-vpc", **tags}, opts=opts)
    igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, opts=opts)
    public_routes = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id, tags=tags, opts=opts,
                                       routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0",
                                                                           gateway_id=igw.id)])
    public, private = [], []
    for i in range(ZONES):
        zone = zones.names[i]
        pub = aws.ec2.Subnet(f"{name}-public-{i}", vpc_id=vpc.id, cidr_block=str(blocks[i]), availability_zone=zone,
                             map_public_ip_on_launch=False, opts=opts,
                             tags={"Name": f"{name}-public-{i}", "kubernetes.io/role/elb": "1", **tags})
        aws.ec2.RouteTableAssociation(f"{name}-public-{i}", subnet_id=pub.id, route_table_id=public_routes.id,
                                      opts=opts)
        public.append(pub)
    eip = aws.ec2.Eip(f"{name}-nat", domain="vpc", tags=tags, opts=opts)
    nat = aws.ec2.NatGateway(f"{name}-nat", allocation_id=eip.id, subnet_id=public[0].id, tags=tags, opts=opts)
    private_routes = aws.ec2.RouteTable(f"{name}-private", vpc_id=vpc.id, tags=tags, opts=opts,
                                        routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0",
                                                                            nat_gateway_id=nat.id)])
    for i in range(ZONES):
        sub = aws.ec2.Subnet(f"{name}-private-{i}", vpc_id=vpc.id, cidr_block=str(blocks[ZONES + i]),
                             availability_zone=zones.names[i], map_public_ip_on_launch=False, opts=opts,
                             tags={"Name": f"{name}-private-{i}", "kubernetes.io/role/internal-elb": "1",
                                   "karpenter.sh/discovery": cluster, **tags})
        aws.ec2.RouteTableAssociation(f"{name}-private-{i}", subnet_id=sub.id, route_table_id=private_routes.id,
                                      opts=opts)
        private.append(sub)
    return EksNetwork(vpc.id, cidr, [s.id for s in private], [s.id for s in public])
