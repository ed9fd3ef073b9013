"""The content: the private bucket holding the site's image."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_s3 as s3
from constructs import Construct

from common.buckets import PrivateBucket


class ImageBucket(PrivateBucket):
    """The private, versioned bucket holding the site's image, its access logged."""

    def __init__(
        self, scope: Construct, construct_id: str, *, log_bucket: s3.IBucket, destroy_on_delete: bool
    ) -> None:
        expire = s3.LifecycleRule(
            id="ExpireOldVersions",
            noncurrent_version_expiration=Duration.days(30),
            abort_incomplete_multipart_upload_after=Duration.days(1),
        )
        super().__init__(
            scope,
            construct_id,
            destroy_on_delete=destroy_on_delete,
            versioned=True,
            server_access_logs_bucket=log_bucket,
            server_access_logs_prefix="s3-access/image-bucket/",
            lifecycle_rules=[expire],
        )
