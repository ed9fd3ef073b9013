"""A deploy-time check of the web subnet's zone, before the subnet, its volume or the server change."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, CustomResource, Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from common.nag import acknowledge, acknowledge_lambda_logs, default_policy
from common.provider import handler_function, provider
from network.zones import NO_VPC_ORIGIN_ZONE_IDS

HANDLER_DIR = Path(__file__).resolve().parent / "runtime" / "zone_guard"


class ZoneGuard(Construct):
    """runtime/zone_guard/: refuses a first zone without VPC origins or the instance type, and any move.
    ``zone_name`` is the zone it checked, for a subnet placed by ``zone_id``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        subnet: ec2.ISubnet,
        zone_id: str | None,
        instance_type: str,
    ) -> None:
        super().__init__(scope, construct_id)
        function = handler_function(
            self,
            "Function",
            description="On deploy: checks the web subnet's zone (VPC origins, instance type, never a move)",
            handler="zone_guard.on_event",
            code=lambda_.Code.from_asset(str(HANDLER_DIR)),
            initial_policy=[
                iam.PolicyStatement(
                    actions=[
                        "ec2:DescribeAvailabilityZones",
                        "ec2:DescribeInstanceTypeOfferings",
                        "ec2:DescribeSubnets",
                    ],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    actions=["cloudformation:DescribeStackResource"], resources=[Aws.STACK_ID]
                ),
            ],
        )
        acknowledge_lambda_logs(function.role, "The zone check")
        acknowledge(
            default_policy(function.role),
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeAvailabilityZones, DescribeInstanceTypeOfferings and DescribeSubnets support no "
            "resource-level permissions; all three only read.",
        )
        resource = CustomResource(
            self,
            "Resource",
            service_token=provider(self, "Provider", on_event_handler=function).service_token,
            resource_type="Custom::ZoneGuard",
            properties={
                "ZoneId": zone_id or "",
                "FirstZoneName": Fn.select(0, Fn.get_azs()),
                "InstanceType": instance_type,
                "ExcludedZoneIds": list(NO_VPC_ORIGIN_ZONE_IDS),
                "SubnetLogicalId": Stack.of(self).get_logical_id(subnet.node.default_child),
            },
        )
        self.resource = resource
        self.zone_name = resource.get_att_string("ZoneName")
