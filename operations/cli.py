"""make deploy, verify, os-update, publish and restore (docs/operations.md): each synthesizes with make's
ARGS, takes the stacks from that assembly and asks AWS with the credentials, profile and Region the CDK
CLI uses."""

import argparse
import collections
import contextlib
import hashlib
import html
import http.client
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError, WaiterError

from operations import site_folder
from settings.context import CONTEXT_FILE, context_file_problem
from web_server.transfer import COMMAND_OUTPUT_PREFIX, TRANSFER_PREFIX

# The configuration may wait 30 min for the volume in an instance roll; an OS update 1 h, a reboot, a rerun;
# a publish or a restore its commands, the mirror and CloudFront's invalidation.
WAIT_SECONDS = {"deploy": 1800, "verify": 1800, "os-update": 5400, "publish": 1800, "restore": 3600}
POLL_SECONDS = 5.0  # a verdict within seconds of a finished run, far below SSM's API limits
VOLUME_REMOVAL_SECONDS = 900  # a detach, then the delete, of a restore's temporary volume
SNAPSHOT_ID = re.compile(r"snap-([0-9a-f]{8}|[0-9a-f]{17})")
# Throttling and transient errors are retried by botocore, with backoff, inside each call.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=15, read_timeout=60)
# EBS takes a volume's next change 6 h after the last started, once that one left modifying/optimizing.
EBS_COOLDOWN = timedelta(hours=6)
# The stacks are told apart by the outputs their templates hold, whatever context named them.
WEB_SERVER_OUTPUTS = {"InstanceId", "ConfigurationAssociationId", "OsUpdateDocument"}
CONTENT_OUTPUTS = {"ImageUrl", "ImageDistributionId"}
WHERE_TO_LOOK = "docs/operations.md#where-to-look"
TAIL_LINES = 20


class OpsError(Exception):
    """Ends the command: ``details`` lines first, then `error: <message>` on one line."""

    def __init__(self, message: str, *, details: list[str] | None = None, code: int = 1) -> None:
        super().__init__(message)
        self.details, self.code = details or [], code


Stack = collections.namedtuple("Stack", ["name", "template"])  # a stack in the cloud assembly
Aws = collections.namedtuple("Aws", ["cloudformation", "ec2", "s3", "ssm"])  # boto3 clients


class Poll:
    """One deadline for all the waits of a command; a line when a state changes, or after a minute."""

    def __init__(self, *, wait_seconds: float, poll_seconds: float) -> None:
        self.wait_seconds, self.poll_seconds = wait_seconds, poll_seconds
        self.start, self.shown = time.monotonic(), ("", "", 0.0)

    def until(self, what: str, look: Callable[[], tuple[str, Any]], *, hint: str) -> Any:
        """Call ``look`` until it returns (state, result) with a result; it raises OpsError to stop."""
        while True:
            state, result = look()
            now = time.monotonic()
            if self.shown[:2] != (what, state) or now - self.shown[2] >= 60:
                print(f"[{now - self.start:4.0f}s] {what}: {state}", flush=True)
                self.shown = (what, state, now)
            if result is not None:
                return result
            if (remaining := self.start + self.wait_seconds - now) <= 0:
                waited = f"after {now - self.start:.0f}s (WAIT_SECONDS={self.wait_seconds:g})"
                raise OpsError(f"{what} still '{state}' {waited}; {hint}")
            time.sleep(min(self.poll_seconds, remaining))


def connect(*, profile: str | None, region: str | None) -> Aws:
    """Clients for the Region the CDK CLI takes: AWS_REGION (botocore skips it) before AWS_DEFAULT_REGION."""
    session = boto3.Session(profile_name=profile, region_name=region or os.environ.get("AWS_REGION") or None)
    return Aws(*(session.client(service, config=CLIENT_CONFIG) for service in Aws._fields))


def read_site_stacks(assembly: Path) -> tuple[Stack, Stack]:
    """(web server stack, content stack) of a synthesized cloud assembly."""
    try:
        manifest = json.loads((assembly / "manifest.json").read_text())
        stacks = [
            Stack(props.get("stackName", key), json.loads((assembly / props["templateFile"]).read_text()))
            for key, artifact in manifest.get("artifacts", {}).items()
            if artifact.get("type") == "aws:cloudformation:stack" and (props := artifact["properties"])
        ]
    except (OSError, ValueError, KeyError) as error:
        raise OpsError(f"cannot read the cloud assembly in {assembly}/ ({error})") from error
    found = []
    for outputs in (WEB_SERVER_OUTPUTS, CONTENT_OUTPUTS):
        holding = [stack for stack in stacks if outputs <= set(stack.template.get("Outputs", {}))]
        if len(holding) != 1:
            names, wanted = ", ".join(stack.name for stack in holding) or "none", ", ".join(sorted(outputs))
            raise OpsError(f"{assembly}/ should hold one stack with the outputs {wanted}: {names}")
        found.append(holding[0])
    return found[0], found[1]


def stack_outputs(aws: Aws, stack: str, *required: str) -> dict[str, str]:
    try:
        (described,) = aws.cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        if "does not exist" not in str(error):
            raise
        where = aws.cloudformation.meta.region_name
        raise OpsError(f"stack {stack} does not exist in {where} in this account: deploy it first") from error
    outputs = {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}
    if missing := ", ".join(key for key in required if not outputs.get(key)):
        raise OpsError(f"stack {stack} has no output {missing}: deploy this version of the app first")
    return outputs


def volume_changes(wanted: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """'Size 5 -> 8' for each property the template sets to a literal (a Ref is resolved at deploy time)."""
    given = [n for n in ("Size", "VolumeType", "Iops", "Throughput") if isinstance(wanted.get(n), (int, str))]
    return [f"{n} {current.get(n)} -> {wanted[n]}" for n in given if str(wanted[n]) != str(current.get(n))]


def cooldown_refusal(modification: dict[str, Any] | None, now: datetime) -> str | None:
    """Why EBS would hold a change to the volume now, and until when; None if it would not."""
    if not modification:
        return None
    started, state = modification["StartTime"], modification.get("ModificationState")
    ends = started + EBS_COOLDOWN
    since, ready = (f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC" for moment in (started, ends))
    if state in ("modifying", "optimizing"):
        progress = f" ({modification['Progress']}%)" if modification.get("Progress") is not None else ""
        waiting = f"deploy again once it shows completed and not before {ready}"
        return f"its last change (started {since}) is still {state}{progress}; {waiting}"
    return f"its last change started {since}; deploy again after {ready}" if ends > now else None


def check_volume(aws: Aws, stack: Stack) -> str:
    """The volume check's line; OpsError before a change EBS holds and CloudFormation waits out for hours."""
    volumes = [r for r in stack.template["Resources"].values() if r["Type"] == "AWS::EC2::Volume"]
    if len(volumes) > 1:
        raise OpsError(f"{stack.name} has {len(volumes)} volumes; the check knows one, DocumentRootVolumeId")
    volume = None
    with contextlib.suppress(OpsError):  # the stack is not deployed yet
        volume = volumes and stack_outputs(aws, stack.name).get("DocumentRootVolumeId")
    if not volume:
        return f"{stack.name} has no deployed volume, nothing to compare"
    (current,) = aws.ec2.describe_volumes(VolumeIds=[volume])["Volumes"]
    wanted = volumes[0].get("Properties", {})
    if not (changes := ", ".join(volume_changes(wanted, current))):
        return f"{volume} does not change"
    what = f"{stack.name} would change volume {volume} ({changes}), but EBS"
    if isinstance(wanted.get("Size"), int) and wanted["Size"] < current["Size"]:
        raise OpsError(f"{what} volumes cannot shrink: keep volume_size_gib at {current['Size']} or more")
    listed = aws.ec2.describe_volumes_modifications(VolumeIds=[volume])["VolumesModifications"]
    latest = max(listed, key=lambda modification: modification["StartTime"], default=None)
    if refusal := cooldown_refusal(latest, datetime.now(timezone.utc)):
        raise OpsError(
            f"{what} takes one change per volume every six hours and CloudFormation would wait that out "
            f"for hours: {refusal} (or leave the volume settings as they are)"
        )
    return f"{volume} will change ({changes}); EBS allows it now"


def check_zone(aws: Aws, stack: Stack, context_file: Path) -> tuple[str, bool]:
    """The zone check's line, and whether it kept a zone in ``context_file``: a first deploy whose Region's
    first zone cannot hold the site takes the first that can, kept as availability_zone_id for the life of
    the deployment, as the CDK CLI keeps its lookups there. The stack's own check refuses any later move."""
    guard = next(
        r["Properties"] for r in stack.template["Resources"].values() if r["Type"] == "Custom::ZoneGuard"
    )
    with contextlib.suppress(OpsError):  # not deployed yet
        stack_outputs(aws, stack.name)
        return f"{stack.name} is deployed: its zone stays", False
    if guard["ZoneId"]:
        return f"{guard['ZoneId']}, from availability_zone_id", False
    listed = aws.ec2.describe_availability_zones(
        Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}]
    )
    zones = sorted(listed["AvailabilityZones"], key=lambda zone: zone["ZoneName"])  # as Fn::GetAZs lists them
    offers = aws.ec2.describe_instance_type_offerings(
        LocationType="availability-zone-id",
        Filters=[{"Name": "instance-type", "Values": [guard["InstanceType"]]}],
    )["InstanceTypeOfferings"]
    offered, excluded = {offer["Location"] for offer in offers}, guard["ExcludedZoneIds"]
    usable = [
        zone["ZoneId"] for zone in zones if zone["ZoneId"] in offered and zone["ZoneId"] not in excluded
    ]
    first = f"the Region's first zone {zones[0]['ZoneName']} is {zones[0]['ZoneId']} in this account"
    if zones[0]["ZoneId"] in usable:
        return f"{first}: it holds VPC origins and offers {guard['InstanceType']}", False
    if not usable:
        raise OpsError(f"no zone here both holds CloudFront VPC origins and offers {guard['InstanceType']}")
    why = "cannot hold VPC origins" if zones[0]["ZoneId"] in excluded else f"lacks {guard['InstanceType']}"
    # Checked before the synthesis (settings.context): absent, or a JSON object, a BOM allowed.
    context = json.loads(context_file.read_text("utf-8-sig")) if context_file.exists() else {}
    partial = context_file.with_name(f".{context_file.name}.partial")
    partial.write_text(json.dumps({**context, "availability_zone_id": usable[0]}, indent=2) + "\n")
    partial.replace(context_file)
    return f"{first}, which {why}: {usable[0]} instead, kept in {context_file.name}", True


def s3_location(url: str) -> tuple[str, str]:
    """(bucket, key prefix) of an s3:// URL or an S3 HTTPS URL, path- or virtual-hosted-style."""
    parsed = urllib.parse.urlparse(url)
    path = urllib.parse.unquote(parsed.path).lstrip("/")
    if parsed.scheme == "s3":
        return parsed.netloc, path
    if hosted := re.match(r"(.+?)\.s3[.-]", parsed.hostname or ""):
        return hosted[1], path
    bucket, _, prefix = path.partition("/")
    return bucket, prefix


def run_output_tail(aws: Aws, url: str) -> list[str]:
    bucket, prefix = s3_location(url)
    listed = aws.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    outputs = [o for o in listed if o["Key"].endswith(("/stdout", "/stderr"))]
    lines = []
    for key in [o["Key"] for o in sorted(outputs, key=lambda o: o["LastModified"])][-4:]:
        text = aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode(errors="replace")
        lines += [f"--- s3://{bucket}/{key} (last {TAIL_LINES} lines)", *text.splitlines()[-TAIL_LINES:]]
    return lines or [f"(no stdout or stderr under s3://{bucket}/{prefix})"]


def _get(url: str) -> tuple[int | None, Any, bytes | str]:
    """(status, headers, body) of a GET of ``url``, an error status included; (None, None, why) when
    no answer came: no connection, a timeout, a cut answer."""
    try:
        with urlopen(Request(url, headers={"User-Agent": "site-verify"}), timeout=15) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:  # any status but 2xx, once redirects are followed
        return error.code, error.headers, error.read()
    except (OSError, http.client.HTTPException) as error:
        return None, None, f"no answer ({getattr(error, 'reason', error)})"


def _http_state(url: str, *, shows: str = "") -> tuple[str, str | None]:
    """A look for Poll.until: the media type once the answer is an image, or a page that ``shows`` it."""
    status, headers, body = _get(url)
    if status is None:
        return body, None
    media_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    state = f"HTTP {status} {media_type or '(no content type)'}"
    if status != 200:
        return f"{state}, waiting for 200", None
    if shows and shows.encode() not in body and html.escape(shows).encode() not in body:
        return f"{state}, the page does not show the image URL yet", None
    if not shows and not media_type.startswith("image/"):
        return f"{state}, not an image", None
    return state, media_type


def _http_body(url: str) -> tuple[str, bytes | None]:
    """A look's state and, once the answer is a success, the body."""
    status, _, body = _get(url)
    if status is None:
        return body, None
    if not 200 <= status < 300:
        return f"HTTP {status}, waiting for 200", None
    return f"HTTP {status}", body


def verify(aws: Aws, poll: Poll, web_server: Stack, content: Stack) -> None:
    web = stack_outputs(aws, web_server.name, "InstanceId", "ConfigurationAssociationId", "SiteUrl")
    images = stack_outputs(aws, content.name, "ImageUrl")
    instance, site_url, image_url = web["InstanceId"], web["SiteUrl"], images["ImageUrl"]
    if web.get("ImageUrl", image_url) != image_url:
        raise OpsError(
            f"{web_server.name} still points the page at {web['ImageUrl']}, but {content.name} serves "
            f"the image at {image_url}: deploy a change to the web server stack (docs/operations.md, "
            "'image distribution replaced')"
        )
    print(f"verifying {web_server.name}: {site_url}", flush=True)
    # The site's configuration first: the association's current version must succeed on the instance.
    association = web["ConfigurationAssociationId"]
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
        runs = [r for r in listed["InstanceAssociationStatusInfos"] if r["AssociationId"] == association]
        if not (run := max(runs, key=lambda run: run["ExecutionDate"], default=None)):
            return "not run on this instance yet", None
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

    poll.until(f"configuration on {instance}", look, hint="; ".join(where[:2]))
    hint = f"CloudFront distribution {web.get('SiteDistributionId')}; {WHERE_TO_LOOK}"
    # An edge may serve the previous page until the server's mirror has invalidated it.
    poll.until(f"page {site_url}", lambda: _http_state(site_url, shows=image_url), hint=hint)
    hint = f"CloudFront distribution {images.get('ImageDistributionId')}; {WHERE_TO_LOOK}"
    media_type = poll.until(f"image {image_url}", lambda: _http_state(image_url), hint=hint)
    verdict = f"site works: {site_url} shows {image_url} ({media_type}); configuration version {version}"
    print(f"{verdict} succeeded on {instance}", flush=True)


def run_command(aws: Aws, poll: Poll, instance: str, document: str, what: str, **send: Any) -> str:
    """Send ``document`` to the instance and wait for the command to end (a reboot runs its step again);
    its id. ``what`` names it in the progress lines and the error."""
    command = aws.ssm.send_command(DocumentName=document, InstanceIds=[instance], **send)["Command"][
        "CommandId"
    ]
    details = f"aws ssm get-command-invocation --command-id {command} --instance-id {instance}"
    print(f"sent {document} ({send.get('Comment', what)}) to {instance} as command {command}", flush=True)

    waiter = aws.ssm.get_waiter("command_executed")  # botocore's: which of the command's states are final

    def look() -> tuple[str, str | None]:  # one attempt of the waiter a look
        try:
            waiter.wait(CommandId=command, InstanceId=instance, WaiterConfig={"MaxAttempts": 1})
            return "Success", "Success"
        except WaiterError as error:  # InvocationDoesNotExist until the instance has the command
            answer = error.last_response or {}
            status = answer.get("Status") or answer.get("Error", {}).get("Code", "no answer")
            if "Max attempts exceeded" in str(error):  # not final yet
                return status, None
        streams = (answer.get(name) or "" for name in ("StandardOutputContent", "StandardErrorContent"))
        tail = [line for stream in streams for line in stream.splitlines()[-TAIL_LINES:]]
        raise OpsError(f"{what} {status} on {instance}; details: {details}", details=tail)

    poll.until(f"{what} on {instance}", look, hint=f"it goes on; see {details}")
    return command


def os_update(aws: Aws, poll: Poll, web_server: Stack, release: str) -> None:
    outputs = stack_outputs(aws, web_server.name, "InstanceId", "OsUpdateDocument")
    instance, document = outputs["InstanceId"], outputs["OsUpdateDocument"]
    parameters = {"Parameters": {"ReleaseVersion": [release]}, "Comment": f"OS update to {release}"}
    run_command(aws, poll, instance, document, "OS update", **parameters)
    print(f"OS update to {release} done on {instance}", flush=True)


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError  # unreachable: GiB ends the loop


class Release:
    """The server's served tree, changed through the release document (web_server/releases.py)."""

    def __init__(self, aws: Aws, poll: Poll, web_server: Stack) -> None:
        self.aws, self.poll = aws, poll
        self.outputs = stack_outputs(
            aws, web_server.name, "InstanceId", "ReleaseDocument", "RunOutputBucketName", "SiteUrl"
        )
        self.instance, self.bucket = self.outputs["InstanceId"], self.outputs["RunOutputBucketName"]

    def run(self, action: str, what: str, release: str = "none", **values: str) -> dict:
        """The release document's ``action`` on the server; the command's invocation, with its output."""
        parameters = {"Action": [action], "Release": [release], "VolumeId": ["none"], "DeviceName": ["none"]}
        parameters.update({name: [value] for name, value in values.items()})
        command = run_command(
            self.aws,
            self.poll,
            self.instance,
            self.outputs["ReleaseDocument"],
            what,
            Parameters=parameters,
            Comment=f"{what} ({release})" if release != "none" else what,
            OutputS3BucketName=self.bucket,
            OutputS3KeyPrefix=COMMAND_OUTPUT_PREFIX.rstrip("/"),
        )
        return self.aws.ssm.get_command_invocation(CommandId=command, InstanceId=self.instance)

    def full_output(self, invocation: dict) -> str:
        """The command's whole standard output: the agent's copy in S3 (the API gives 24,000 characters)."""
        bucket, key = s3_location(invocation["StandardOutputUrl"])

        def look() -> tuple[str, str | None]:
            try:
                body = self.aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except self.aws.s3.exceptions.NoSuchKey:
                return "not uploaded yet", None
            return "read", body.decode()

        return self.poll.until(
            f"output s3://{bucket}/{key}", look, hint="the SSM agent uploads it after the run"
        )

    def verdict(self, page: str, sha256: str, what: str) -> None:
        """Wait until CloudFront serves ``page`` with this hash; the line saying so."""
        url = self.outputs["SiteUrl"] + ("" if page == site_folder.PAGE else urllib.parse.quote(page))

        def look() -> tuple[str, str | None]:
            state, body = _http_body(url)
            if body is None:
                return state, None
            got = hashlib.sha256(body).hexdigest()
            return (
                (f"{state}, sha256 {got[:12]}", "ok") if got == sha256 else (f"{state}, another {page}", None)
            )

        hint = (
            f"the mirror invalidates CloudFront: journalctl -u site-sync on {self.instance}; {WHERE_TO_LOOK}"
        )
        self.poll.until(f"page {url}", look, hint=hint)
        print(f"site works: {url} serves the {what} {page} (sha256 {sha256[:12]})", flush=True)


def publish(release: Release, folder: Path, entries: dict, *, plan_only: bool) -> None:
    """Plan against the served tree, upload what the server lacks, build and switch there; the verdict."""
    meta, served = site_folder.parse_inventory(release.full_output(release.run("inventory", "inventory")))
    plan = site_folder.plan(entries, served)
    for verb, items in (("add", plan.added), ("change", plan.changed), ("delete", plan.deleted)):
        for path, entry in items if plan_only else ():
            size = {"d": "(folder)", "l": "(link)"}.get(entry.kind) or _size(entry.size)
            print(f"  {verb:<7}{size:>10}  {path}", flush=True)
    needed = site_folder.space_needed(entries.values(), int(meta["block"]))
    free, served_id = int(meta["free"]), meta["served"]
    added, changed = (_size(sum(entry.size for _, entry in items)) for items in (plan.added, plan.changed))
    print(
        f"plan against {served_id}: {len(plan.added)} to add ({added}), {len(plan.changed)} to change "
        f"({changed}), {len(plan.deleted)} to delete; the new tree takes {_size(needed)} of the "
        f"{_size(free)} free on the volume",
        flush=True,
    )
    if needed > free:
        raise OpsError(
            f"{folder} needs {_size(needed)} on the volume, which has {_size(free)} free (measured on "
            f"{release.instance}): raise volume_size_gib, or publish less; nothing was uploaded or changed"
        )
    page = (
        site_folder.PAGE
        if site_folder.PAGE in entries
        else min(p for p, e in entries.items() if e.kind == "f")
    )
    if plan_only:
        print("PLAN=1: nothing was uploaded or changed", flush=True)
        return
    if plan.added or plan.changed or plan.deleted:
        name = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-publish-{secrets.token_hex(2)}"
        upload(release, folder, name, entries, plan.upload)
        release.run("publish", "publish", name)
    else:
        print(f"nothing to publish: the server serves this folder already ({served_id})", flush=True)
    release.verdict(page, entries[page].sha256, "published")


def _status(invocation: dict) -> dict[str, str]:
    """site-release.sh status's lines by their first word: served, previous, page."""
    lines = invocation.get("StandardOutputContent", "").splitlines()
    return dict(
        line.partition(" ")[::2] for line in lines if line.startswith(("served ", "previous ", "page "))
    )


def _tree(line: str) -> str:
    name, size, files = line.split()
    return f"{name} ({_size(int(size))}, {files} files)"


def restore(release: Release, volume: str, *, previous: bool) -> None:
    """Back to the restore point on the volume, then the verdict; or, asked for none, the list of them."""
    if previous:
        sha256, _, page = _status(release.run("previous", "restore"))["page"].partition(" ")
        release.verdict(page, sha256, "restored")
        return
    status = _status(release.run("status", "status"))
    print(f"{release.instance} serves {_tree(status['served'])}", flush=True)
    print("restore points:", flush=True)
    if "previous" in status:
        print(f"  on the volume  {_tree(status['previous'])}: make restore PREVIOUS=1", flush=True)
    pages = release.aws.ec2.get_paginator("describe_snapshots").paginate(
        OwnerIds=["self"], Filters=[{"Name": "volume-id", "Values": [volume]}]
    )
    listed = sorted(
        (s for page in pages for s in page["Snapshots"]), key=lambda s: s["StartTime"], reverse=True
    )
    for snapshot in listed:
        name, state = snapshot["SnapshotId"], snapshot["State"]
        taken = f"{snapshot['StartTime'].astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"
        size = f"{snapshot['VolumeSize']} GiB volume" + ("" if state == "completed" else f", {state}")
        print(f"  snapshot       {name} of {taken} ({size}): make restore SNAPSHOT={name}", flush=True)
    if "previous" not in status and not listed:
        print(
            f"  none yet: the first publish keeps one, and {volume} is snapshotted daily at 03:00 UTC",
            flush=True,
        )


def _wait_for_volume(poll: Poll, ec2: Any, volume: str, wanted: str) -> None:
    """Until the volume is ``wanted``: a volume state (available), or an attachment state (attached)."""

    def look() -> tuple[str, str | None]:
        (described,) = ec2.describe_volumes(VolumeIds=[volume])["Volumes"]
        state = next((a["State"] for a in described.get("Attachments", [])), described["State"])
        return state, state if state == wanted else None

    poll.until(f"temporary volume {volume}", look, hint=f"aws ec2 describe-volumes --volume-ids {volume}")


def remove_volume(ec2: Any, volume: str, poll: Poll) -> None:
    try:
        (described,) = ec2.describe_volumes(VolumeIds=[volume])["Volumes"]
        for attachment in described.get("Attachments", []):
            ec2.detach_volume(VolumeId=volume, InstanceId=attachment["InstanceId"])
        _wait_for_volume(poll, ec2, volume, "available")
        ec2.delete_volume(VolumeId=volume)
    except Exception as error:
        raise OpsError(
            f"the temporary volume {volume} is left ({error}); it is billed until you delete it: "
            f"aws ec2 detach-volume --volume-id {volume}, then aws ec2 delete-volume --volume-id {volume}"
        ) from error
    print(f"deleted the temporary volume {volume}", flush=True)


def restore_snapshot(release: Release, snapshot: str, stack: str) -> None:
    """A temporary volume from the snapshot in the server's zone, attached, copied from on the server with
    the same atomic switch, then detached and deleted whatever happened; then the verdict. The EC2 calls
    are the operator's: the server's role gains nothing for them."""
    ec2, instance = release.aws.ec2, release.instance
    (found,) = ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"]
    if found["State"] != "completed":
        raise OpsError(f"{snapshot} is {found['State']}: restore from it once it is completed (make restore)")
    (server,) = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"]
    used = {m["DeviceName"].replace("/dev/xvd", "/dev/sd") for m in server.get("BlockDeviceMappings", [])}
    device = next(f"/dev/sd{letter}" for letter in "ghijklmnop" if f"/dev/sd{letter}" not in used)
    zone = server["Placement"]["AvailabilityZone"]
    tags = [{"Key": "Name", "Value": f"{stack}: restore from {snapshot}, deleted when it ends"}]
    volume = ec2.create_volume(
        SnapshotId=snapshot,
        AvailabilityZone=zone,
        VolumeType="gp3",
        TagSpecifications=[{"ResourceType": "volume", "Tags": tags}],
    )["VolumeId"]
    print(f"created the temporary volume {volume} from {snapshot} in {zone}", flush=True)
    try:
        _wait_for_volume(release.poll, ec2, volume, "available")
        ec2.attach_volume(VolumeId=volume, InstanceId=instance, Device=device)
        _wait_for_volume(release.poll, ec2, volume, "attached")
        name = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{snapshot}"
        status = _status(release.run("snapshot", "restore", name, VolumeId=volume, DeviceName=device))
    finally:  # a deadline of its own: the restore's may be spent
        remove_volume(
            ec2, volume, Poll(wait_seconds=VOLUME_REMOVAL_SECONDS, poll_seconds=release.poll.poll_seconds)
        )
    sha256, _, page = status["page"].partition(" ")
    release.verdict(page, sha256, "restored")


def upload(release: Release, folder: Path, name: str, entries: dict, paths: list[str]) -> None:
    """The folder's manifest and a tar of the files the server lacks, under TRANSFER_PREFIX/name/."""
    prefix = f"{TRANSFER_PREFIX}{name}/"
    release.aws.s3.put_object(
        Bucket=release.bucket, Key=f"{prefix}manifest", Body=site_folder.manifest(entries)
    )
    with tempfile.TemporaryFile() as bundle:
        site_folder.bundle(folder, paths, bundle)
        total, sent, shown, lock = bundle.tell(), [0], [0.0], threading.Lock()
        bundle.seek(0)

        def progress(amount: int) -> None:  # boto3 calls it from its transfer threads
            with lock:
                sent[0] += amount
                now = time.monotonic()
                if now - shown[0] >= 1 or sent[0] >= total:
                    shown[0] = now
                    start = release.poll.start
                    print(f"[{now - start:4.0f}s] upload: {_size(sent[0])} of {_size(total)}", flush=True)

        release.aws.s3.upload_fileobj(bundle, release.bucket, f"{prefix}files.tar", Callback=progress)
    print(f"uploaded {len(paths)} files to s3://{release.bucket}/{prefix}", flush=True)


def seconds_from_env(name: str, default: float, *, zero_allowed: bool) -> float:
    raw = os.environ.get(name, "")
    with contextlib.suppress(ValueError):  # not a number
        if 0 < (value := float(raw or default)) < float("inf") or (value == 0 and zero_allowed):
            return value
    least = "0 or more" if zero_allowed else "more than 0"
    raise OpsError(f"{name}={raw!r}: expected a number of seconds, {least}", code=2)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]  # one line, not usage and a line
        raise OpsError(f"{message}; usage: {self.prog} {{{','.join(WAIT_SECONDS)}}} [CDK ARGS]", code=2)


class Operator:
    def __init__(self, argv: list[str] | None, *, connect: Callable[..., Aws], run_cdk: Callable) -> None:
        parser = _Parser(prog="python -m operations", allow_abbrev=False)
        parser.add_argument("command", choices=WAIT_SECONDS)
        parser.add_argument("--cdk", default=f"{Path(sys.executable).parent / 'npx'} cdk")  # package-lock's
        parser.add_argument("--output", "-o", default="cdk.out")  # the cloud assembly's directory
        for name in ("--profile", "--region", "--release", "--site", "--snapshot"):
            parser.add_argument(name)
        for name in ("--plan", "--force", "--previous"):  # make's PLAN=1, FORCE=1, PREVIOUS=1
            parser.add_argument(name, choices=["", "0", "1"], default="")
        self.options, self.cdk_args = parser.parse_known_args(argv)
        for name in ("profile", "region"):  # read here as the CDK CLI reads them, and passed on to it
            self.cdk_args += [f"--{name}", getattr(self.options, name)] if getattr(self.options, name) else []
        if self.options.command == "os-update" and not self.options.release:
            raise OpsError(
                "RELEASE is not set: name the AL2023 release to update to, e.g. make os-update RELEASE="
                "2023.9.20251110 (https://docs.aws.amazon.com/linux/al2023/release-notes/relnotes.html), "
                "or RELEASE=latest to take the newest on purpose",
                code=2,
            )
        if self.options.command == "publish":
            self.entries = self._checked_site()
        snapshot = self.options.snapshot
        if snapshot and not SNAPSHOT_ID.fullmatch(snapshot):
            raise OpsError(f"SNAPSHOT={snapshot} is not a snapshot id such as snap-0123456789abcdef0", code=2)
        if snapshot and self.options.previous == "1":
            raise OpsError("PREVIOUS=1 and SNAPSHOT= name two restore points: give one", code=2)
        self.wait = seconds_from_env("WAIT_SECONDS", WAIT_SECONDS[self.options.command], zero_allowed=True)
        self.poll = seconds_from_env("POLL_SECONDS", POLL_SECONDS, zero_allowed=False)
        self.aws, self.run_cdk = connect(profile=self.options.profile, region=self.options.region), run_cdk

    def _checked_site(self) -> dict[str, site_folder.Entry]:
        """The folder's entries; before anything else, one line for each thing that cannot be published."""
        site = self.options.site
        if not site or not Path(site).is_dir():
            given = f"SITE={site} is not a folder" if site else "SITE is not set"
            raise OpsError(
                f"{given}: make publish SITE=path/to/folder (PLAN=1 lists the changes first)", code=2
            )
        entries, refusals = site_folder.read_folder(Path(site), force=self.options.force == "1")
        if refusals:
            raise OpsError(refusals[-1], details=[f"error: {refusal}" for refusal in refusals[:-1]], code=2)
        return entries

    def cdk(self, *args: str) -> None:
        command = [*shlex.split(self.options.cdk), *args]
        try:
            code = self.run_cdk(command)
        except OSError as error:  # PATH's lookup raises PermissionError for a directory it may not search
            rule = "check --cdk, and that this user may search every directory on PATH"
            raise OpsError(f"cannot run the CDK CLI {command[0]!r}: {error.strerror} ({rule})") from None
        if code:
            raise OpsError(f"cdk {args[0]} failed (exit status {code})", code=code)

    def run(self) -> None:
        if problem := context_file_problem():  # before the CDK CLI, which may say less
            raise OpsError(problem)
        print(f"synthesizing into {self.options.output}/ to read the stacks from", flush=True)
        self.cdk("synth", "--quiet", "--no-notices", "--output", self.options.output, *self.cdk_args)
        web_server, content = read_site_stacks(Path(self.options.output))
        if self.options.command == "deploy":
            line, kept = check_zone(self.aws, web_server, CONTEXT_FILE)
            print(f"zone check: {line}", flush=True)
            if kept:
                self.cdk("synth", "--quiet", "--no-notices", "--output", self.options.output, *self.cdk_args)
                web_server, content = read_site_stacks(Path(self.options.output))
            print(f"volume check: {check_volume(self.aws, web_server)}", flush=True)
            # The assembly just checked, not a new synthesis: what was checked is what is deployed.
            self.cdk("deploy", "--app", self.options.output, "--all", *self.cdk_args)
        # The deadline starts here: a deploy's own minutes do not count against it.
        poll = Poll(wait_seconds=self.wait, poll_seconds=self.poll)
        if self.options.command == "os-update":
            os_update(self.aws, poll, web_server, self.options.release)
        elif self.options.command == "publish":
            release = Release(self.aws, poll, web_server)
            publish(release, Path(self.options.site), self.entries, plan_only=self.options.plan == "1")
        elif self.options.command == "restore" and self.options.snapshot:
            restore_snapshot(Release(self.aws, poll, web_server), self.options.snapshot, web_server.name)
        elif self.options.command == "restore":
            volume = stack_outputs(self.aws, web_server.name, "DocumentRootVolumeId")["DocumentRootVolumeId"]
            restore(Release(self.aws, poll, web_server), volume, previous=self.options.previous == "1")
        else:
            verify(self.aws, poll, web_server, content)


def main(argv: list[str] | None = None, *, connect=connect, run_cdk=subprocess.call) -> int:
    try:
        Operator(argv, connect=connect, run_cdk=run_cdk).run()  # argparse reads sys.argv without argv
    except OpsError as error:
        print(*error.details, f"error: {error}", sep="\n", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        return 130
    except (NoCredentialsError, NoRegionError) as error:  # what a first run on a new machine meets
        print(f"error: {error} (README.md, Deploy: credentials, then the Region)", file=sys.stderr)
        return 1
    except Exception as error:  # AWS, credentials, the network, the files: one line, never a traceback
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0
