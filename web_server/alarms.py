"""Alarms on the server, its document-root volume and the site as viewers get it. A failed host only
notifies: EC2's automatic recovery moves the instance where the type supports it, and a CloudWatch
recover action, which works only on the types AWS lists (unknown offline), fails at creation on others.
An alarm lives in its metric's Region: the origin's health, which the server reports itself, works in
every Region; CloudFront publishes its metrics in us-east-1 only, so the viewers' 5xx alarm is there."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from common.nag import acknowledge
from common.regions import in_us_east_1
from web_server.infrastructure import WebServer

# Where the server's health script publishes (runtime/boot/site-health.sh).
HEALTH_NAMESPACE = "Site"
# Share of viewer requests answered with a 5xx, in percent, that alarms.
VIEWER_5XX_PERCENT = 1
# What happens when the host fails, and what is left to do by hand.
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-recover.html
SYSTEM_CHECK_DESCRIPTION = (
    "The host under the web server failed. Where the instance type supports it, EC2's automatic "
    "recovery moves the instance to healthy hardware by itself (same id, IPs and volumes). If "
    "this alarm stays in ALARM for more than a few minutes, stop and start the instance: it "
    "starts on other hardware, with its volumes and private IPv4 and IPv6 addresses, so the "
    "VPC origin reaches it again."
)


def _metric(
    namespace: str, name: str, dimensions: dict[str, str], statistic: str, *, minutes: int = 1
) -> cloudwatch.Metric:
    period = Duration.minutes(minutes)
    return cloudwatch.Metric(
        namespace=namespace, metric_name=name, dimensions_map=dimensions, statistic=statistic, period=period
    )


class ServerAlarms(Construct):
    """Alarms on the server, its volume and the site, optionally e-mailing an address through SNS."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        server: WebServer,
        distribution_id: str,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._notify: list[cw_actions.SnsAction] = []
        if alarm_email:
            # CloudWatch cannot publish to a topic under the AWS-managed SNS key: use our own.
            key = kms.Key(self, "TopicKey", enable_key_rotation=True, description="Web server alarm topic")
            key.grant_encrypt_decrypt(iam.ServicePrincipal("cloudwatch.amazonaws.com"))
            topic = sns.Topic(self, "Topic", master_key=key, enforce_ssl=True)
            # The topic policy replaces SNS's default one: CloudWatch must be allowed explicitly.
            topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowCloudWatchAlarms",
                    actions=["sns:Publish"],
                    principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                    resources=[topic.topic_arn],
                    conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
                )
            )
            topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
            self._notify.append(cw_actions.SnsAction(topic))
        # EC2 publishes status checks every minute, with or without detailed monitoring.
        instance = {"InstanceId": server.instance_id}
        # fmt: off
        status_checks = (
            ("SystemStatusCheck", "System", None, SYSTEM_CHECK_DESCRIPTION),
            ("InstanceStatusCheck", "Instance", cw_actions.Ec2InstanceAction.REBOOT,
             "The web server's operating system stopped answering: reboot it."),
            ("AttachedVolumeCheck", "AttachedEBS", None,
             "An EBS volume attached to the web server (its document root) is impaired: viewers get "
             "the fallback copy; check the volume, restore from a snapshot if needed."),
        )
        # fmt: on
        for check_id, check, action, description in status_checks:
            metric = _metric("AWS/EC2", f"StatusCheckFailed_{check}", instance, "Maximum")
            self._alarm(check_id, metric, description, ec2_action=action)
        self._alarm(
            "OriginHealth",
            _metric(HEALTH_NAMESPACE, "OriginAvailable", {"SiteName": Stack.of(self).stack_name}, "Minimum"),
            "The web server did not serve its own page for 3 minutes, or stopped "
            "reporting: viewers get the fallback copy; see site-boot in the journal.",
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=3,
            # No data means no server reporting: that is an outage too.
            missing=cloudwatch.TreatMissingData.BREACHING,
        )
        distribution = {"DistributionId": distribution_id, "Region": "Global"}
        viewer_errors = self._alarm(
            "Viewer5xxRate",
            _metric("AWS/CloudFront", "5xxErrorRate", distribution, "Average", minutes=5),
            f"More than {VIEWER_5XX_PERCENT}% of viewer requests got a 5xx from CloudFront.",
            threshold=VIEWER_5XX_PERCENT,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        viewer_errors.node.default_child.cfn_options.condition = in_us_east_1(self)
        # The server may publish its health metric, and nothing else in CloudWatch.
        publish = iam.PolicyStatement(actions=["cloudwatch:PutMetricData"], resources=["*"])
        publish.add_condition("StringEquals", {"cloudwatch:namespace": HEALTH_NAMESPACE})
        acknowledge(
            server.add_policy(self, "HealthReportPolicy", publish),
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData has no resource-level permissions; the condition limits it "
            "to the site's own metric namespace.",
        )

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.Metric,
        description: str,
        *,
        ec2_action: cw_actions.Ec2InstanceAction | None = None,
        threshold: float = 1,
        comparison: cloudwatch.ComparisonOperator | None = None,  # at or above the threshold
        evaluation_periods: int = 2,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.MISSING,
    ) -> cloudwatch.Alarm:
        alarm = metric.create_alarm(
            self,
            construct_id,
            alarm_description=description,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=comparison,
            treat_missing_data=missing,
        )
        reboot = [cw_actions.Ec2Action(ec2_action)] if ec2_action else []
        alarm.add_alarm_action(*reboot, *self._notify)
        alarm.add_ok_action(*self._notify)
        return alarm
