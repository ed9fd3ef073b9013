"""The web server stack: network, instance, document-root volume and the site's CloudFront front.

It consumes the content stack's image URL and log bucket; nothing flows back, so the two
stacks deploy in order with no cycle.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, Duration, Fn, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from constructs import Construct
from constructs.boot_user_data import boot_user_data
from constructs.cloudfront_prefix_list import CloudFrontOriginFacingPrefixList
from constructs.document_root_volume import SNAPSHOT_TAG, DocumentRootVolume
from constructs.nag import acknowledge
from constructs.secure_distribution import SecureDistribution
from constructs.server_alarms import ServerAlarms
from constructs.site_network import SiteNetwork
from constructs.volume_snapshots import VolumeSnapshotSchedule
from constructs.web_server import WebServer

from stacks.settings import SiteSettings

# The device name requested in attach-volume; Nitro instances expose it as NVMe.
DOCUMENT_ROOT_DEVICE = "/dev/sdf"
# Header CloudFront adds to every origin request; Apache refuses requests without it.
ORIGIN_VERIFY_HEADER = "X-Origin-Verify"


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
        # Any CloudFront distribution may reach the origin-facing prefix list; only this one
        # knows the token: the UUID of this stack's id, resolved at deploy time, never in the
        # template text.
        origin_verify_token = Fn.select(2, Fn.split("/", Aws.STACK_ID))
        self.server = WebServer(
            self,
            "WebServer",
            vpc=self.network.vpc,
            subnet=subnet,
            instance_type=settings.instance_type,
            arm64=settings.is_graviton,
            user_data=boot_user_data(
                volume_id=self.document_root.volume_id,
                image_url=image_url,
                device_name=DOCUMENT_ROOT_DEVICE,
                origin_verify_token=origin_verify_token,
            ),
        )
        self.document_root.allow_self_attach(self.server.instance)
        self.alarms = ServerAlarms(
            self, "Alarms", instance=self.server.instance, alarm_email=settings.alarm_email
        )

        prefix_list = CloudFrontOriginFacingPrefixList(self, "CloudFrontOrigins")
        self.server.allow_http_from_prefix_list(prefix_list.prefix_list_id)
        self.cdn = SecureDistribution(
            self,
            "SiteCdn",
            origin=origins.HttpOrigin(
                self.server.add_fixed_address(),
                protocol_policy=cloudfront.OriginProtocolPolicy.HTTP_ONLY,
                custom_headers={ORIGIN_VERIFY_HEADER: origin_verify_token},
            ),
            cache_policy=self._page_cache_policy(settings.page_cache_seconds),
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
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
        )
        acknowledge(
            self.cdn.distribution.node.default_child,
            "AwsSolutions-CFR5",
            "The origin is the web server itself, which has no TLS certificate: CloudFront "
            "reaches it on HTTP port 80, which its security group admits only from CloudFront's "
            "origin-facing addresses, and Apache only with this distribution's secret header; "
            "viewers are always on HTTPS.",
        )
        site_domain = settings.domain_name or self.cdn.domain_name

        CfnOutput(
            self, "SiteUrl", value=f"https://{site_domain}/", description="The page, through CloudFront"
        )
        CfnOutput(self, "ImageUrl", value=image_url, description="The image the page shows")
        CfnOutput(
            self,
            "InstanceId",
            value=self.server.instance.instance_id,
            description="aws ssm start-session --target <id>",
        )
        CfnOutput(self, "DocumentRootVolumeId", value=self.document_root.volume_id)
        CfnOutput(self, "SiteDistributionDomain", value=self.cdn.domain_name)

    def _page_cache_policy(self, seconds: int) -> cloudfront.ICachePolicy:
        """Pages are served live from the volume: not cached unless page_cache_seconds says so."""
        if seconds == 0:
            return cloudfront.CachePolicy.CACHING_DISABLED
        return cloudfront.CachePolicy(
            self,
            "PageCache",
            comment="Site pages, cached for a configured time",
            default_ttl=Duration.seconds(seconds),
            max_ttl=Duration.seconds(seconds),
            min_ttl=Duration.seconds(0),
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )
