"""The site's S3 buckets: a private image bucket and the log bucket that records access to it."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct
from constructs.nag import acknowledge

# Settings shared by every bucket of the site: private, no ACLs, encrypted, TLS only.
_PRIVATE_BUCKET = {
    "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
    "encryption": s3.BucketEncryption.S3_MANAGED,
    "enforce_ssl": True,
    "minimum_tls_version": 1.2,
}


def _removal(destroy: bool) -> dict:
    """Destroy empties and deletes the bucket with the stack; otherwise the bucket is kept."""
    if destroy:
        return {"removal_policy": RemovalPolicy.DESTROY, "auto_delete_objects": True}
    return {"removal_policy": RemovalPolicy.RETAIN}


def _alone(file: Path) -> Path:
    """A directory holding a copy of ``file`` and nothing else, for the duration of the synth.

    The file's own folder may hold anything, hidden files too, and an exclude filter would read
    characters of its name as a pattern: a copy uploads exactly this one file.
    """
    staging = Path(tempfile.mkdtemp(prefix="site-upload-"))
    atexit.register(shutil.rmtree, staging, ignore_errors=True)
    shutil.copyfile(file, staging / file.name)
    return staging


class LogBucket(Construct):
    """A private bucket of logs: each object deleted after ``retention_days``, failed uploads after a day.

    CloudFront standard logging writes with object ACLs: for its logs ``object_acls`` keeps
    ACLs enabled (ObjectWriter); public access stays blocked either way.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        retention_days: int,
        destroy_on_delete: bool,
        object_acls: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        acls = {"object_ownership": s3.ObjectOwnership.OBJECT_WRITER} if object_acls else {}
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireLogs",
                    expiration=Duration.days(retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            **{**_PRIVATE_BUCKET, **acls},
            **_removal(destroy_on_delete),
        )
        acknowledge(
            self.bucket.node.default_child,
            "AwsSolutions-S1",
            "The bucket holds logs only, written by AWS services or the site's own roles; a log of "
            "access to a log bucket would add cost and no evidence worth keeping.",
        )


class ImageBucket(Construct):
    """The private bucket holding the site's image, uploaded from assets/ at deploy time."""

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
            **_PRIVATE_BUCKET,
            **_removal(destroy_on_delete),
        )

    def upload(self, *, image_file: Path, key_prefix: str, served_by: cloudfront.IDistribution) -> None:
        """Upload the image at deploy time and invalidate it in ``served_by``.

        Without the invalidation a new image under the same name would stay in CloudFront's
        cache for up to a day (CachingOptimized's default TTL).
        """
        self.deployment = _upload(
            self,
            "Upload",
            bucket=self.bucket,
            source_dir=_alone(image_file),
            key_prefix=key_prefix,
            served_by=served_by,
            retain_on_delete=not self._destroy_on_delete,
            writes="replaces the image object under images/ on update",
        )


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
            **_PRIVATE_BUCKET,
            **_removal(destroy_on_delete),
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
        self.deployment = _upload(
            self,
            "MaintenancePage",
            bucket=self.bucket,
            source_dir=page_dir,
            key_prefix=self.MAINTENANCE_PREFIX,
            served_by=served_by,
            retain_on_delete=not self._destroy_on_delete,
            writes="replaces the maintenance page under _maintenance/",
        )


def _upload(
    scope: Construct,
    construct_id: str,
    *,
    bucket: s3.IBucket,
    source_dir: Path,
    key_prefix: str,
    served_by: cloudfront.IDistribution,
    retain_on_delete: bool,
    writes: str,
) -> s3deploy.BucketDeployment:
    """Upload ``source_dir`` under ``key_prefix`` at deploy time and invalidate it in ``served_by``.

    Nothing else in the bucket is deleted (no pruning): others store objects there too.
    """
    deployment = s3deploy.BucketDeployment(
        scope,
        construct_id,
        destination_bucket=bucket,
        sources=[s3deploy.Source.asset(str(source_dir))],
        destination_key_prefix=key_prefix,
        distribution=served_by,
        distribution_paths=[f"/{key_prefix}*"],
        prune=False,
        retain_on_delete=retain_on_delete,
    )
    acknowledge_bucket_deployment(deployment, bucket=bucket, writes=writes)
    return deployment


def acknowledge_bucket_deployment(
    deployment: s3deploy.BucketDeployment, *, bucket: s3.IBucket, writes: str
) -> None:
    """The upload runs in a Lambda function that aws-cdk-lib defines and maintains."""
    role = deployment.handler_role
    handler = role.node.scope
    policy = role.node.find_child("DefaultPolicy").node.default_child
    acknowledge(
        role.node.default_child,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "The upload function of BucketDeployment writes its own CloudWatch logs; the "
        "AWS-managed basic execution policy grants exactly that and nothing more.",
    )
    acknowledge(
        handler.node.default_child,
        "AwsSolutions-L1",
        "The BucketDeployment upload function's runtime is pinned by aws-cdk-lib, which "
        "moves it forward with the library; it runs only while the stack deploys.",
    )
    wildcard_reasons = {
        "Action::s3:GetObject*": "reads the asset from the CDK staging bucket",
        "Action::s3:GetBucket*": "reads the location of the staging and destination buckets",
        "Action::s3:List*": "lists the staging bucket and the destination prefix to copy",
        "Action::s3:DeleteObject*": writes,
        "Action::s3:Abort*": "aborts its own failed multipart uploads",
        "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*": (
            "reads staged assets, whose keys are content hashes unknown until synth"
        ),
        f"Resource::<{Stack.of(bucket).get_logical_id(bucket.node.default_child)}.Arn>/*": (
            "writes objects of its destination bucket only"
        ),
    }
    acknowledge(
        policy,
        "AwsSolutions-IAM5[Resource::*]",
        "BucketDeployment grants cloudfront:CreateInvalidation and GetInvalidation on any "
        "distribution; the function only invalidates the paths of the distribution it is "
        "given, if any, and neither action can read or change content.",
    )
    for finding, why in wildcard_reasons.items():
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[{finding}]",
            f"Granted by aws-cdk-lib's BucketDeployment, scoped to two buckets: it {why}.",
        )
