"""The web server stack: network, instance, document-root volume and the site's CloudFront front.

It consumes the content stack's image URL and log bucket; nothing flows back, so the two
stacks deploy in order with no cycle.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct
from constructs.cloudfront_prefix_list import CloudFrontOriginFacingPrefixList
from constructs.document_root_volume import SNAPSHOT_TAG, DocumentRootVolume
from constructs.nag import acknowledge
from constructs.origin_token import OriginToken
from constructs.os_update import OsUpdateDocument
from constructs.secure_distribution import SecureDistribution
from constructs.server_alarms import HEALTH_NAMESPACE, ServerAlarms
from constructs.site_buckets import FallbackBucket, RunOutputBucket
from constructs.site_configuration import SiteConfiguration
from constructs.site_network import SiteNetwork
from constructs.volume_snapshots import VolumeSnapshotSchedule
from constructs.web_server import WebServer

from stacks.settings import PAGE_CACHE_SECONDS, PROJECT_ROOT, SiteSettings

# The device name requested in attach-volume; Nitro instances expose it as NVMe.
DOCUMENT_ROOT_DEVICE = "/dev/sdf"
# Header CloudFront adds to every origin request; Apache refuses requests without it.
ORIGIN_VERIFY_HEADER = "X-Origin-Verify"
# Fail over to the fallback copy within seconds (CloudFront allows 1-10 s and 1-3 attempts).
ORIGIN_CONNECTION_TIMEOUT_SECONDS = 2
ORIGIN_READ_TIMEOUT_SECONDS = 10
# 403 too: a request signed with a token the server does not know yet, during a rotation.
FAILOVER_STATUS_CODES = (403, 500, 502, 503, 504)
INDEX_REWRITE_FUNCTION = PROJECT_ROOT / "assets" / "cloudfront" / "index-rewrite.js"
MAINTENANCE_PAGE_DIR = PROJECT_ROOT / "assets" / "site" / "maintenance"
MAINTENANCE_PAGE = f"/{FallbackBucket.MAINTENANCE_PREFIX}index.html"
# What a viewer gets when neither origin has the page: the maintenance page, with this status.
MAINTENANCE_RESPONSES = {403: 404, 404: 404, 500: 503, 502: 503, 503: 503, 504: 503}
ERROR_CACHE_SECONDS = 10


class WebServerStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: SiteSettings,
        image_url: str,
        image_domain: str,
        log_bucket: s3.IBucket,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.network = SiteNetwork(self, "Network", flow_log_retention_days=settings.log_retention_days)
        subnet = self.network.web_subnet

        self.document_root = DocumentRootVolume(
            self,
            "DocumentRoot",
            availability_zone=subnet.availability_zone,
            size_gib=settings.volume_size_gib,
            volume_type=settings.volume_type,
            iops=settings.volume_iops,
            throughput_mibps=settings.volume_throughput_mibps,
            removal_policy=settings.effective_volume_removal_policy,
            snapshot_group=settings.environment,
        )
        self.snapshots = VolumeSnapshotSchedule(
            self,
            "Snapshots",
            tag_key=SNAPSHOT_TAG,
            tag_value=settings.environment,
            retain_days=settings.snapshot_retention_days,
        )
        self.origin_token = OriginToken(self, "OriginToken", generation=settings.origin_token_generation)
        self.server = WebServer(
            self,
            "WebServer",
            vpc=self.network.vpc,
            subnet=subnet,
            instance_type=settings.instance_type,
            arm64=settings.is_graviton,
            detailed_monitoring=settings.detailed_monitoring,
            server_generation=settings.server_generation,
        )
        role = self.server.role
        self.document_root.allow_self_attach(instance=self.server.instance, principal=role)
        self.origin_token.grant_read(role)

        self.fallback = FallbackBucket(
            self, "Fallback", destroy_on_delete=settings.effective_bucket_removal_policy == "destroy"
        )
        prefix_list = CloudFrontOriginFacingPrefixList(self, "CloudFrontOrigins")
        self.server.allow_http_from_prefix_list(prefix_list.prefix_list_id)
        fallback_origin = origins.S3BucketOrigin.with_origin_access_control(self.fallback.bucket)
        self.cdn = SecureDistribution(
            self,
            "SiteCdn",
            origin=origins.OriginGroup(
                primary_origin=origins.HttpOrigin(
                    self.server.add_fixed_address(),
                    protocol_policy=cloudfront.OriginProtocolPolicy.HTTP_ONLY,
                    custom_headers={ORIGIN_VERIFY_HEADER: self.origin_token.value},
                    # A server that does not answer fails over in seconds, not 30 s.
                    connection_timeout=Duration.seconds(ORIGIN_CONNECTION_TIMEOUT_SECONDS),
                    connection_attempts=1,
                    read_timeout=Duration.seconds(ORIGIN_READ_TIMEOUT_SECONDS),
                ),
                fallback_origin=fallback_origin,
                fallback_status_codes=list(FAILOVER_STATUS_CODES),
            ),
            cache_policy=self._page_cache_policy(settings.page_cache_seconds),
            comment=f"Site pages ({settings.environment})",
            price_class=settings.price_class,
            log_bucket=log_bucket,
            log_prefix="cloudfront/site/",
            content_security_policy=(
                f"default-src 'none'; img-src https://{image_domain}; style-src 'unsafe-inline'; "
                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            ),
            web_acl_arn=settings.waf_web_acl_arn,
            geo_allowlist=settings.geo_allowlist,
            domain_name=settings.domain_name,
            certificate_arn=settings.certificate_arn,
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
        acknowledge(
            self.cdn.distribution.node.default_child,
            "AwsSolutions-CFR5",
            "The primary origin is the web server itself, which has no TLS certificate: CloudFront "
            "reaches it on HTTP port 80, which its security group admits only from CloudFront's "
            "origin-facing addresses, and Apache only with this distribution's secret header; "
            "viewers are always on HTTPS.",
        )
        site_domain = settings.domain_name or self.cdn.domain_name
        distribution = self.cdn.distribution
        self.fallback.upload_maintenance_page(page_dir=MAINTENANCE_PAGE_DIR, served_by=distribution)
        self._allow_site_operations(role, distribution)

        self.run_output = RunOutputBucket(
            self,
            "RunOutput",
            retention_days=settings.log_retention_days,
            destroy_on_delete=settings.effective_bucket_removal_policy == "destroy",
        )
        self.configuration = SiteConfiguration(
            self,
            "Configuration",
            instance=self.server.instance,
            role=role,
            values={
                "VolumeId": self.document_root.volume_id,
                "DeviceName": DOCUMENT_ROOT_DEVICE,
                "VolumeSizeGib": str(settings.volume_size_gib),
                "ImageUrl": image_url,
                "SiteDomain": site_domain,
                "OriginTokenSecret": self.origin_token.secret_arn,
                "FallbackBucket": self.fallback.bucket.bucket_name,
                "DistributionId": distribution.distribution_id,
                "SiteName": self.stack_name,
            },
            output_bucket=self.run_output.bucket,
            output_prefix="site-configuration/",
        )
        self.os_update = OsUpdateDocument(self, "OsUpdate")
        self.alarms = ServerAlarms(
            self,
            "Alarms",
            instance_id=self.server.instance_id,
            site_name=self.stack_name,
            distribution_id=distribution.distribution_id,
            alarm_email=settings.alarm_email,
        )

        CfnOutput(
            self, "SiteUrl", value=f"https://{site_domain}/", description="The page, through CloudFront"
        )
        CfnOutput(self, "ImageUrl", value=image_url, description="The image the page shows")
        CfnOutput(
            self,
            "InstanceId",
            value=self.server.instance_id,
            description="aws ssm start-session --target <id>",
        )
        CfnOutput(self, "DocumentRootVolumeId", value=self.document_root.volume_id)
        CfnOutput(self, "SiteDistributionDomain", value=self.cdn.domain_name)
        CfnOutput(self, "SiteDistributionId", value=distribution.distribution_id)
        CfnOutput(self, "FallbackBucketName", value=self.fallback.bucket.bucket_name)
        CfnOutput(
            self,
            "ConfigurationAssociationId",
            value=self.configuration.association.attr_association_id,
            description="aws ssm start-associations-once --association-ids <id> re-applies the configuration",
        )
        CfnOutput(
            self,
            "OsUpdateDocument",
            value=self.os_update.document.ref,
            description="make os-update runs it on the server",
        )

    def _allow_site_operations(self, role: iam.IRole, distribution: cloudfront.IDistribution) -> None:
        """What the server's timers do: mirror the document root, invalidate, report health.

        A policy of its own, outside the role's default policy (which the launch template
        waits for): the distribution it names is created after the instance.
        """
        bucket = self.fallback.bucket
        policy = iam.Policy(
            self,
            "SiteOperationsPolicy",
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
                    resources=[distribution.distribution_arn],
                ),
                iam.PolicyStatement(
                    sid="PublishOriginHealth",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringEquals": {"cloudwatch:namespace": HEALTH_NAMESPACE}},
                ),
            ],
        )
        resource = policy.node.default_child
        acknowledge(
            resource,
            f"AwsSolutions-IAM5[Resource::<{self.get_logical_id(bucket.node.default_child)}.Arn>/*]",
            "The server mirrors whatever paths its document root holds into its own fallback "
            "bucket; the keys are the site's file names, unknown in advance.",
        )
        acknowledge(
            resource,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData has no resource-level permissions; the condition limits it "
            "to the site's own metric namespace.",
        )

    def _page_cache_policy(self, seconds: int) -> cloudfront.ICachePolicy:
        """Pages are cached at the edge and compressed; the server invalidates what it changes.

        Apache sends no Cache-Control, so ``seconds`` is how long an edge keeps a page when no
        invalidation comes (a safety net); an edit shows once the server's mirror has run.
        """
        return cloudfront.CachePolicy(
            self,
            "PageCache",
            comment="Site pages: cached at the edge, invalidated by the server on change",
            default_ttl=Duration.seconds(seconds),
            # The longest page_cache_seconds allows: a longer Cache-Control from the origin
            # is still honoured up to there.
            max_ttl=Duration.seconds(PAGE_CACHE_SECONDS[1]),
            min_ttl=Duration.seconds(0),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )
