"""Daily snapshots of tagged volumes by Data Lifecycle Manager, kept for a set number of days."""

from __future__ import annotations

from aws_cdk import CfnTag
from aws_cdk import aws_dlm as dlm
from aws_cdk import aws_iam as iam
from constructs import Construct

from common.nag import acknowledge
from web_server.document_root import SNAPSHOT_TAG


class VolumeSnapshotSchedule(Construct):
    """Snapshots every volume tagged ``SNAPSHOT_TAG=group`` once a day at 03:00 UTC."""

    def __init__(self, scope: Construct, construct_id: str, *, group: str, retain_days: int) -> None:
        super().__init__(scope, construct_id)
        service_policy = "service-role/AWSDataLifecycleManagerServiceRole"
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("dlm.amazonaws.com"),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(service_policy)],
        )
        acknowledge(
            role.node.default_child,
            f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{service_policy}]",
            "AWSDataLifecycleManagerServiceRole is the service role policy AWS documents for "
            "Data Lifecycle Manager snapshot policies; it grants only EC2 snapshot actions.",
        )
        lifecycle = dlm.CfnLifecyclePolicy
        daily = lifecycle.CreateRuleProperty(interval=24, interval_unit="HOURS", times=["03:00"])
        self.policy = lifecycle(
            self,
            "Policy",
            description=f"Daily snapshots of {group} document root volumes",
            state="ENABLED",
            execution_role_arn=role.role_arn,
            policy_details=lifecycle.PolicyDetailsProperty(
                policy_type="EBS_SNAPSHOT_MANAGEMENT",
                resource_types=["VOLUME"],
                target_tags=[CfnTag(key=SNAPSHOT_TAG, value=group)],
                schedules=[
                    lifecycle.ScheduleProperty(
                        name="Daily",
                        copy_tags=True,
                        create_rule=daily,
                        # One snapshot a day, so keeping N snapshots keeps N days.
                        retain_rule=lifecycle.RetainRuleProperty(count=retain_days),
                    )
                ],
            ),
        )
