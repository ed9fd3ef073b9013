"""The EBS volume that holds Apache's document root and outlives every instance."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Size, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

VOLUME_TYPES = {
    "gp3": ec2.EbsDeviceVolumeType.GP3,
    "gp2": ec2.EbsDeviceVolumeType.GP2,
    "io1": ec2.EbsDeviceVolumeType.IO1,
    "io2": ec2.EbsDeviceVolumeType.IO2,
}
REMOVAL_POLICIES = {"snapshot": RemovalPolicy.SNAPSHOT, "retain": RemovalPolicy.RETAIN}
# Volumes carrying this tag (value: the environment) get scheduled snapshots.
SNAPSHOT_TAG = "site-snapshots"


class DocumentRootVolume(Construct):
    """An encrypted volume in the web server's AZ; deleting the stack keeps its data.

    There is no CloudFormation VolumeAttachment: the instance attaches the volume to itself
    at boot, so a replacement instance can take it over once the old one lets go.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        availability_zone: str,
        size_gib: int,
        volume_type: str,
        iops: int | None,
        throughput_mibps: int | None,
        removal_policy: str,
        snapshot_group: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.volume = ec2.Volume(
            self,
            "Volume",
            availability_zone=availability_zone,
            size=Size.gibibytes(size_gib),
            volume_type=VOLUME_TYPES[volume_type],
            iops=iops,
            throughput=throughput_mibps,
            encrypted=True,
            # Applies to both DeletionPolicy and UpdateReplacePolicy: never a plain delete.
            removal_policy=REMOVAL_POLICIES[removal_policy],
        )
        Tags.of(self.volume).add(SNAPSHOT_TAG, snapshot_group)

    def allow_self_attach(self, *, instance: Construct, principal: iam.IGrantable) -> None:
        """Let ``instance`` (with ``principal``'s role) attach this volume to itself.

        The grant is scoped by a resource tag on both, so the role does not depend on the instance.
        """
        self.volume.grant_attach_volume_by_resource_tag(principal.grant_principal, [instance])

    @property
    def volume_id(self) -> str:
        return self.volume.volume_id
