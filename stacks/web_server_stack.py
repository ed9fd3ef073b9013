"""The web server stack: network, instance, document-root volume and the site's CloudFront front."""

from __future__ import annotations

from operator import attrgetter

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from common.buckets import LogBucket
from common.distribution import DistributionOptions
from front_door.fallback import FallbackBucket
from front_door.infrastructure import SiteFrontDoor
from network.infrastructure import SiteNetwork
from settings.model import SiteSettings
from stacks.content_stack import SiteContentStack
from web_server.alarms import ServerAlarms
from web_server.configuration import SiteConfiguration
from web_server.document_root import DocumentRootVolume
from web_server.infrastructure import WebServer
from web_server.instance_values import INSTANCE_VALUES
from web_server.os_update import OsUpdateDocument
from web_server.releases import SiteReleaseDocument
from web_server.snapshots import VolumeSnapshotSchedule


class WebServerStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: SiteSettings,
        content: SiteContentStack,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.image_url = content.image_url
        destroy = settings.effective_bucket_removal_policy == "destroy"
        self.network = SiteNetwork(
            self,
            "Network",
            flow_log_retention_days=settings.log_retention_days,
            zone_id=settings.availability_zone_id,
            instance_type=settings.instance_type,
        )
        self.document_root = DocumentRootVolume(
            self,
            "DocumentRoot",
            availability_zone=self.network.web_zone,
            spec=settings.volume,
            snapshot_group=settings.environment,
        )
        self.snapshots = VolumeSnapshotSchedule(
            self, "Snapshots", group=settings.environment, retain_days=settings.snapshot_retention_days
        )
        self.server = WebServer(self, "WebServer", network=self.network, spec=settings.server)
        # The zone check comes first on every deploy: before the volume or the server changes.
        for resource in (self.document_root.volume.node.default_child, self.server.instance):
            resource.node.add_dependency(self.network.zone_guard.resource)
        self.document_root.allow_self_attach(self.server)

        self.fallback = FallbackBucket(self, "Fallback", destroy_on_delete=destroy)
        self.cdn = SiteFrontDoor(
            self,
            "SiteCdn",
            server=self.server,
            network=self.network,
            fallback=self.fallback,
            tags=settings.all_tags,
            page_cache_seconds=settings.page_cache_seconds,
            options=DistributionOptions(
                comment=f"Site pages ({settings.environment})",
                price_class=settings.price_class,
                log_bucket=content.logs.bucket,
                log_prefix="cloudfront/site/",
                content_security_policy=(
                    f"default-src 'none'; img-src https://{content.cdn.domain_name}; "
                    "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
                ),
                web_acl_arn=settings.waf_web_acl_arn,
                geo_allowlist=settings.geo_allowlist,
                domain_name=settings.domain_name,
                certificate_arn=settings.certificate_arn,
            ),
        )
        self.site_domain = settings.domain_name or self.cdn.domain_name

        self.run_output = LogBucket(
            self, "RunOutput", retention_days=settings.log_retention_days, destroy_on_delete=destroy
        )
        self.configuration = SiteConfiguration(
            self,
            "Configuration",
            server=self.server,
            values={value.parameter: str(attrgetter(value.source)(self)) for value in INSTANCE_VALUES},
            output_bucket=self.run_output.bucket,
        )
        self.os_update = OsUpdateDocument(self, "OsUpdate")
        self.releases = SiteReleaseDocument(
            self, "Releases", server=self.server, bucket=self.run_output.bucket
        )
        self.alarms = ServerAlarms(
            self,
            "Alarms",
            server=self.server,
            distribution_id=self.cdn.distribution.distribution_id,
            alarm_email=settings.alarm_email,
        )

        for name, value, description in (
            ("SiteUrl", f"https://{self.site_domain}/", "The page, through CloudFront"),
            ("ImageUrl", self.image_url, "The image the page shows"),
            ("InstanceId", self.server.instance_id, "aws ssm start-session --target <id>"),
            ("DocumentRootVolumeId", self.document_root.volume_id, None),
            ("SiteDistributionDomain", self.cdn.domain_name, None),
            ("SiteDistributionId", self.cdn.distribution.distribution_id, None),
            ("FallbackBucketName", self.fallback.bucket.bucket_name, None),
            (
                "ConfigurationAssociationId",
                self.configuration.association.attr_association_id,
                "aws ssm start-associations-once --association-ids <id> re-applies the configuration",
            ),
            ("OsUpdateDocument", self.os_update.document.ref, "make os-update runs it on the server"),
            (
                "ReleaseDocument",
                self.releases.document.ref,
                "make publish and make restore run it on the server",
            ),
            (
                "RunOutputBucketName",
                self.run_output.bucket.bucket_name,
                "make publish uploads under site-transfer/",
            ),
        ):
            CfnOutput(self, name, value=value, description=description)
