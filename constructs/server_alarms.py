"""Status-check alarms: the system check recovers the instance, the instance check reboots it."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class ServerAlarms(Construct):
    """Alarms on both EC2 status checks, optionally e-mailing an address through SNS."""

    def __init__(
        self, scope: Construct, construct_id: str, *, instance: ec2.Instance, alarm_email: str | None
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic: sns.Topic | None = None
        if alarm_email:
            # CloudWatch cannot publish to a topic under the AWS-managed SNS key: use our own.
            key = kms.Key(self, "TopicKey", enable_key_rotation=True, description="Web server alarm topic")
            key.grant_encrypt_decrypt(iam.ServicePrincipal("cloudwatch.amazonaws.com"))
            self.topic = sns.Topic(self, "Topic", master_key=key, enforce_ssl=True)
            # The topic policy replaces SNS's default one: CloudWatch must be allowed explicitly.
            self.topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowCloudWatchAlarms",
                    actions=["sns:Publish"],
                    principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                    resources=[self.topic.topic_arn],
                    conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
                )
            )
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

        self.system_check = self._status_alarm(
            "SystemStatusCheck",
            instance,
            metric_name="StatusCheckFailed_System",
            action=cw_actions.Ec2InstanceAction.RECOVER,
            description="The host under the web server failed: recover the instance (same id, IP, volumes).",
        )
        self.instance_check = self._status_alarm(
            "InstanceStatusCheck",
            instance,
            metric_name="StatusCheckFailed_Instance",
            action=cw_actions.Ec2InstanceAction.REBOOT,
            description="The web server's operating system stopped answering: reboot it.",
        )

    def _status_alarm(
        self,
        construct_id: str,
        instance: ec2.Instance,
        *,
        metric_name: str,
        action: cw_actions.Ec2InstanceAction,
        description: str,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=cloudwatch.Metric(
                namespace="AWS/EC2",
                metric_name=metric_name,
                dimensions_map={"InstanceId": instance.instance_id},
                statistic="Maximum",
                period=Duration.minutes(1),
            ),
            threshold=1,
            evaluation_periods=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.MISSING,
        )
        alarm.add_alarm_action(cw_actions.Ec2Action(action))
        if self.topic:
            alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        return alarm
