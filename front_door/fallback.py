"""CloudFront's second origin: the fallback copy of the document root, and the maintenance page."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_s3 as s3
from constructs import Construct

from common.buckets import PrivateBucket
from common.nag import acknowledge


class FallbackBucket(PrivateBucket):
    """The web server mirrors what Apache serves into this bucket after every change, so the site
    stays up while the server is away. Keys under ``MAINTENANCE_PREFIX`` belong to the deployment."""

    MAINTENANCE_PREFIX = "_maintenance/"

    def __init__(self, scope: Construct, construct_id: str, *, destroy_on_delete: bool) -> None:
        abort = s3.LifecycleRule(id="AbortUploads", abort_incomplete_multipart_upload_after=Duration.days(1))
        super().__init__(scope, construct_id, destroy_on_delete=destroy_on_delete, lifecycle_rules=[abort])
        acknowledge(
            self.bucket.node.default_child,
            "AwsSolutions-S1",
            "The bucket only mirrors the document-root volume, which stays the source of truth; "
            "viewers read it through the site distribution, whose standard logs record each request.",
        )
