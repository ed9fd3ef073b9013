"""What the tool asks AWS: stack outputs, the volume check, the configuration's runs, the OS update."""

from __future__ import annotations

import os
import re
import urllib.parse
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, WaiterError

from operations.assembly import Stack
from operations.waiting import OpsError, Poll

# Throttling and transient errors are retried by botocore, with backoff, inside each call.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=15, read_timeout=60)
WHERE_TO_LOOK = "docs/operations.md#where-to-look"
# EBS takes a volume's next change six hours after the last one started, and only once that one
# has left the modifying and optimizing states (API_ModifyVolume).
EBS_COOLDOWN = timedelta(hours=6)
VOLUME_PROPERTIES = ("Size", "VolumeType", "Iops", "Throughput")
TAIL_LINES = 20


class Aws(NamedTuple):
    cloudformation: Any
    ec2: Any
    s3: Any
    ssm: Any


def session(*, profile: str | None, region: str | None) -> boto3.Session:
    """The account and Region the CDK CLI uses with the same arguments and environment: it reads
    AWS_REGION before AWS_DEFAULT_REGION and the profile's Region; botocore skips AWS_REGION."""
    return boto3.Session(profile_name=profile, region_name=region or os.environ.get("AWS_REGION") or None)


def connect(*, profile: str | None, region: str | None) -> Aws:
    chosen = session(profile=profile, region=region)
    return Aws(*(chosen.client(service, config=CLIENT_CONFIG) for service in Aws._fields))


def stack_outputs(aws: Aws, stack: str, *required: str) -> dict[str, str]:
    try:
        (described,) = aws.cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        if "does not exist" not in str(error):
            raise
        region = aws.cloudformation.meta.region_name
        raise OpsError(
            f"stack {stack} does not exist in {region} in this account: deploy it first"
        ) from error
    outputs = {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}
    if missing := ", ".join(key for key in required if not outputs.get(key)):
        raise OpsError(f"stack {stack} has no output {missing}: deploy this version of the app first")
    return outputs


def volume_changes(wanted: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """'Size 5 -> 8' for each property the template sets to a literal (not a Ref or an Fn::If,
    resolved at deploy time) that the volume does not have."""
    return [
        f"{name} {current.get(name)} -> {wanted[name]}"
        for name in VOLUME_PROPERTIES
        if isinstance(wanted.get(name), (int, str)) and str(wanted[name]) != str(current.get(name))
    ]


def cooldown_refusal(modification: dict[str, Any] | None, now: datetime) -> str | None:
    """Why EBS would hold a change to the volume now, and until when; None if it would not."""
    if not modification:
        return None
    started, state = modification["StartTime"], modification.get("ModificationState")
    since, ready = (
        f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"
        for moment in (started, started + EBS_COOLDOWN)
    )
    if state in ("modifying", "optimizing"):
        progress = f" ({modification['Progress']}%)" if modification.get("Progress") is not None else ""
        return (
            f"its last change (started {since}) is still {state}{progress}; "
            f"deploy again once it shows completed and not before {ready}"
        )
    if started + EBS_COOLDOWN > now:
        return f"its last change started {since}; deploy again after {ready}"
    return None


def check_volume(aws: Aws, web_server: Stack, *, now: datetime | None = None) -> None:
    """Stop before a deploy that would change the volume while EBS refuses to: CloudFormation
    would not fail, it would wait the cooldown out for hours, the stack in UPDATE_IN_PROGRESS."""
    volumes = [r for r in web_server.template["Resources"].values() if r["Type"] == "AWS::EC2::Volume"]
    if len(volumes) > 1:
        raise OpsError(
            f"{web_server.name} has {len(volumes)} volumes; the check knows one, DocumentRootVolumeId"
        )
    try:
        volume_id = stack_outputs(aws, web_server.name).get("DocumentRootVolumeId")
    except OpsError:  # the stack is not deployed yet
        volume_id = None
    if not volumes or not volume_id:
        print(f"volume check: {web_server.name} has no deployed volume, nothing to compare", flush=True)
        return
    (current,) = aws.ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    wanted = volumes[0].get("Properties", {})
    if not (changes := ", ".join(volume_changes(wanted, current))):
        print(f"volume check: {volume_id} does not change", flush=True)
        return
    what = f"{web_server.name} would change volume {volume_id} ({changes})"
    if isinstance(wanted.get("Size"), int) and wanted["Size"] < current["Size"]:
        raise OpsError(
            f"{what}, but EBS volumes cannot shrink: keep volume_size_gib at {current['Size']} or more"
        )
    listed = aws.ec2.describe_volumes_modifications(VolumeIds=[volume_id])["VolumesModifications"]
    latest = max(listed, key=lambda modification: modification["StartTime"], default=None)
    if refusal := cooldown_refusal(latest, now or datetime.now(timezone.utc)):
        raise OpsError(
            f"{what}, but EBS takes one change per volume every six hours and CloudFormation would wait "
            f"that out for hours: {refusal} (or leave the volume settings as they are)"
        )
    print(f"volume check: {volume_id} will change ({changes}); EBS allows it now", flush=True)


def s3_location(url: str) -> tuple[str, str]:
    """(bucket, key prefix) of an s3:// URL or an S3 HTTPS URL, path- or virtual-hosted-style."""
    parsed = urllib.parse.urlparse(url)
    path = urllib.parse.unquote(parsed.path).lstrip("/")
    hosted = re.match(r"^(.+?)\.s3[.-]", parsed.hostname or "")
    if parsed.scheme == "s3":
        return parsed.netloc, path
    if hosted:
        return hosted[1], path
    bucket, _, prefix = path.partition("/")
    return bucket, prefix


def run_output_tail(aws: Aws, url: str) -> list[str]:
    """The last lines of each stdout and stderr a run wrote under its S3 output URL."""
    bucket, prefix = s3_location(url)
    listed = aws.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    outputs = sorted(
        (o for o in listed if o["Key"].endswith(("/stdout", "/stderr"))), key=lambda o: o["LastModified"]
    )
    lines = []
    for key in [o["Key"] for o in outputs][-4:]:
        text = aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode(errors="replace")
        lines += [f"--- s3://{bucket}/{key} (last {TAIL_LINES} lines)", *text.splitlines()[-TAIL_LINES:]]
    return lines or [f"(no stdout or stderr under s3://{bucket}/{prefix})"]


def configuration_run(aws: Aws, poll: Poll, *, instance: str, association: str) -> str:
    """Wait for the association's current version to succeed on ``instance``; that version."""
    described = aws.ssm.describe_association(AssociationId=association)["AssociationDescription"]
    version = described["AssociationVersion"]
    where = [
        f"run status: aws ssm describe-instance-associations-status --instance-id {instance}",
        f"on the server: aws ssm start-session --target {instance}, then journalctl -u site-boot",
        f"re-run it: aws ssm start-associations-once --association-ids {association}",
        f"more: {WHERE_TO_LOOK}",
    ]

    def look() -> tuple[str, str | None]:
        listed = aws.ssm.describe_instance_associations_status(InstanceId=instance)
        runs = [
            run for run in listed["InstanceAssociationStatusInfos"] if run["AssociationId"] == association
        ]
        if not runs:
            return "not run on this instance yet", None
        run = max(runs, key=lambda run: run["ExecutionDate"])
        status, detailed = run["Status"], run.get("DetailedStatus") or run["Status"]
        if run["AssociationVersion"] != version:
            return f"version {run['AssociationVersion']} {detailed}; waiting for version {version}", None
        if status == "Success":
            return f"version {version} Success at {run['ExecutionDate']}", version
        if status == "Failed" or detailed in ("Failed", "TimedOut", "Cancelled"):
            summary = " ".join(run.get(key, "") for key in ("ErrorCode", "ExecutionSummary")).strip()
            url = run.get("OutputUrl", {}).get("S3OutputUrl", {}).get("OutputUrl")
            message = f"the site's configuration (version {version}) failed on {instance}"
            message += (f": {summary}" if summary else "") + (f"; full output under {url}" if url else "")
            tail = run_output_tail(aws, url) if url else ["(the run left no output location)"]
            raise OpsError(message, details=[*tail, *where])
        return f"version {version} {detailed}", None

    return poll.until(f"configuration on {instance}", look, hint="; ".join(where[:2]))


def os_update(aws: Aws, poll: Poll, *, instance: str, document: str, release: str) -> None:
    """Send the OS-update document to the instance and wait for the command to end."""
    parameters, comment = {"ReleaseVersion": [release]}, f"OS update to {release}"
    sent = aws.ssm.send_command(
        DocumentName=document, InstanceIds=[instance], Parameters=parameters, Comment=comment
    )
    command_id, what = sent["Command"]["CommandId"], f"OS update on {instance}"
    details = f"aws ssm get-command-invocation --command-id {command_id} --instance-id {instance}"
    print(f"sent {document} ({release}) to {instance} as command {command_id}", flush=True)

    def show(parsed: dict[str, Any], **_: Any) -> None:
        poll.show(what, _status(parsed))

    # botocore's waiter asks GetCommandInvocation; this shows each answer as it comes.
    answered = "after-call.ssm.GetCommandInvocation"
    aws.ssm.meta.events.register(answered, show)
    # A reboot in the middle runs the step again afterwards; the command ends after that.
    waiting = {"Delay": poll.poll_seconds, "MaxAttempts": int(poll.remaining() // poll.poll_seconds) + 1}
    try:
        aws.ssm.get_waiter("command_executed").wait(
            CommandId=command_id, InstanceId=instance, WaiterConfig=waiting
        )
    except WaiterError as error:
        last = error.last_response or {}
        if "Max attempts exceeded" in str(error):
            raise poll.timed_out(what, _status(last), hint=f"it goes on; see {details}") from error
        outputs = (last.get(name) or "" for name in ("StandardOutputContent", "StandardErrorContent"))
        tail = [line for output in outputs for line in output.splitlines()[-TAIL_LINES:]]
        raise OpsError(
            f"OS update {_status(last)} on {instance}; details: {details}", details=tail
        ) from error
    finally:
        aws.ssm.meta.events.unregister(answered, show)
    print(f"OS update to {release} done on {instance}", flush=True)


def _status(invocation: dict[str, Any]) -> str:
    return invocation.get("Status") or invocation.get("Error", {}).get("Code", "no answer")
