"""A public-subnet VPC: no NAT gateway, an S3 gateway endpoint, flow logs kept for a while."""

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
    """Two public subnets in two AZs; egress through the internet gateway, not NAT."""

    def __init__(self, scope: Construct, construct_id: str, *, flow_log_retention_days: int) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)
            ],
            # Package repositories of Amazon Linux live in S3: keep that traffic off the internet.
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
        return self.vpc.public_subnets[0]
