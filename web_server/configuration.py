"""The site's configuration, applied to the running server by State Manager: the boot files
(``runtime/``) as one S3 asset, a static SSM Command document that runs ``boot/apply.sh`` with the
deployment's values, and an association that runs it. None of it replaces or restarts the server."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import jsii
from aws_cdk import Aspects, Aws, IAspect, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_ssm as ssm
from constructs import Construct, IConstruct

from common.nag import acknowledge, objects_of
from web_server.document_root import ACCOUNT_KEYS_FINDING, account_keys
from web_server.infrastructure import WebServer
from web_server.instance_values import BUCKET_PATTERN, INSTANCE_VALUES

RUNTIME = Path(__file__).resolve().parent / "runtime"
# Heals a run that failed or a change made by hand; updates run at once regardless.
SCHEDULE = "rate(30 minutes)"
# Where in ``output_bucket`` State Manager keeps each run's output.
OUTPUT_PREFIX = "site-configuration/"
# Long enough for a boot that waits for the volume (30 min) and a dnf upgrade.
TIMEOUT_SECONDS = 3600

# Every parameter of the document with the pattern SSM checks: the boot files, then the values.
ALLOWED_PATTERNS = {
    "AssetBucket": (BUCKET_PATTERN, "Bucket of the boot files"),
    "AssetKey": (r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,1000}$", "Key of the boot files"),
    **{value.parameter: (value.pattern, value.description) for value in INSTANCE_VALUES},
}
# The names apply.sh writes to the server's environment file, in this order.
SITE_VALUES = " ".join(value.env for value in INSTANCE_VALUES)
# A boot-file object is new on every change of the scripts, and so is the statement allowing
# it: IAM may answer AccessDenied for a few seconds after the policy is updated.
DOWNLOAD_ATTEMPTS = 6
DOWNLOAD_RETRY_SECONDS = 10


def shell_script_document(
    *, description: str, parameters: Mapping[str, tuple[str, str]], step: str, commands: Sequence[str]
) -> dict:
    """An SSM Command document with one shell step. ``parameters`` maps each name to its (pattern,
    description): SSM checks each value before the script sees it."""
    inputs = {"timeoutSeconds": str(TIMEOUT_SECONDS), "runCommand": list(commands)}
    return {
        "schemaVersion": "2.2",
        "description": description,
        "parameters": {
            name: {"type": "String", "description": meaning, "allowedPattern": pattern}
            for name, (pattern, meaning) in parameters.items()
        },
        "mainSteps": [{"action": "aws:runShellScript", "name": step, "inputs": inputs}],
    }


def document_content() -> dict:
    """The document: fetch the boot files, unpack them, hand over to apply.sh."""
    return shell_script_document(
        description="Install the site's boot files and apply the deployment's values (idempotent).",
        parameters=ALLOWED_PATTERNS,
        step="applySiteConfiguration",
        commands=[
            "set -euo pipefail",
            # The agent's environment leaves the CLI on its IPv4 endpoints; like the boot
            # scripts (common.sh), every call here takes the service's dual-stack one.
            "export AWS_USE_DUALSTACK_ENDPOINT=true",
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
            *(f"export {value.env}='{{{{ {value.parameter} }}}}'" for value in INSTANCE_VALUES),
            f"export SITE_VALUES='{SITE_VALUES}'",
            'bash "$staging/files/boot/apply.sh" "$staging/files"',
        ],
    )


@jsii.implements(IAspect)
class _AfterRolePolicies:
    """Makes the construct it visits depend on every IAM policy attached to ``role``, wherever it is
    defined. Added to that construct alone: it runs once, when the stack is complete."""

    def __init__(self, role: iam.IRole) -> None:
        self._role = role

    def visit(self, node: IConstruct) -> None:
        stack = Stack.of(node)
        role_name = stack.resolve(self._role.role_name)
        for construct in stack.node.find_all():
            if isinstance(construct, iam.CfnPolicy | iam.CfnManagedPolicy) and role_name in (
                stack.resolve(construct.roles) or []
            ):
                node.node.add_dependency(construct)


class SiteConfiguration(Construct):
    """The boot-file asset, the document that applies it and the association that runs it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        server: WebServer,
        values: Mapping[str, str],
        output_bucket: s3.Bucket,
    ) -> None:
        super().__init__(scope, construct_id)
        asset = self.asset = s3_assets.Asset(self, "BootFiles", path=str(RUNTIME))
        self.document = ssm.CfnDocument(
            self, "ApplyDocument", document_type="Command", document_format="JSON", content=document_content()
        )
        parameters = {"AssetBucket": asset.s3_bucket_name, "AssetKey": asset.s3_object_key, **values}
        self.association = ssm.CfnAssociation(
            self,
            "Association",
            name=self.document.ref,
            association_name=f"{Stack.of(self).stack_name}-site-configuration",
            targets=[ssm.CfnAssociation.TargetProperty(key="InstanceIds", values=[server.instance_id])],
            parameters={name: [value] for name, value in parameters.items()},
            # State Manager runs an association at once when it is created or updated (which is
            # how a new value reaches the server), then on this schedule.
            schedule_expression=SCHEDULE,
            compliance_severity="HIGH",
            output_location=ssm.CfnAssociation.InstanceAssociationOutputLocationProperty(
                s3_location=ssm.CfnAssociation.S3OutputLocationProperty(
                    output_s3_bucket_name=output_bucket.bucket_name,
                    output_s3_key_prefix=OUTPUT_PREFIX,
                    output_s3_region=Aws.REGION,
                )
            ),
            # No WaitForSuccessTimeoutSeconds: on an instance replacement the new instance
            # cannot have the volume before CloudFormation's cleanup, so waiting would deadlock.
        )
        boot_files = asset.bucket.arn_for_objects(asset.s3_object_key)
        through_s3 = {"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}}
        output_objects = output_bucket.arn_for_objects(f"{OUTPUT_PREFIX}*")
        policy = server.add_policy(
            self,
            "InstancePolicy",
            iam.PolicyStatement(sid="ReadBootFiles", actions=["s3:GetObject"], resources=[boot_files]),
            # A customer managed key on the CDK bootstrap bucket (cdk bootstrap
            # --bootstrap-customer-key) encrypts the boot files too.
            iam.PolicyStatement(
                sid="DecryptBootFilesThroughS3",
                actions=["kms:Decrypt"],
                resources=[account_keys(self)],
                conditions=through_s3,
            ),
            # The instance writes each run's output itself.
            iam.PolicyStatement(sid="WriteRunOutput", actions=["s3:PutObject"], resources=[output_objects]),
            # The SSM agent reads the bucket's encryption before it uploads.
            iam.PolicyStatement(
                sid="ReadRunOutputEncryption",
                actions=["s3:GetEncryptionConfiguration"],
                resources=[output_bucket.bucket_arn],
            ),
        )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{ACCOUNT_KEYS_FINDING}]",
            "The CDK bootstrap bucket may be encrypted with any key of the account (chosen at "
            "cdk bootstrap, unknown to the app); kms:ViaService limits decryption to S3 reads.",
        )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[{objects_of(output_bucket, OUTPUT_PREFIX)}]",
            "State Manager names each run's output objects after the command and instance ids, "
            "unknown in advance; the instance may only add objects under this stack's prefix.",
        )
        # CloudFormation orders updates by dependencies only: a run that State Manager starts
        # right after its association changed must find the role's new permissions in force.
        Aspects.of(self.association).add(_AfterRolePolicies(server.role))
        self.association.node.add_dependency(server.role)
