"""Deleting the stack strands nothing CloudFront placed in the VPC for its VPC origins."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from common.nag import acknowledge, acknowledge_lambda_logs, default_policy

HANDLER_DIR = Path(__file__).resolve().parent / "runtime" / "vpc_origin_cleanup"


class VpcOriginCleanup(Construct):
    """Make every VPC origin depend on :attr:`resource`: CloudFormation deletes in reverse order of
    dependencies, so the origins go first, then this (runtime/vpc_origin_cleanup/), then the subnets."""

    def __init__(self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc) -> None:
        super().__init__(scope, construct_id)
        groups = Stack.of(self).format_arn(service="ec2", resource="security-group", resource_name="*")
        function = lambda_.Function(
            self,
            "Function",
            description="On stack deletion: waits for CloudFront's VPC-origin interfaces, deletes its group",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="vpc_origin_cleanup.handler",
            code=lambda_.Code.from_asset(str(HANDLER_DIR)),
            timeout=Duration.minutes(15),
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
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=function.function_arn,
            resource_type="Custom::VpcOriginCleanup",
            properties={"VpcId": vpc.vpc_id},
        )
        self.resource.node.add_dependency(*vpc.private_subnets)
        acknowledge_lambda_logs(function.role, "The clean-up function")
        policy = default_policy(function.role)
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
