"""The site's configuration, applied to the running server by State Manager.

The boot files (``runtime/``: ``boot/`` and ``site/``) travel as one S3 asset. A static SSM
Command document downloads them and runs ``boot/apply.sh`` with the deployment's values;
an association runs that document on the web server at once whenever its parameters
change (a new asset hash, image URL, volume or volume size), when a new instance appears,
and every ``SCHEDULE`` to heal what a failed run or a person left behind. Nothing here is
part of the instance's definition, so none of it replaces or restarts the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jsii
from aws_cdk import Aspects, Aws, CfnResource, IAspect, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_ssm as ssm
from constructs import Construct, IConstruct

from common.nag import acknowledge
from web_server.command_document import shell_script_document
from web_server.document_root import ACCOUNT_KEYS_FINDING, account_keys

RUNTIME = Path(__file__).resolve().parent / "runtime"
# Heals a run that failed or a change made by hand; updates run at once regardless.
SCHEDULE = "rate(30 minutes)"


@dataclass(frozen=True)
class SiteParameter:
    """One value handed to the instance: its environment name and the pattern SSM enforces.

    The SSM agent checks ``pattern`` with Go's regexp package (RE2: no repeat count above
    1000, no lookaround) before the script runs; ``tests/unit`` compiles every pattern with
    RE2 and matches it against the synthesized values. The scripts rely on that check.
    """

    env: str
    pattern: str
    description: str


# Bucket names: 3-63 lower-case letters, digits, dots and dashes.
_BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
# The one table of the values a deployment hands to the instance. None of the patterns
# admits a quote, a space, a backslash, a dollar sign or another shell metacharacter: the
# agent pastes each value as text into the script, inside single quotes.
PARAMETERS: dict[str, SiteParameter] = {
    "AssetBucket": SiteParameter("", _BUCKET, "Bucket of the boot files"),
    "AssetKey": SiteParameter("", r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,1000}$", "Key of the boot files"),
    "Region": SiteParameter("AWS_REGION", r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$", "Region of the stack"),
    "VolumeId": SiteParameter("VOLUME_ID", r"^vol-([0-9a-f]{8}|[0-9a-f]{17})$", "Document-root volume"),
    # Device names AWS recommends for EBS volumes on Linux.
    "DeviceName": SiteParameter("DEVICE_NAME", r"^/dev/(sd|xvd)[f-p]$", "Device name to attach it as"),
    # A new size re-runs the association, which grows the filesystem at once.
    "VolumeSizeGib": SiteParameter("VOLUME_SIZE_GIB", r"^[1-9][0-9]{0,4}$", "Size of the volume"),
    "ImageUrl": SiteParameter(
        "IMAGE_URL", r"^https://[A-Za-z0-9.-]{1,253}/[A-Za-z0-9._~%/-]+$", "The image the page shows"
    ),
    "SiteDomain": SiteParameter("SITE_DOMAIN", r"^[A-Za-z0-9.-]{1,253}$", "Viewers' host name"),
    "FallbackBucket": SiteParameter("FALLBACK_BUCKET", _BUCKET, "Bucket mirroring the document root"),
    "DistributionId": SiteParameter("DISTRIBUTION_ID", r"^[A-Z0-9]{8,32}$", "Site distribution"),
    "SiteName": SiteParameter("SITE_NAME", r"^[A-Za-z][A-Za-z0-9-]{0,127}$", "Metric dimension"),
}
# The names apply.sh writes to the server's environment file, in this order.
SITE_VALUES = " ".join(p.env for p in PARAMETERS.values() if p.env)
# A boot-file object is new on every change of the scripts, and so is the statement allowing
# it: IAM may answer AccessDenied for a few seconds after the policy is updated.
DOWNLOAD_ATTEMPTS = 6
DOWNLOAD_RETRY_SECONDS = 10


def _apply_commands() -> list[str]:
    """The document's script: fetch the boot files, unpack them, hand over to apply.sh."""
    exports = [f"export {p.env}='{{{{ {name} }}}}'" for name, p in PARAMETERS.items() if p.env]
    return [
        "set -euo pipefail",
        "staging=$(mktemp -d /var/tmp/site-boot.XXXXXX)",
        "trap 'rm -rf \"$staging\"' EXIT",
        f"for attempt in $(seq {DOWNLOAD_ATTEMPTS}); do",
        "  aws s3 cp --only-show-errors --region '{{ Region }}' "
        "'s3://{{ AssetBucket }}/{{ AssetKey }}' \"$staging/boot.zip\" && break",
        f'  [ "$attempt" -lt {DOWNLOAD_ATTEMPTS} ] || exit 1',
        f"  sleep {DOWNLOAD_RETRY_SECONDS}",
        "done",
        # Python ships with AL2023 (dnf needs it); unzip may not.
        'python3 -m zipfile -e "$staging/boot.zip" "$staging/files"',
        *exports,
        f"export SITE_VALUES='{SITE_VALUES}'",
        'bash "$staging/files/boot/apply.sh" "$staging/files"',
    ]


def document_content() -> dict:
    return shell_script_document(
        description="Install the site's boot files and apply the deployment's values (idempotent).",
        parameters={
            name: {"type": "String", "description": p.description, "allowedPattern": p.pattern}
            for name, p in PARAMETERS.items()
        },
        step="applySiteConfiguration",
        commands=_apply_commands(),
    )


@jsii.implements(IAspect)
class _AfterRolePolicies:
    """Makes ``dependent`` depend on every IAM policy attached to ``role``, wherever it is defined."""

    def __init__(self, dependent: CfnResource, role: iam.IRole) -> None:
        self._dependent = dependent
        self._role = role

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, iam.CfnPolicy | iam.CfnManagedPolicy):
            stack = Stack.of(node)
            if stack.resolve(self._role.role_name) in (stack.resolve(node.roles) or []):
                self._dependent.node.add_dependency(node)


class SiteConfiguration(Construct):
    """The boot-file asset, the document that applies it and the association that runs it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        instance: ec2.CfnInstance,
        role: iam.IRole,
        values: Mapping[str, str],
        output_bucket: s3.Bucket,
        output_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        missing = set(PARAMETERS) - {"AssetBucket", "AssetKey", "Region"} - set(values)
        if missing:
            raise ValueError(f"site configuration lacks values for {sorted(missing)}")
        self.asset = s3_assets.Asset(self, "BootFiles", path=str(RUNTIME))
        self.document = ssm.CfnDocument(
            self,
            "ApplyDocument",
            document_type="Command",
            document_format="JSON",
            content=document_content(),
        )
        self.parameters = {
            "AssetBucket": self.asset.s3_bucket_name,
            "AssetKey": self.asset.s3_object_key,
            "Region": Aws.REGION,
            **values,
        }
        self.association = ssm.CfnAssociation(
            self,
            "Association",
            name=self.document.ref,
            association_name=f"{Stack.of(self).stack_name}-site-configuration",
            targets=[ssm.CfnAssociation.TargetProperty(key="InstanceIds", values=[instance.ref])],
            parameters={name: [value] for name, value in self.parameters.items()},
            # State Manager runs an association at once when it is created or updated (which is
            # how a new value reaches the server), then on this schedule.
            schedule_expression=SCHEDULE,
            compliance_severity="HIGH",
            output_location=ssm.CfnAssociation.InstanceAssociationOutputLocationProperty(
                s3_location=ssm.CfnAssociation.S3OutputLocationProperty(
                    output_s3_bucket_name=output_bucket.bucket_name,
                    output_s3_key_prefix=output_prefix,
                    output_s3_region=Aws.REGION,
                )
            ),
            # No WaitForSuccessTimeoutSeconds: on an instance replacement the new instance
            # cannot have the volume before CloudFormation's cleanup, so waiting would deadlock.
        )
        # A policy of its own, outside the role's default policy, which the launch template
        # waits for: these statements name resources that are created after the instance.
        self.policy = iam.Policy(
            self,
            "InstancePolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadBootFiles",
                    actions=["s3:GetObject"],
                    resources=[
                        Stack.of(self).format_arn(
                            service="s3",
                            region="",
                            account="",
                            resource=self.asset.s3_bucket_name,
                            resource_name=self.asset.s3_object_key,
                        )
                    ],
                ),
                # A customer managed key on the CDK bootstrap bucket (cdk bootstrap
                # --bootstrap-customer-key) encrypts the boot files too.
                iam.PolicyStatement(
                    sid="DecryptBootFilesThroughS3",
                    actions=["kms:Decrypt"],
                    resources=[account_keys(self)],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
                ),
                # The instance writes each run's output itself.
                iam.PolicyStatement(
                    sid="WriteRunOutput",
                    actions=["s3:PutObject"],
                    resources=[output_bucket.arn_for_objects(f"{output_prefix}*")],
                ),
                # The SSM agent reads the bucket's encryption before it uploads.
                iam.PolicyStatement(
                    sid="ReadRunOutputEncryption",
                    actions=["s3:GetEncryptionConfiguration"],
                    resources=[output_bucket.bucket_arn],
                ),
            ],
        )
        bucket_id = Stack.of(self).get_logical_id(output_bucket.node.default_child)
        acknowledge(
            self.policy.node.default_child,
            f"AwsSolutions-IAM5[Resource::{ACCOUNT_KEYS_FINDING}]",
            "The CDK bootstrap bucket may be encrypted with any key of the account (chosen at "
            "cdk bootstrap, unknown to the app); kms:ViaService limits decryption to S3 reads.",
        )
        acknowledge(
            self.policy.node.default_child,
            f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{output_prefix}*]",
            "State Manager names each run's output objects after the command and instance ids, "
            "unknown in advance; the instance may only add objects under this stack's prefix.",
        )
        # CloudFormation orders updates by dependencies only: a run that State Manager starts
        # right after its association changed must find the role's new permissions in force.
        Aspects.of(Stack.of(self)).add(_AfterRolePolicies(self.association, role))
        self.association.node.add_dependency(role)
