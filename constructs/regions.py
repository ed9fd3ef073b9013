"""Region-dependent choices, made by CloudFormation so that templates stay environment-agnostic."""

from __future__ import annotations

from aws_cdk import Aws, CfnCondition, Fn, Stack
from constructs import Construct

_US_EAST_1 = "InUsEast1"


def in_us_east_1(scope: Construct) -> CfnCondition:
    """The stack's one condition "deployed in us-east-1", created on first use."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child(_US_EAST_1)
    if isinstance(existing, CfnCondition):
        return existing
    return CfnCondition(stack, _US_EAST_1, expression=Fn.condition_equals(Aws.REGION, "us-east-1"))
