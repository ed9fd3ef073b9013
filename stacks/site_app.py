"""Composes the site's stacks into an app and puts every stack under cdk-nag."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Annotations, App, CfnCustomResource, CfnResource, Stack, Tags, Validations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import AwsSolutionsChecks

from settings.model import SiteSettings
from stacks.content_stack import SiteContentStack
from stacks.web_server_stack import WebServerStack

RAW_TAGGED_TYPES = ("AWS::IAM::Role", "AWS::Lambda::Function")


@dataclass(frozen=True)
class SiteStacks:
    content: SiteContentStack
    web_server: WebServerStack


def add_site_stacks(app: App, settings: SiteSettings) -> SiteStacks:
    # A tag key Data Lifecycle Manager refuses stays off the snapshot policy, so off the stacks' own tags too,
    # which CloudFormation passes on to every resource it tags.
    off_dlm = settings.tags_dlm_refuses
    stack_tags = {key: value for key, value in settings.all_tags.items() if key not in off_dlm}
    shared = dict(settings=settings, termination_protection=settings.is_production, tags=stack_tags)
    content = SiteContentStack(
        app,
        settings.stack_name("Content"),
        description="Site image bucket and its CloudFront distribution (Origin Access Control)",
        **shared,
    )
    web_server = WebServerStack(
        app,
        settings.stack_name("WebServer"),
        content=content,
        description="Apache web server with its document root on a retained EBS volume, behind CloudFront",
        **shared,
    )
    # Stack tags reach every resource CloudFormation can tag (even aws-cdk-lib's provider roles);
    # Tags.of also writes them into each template, where they can be read. Not into the launch
    # template: a new tag would be a new version, which replaces the instance (it has them itself).
    for key, value in settings.all_tags.items():
        off = ["AWS::EC2::LaunchTemplate", *["AWS::DLM::LifecyclePolicy"] * (key in off_dlm)]
        Tags.of(app).add(key, value, exclude_resource_types=off)
    for key in off_dlm:
        Annotations.of(web_server.snapshots.policy).add_info(
            f"tag key {key!r} is left off this snapshot policy: Data Lifecycle Manager takes keys of ASCII "
            "letters, digits and + , - . / : ; < = _ only (docs/settings.md)"
        )
    for stack in (content, web_server):
        _custom_resources_wait_for_log_groups(stack)
        if off_dlm:
            _tag_raw_resources(stack, {key: settings.tags[key] for key in off_dlm})
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return SiteStacks(content=content, web_server=web_server)


def _tag_raw_resources(stack: Stack, tags: dict[str, str]) -> None:
    """aws-cdk-lib's provider roles and functions are plain CfnResources, which only stack tags reach: the
    tags kept off the stack's are written on them."""
    listed = [{"Key": key, "Value": value} for key, value in tags.items()]
    for construct in stack.node.find_all():
        if type(construct) is CfnResource and construct.cfn_resource_type in RAW_TAGGED_TYPES:
            construct.add_property_override("Tags", listed)


def _custom_resources_wait_for_log_groups(stack: Stack) -> None:
    """Each Lambda function's log group before any custom resource: aws-cdk-lib makes a group depend on
    its function only, and a custom resource run first has Lambda create it ("already exists")."""
    log_groups, custom = [], []
    # Python's own type checks first: every property read goes to Node and back.
    for construct in stack.node.find_all():
        if isinstance(construct, logs.CfnLogGroup):
            if isinstance(construct.node.scope.node.scope, lambda_.Function):
                log_groups.append(construct)
        elif isinstance(construct, CfnCustomResource) or (
            type(construct) is CfnResource
            and construct.cfn_resource_type.startswith(("Custom::", "AWS::CloudFormation::CustomResource"))
        ):
            custom.append(construct)
    for resource in custom:
        resource.node.add_dependency(*log_groups)
