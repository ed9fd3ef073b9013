"""The EBS volume that holds Apache's document root and outlives every instance."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, RemovalPolicy, Size, Stack, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from common.nag import acknowledge, default_policy
from web_server.infrastructure import WebServer

REMOVAL_POLICIES = {"snapshot": RemovalPolicy.SNAPSHOT, "retain": RemovalPolicy.RETAIN}
# Volumes carrying this tag (value: the environment) get scheduled snapshots.
SNAPSHOT_TAG = "site-snapshots"
# The device name the instance asks for when it attaches the volume (NVMe on Nitro instances).
DEVICE_NAME = "/dev/sdf"
# How cdk-nag names the resource account_keys() returns.
ACCOUNT_KEYS_FINDING = "arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*"


def account_keys(scope: Construct) -> str:
    """Every KMS key of the stack's account and Region (a key the app does not own or know)."""
    return Stack.of(scope).format_arn(service="kms", resource="key", resource_name="*")


@dataclass(frozen=True, kw_only=True)
class VolumeSpec:
    """What a deployment chooses for the volume; the settings have checked every value."""

    size_gib: int
    volume_type: str
    iops: int | None = None
    throughput_mibps: int | None = None
    removal_policy: str = "snapshot"


class DocumentRootVolume(Construct):
    """An encrypted volume in the web server's AZ; deleting the stack keeps its data. No
    VolumeAttachment: the instance attaches it at boot, so a replacement takes it over once free."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: VolumeSpec,
        snapshot_group: str,
        availability_zone: str,  # the web server's
    ) -> None:
        super().__init__(scope, construct_id)
        self.volume = ec2.Volume(
            self,
            "Volume",
            availability_zone=availability_zone,
            size=Size.gibibytes(spec.size_gib),
            volume_type=ec2.EbsDeviceVolumeType[spec.volume_type.upper()],
            iops=spec.iops,
            throughput=spec.throughput_mibps,
            encrypted=True,
            # Applies to both DeletionPolicy and UpdateReplacePolicy: never a plain delete.
            removal_policy=REMOVAL_POLICIES[spec.removal_policy],
        )
        Tags.of(self.volume).add(SNAPSHOT_TAG, snapshot_group)
        self.device_name = DEVICE_NAME
        self.volume_id = self.volume.volume_id

    def allow_self_attach(self, server: WebServer) -> None:
        """Let ``server`` attach this volume to itself. The grant is scoped by a resource tag on
        both, so the server's role does not depend on its instance."""
        role = server.role
        self.volume.grant_attach_volume_by_resource_tag(role, [server.instance])
        # The volume is encrypted with the account's default EBS key, which may be a customer
        # managed key: attaching it then needs these, and only through EC2.
        # https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html
        through_ec2 = {"kms:ViaService": f"ec2.{Aws.REGION}.amazonaws.com"}
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="GrantVolumeKeyToEc2",
                actions=["kms:CreateGrant"],
                resources=[account_keys(self)],
                conditions={"StringEquals": through_ec2, "Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="UseVolumeKeyThroughEc2",
                actions=[
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                ],
                resources=[account_keys(self)],
                conditions={"StringEquals": through_ec2},
            )
        )
        acknowledge(
            default_policy(role),
            f"AwsSolutions-IAM5[Resource::{ACCOUNT_KEYS_FINDING}]",
            "The account's default EBS key is chosen outside the app and may be any key of the "
            "account; kms:ViaService limits its use to EC2 in this Region, acting on the volume.",
        )
