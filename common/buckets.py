"""The site's private S3 buckets: what every bucket shares, the log bucket, and deploy-time uploads."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from common.nag import acknowledge, acknowledge_lambda_logs, default_policy, objects_of


class PrivateBucket(Construct):
    """A bucket with ACLs disabled, all public access blocked, SSE-S3 and TLS 1.2 or later only;
    ``destroy_on_delete`` empties and deletes it with the stack, otherwise the bucket is kept."""

    def __init__(
        self, scope: Construct, construct_id: str, *, destroy_on_delete: bool, **bucket_props: Any
    ) -> None:
        super().__init__(scope, construct_id)
        self._destroy_on_delete = destroy_on_delete
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            removal_policy=RemovalPolicy.DESTROY if destroy_on_delete else RemovalPolicy.RETAIN,
            auto_delete_objects=destroy_on_delete,
            **{
                "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
                "encryption": s3.BucketEncryption.S3_MANAGED,
                "enforce_ssl": True,
                "minimum_tls_version": 1.2,
                **bucket_props,
            },
        )

    def upload(
        self,
        construct_id: str,
        *,
        source: Path,
        key_prefix: str,
        served_by: cloudfront.IDistribution,
        writes: str,
    ) -> None:
        """Upload ``source`` (a folder, or a file) under ``key_prefix`` at deploy time and invalidate
        it in ``served_by``; nothing else in the bucket is deleted (no pruning): others store
        objects there too. ``writes`` says what the upload replaces, for the acknowledgements."""
        if source.is_file():
            # The file's folder may hold anything, hidden files too, and an exclude filter would
            # read characters of its name as a pattern: a copy alone uploads exactly this file.
            staging = Path(tempfile.mkdtemp(prefix="site-upload-"))
            atexit.register(shutil.rmtree, staging, ignore_errors=True)
            shutil.copyfile(source, staging / source.name)
            source = staging
        deployment = s3deploy.BucketDeployment(
            self,
            construct_id,
            destination_bucket=self.bucket,
            sources=[s3deploy.Source.asset(str(source))],
            destination_key_prefix=key_prefix,
            distribution=served_by,
            distribution_paths=[f"/{key_prefix}*"],
            prune=False,
            retain_on_delete=not self._destroy_on_delete,
        )
        # The upload runs in a Lambda function that aws-cdk-lib defines and maintains.
        role = deployment.handler_role
        acknowledge_lambda_logs(role, "The upload function of BucketDeployment")
        acknowledge(
            role.node.scope.node.default_child,
            "AwsSolutions-L1",
            "The BucketDeployment upload function's runtime is pinned by aws-cdk-lib, which "
            "moves it forward with the library; it runs only while the stack deploys.",
        )
        policy = default_policy(role)
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "BucketDeployment grants cloudfront:CreateInvalidation and GetInvalidation on any "
            "distribution; the function only invalidates the paths of the distribution it is "
            "given, if any, and neither action can read or change content.",
        )
        staged = "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*"
        for finding, why in {
            "Action::s3:GetObject*": "reads the asset from the CDK staging bucket",
            "Action::s3:GetBucket*": "reads the location of the staging and destination buckets",
            "Action::s3:List*": "lists the staging bucket and the destination prefix to copy",
            "Action::s3:DeleteObject*": writes,
            "Action::s3:Abort*": "aborts its own failed multipart uploads",
            staged: "reads staged assets, whose keys are content hashes unknown until synth",
            objects_of(self.bucket): "writes objects of its destination bucket only",
        }.items():
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[{finding}]",
                f"Granted by aws-cdk-lib's BucketDeployment, scoped to two buckets: it {why}.",
            )


class LogBucket(PrivateBucket):
    """A private bucket of logs: each object deleted after ``retention_days``, failed uploads after a day.
    CloudFront standard logging writes with object ACLs: ``object_acls`` keeps ACLs enabled for it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        retention_days: int,
        destroy_on_delete: bool,
        object_acls: bool = False,
    ) -> None:
        acls = {"object_ownership": s3.ObjectOwnership.OBJECT_WRITER} if object_acls else {}
        expire = s3.LifecycleRule(
            id="ExpireLogs",
            expiration=Duration.days(retention_days),
            abort_incomplete_multipart_upload_after=Duration.days(1),
        )
        super().__init__(
            scope, construct_id, destroy_on_delete=destroy_on_delete, lifecycle_rules=[expire], **acls
        )
        acknowledge(
            self.bucket.node.default_child,
            "AwsSolutions-S1",
            "The bucket holds logs only, written by AWS services or the site's own roles; a log of "
            "access to a log bucket would add cost and no evidence worth keeping.",
        )
