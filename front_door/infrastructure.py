"""The site's front door: CloudFront, with the web server first and its fallback copy second."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from common.distribution import SecureDistribution, private_bucket_origin
from common.nag import acknowledge
from common.regions import regional_name
from front_door.fallback import FallbackBucket
from front_door.prefix_list import CloudFrontOriginFacingPrefixList
from front_door.vpc_origin_cleanup import VpcOriginCleanup
from network.infrastructure import SiteNetwork
from web_server.infrastructure import WebServer

RUNTIME = Path(__file__).resolve().parent / "runtime"
# Fail over to the fallback copy within seconds (CloudFront allows 1-10 s and 1-3 attempts).
ORIGIN_CONNECTION_TIMEOUT_SECONDS = 2
ORIGIN_READ_TIMEOUT_SECONDS = 10
FAILOVER_STATUS_CODES = (500, 502, 503, 504)
INDEX_REWRITE_FUNCTION = RUNTIME / "index-rewrite.js"
MAINTENANCE_PAGE_DIR = RUNTIME / "maintenance"
MAINTENANCE_PAGE = f"/{FallbackBucket.MAINTENANCE_PREFIX}index.html"
# What a viewer gets when neither origin has the page: the maintenance page, with this status.
MAINTENANCE_RESPONSES = {403: 404, 404: 404, 500: 503, 502: 503, 503: 503, 504: 503}
ERROR_CACHE_SECONDS = 10
# CloudFront's longest TTL, one year:
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/Expiration.html
MAX_TTL = Duration.days(365)
# CloudFront names VPC origins per account, in at most 64 characters.
_VPC_ORIGIN_NAME_LENGTH = 64


class _InstanceEndpoint(cloudfront.VpcOriginEndpoint):
    """An instance launched from a launch template, which aws-cdk-lib's ec2_instance() cannot take."""

    def __init__(self, instance: ec2.CfnInstance) -> None:
        super().__init__()
        self._arn = Stack.of(instance).format_arn(
            service="ec2", resource="instance", resource_name=instance.ref
        )
        self._domain_name = instance.attr_private_dns_name

    @property
    def endpoint_arn(self) -> str:
        return self._arn

    @property
    def domain_name(self) -> str:
        return self._domain_name


class SiteFrontDoor(SecureDistribution):
    """The site distribution and everything that decides where a request goes.

    - The web server is reached only through a CloudFront VPC origin: it has no public
      address, and its security group admits HTTP from CloudFront's origin-facing addresses.
    - An origin group fails over to the fallback bucket (Origin Access Control) within
      seconds when the server does not answer or answers 5xx; the server keeps that bucket
      a copy of its document root. A maintenance page covers what neither has.
    - Directory URLs ask for their index.html, which the fallback copy needs.
    - Pages are cached and compressed at the edge; the server invalidates what it changes.

    CloudFront cannot update a VPC origin that a distribution uses (HTTP 409), so every
    change of the server or of the tags gets a new VPC origin (a new logical id), and
    CloudFormation removes the old one in its cleanup phase.
    """

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
        comment: str,
        price_class: str,
        log_bucket: s3.IBucket,
        image_domain: str,
        web_acl_arn: str | None,
        geo_allowlist: Sequence[str],
        domain_name: str | None,
        certificate_arn: str | None,
    ) -> None:
        # Construct only: the distribution is made last, once its origins exist in this scope.
        Construct.__init__(self, scope, construct_id)
        prefix_list = CloudFrontOriginFacingPrefixList(self, "CloudFrontOrigins")
        server.allow_http_from_prefix_list(prefix_list.prefix_list_id)
        cleanup = VpcOriginCleanup(
            self, "VpcOriginCleanup", vpc=network.vpc, subnets=network.vpc.private_subnets
        )
        generation = hashlib.sha256(
            json.dumps([server.replacement_key, sorted(tags.items())]).encode()
        ).hexdigest()[:8]
        self.server_origin = cloudfront.VpcOrigin(
            self,
            f"ServerOrigin{generation}",
            endpoint=_InstanceEndpoint(server.instance),
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTP_ONLY,
            http_port=80,
        )
        self.server_origin.node.default_child.add_property_override(
            "VpcOriginEndpointConfig.Name",
            regional_name(self.server_origin, max_length=_VPC_ORIGIN_NAME_LENGTH),
        )
        # CloudFront requires the internet gateway; the clean-up must outlive the origin.
        self.server_origin.node.add_dependency(network.internet_gateway, cleanup.resource)
        fallback_origin = private_bucket_origin(self, "FallbackAccess", fallback.bucket)
        self._distribute(
            origin=origins.OriginGroup(
                primary_origin=origins.VpcOrigin.with_vpc_origin(
                    self.server_origin,
                    domain_name=server.instance.attr_private_dns_name,
                    # A server that does not answer fails over in seconds, not 30 s.
                    connection_timeout=Duration.seconds(ORIGIN_CONNECTION_TIMEOUT_SECONDS),
                    connection_attempts=1,
                    read_timeout=Duration.seconds(ORIGIN_READ_TIMEOUT_SECONDS),
                ),
                fallback_origin=fallback_origin,
                fallback_status_codes=list(FAILOVER_STATUS_CODES),
            ),
            cache_policy=self._page_cache_policy(page_cache_seconds),
            comment=comment,
            price_class=price_class,
            log_bucket=log_bucket,
            log_prefix="cloudfront/site/",
            content_security_policy=(
                f"default-src 'none'; img-src https://{image_domain}; style-src 'unsafe-inline'; "
                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            ),
            web_acl_arn=web_acl_arn,
            geo_allowlist=geo_allowlist,
            domain_name=domain_name,
            certificate_arn=certificate_arn,
            path_origins={f"/{FallbackBucket.MAINTENANCE_PREFIX}*": fallback_origin},
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
                    response_page_path=MAINTENANCE_PAGE,
                    ttl=Duration.seconds(ERROR_CACHE_SECONDS),
                )
                for status, shown in MAINTENANCE_RESPONSES.items()
            ],
        )
        self.fallback = fallback
        fallback.upload_maintenance_page(page_dir=MAINTENANCE_PAGE_DIR, served_by=self.distribution)

    def allow_mirror(self, role: iam.IRole) -> iam.Policy:
        """What the server's mirror does: copy its document root into the fallback bucket and
        invalidate what changed. A policy of its own, outside the role's default policy (which
        the launch template waits for): the distribution it names is created after the instance.
        """
        bucket = self.fallback.bucket
        policy = iam.Policy(
            self,
            "MirrorPolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="ListFallbackCopy", actions=["s3:ListBucket"], resources=[bucket.bucket_arn]
                ),
                iam.PolicyStatement(
                    sid="MirrorDocumentRoot",
                    actions=["s3:PutObject", "s3:DeleteObject"],
                    resources=[bucket.arn_for_objects("*")],
                ),
                # The maintenance page belongs to the deployment, never to the mirror.
                iam.PolicyStatement(
                    sid="KeepMaintenancePage",
                    effect=iam.Effect.DENY,
                    actions=["s3:PutObject", "s3:DeleteObject"],
                    resources=[bucket.arn_for_objects(f"{FallbackBucket.MAINTENANCE_PREFIX}*")],
                ),
                iam.PolicyStatement(
                    sid="InvalidateChangedPages",
                    actions=["cloudfront:CreateInvalidation"],
                    resources=[self.distribution.distribution_arn],
                ),
            ],
        )
        acknowledge(
            policy.node.default_child,
            f"AwsSolutions-IAM5[Resource::<{Stack.of(self).get_logical_id(bucket.node.default_child)}.Arn>/*]",
            "The server mirrors whatever paths its document root holds into its own fallback "
            "bucket; the keys are the site's file names, unknown in advance.",
        )
        return policy

    def _page_cache_policy(self, seconds: int) -> cloudfront.ICachePolicy:
        """Pages are cached at the edge and compressed; the server invalidates what it changes.

        ``seconds`` is how long an edge keeps a page when Apache sends no Cache-Control and no
        invalidation comes (a safety net); an edit shows once the server's mirror has run.
        """
        return cloudfront.CachePolicy(
            self,
            "PageCache",
            comment="Site pages: cached at the edge, invalidated by the server on change",
            default_ttl=Duration.seconds(seconds),
            # A longer Cache-Control from the origin is honoured up to CloudFront's limit.
            max_ttl=MAX_TTL,
            min_ttl=Duration.seconds(0),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )
