"""Alarms on what matters: the server, its document-root volume and the site as viewers get it.

- A failed host only notifies: EC2's simplified automatic recovery, on by default for the types
  that support it, moves the instance by itself. A CloudWatch recover action is supported only
  on the types AWS lists, which nothing offline knows, and an alarm with it fails at creation
  on any other type. A failed instance status check reboots the server.
- The origin's health comes from the server itself (it fetches its own page every minute), so
  it works in every Region. CloudFront publishes its metrics in us-east-1 only, and an alarm
  must live in its metric's Region: the viewers' 5xx-rate alarm exists only there.
"""

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
_AT_LEAST = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD


def _metric(
    namespace: str, name: str, dimensions: dict[str, str], statistic: str, *, minutes: int = 1
) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map=dimensions,
        statistic=statistic,
        period=Duration.minutes(minutes),
    )


class ServerAlarms(Construct):
    """Alarms on the server, its volume and the site, optionally e-mailing an address through SNS."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        server: WebServer,
        site_name: str,
        distribution_id: str,
        alarm_email: str | None,
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

        instance = {"InstanceId": server.instance_id}

        def status_check(name: str) -> cloudwatch.Metric:
            # EC2 publishes status checks every minute, with or without detailed monitoring.
            return _metric("AWS/EC2", f"StatusCheckFailed_{name}", instance, "Maximum")

        self._alarm("SystemStatusCheck", status_check("System"), SYSTEM_CHECK_DESCRIPTION)
        self._alarm(
            "InstanceStatusCheck",
            status_check("Instance"),
            "The web server's operating system stopped answering: reboot it.",
            ec2_action=cw_actions.Ec2InstanceAction.REBOOT,
        )
        self._alarm(
            "AttachedVolumeCheck",
            status_check("AttachedEBS"),
            "An EBS volume attached to the web server (its document root) is impaired: "
            "viewers get the fallback copy; check the volume, restore from a snapshot if needed.",
        )
        self._alarm(
            "OriginHealth",
            _metric(HEALTH_NAMESPACE, "OriginAvailable", {"SiteName": site_name}, "Minimum"),
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
        policy = iam.Policy(self, "HealthReportPolicy", roles=[server.role], statements=[publish])
        acknowledge(
            policy.node.default_child,
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
        comparison: cloudwatch.ComparisonOperator = _AT_LEAST,
        evaluation_periods: int = 2,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.MISSING,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=comparison,
            treat_missing_data=missing,
        )
        if ec2_action is not None:
            alarm.add_alarm_action(cw_actions.Ec2Action(ec2_action))
        if self.topic:
            alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
            alarm.add_ok_action(cw_actions.SnsAction(self.topic))
        return alarm
