"""A private, dual-stack VPC: no public address, no NAT gateway, IPv6 out, S3 through an endpoint."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

_R = logs.RetentionDays
# CloudWatch Logs accepts only these retention periods: (days, setting), shortest first.
_RETENTION_STEPS = (
    (1, _R.ONE_DAY), (3, _R.THREE_DAYS), (5, _R.FIVE_DAYS), (7, _R.ONE_WEEK),
    (14, _R.TWO_WEEKS), (30, _R.ONE_MONTH), (60, _R.TWO_MONTHS), (90, _R.THREE_MONTHS),
    (120, _R.FOUR_MONTHS), (150, _R.FIVE_MONTHS), (180, _R.SIX_MONTHS), (365, _R.ONE_YEAR),
    (400, _R.THIRTEEN_MONTHS), (545, _R.EIGHTEEN_MONTHS), (731, _R.TWO_YEARS),
    (1096, _R.THREE_YEARS), (1827, _R.FIVE_YEARS), (2192, _R.SIX_YEARS),
    (2557, _R.SEVEN_YEARS), (2922, _R.EIGHT_YEARS), (3288, _R.NINE_YEARS), (3653, _R.TEN_YEARS),
)  # fmt: skip


def log_retention(days: int) -> logs.RetentionDays:
    """The shortest CloudWatch Logs retention period that keeps at least ``days`` days."""
    return next((step for length, step in _RETENTION_STEPS if length >= days), _R.TEN_YEARS)


class SiteNetwork(Construct):
    """Two private dual-stack subnets in two AZs; nothing can reach in from the internet.

    Outbound, S3 (the boot files, the fallback copy, Amazon Linux's package repositories)
    goes through a gateway endpoint over IPv4, and every other AWS API over IPv6 through an
    egress-only internet gateway to the services' dual-stack endpoints: no NAT gateway, no
    interface endpoint, no public IPv4 address. The internet gateway routes nothing; CloudFront
    requires one in a VPC that holds a VPC origin.
    """

    def __init__(self, scope: Construct, construct_id: str, *, flow_log_retention_days: int) -> None:
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
        flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            retention=log_retention(flow_log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )

    @property
    def web_subnet(self) -> ec2.ISubnet:
        """The subnet (and so the availability zone) shared by the web server and its volume."""
        return self.vpc.private_subnets[0]

    @property
    def egress(self) -> list:
        """What the server's first boot needs in place: its IPv6 route out, the S3 endpoint."""
        return [
            self.vpc.select_subnets(subnets=[self.web_subnet]).internet_connectivity_established,
            self.vpc.node.find_child("S3"),
        ]

    @property
    def internet_gateway(self) -> Construct:
        """The internet gateway's attachment, which a VPC origin needs in place."""
        return self.vpc.node.find_child("VPCGW")
