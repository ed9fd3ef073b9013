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
from web_server.instance_values import BUCKET_PATTERN, INSTANCE_VALUES

RUNTIME = Path(__file__).resolve().parent / "runtime"
# Heals a run that failed or a change made by hand; updates run at once regardless.
SCHEDULE = "rate(30 minutes)"


# The document's own parameters: where to download the boot files from.
DOWNLOAD_PARAMETERS = {
    "AssetBucket": (BUCKET_PATTERN, "Bucket of the boot files"),
    "AssetKey": (r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,1000}$", "Key of the boot files"),
}
# The names apply.sh writes to the server's environment file, in this order.
SITE_VALUES = " ".join(value.env for value in INSTANCE_VALUES)
# Every parameter of the document, with the pattern SSM checks it against.
ALLOWED_PATTERNS = {
    **DOWNLOAD_PARAMETERS,
    **{value.parameter: (value.pattern, value.description) for value in INSTANCE_VALUES},
}
# A boot-file object is new on every change of the scripts, and so is the statement allowing
# it: IAM may answer AccessDenied for a few seconds after the policy is updated.
DOWNLOAD_ATTEMPTS = 6
DOWNLOAD_RETRY_SECONDS = 10


def _apply_commands() -> list[str]:
    """The document's script: fetch the boot files, unpack them, hand over to apply.sh."""
    exports = [f"export {value.env}='{{{{ {value.parameter} }}}}'" for value in INSTANCE_VALUES]
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
            name: {"type": "String", "description": description, "allowedPattern": pattern}
            for name, (pattern, description) in ALLOWED_PATTERNS.items()
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
