"""A minimal VPC for stacks that don't bring one: one subnet with a route to the internet for image and model
downloads. Nodes get public IPs only when SSH goes over them; every port is closed by the security groups unless a
rule opens it.
"""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_aws as aws


def create_vpc(name: str, cidr: str, tags: dict[str, str], opts: pulumi.ResourceOptions) -> tuple[
        pulumi.Output[str], pulumi.Output[str]]:
    """(vpc_id, subnet_id) of a new VPC with one subnet (the first /20 of `cidr`, or `cidr` itself if smaller).
    `opts` carries the parent and the stack's regional AWS provider."""
    child = opts
    network = ipaddress.ip_network(cidr)
    subnet_cidr = str(next(network.subnets(new_prefix=20))) if network.prefixlen < 20 else cidr
    vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=cidr, enable_dns_hostnames=True, enable_dns_support=True,
                      tags={"Name": f"{name}-vpc", **tags}, opts=child)
    igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, opts=child)
    subnet = aws.ec2.Subnet(f"{name}-subnet", vpc_id=vpc.id, cidr_block=subnet_cidr,
                            map_public_ip_on_launch=False, tags={"Name": f"{name}-subnet", **tags}, opts=child)
    table = aws.ec2.RouteTable(f"{name}-routes", vpc_id=vpc.id, tags=tags, opts=child,
                               routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)])
    aws.ec2.RouteTableAssociation(f"{name}-routes-assoc", subnet_id=subnet.id, route_table_id=table.id, opts=child)
    return vpc.id, subnet.id
