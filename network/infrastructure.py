"""A private, dual-stack VPC: no public address, no NAT gateway, IPv6 out, S3 through an endpoint."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from network.zone_guard import ZoneGuard


class SiteNetwork(Construct):
    """Two private dual-stack subnets in two AZs; nothing can reach in from the internet. The internet
    gateway routes nothing: CloudFront requires one in a VPC that holds a VPC origin."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        flow_log_retention_days: int,
        zone_id: str | None,
        instance_type: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            ip_protocol=ec2.IpProtocol.DUAL_STACK,
            subnet_configuration=[
                # The address space of the public subnets of earlier versions, kept free so that
                # the private subnets can be created before those are deleted.
                ec2.SubnetConfiguration(
                    name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24, reserved=True
                ),
                ec2.SubnetConfiguration(
                    name="Web", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=24
                ),
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
        )
        flow_log_group = logs.LogGroup(self, "FlowLogs", removal_policy=RemovalPolicy.DESTROY)
        # In days, one of the periods CloudWatch Logs takes (settings.model.LOG_RETENTION_DAYS): the L2
        # takes only its enumeration of them.
        flow_log_group.node.default_child.retention_in_days = flow_log_retention_days
        # All traffic, accepted and rejected (the L2's default).
        self.vpc.add_flow_log(
            "FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group)
        )
        # Shared by the web server and its volume, which must be in the same AZ: the Region's first zone
        # name, as since the first version, or the zone zone_id names; checked before either changes.
        self.web_subnet = self.vpc.private_subnets[0]
        self.zone_guard = ZoneGuard(
            self, "ZoneGuard", subnet=self.web_subnet, zone_id=zone_id, instance_type=instance_type
        )
        subnet = self.web_subnet.node.default_child
        subnet.node.add_dependency(self.zone_guard.resource)
        if zone_id:
            subnet.availability_zone = self.zone_guard.zone_name
        self.web_zone = self.zone_guard.zone_name if zone_id else self.web_subnet.availability_zone
        # What the server's first boot needs in place: its IPv6 route out, the S3 endpoint.
        self.egress = [
            self.vpc.select_subnets(subnets=[self.web_subnet]).internet_connectivity_established,
            self.vpc.node.find_child("S3"),
        ]
        # The internet gateway's attachment, which a VPC origin needs in place.
        self.internet_gateway = self.vpc.node.find_child("VPCGW")
