"""The site's front door: CloudFront, with the web server first and its fallback copy second."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import custom_resources as cr
from constructs import Construct

from common.distribution import DistributionOptions, SecureDistribution, private_bucket_origin
from common.nag import acknowledge, acknowledge_lambda_logs, objects_of
from common.regions import regional_name
from front_door.fallback import FallbackBucket
from front_door.vpc_origin_cleanup import VpcOriginCleanup
from network.infrastructure import SiteNetwork
from web_server.infrastructure import WebServer

RUNTIME = Path(__file__).resolve().parent / "runtime"
INDEX_REWRITE_FUNCTION = RUNTIME / "index-rewrite.js"
MAINTENANCE_PAGE_DIR = RUNTIME / "maintenance"
# What a viewer gets when neither origin has the page: the maintenance page, with this status.
MAINTENANCE_RESPONSES = {403: 404, 404: 404, 500: 503, 502: 503, 503: 503, 504: 503}
PREFIX_LIST_NAME = "com.amazonaws.global.cloudfront.origin-facing"


class _InstanceEndpoint(cloudfront.VpcOriginEndpoint):
    """An instance launched from a launch template, which aws-cdk-lib's ec2_instance() cannot take."""

    def __init__(self, instance: ec2.CfnInstance) -> None:
        super().__init__()
        self.instance = instance

    endpoint_arn = property(
        lambda self: Stack.of(self.instance).format_arn(
            service="ec2", resource="instance", resource_name=self.instance.ref
        )
    )
    domain_name = property(lambda self: self.instance.attr_private_dns_name)


def _admit_cloudfront(scope: Construct, server: WebServer) -> None:
    """HTTP to ``server`` from CloudFront's origin-facing prefix list. Its id differs per Region, and
    a synth-time lookup would tie the app to an account and need credentials: a custom resource
    asks EC2 during the deployment instead."""
    field = "PrefixLists.0.PrefixListId"
    call = cr.AwsSdkCall(
        service="EC2",
        action="describeManagedPrefixLists",
        parameters={"Filters": [{"Name": "prefix-list-name", "Values": [PREFIX_LIST_NAME]}]},
        physical_resource_id=cr.PhysicalResourceId.of(PREFIX_LIST_NAME),
        output_paths=[field],
    )
    lookup = cr.AwsCustomResource(
        Construct(scope, "CloudFrontOrigins"),
        "Lookup",
        on_update=call,  # on create too: AwsCustomResource's default
        policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=cr.AwsCustomResourcePolicy.ANY_RESOURCE),
        install_latest_aws_sdk=False,
    )
    acknowledge(
        lookup.node.find_child("CustomResourcePolicy").node.default_child,
        "AwsSolutions-IAM5[Resource::*]",
        "ec2:DescribeManagedPrefixLists supports no resource-level permissions; the policy "
        "allows that one read-only action and nothing else.",
    )
    acknowledge_lambda_logs(lookup.grant_principal, "The lookup function of AwsCustomResource")
    server.security_group.add_ingress_rule(
        ec2.Peer.prefix_list(lookup.get_response_field(field)),
        ec2.Port.tcp(80),
        "HTTP from CloudFront origin-facing servers",
    )


class SiteFrontDoor(SecureDistribution):
    """The site distribution and everything that decides where a request goes."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        server: WebServer,
        network: SiteNetwork,
        fallback: FallbackBucket,
        tags: Mapping[str, str],
        page_cache_seconds: int,
        options: DistributionOptions,
    ) -> None:
        # Construct only: the distribution is made last, once its origins exist in this scope.
        Construct.__init__(self, scope, construct_id)
        _admit_cloudfront(self, server)
        cleanup = VpcOriginCleanup(self, "VpcOriginCleanup", vpc=network.vpc)
        # CloudFront cannot update a VPC origin that a distribution uses (HTTP 409): every change of
        # the server or the tags makes a new one (a new logical id); CloudFormation removes the old.
        replaced_by = json.dumps([server.replacement_key, sorted(tags.items())])
        generation = hashlib.sha256(replaced_by.encode()).hexdigest()[:8]
        self.server_origin = cloudfront.VpcOrigin(
            self,
            f"ServerOrigin{generation}",
            endpoint=_InstanceEndpoint(server.instance),
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTP_ONLY,
            http_port=80,
        )
        # CloudFront names VPC origins per account, in at most 64 characters.
        self.server_origin.node.default_child.add_property_override(
            "VpcOriginEndpointConfig.Name", regional_name(self.server_origin, max_length=64)
        )
        # CloudFront requires the internet gateway; the clean-up must outlive the origin.
        self.server_origin.node.add_dependency(network.internet_gateway, cleanup.resource)
        fallback_origin = private_bucket_origin(self, "FallbackAccess", fallback.bucket)
        self._distribute(
            options,
            origin=origins.OriginGroup(
                primary_origin=origins.VpcOrigin.with_vpc_origin(
                    self.server_origin,
                    # A server that does not answer fails over in seconds, not 30 s (CloudFront
                    # allows 1-10 s and 1-3 attempts).
                    connection_timeout=Duration.seconds(2),
                    connection_attempts=1,
                    read_timeout=Duration.seconds(10),
                ),
                fallback_origin=fallback_origin,
                fallback_status_codes=[500, 502, 503, 504],
            ),
            # Cached at the edge, compressed, invalidated by the server on change; with neither that
            # nor Cache-Control from Apache, an edge keeps a page for page_cache_seconds (a safety net).
            cache_policy=cloudfront.CachePolicy(
                self,
                "PageCache",
                comment="Site pages: cached at the edge, invalidated by the server on change",
                default_ttl=Duration.seconds(page_cache_seconds),
                # A longer Cache-Control from the origin is honoured up to CloudFront's longest
                # TTL, a year: https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/Expiration.html
                max_ttl=Duration.days(365),
                # The L2's defaults: no minimum TTL, and the path alone is the cache key.
                enable_accept_encoding_gzip=True,
                enable_accept_encoding_brotli=True,
            ),
            # The fallback copy has objects, not directories: "/" must ask for "/index.html".
            viewer_request_function=cloudfront.Function(
                self,
                "IndexRewrite",
                comment="Directory URLs ask for their index.html",
                code=cloudfront.FunctionCode.from_file(file_path=str(INDEX_REWRITE_FUNCTION)),
                runtime=cloudfront.FunctionRuntime.JS_2_0,
            ),
            error_responses=[
                cloudfront.ErrorResponse(
                    http_status=status,
                    response_http_status=shown,
                    response_page_path=f"/{FallbackBucket.MAINTENANCE_PREFIX}index.html",
                    ttl=Duration.seconds(10),
                )
                for status, shown in MAINTENANCE_RESPONSES.items()
            ],
        )
        self.add_path(f"/{FallbackBucket.MAINTENANCE_PREFIX}*", fallback_origin)
        # Invalidated: an edited page shows at once, not after the edge's day of caching.
        fallback.upload(
            "MaintenancePage",
            source=MAINTENANCE_PAGE_DIR,
            key_prefix=FallbackBucket.MAINTENANCE_PREFIX,
            served_by=self.distribution,
            writes="replaces the maintenance page under _maintenance/",
        )
        # What the server's mirror does: copy its document root into the fallback bucket and
        # invalidate what changed (the distribution is created after the instance).
        bucket = fallback.bucket
        write = ["s3:PutObject", "s3:DeleteObject"]
        policy = server.add_policy(
            self,
            "MirrorPolicy",
            iam.PolicyStatement(
                sid="ListFallbackCopy", actions=["s3:ListBucket"], resources=[bucket.bucket_arn]
            ),
            iam.PolicyStatement(
                sid="MirrorDocumentRoot", actions=write, resources=[bucket.arn_for_objects("*")]
            ),
            # The maintenance page belongs to the deployment, never to the mirror.
            iam.PolicyStatement(
                sid="KeepMaintenancePage",
                effect=iam.Effect.DENY,
                actions=write,
                resources=[bucket.arn_for_objects(f"{FallbackBucket.MAINTENANCE_PREFIX}*")],
            ),
            iam.PolicyStatement(
                sid="InvalidateChangedPages",
                actions=["cloudfront:CreateInvalidation"],
                resources=[self.distribution.distribution_arn],
            ),
        )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[{objects_of(bucket)}]",
            "The server mirrors whatever paths its document root holds into its own fallback "
            "bucket; the keys are the site's file names, unknown in advance.",
        )
