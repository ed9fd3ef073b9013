"""Region-dependent choices, made by CloudFormation so that templates stay environment-agnostic."""

from __future__ import annotations

from aws_cdk import Aws, CfnCondition, Fn, ICfnConditionExpression, Names, Stack
from constructs import Construct

# Room for "-" and the longest Region name CloudFormation can put there (15 characters:
# us-isof-south-1); tests/unit checks every Region botocore knows.
REGION_SUFFIX_ROOM = 16
# CloudFront standard logging does not deliver to S3 buckets in the Regions that need an
# opt-in (launched after March 2019), as the CloudFront Developer Guide says in "Standard
# logging (legacy)": https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logging-legacy-s3.html
# The list is AWS's opt-in Regions: https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-regions.html
OPT_IN_REGIONS = tuple(
    """af-south-1 ap-east-1 ap-east-2 ap-south-2 ap-southeast-3 ap-southeast-4 ap-southeast-5
    ap-southeast-6 ap-southeast-7 ca-west-1 eu-central-2 eu-south-1 eu-south-2 il-central-1
    me-central-1 me-south-1 mx-central-1""".split()
)
# Fn::Or takes at most 10 conditions.
_OR_LIMIT = 10


def regional_name(scope: Construct, *, max_length: int) -> str:
    """A name for ``scope`` unique in the account: its path in the app, then the Region. CloudFront names
    its policies, origin access controls, functions and VPC origins per account, across Regions
    ("...AlreadyExists"): stacks deployed in a second Region must not take those of the first."""
    base = Names.unique_resource_name(scope, max_length=max_length - REGION_SUFFIX_ROOM, separator="-")
    return Fn.join("-", [base, Aws.REGION])


def _stack_condition(scope: Construct, name: str, expression: ICfnConditionExpression) -> CfnCondition:
    """The stack's one condition called ``name``, made on first use."""
    stack = Stack.of(scope)
    return stack.node.try_find_child(name) or CfnCondition(stack, name, expression=expression)


def in_us_east_1(scope: Construct) -> CfnCondition:
    """True where the stack is deployed in us-east-1."""
    return _stack_condition(scope, "InUsEast1", Fn.condition_equals(Aws.REGION, "us-east-1"))


def cloudfront_logs_delivered(scope: Construct) -> CfnCondition:
    """True where CloudFront can deliver standard logs to this stack's Region."""
    equals = [Fn.condition_equals(Aws.REGION, opt_in) for opt_in in OPT_IN_REGIONS]
    groups = [Fn.condition_or(*equals[i : i + _OR_LIMIT]) for i in range(0, len(equals), _OR_LIMIT)]
    in_opt_in_region = Fn.condition_or(*groups) if len(groups) > 1 else groups[0]
    return _stack_condition(scope, "CloudFrontLogsDelivered", Fn.condition_not(in_opt_in_region))
