"""The site's S3 buckets: what every bucket shares, the log bucket, and deploy-time uploads."""

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

from common.nag import acknowledge

PRIVATE_BUCKET = {
    "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
    "encryption": s3.BucketEncryption.S3_MANAGED,
    "enforce_ssl": True,
    "minimum_tls_version": 1.2,
}


def removal(destroy: bool) -> dict:
    """Destroy empties and deletes the bucket with the stack; otherwise the bucket is kept."""
    if destroy:
        return {"removal_policy": RemovalPolicy.DESTROY, "auto_delete_objects": True}
    return {"removal_policy": RemovalPolicy.RETAIN}


def alone(file: Path) -> Path:
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
            **{**PRIVATE_BUCKET, **acls},
            **removal(destroy_on_delete),
        )
        acknowledge(
            self.bucket.node.default_child,
            "AwsSolutions-S1",
            "The bucket holds logs only, written by AWS services or the site's own roles; a log of "
            "access to a log bucket would add cost and no evidence worth keeping.",
        )


def upload(
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
