"""The content: the private bucket holding the site's image, uploaded at deploy time."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_s3 as s3
from constructs import Construct

from common.buckets import PRIVATE_BUCKET, alone, removal, upload


class ImageBucket(Construct):
    """The private bucket holding the site's image, uploaded at deploy time."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        log_bucket: s3.IBucket,
        destroy_on_delete: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self._destroy_on_delete = destroy_on_delete
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            versioned=True,
            server_access_logs_bucket=log_bucket,
            server_access_logs_prefix="s3-access/image-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireOldVersions",
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            **PRIVATE_BUCKET,
            **removal(destroy_on_delete),
        )

    def upload(self, *, image_file: Path, key_prefix: str, served_by: cloudfront.IDistribution) -> None:
        """Upload the image at deploy time and invalidate it in ``served_by``.

        Without the invalidation a new image under the same name would stay in CloudFront's
        cache for up to a day (CachingOptimized's default TTL).
        """
        self.deployment = upload(
            self,
            "Upload",
            bucket=self.bucket,
            source_dir=alone(image_file),
            key_prefix=key_prefix,
            served_by=served_by,
            retain_on_delete=not self._destroy_on_delete,
            writes="replaces the image object under images/ on update",
        )
