"""The served tree changed as a whole, on request: make publish and make restore send this SSM
Command document, which runs ``runtime/boot/site-release.sh`` on the server (docs/operations.md).
A publish comes through the run-output bucket: the operator uploads under ``TRANSFER_PREFIX``,
which expires after a day, and the server may read only there."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from common.nag import acknowledge, objects_of
from web_server.configuration import shell_script_document
from web_server.infrastructure import WebServer
from web_server.transfer import COMMAND_OUTPUT_PREFIX, TRANSFER_PREFIX

TRANSFER_EXPIRY_DAYS = 1
PARAMETERS = {
    "Action": (r"^(inventory|status|publish|previous|snapshot)$", "What to do with the served tree"),
    "Release": (r"^(none|[0-9]{8}T[0-9]{6}Z-[a-z0-9-]{1,64})$", "The tree to build: its name"),
    "VolumeId": (r"^(none|vol-([0-9a-f]{8}|[0-9a-f]{17}))$", "The volume to copy it from"),
    # Not /dev/sdf: the document root's own.
    "DeviceName": (r"^(none|/dev/(sd|xvd)[g-p])$", "Where that volume is attached"),
}
RELEASE_COMMAND = " ".join(
    ["bash /opt/site-boot/boot/site-release.sh", *(f"'{{{{ {name} }}}}'" for name in PARAMETERS)]
)


class SiteReleaseDocument(Construct):
    """Publishes a folder or restores a tree, switching atomically; the server's role may read the
    uploads and write the commands' output, and nothing else for it."""

    def __init__(self, scope: Construct, construct_id: str, *, server: WebServer, bucket: s3.Bucket) -> None:
        super().__init__(scope, construct_id)
        bucket.add_lifecycle_rule(
            id="ExpireTransfers", prefix=TRANSFER_PREFIX, expiration=Duration.days(TRANSFER_EXPIRY_DAYS)
        )
        content = shell_script_document(
            description="Change the site's served tree as a whole: publish, restore, list (atomic).",
            parameters=PARAMETERS,
            step="changeServedTree",
            commands=[
                f"export AWS_REGION='{Aws.REGION}' TRANSFER_BUCKET='{bucket.bucket_name}' "
                f"TRANSFER_PREFIX='{TRANSFER_PREFIX}'",
                RELEASE_COMMAND,
            ],
        )
        self.document = ssm.CfnDocument(
            self, "Document", document_type="Command", document_format="JSON", content=content
        )
        policy = server.add_policy(
            self,
            "InstancePolicy",
            iam.PolicyStatement(
                sid="ReadPublishedFolders",
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(f"{TRANSFER_PREFIX}*")],
            ),
            iam.PolicyStatement(
                sid="WriteCommandOutput",
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{COMMAND_OUTPUT_PREFIX}*")],
            ),
        )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[{objects_of(bucket, TRANSFER_PREFIX)}]",
            "make publish uploads each folder under a new release name, unknown in advance; the "
            "server may only read under this prefix, whose objects expire after a day.",
        )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[{objects_of(bucket, COMMAND_OUTPUT_PREFIX)}]",
            "The SSM agent names each command's output objects after the command and instance "
            "ids, unknown in advance; the server may only add objects under this prefix.",
        )
