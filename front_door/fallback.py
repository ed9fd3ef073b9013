"""CloudFront's second origin: the fallback copy of the document root, and the maintenance page."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_s3 as s3
from constructs import Construct

from common.buckets import PRIVATE_BUCKET, removal, upload
from common.nag import acknowledge


class FallbackBucket(Construct):
    """CloudFront's second origin: a copy of the document root, and the maintenance page.

    The web server mirrors what Apache serves into this bucket after every change, so the
    site stays up while the server is replaced, rebooted or recovered. Keys under
    ``MAINTENANCE_PREFIX`` belong to the deployment, never to the mirror.
    """

    MAINTENANCE_PREFIX = "_maintenance/"

    def __init__(self, scope: Construct, construct_id: str, *, destroy_on_delete: bool) -> None:
        super().__init__(scope, construct_id)
        self._destroy_on_delete = destroy_on_delete
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            lifecycle_rules=[
                s3.LifecycleRule(id="AbortUploads", abort_incomplete_multipart_upload_after=Duration.days(1))
            ],
            **PRIVATE_BUCKET,
            **removal(destroy_on_delete),
        )
        acknowledge(
            self.bucket.node.default_child,
            "AwsSolutions-S1",
            "The bucket only mirrors the document-root volume, which stays the source of truth; "
            "viewers read it through the site distribution, whose standard logs record each request.",
        )

    def upload_maintenance_page(self, *, page_dir: Path, served_by: cloudfront.IDistribution) -> None:
        """Upload the maintenance page at deploy time and invalidate it in ``served_by``."""
        # An edited page shows at once, not after the edge's day of caching.
        self.deployment = upload(
            self,
            "MaintenancePage",
            bucket=self.bucket,
            source_dir=page_dir,
            key_prefix=self.MAINTENANCE_PREFIX,
            served_by=served_by,
            retain_on_delete=not self._destroy_on_delete,
            writes="replaces the maintenance page under _maintenance/",
        )
