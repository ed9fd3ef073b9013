"""Deleting the stack strands nothing CloudFront placed in the VPC for its VPC origins."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from common.nag import acknowledge, acknowledge_lambda_logs, default_policy
from common.provider import handler_function, provider

HANDLER_DIR = Path(__file__).resolve().parent / "runtime" / "vpc_origin_cleanup"
# CloudFormation waits at most an hour for a custom resource; the interfaces usually go within minutes
# of their VPC origin: https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cloudformation-customresource.html
TOTAL_TIMEOUT, QUERY_INTERVAL = Duration.minutes(50), Duration.seconds(30)


class VpcOriginCleanup(Construct):
    """Make every VPC origin depend on :attr:`resource`: CloudFormation deletes in reverse order of
    dependencies, so the origins go first, then this (runtime/vpc_origin_cleanup/), then the subnets."""

    def __init__(self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc) -> None:
        super().__init__(scope, construct_id)
        groups = Stack.of(self).format_arn(service="ec2", resource="security-group", resource_name="*")
        code = lambda_.Code.from_asset(str(HANDLER_DIR))
        # "Function" keeps the logical id of the earlier version's function, so that its resource's last
        # event, on the update that removes it, reaches code that answers at once.
        on_event = handler_function(
            self,
            "Function",
            description="The VPC-origin clean-up's start: nothing to do until the waiter's looks",
            handler="vpc_origin_cleanup.on_event",
            code=code,
        )
        waiter = handler_function(
            self,
            "Waiter",
            description="On stack deletion: a look at CloudFront's VPC-origin interfaces; deletes its group",
            handler="vpc_origin_cleanup.is_complete",
            code=code,
            initial_policy=[
                iam.PolicyStatement(
                    actions=["ec2:DescribeSecurityGroups", "ec2:DescribeNetworkInterfaces"], resources=["*"]
                ),
                iam.PolicyStatement(
                    actions=["ec2:DeleteSecurityGroup"],
                    resources=[groups],
                    conditions={"ArnEquals": {"ec2:Vpc": vpc.vpc_arn}},
                ),
            ],
        )
        waiting = provider(
            self,
            "Provider",
            on_event_handler=on_event,
            is_complete_handler=waiter,
            query_interval=QUERY_INTERVAL,
            total_timeout=TOTAL_TIMEOUT,
        )
        # A new logical id: CloudFormation refuses to change a custom resource's service token.
        self.resource = CustomResource(
            self,
            "Cleanup",
            service_token=waiting.service_token,
            resource_type="Custom::VpcOriginCleanup",
            properties={"VpcId": vpc.vpc_id},
        )
        self.resource.node.add_dependency(*vpc.private_subnets)
        acknowledge_lambda_logs(on_event.role, "The clean-up's start function")
        acknowledge_lambda_logs(waiter.role, "The clean-up's waiter function")
        policy = default_policy(waiter.role)
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeSecurityGroups and ec2:DescribeNetworkInterfaces support no resource-level "
            "permissions; both only read.",
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:security-group/*]",
            "CloudFront creates the group to delete, so its id is unknown; the ec2:Vpc condition "
            "limits deletion to groups of this stack's VPC.",
        )
