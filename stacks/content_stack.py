"""The content stack: the image bucket and the CloudFront distribution that serves it."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from common.buckets import LogBucket
from common.distribution import DistributionOptions, SecureDistribution, private_bucket_origin
from content.infrastructure import ImageBucket
from settings.model import IMAGE_KEY_PREFIX, SiteSettings


class SiteContentStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: SiteSettings, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        destroy = settings.effective_bucket_removal_policy == "destroy"
        self.logs = LogBucket(
            self,
            "AccessLogs",
            retention_days=settings.log_retention_days,
            destroy_on_delete=destroy,
            object_acls=True,
        )
        self.images = ImageBucket(self, "Images", log_bucket=self.logs.bucket, destroy_on_delete=destroy)
        self.cdn = SecureDistribution(
            self,
            "ImageCdn",
            origin=private_bucket_origin(self, "ImageAccess", self.images.bucket),
            options=DistributionOptions(
                comment=f"Site images ({settings.environment})",
                price_class=settings.price_class,
                log_bucket=self.logs.bucket,
                log_prefix="cloudfront/images/",
                content_security_policy="default-src 'none'; img-src 'self'; frame-ancestors 'none'",
                web_acl_arn=settings.waf_web_acl_arn,
                geo_allowlist=settings.geo_allowlist,
            ),
        )
        # Invalidated: a new image under the same name would otherwise stay in CloudFront's
        # cache for up to a day (CachingOptimized's default TTL).
        self.images.upload(
            "Upload",
            source=settings.image_file,
            key_prefix=IMAGE_KEY_PREFIX,
            served_by=self.cdn.distribution,
            writes="replaces the image object under images/ on update",
        )
        # Percent-encoded: whatever the file is called, the URL is safe to pass anywhere.
        self.image_url = f"https://{self.cdn.domain_name}/{settings.image_url_path}"
        for name, value, description in (
            ("ImageBucketName", self.images.bucket.bucket_name, "Bucket holding the image"),
            ("ImageUrl", self.image_url, "The image through CloudFront"),
            ("ImageDistributionId", self.cdn.distribution.distribution_id, None),
        ):
            CfnOutput(self, name, value=value, description=description)
