"""The web server stack: network, instance, document-root volume and the site's CloudFront front.

It consumes the content stack's image URL and log bucket; nothing flows back, so the two
stacks deploy in order with no cycle.
"""

from __future__ import annotations

from operator import attrgetter

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

from common.buckets import LogBucket
from front_door.fallback import FallbackBucket
from front_door.infrastructure import SiteFrontDoor
from network.infrastructure import SiteNetwork
from settings.model import SiteSettings
from web_server.alarms import ServerAlarms
from web_server.configuration import SiteConfiguration
from web_server.document_root import SNAPSHOT_TAG, DocumentRootVolume
from web_server.infrastructure import WebServer
from web_server.instance_values import INSTANCE_VALUES
from web_server.os_update import OsUpdateDocument
from web_server.snapshots import VolumeSnapshotSchedule


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
        self.settings = settings
        self.image_url = image_url
        destroy = settings.effective_bucket_removal_policy == "destroy"
        self.network = SiteNetwork(self, "Network", flow_log_retention_days=settings.log_retention_days)
        subnet = self.network.web_subnet
        self.document_root = DocumentRootVolume(
            self, "DocumentRoot", subnet=subnet, spec=settings.volume, snapshot_group=settings.environment
        )
        self.snapshots = VolumeSnapshotSchedule(
            self,
            "Snapshots",
            tag_key=SNAPSHOT_TAG,
            tag_value=settings.environment,
            retain_days=settings.snapshot_retention_days,
        )
        self.server = WebServer(
            self,
            "WebServer",
            vpc=self.network.vpc,
            subnet=subnet,
            egress=self.network.egress,
            instance_type=settings.instance_type,
            arm64=settings.is_graviton,
            detailed_monitoring=settings.detailed_monitoring,
            server_generation=settings.server_generation,
        )
        role = self.server.role
        self.document_root.allow_self_attach(instance=self.server.instance, principal=role)

        self.fallback = FallbackBucket(self, "Fallback", destroy_on_delete=destroy)
        self.cdn = SiteFrontDoor(
            self,
            "SiteCdn",
            server=self.server,
            network=self.network,
            fallback=self.fallback,
            tags=settings.all_tags,
            page_cache_seconds=settings.page_cache_seconds,
            comment=f"Site pages ({settings.environment})",
            price_class=settings.price_class,
            log_bucket=log_bucket,
            image_domain=image_domain,
            web_acl_arn=settings.waf_web_acl_arn,
            geo_allowlist=settings.geo_allowlist,
            domain_name=settings.domain_name,
            certificate_arn=settings.certificate_arn,
        )
        self.cdn.allow_mirror(role)
        self.site_domain = settings.domain_name or self.cdn.domain_name
        distribution = self.cdn.distribution

        self.run_output = LogBucket(
            self, "RunOutput", retention_days=settings.log_retention_days, destroy_on_delete=destroy
        )
        self.configuration = SiteConfiguration(
            self,
            "Configuration",
            instance=self.server.instance,
            role=role,
            values={value.parameter: str(attrgetter(value.source)(self)) for value in INSTANCE_VALUES},
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
        self.alarms.allow_health_reports(role)

        CfnOutput(
            self, "SiteUrl", value=f"https://{self.site_domain}/", description="The page, through CloudFront"
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
