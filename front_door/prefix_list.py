"""The AWS-managed prefix list of CloudFront's origin-facing addresses, found at deploy time."""

from __future__ import annotations

from aws_cdk import custom_resources as cr
from constructs import Construct

from common.nag import acknowledge

PREFIX_LIST_NAME = "com.amazonaws.global.cloudfront.origin-facing"


class CloudFrontOriginFacingPrefixList(Construct):
    """Resolves the prefix list id in the deployment's region.

    The id differs per region, and a synth-time lookup would tie the app to an account and
    need credentials; a custom resource asks EC2 during the deployment instead.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        call = cr.AwsSdkCall(
            service="EC2",
            action="describeManagedPrefixLists",
            parameters={"Filters": [{"Name": "prefix-list-name", "Values": [PREFIX_LIST_NAME]}]},
            physical_resource_id=cr.PhysicalResourceId.of(PREFIX_LIST_NAME),
            output_paths=["PrefixLists.0.PrefixListId"],
        )
        self.lookup = cr.AwsCustomResource(
            self,
            "Lookup",
            on_create=call,
            on_update=call,
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(
                # Describe calls have no resource-level permissions in IAM.
                resources=cr.AwsCustomResourcePolicy.ANY_RESOURCE
            ),
            install_latest_aws_sdk=False,
        )
        self.prefix_list_id = self.lookup.get_response_field("PrefixLists.0.PrefixListId")
        acknowledge(
            self.lookup.node.find_child("CustomResourcePolicy").node.default_child,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeManagedPrefixLists supports no resource-level permissions; the policy "
            "allows that one read-only action and nothing else.",
        )
        provider_role = self.lookup.grant_principal
        acknowledge(
            provider_role.node.default_child,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "The lookup function of AwsCustomResource writes its own CloudWatch logs; the "
            "AWS-managed basic execution policy grants exactly that and nothing more.",
        )
