"""Acknowledging a cdk-nag finding on exactly the resource it names."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

# Reasons shorter than this are not reasons; tests/unit/test_nag.py enforces the same floor.
MIN_REASON_LENGTH = 40
_LAMBDA_LOGS = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def acknowledge(resource: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge AwsSolutions ``rule`` (e.g. ``AwsSolutions-S1``) on ``resource`` only."""
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(f"acknowledgement of {rule} needs a real reason, got {reason!r}")
    Validations.of(resource).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))


def acknowledge_lambda_logs(role: IConstruct, function: str) -> None:
    """The AWS-managed basic execution policy on the role of ``function`` (what the function is)."""
    acknowledge(
        role.node.default_child,
        f"AwsSolutions-IAM4[{_LAMBDA_LOGS}]",
        f"{function} writes its own CloudWatch logs; the AWS-managed basic execution policy grants "
        "exactly that and nothing more.",
    )


def default_policy(role: IConstruct) -> IConstruct:
    """The CloudFormation policy behind ``role``'s default policy."""
    return role.node.find_child("DefaultPolicy").node.default_child


def objects_of(bucket: IConstruct, prefix: str = "") -> str:
    """How cdk-nag names the objects under ``prefix`` of ``bucket`` (an s3.Bucket) in a finding."""
    return f"Resource::<{Stack.of(bucket).get_logical_id(bucket.node.default_child)}.Arn>/{prefix}*"
