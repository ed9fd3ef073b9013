#!/usr/bin/env python3
"""Operating the deployed site with the operator's own AWS CLI v2 (docs/operations.md).

    site_ops.py deploy [CDK ARGS]                 synthesize once; stop before a volume change
                                                  that EBS would hold for hours; deploy that
                                                  assembly; then verify
    site_ops.py verify [CDK ARGS]                 wait for the configuration's latest run on the
                                                  current instance, then fetch the page and the
                                                  image through CloudFront
    site_ops.py os-update --release R [CDK ARGS]  run the stack's OS-update document, and wait

CDK ARGS are what make's ARGS holds: `-c environment=prod` picks the stacks as it does for
`cdk deploy` (cdk.context.json's value otherwise, dev by default) and `--profile NAME` the
credentials; the rest goes to the CDK CLI. AWS calls go through the first `aws` on PATH that
is not in a virtual environment, and it must be AWS CLI v2: it reads AWS_REGION and
AWS_PROFILE as the CDK CLI does. Waiting is bounded by WAIT_SECONDS (POLL_SECONDS between
looks; MAX_API_ERRORS failed calls in a row end it). Standard library only.
"""

from __future__ import annotations

import html
import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from settings.model import SettingsError, SiteSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent

T = TypeVar("T")

CLI_INSTALL = "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
AL2023_RELEASES = "https://docs.aws.amazon.com/linux/al2023/release-notes/relnotes.html"
WHERE_TO_LOOK = "docs/operations.md#where-to-look"
ASSEMBLY = "cdk.out"
# EBS takes a volume's next modification six hours after the last one, and only once that
# one has left the modifying and optimizing states (API_ModifyVolume).
EBS_COOLDOWN = timedelta(hours=6)
VOLUME_PROPERTIES = ("Size", "VolumeType", "Iops", "Throughput")
# The configuration can wait half an hour for the volume during an instance roll; an OS
# update runs for up to an hour, with a reboot and a second run on top.
VERIFY_WAIT_SECONDS = 1800
OS_UPDATE_WAIT_SECONDS = 5400
# Often enough that a verdict follows a finished run within seconds, far below SSM's API limits.
POLL_SECONDS = 5
CALL_TIMEOUT_SECONDS = 120
FETCH_TIMEOUT_SECONDS = 15
HEARTBEAT_SECONDS = 60
OUTPUT_TAIL_LINES = 20


class OpsError(Exception):
    """Ends the command: `details` lines first, then `error: <message>` on one line."""

    def __init__(self, message: str, *, details: Sequence[str] = (), code: int = 1) -> None:
        super().__init__(message)
        self.details = list(details)
        self.code = code


class StackMissing(OpsError):
    """The stack is not deployed in this account and Region."""


class AwsError(Exception):
    """A failed AWS CLI call; the message is the CLI's last error line."""

    @property
    def not_found(self) -> bool:
        return bool(re.search(r"does not exist|NotFound", str(self)))


# ---- the operator's AWS CLI -------------------------------------------------------------


def _virtualenv_bins() -> set[Path]:
    """Script directories of the venv running this tool and of the project's .venv."""
    candidates = {PROJECT_ROOT / ".venv" / "bin"}
    if sys.prefix != sys.base_prefix:
        candidates.add(Path(sys.prefix) / "bin")
    return {path.resolve() for path in candidates if path.exists()}


def find_aws_cli(search_path: str | None = None) -> Path:
    """The first `aws` on PATH outside a virtual environment; it must be AWS CLI v2.

    The venv holds AWS CLI v1 for the tests, and make puts it first on PATH; v1 ignores
    AWS_REGION, so it could talk to another Region than the CDK CLI just deployed to.
    """
    skipped = _virtualenv_bins()
    for entry in (search_path if search_path is not None else os.environ.get("PATH", "")).split(os.pathsep):
        if not entry or Path(entry).resolve() in skipped:
            continue
        candidate = Path(entry) / "aws"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            version = _cli_version(candidate)
            if not version.startswith("2."):
                raise OpsError(
                    f"{candidate} is AWS CLI {version or 'of unknown version'}; these commands need "
                    f"AWS CLI v2, which reads AWS_REGION like the CDK CLI: {CLI_INSTALL}"
                )
            return candidate
    raise OpsError(f"no AWS CLI on PATH (outside .venv): install AWS CLI v2, {CLI_INSTALL}")


def _cli_version(executable: Path) -> str:
    try:
        result = subprocess.run(
            [str(executable), "--version"], capture_output=True, text=True, timeout=CALL_TIMEOUT_SECONDS
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    match = re.search(r"aws-cli/(\S+)", result.stdout + result.stderr)
    return match[1] if match else ""


@dataclass(frozen=True)
class AwsCli:
    executable: Path
    profile: str | None = None

    def run(self, *args: str) -> str:
        command = [str(self.executable), *args, *(["--profile", self.profile] if self.profile else [])]
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=CALL_TIMEOUT_SECONDS,
                env={**os.environ, "AWS_PAGER": ""},
            )
        except subprocess.TimeoutExpired as error:
            raise AwsError(f"no answer within {CALL_TIMEOUT_SECONDS}s") from error
        if result.returncode != 0:
            lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
            raise AwsError(lines[-1] if lines else f"exit status {result.returncode}")
        return result.stdout

    def json(self, service: str, operation: str, *args: str) -> dict[str, Any]:
        output = self.run(service, operation, *args, "--output", "json")
        return json.loads(output) if output.strip() else {}


# ---- what to operate on -----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    environment: str
    content_stack: str
    web_stack: str
    profile: str | None
    cdk_args: list[str] = field(default_factory=list)


def _context_pairs(args: Sequence[str]) -> dict[str, str]:
    """`-c key=value` / `--context key=value` (also `--context=key=value`) from CDK arguments."""
    pairs: dict[str, str] = {}
    words = iter(args)
    for word in words:
        if word in ("-c", "--context"):
            value = next(words, "")
        elif word.startswith(("--context=", "-c=")):
            value = word.split("=", 1)[1]
        else:
            continue
        key, sep, rest = value.partition("=")
        if sep:
            pairs[key] = rest
    return pairs


def _take_option(args: Sequence[str], *names: str) -> tuple[str | None, list[str]]:
    """The value of the first of ``names`` in ``args`` (``--name v`` or ``--name=v``), and the rest."""
    value, rest, words = None, [], iter(args)
    for word in words:
        name, sep, inline = word.partition("=")
        if name in names and value is None:
            value = inline if sep else next(words, "")
        else:
            rest.append(word)
    return value, rest


def target_of(cdk_args: Sequence[str], project_root: Path = PROJECT_ROOT) -> Target:
    """The stacks the CDK CLI would deploy with these arguments, named by the app's settings."""
    if os.environ.get("SITE_ENV"):
        raise OpsError(
            f"SITE_ENV={os.environ['SITE_ENV']} is not read: name the environment as for deploy, "
            f'ARGS="-c environment={os.environ["SITE_ENV"]}"',
            code=2,
        )
    context: dict[str, Any] = {}
    # Later sources win, as in the CDK CLI: cdk.json, then cdk.context.json, then the command line.
    for name in ("cdk.json", "cdk.context.json"):
        path = project_root / name
        if path.exists():
            document = json.loads(path.read_text())
            context.update(document.get("context", {}) if name == "cdk.json" else document)
    context.update(_context_pairs(cdk_args))
    try:
        settings = SiteSettings.from_context(
            {"environment": context["environment"]} if "environment" in context else {}
        )
    except SettingsError as error:
        raise OpsError(str(error), code=2) from error
    return Target(
        environment=settings.environment,
        content_stack=settings.stack_name("Content"),
        web_stack=settings.stack_name("WebServer"),
        profile=_take_option(cdk_args, "--profile")[0],
        cdk_args=list(cdk_args),
    )


def stack_outputs(aws: AwsCli, stack: str) -> dict[str, str]:
    try:
        described = aws.json("cloudformation", "describe-stacks", "--stack-name", stack)
    except AwsError as error:
        if error.not_found:
            raise StackMissing(
                f"stack {stack} does not exist in this account and Region: deploy it first"
            ) from error
        raise OpsError(f"cannot read stack {stack}: {error}") from error
    (found,) = described["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in found.get("Outputs", [])}


def required(outputs: dict[str, str], stack: str, *keys: str) -> list[str]:
    missing = [key for key in keys if not outputs.get(key)]
    if missing:
        raise OpsError(
            f"stack {stack} has no output {', '.join(missing)}: deploy this version of the app first"
        )
    return [outputs[key] for key in keys]


# ---- waiting ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Patience:
    """How long to wait, how often to look, how many failed looks in a row to accept."""

    wait_seconds: float
    poll_seconds: float
    max_api_errors: int

    @classmethod
    def from_env(cls, default_wait_seconds: float) -> Patience:
        values = []
        for name, default in (
            ("WAIT_SECONDS", default_wait_seconds),
            ("POLL_SECONDS", POLL_SECONDS),
            ("MAX_API_ERRORS", 6),
        ):
            raw = os.environ.get(name, "")
            try:
                value = float(raw) if raw else float(default)
            except ValueError:
                value = -1
            if value < 0:
                raise OpsError(f"{name}={raw!r}: expected a number of seconds or calls, 0 or more", code=2)
            values.append(value)
        return cls(values[0], values[1], max(1, int(values[2])))


class Waiter:
    """Bounded waits that share one deadline and print where they stand as they go."""

    def __init__(self, patience: Patience) -> None:
        self.patience = patience
        self.start = time.monotonic()
        self.deadline = self.start + patience.wait_seconds

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.start:4.0f}s"

    def until(self, what: str, look: Callable[[], tuple[str, T | None]], *, hint: str) -> T:
        """Call ``look`` until it returns a result: a state line each time the state changes.

        ``look`` returns (state, None) while waiting and (state, result) when done; it raises
        OpsError to stop at once. A failed AWS call counts against MAX_API_ERRORS.
        """
        shown, shown_at, errors = None, 0.0, 0
        while True:
            try:
                state, result = look()
                errors = 0
            except AwsError as error:
                errors += 1
                if errors >= self.patience.max_api_errors:
                    raise OpsError(f"cannot read {what} ({error}); {hint}") from error
                state, result = f"no answer yet ({error})", None
            now = time.monotonic()
            if result is not None:
                print(f"[{self.elapsed()}] {what}: {state}", flush=True)
                return result
            if state != shown or now - shown_at >= HEARTBEAT_SECONDS:
                print(f"[{self.elapsed()}] {what}: {state}", flush=True)
                shown, shown_at = state, now
            if now >= self.deadline:
                raise OpsError(
                    f"{what} still '{state}' after {now - self.start:.0f}s (WAIT_SECONDS="
                    f"{self.patience.wait_seconds:g}); {hint}"
                )
            time.sleep(max(0.0, min(self.patience.poll_seconds, self.deadline - now)))


# ---- verify -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fetched:
    status: int
    media_type: str
    body: bytes


def fetch(url: str) -> Fetched:
    request = urllib.request.Request(url, headers={"User-Agent": "site-verify"})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:
            return Fetched(response.status, _media_type(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Fetched(error.code, _media_type(error.headers), error.read())


def _media_type(headers: Any) -> str:
    return (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()


def _http_state(url: str, check: Callable[[Fetched], str | None]) -> tuple[str, Fetched | None]:
    try:
        got = fetch(url)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return f"no answer ({reason})", None
    problem = check(got)
    state = f"HTTP {got.status} {got.media_type or '(no content type)'}"
    return (f"{state}, {problem}", None) if problem else (state, got)


def s3_location(url: str) -> tuple[str, str]:
    """(bucket, key prefix) of an s3:// URL or an S3 HTTPS URL, path- or virtual-hosted-style."""
    parsed = urllib.parse.urlparse(url)
    path = urllib.parse.unquote(parsed.path).lstrip("/")
    if parsed.scheme == "s3":
        return parsed.netloc, path
    hosted = re.match(r"^(.+?)\.s3[.-]", parsed.hostname or "")
    if hosted:
        return hosted[1], path
    bucket, _, key = path.partition("/")
    return bucket, key


def run_output_tail(aws: AwsCli, url: str) -> list[str]:
    """The last lines of each stdout and stderr the run wrote under its S3 output URL."""
    bucket, prefix = s3_location(url)
    try:
        listing = aws.json("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix)
    except AwsError as error:
        return [f"(cannot list s3://{bucket}/{prefix}: {error})"]
    keys = sorted(
        (item["LastModified"], item["Key"])
        for item in listing.get("Contents", [])
        if item["Key"].rsplit("/", 1)[-1] in ("stdout", "stderr")
    )
    lines: list[str] = []
    for _, key in keys[-4:]:
        try:
            text = aws.run("s3", "cp", f"s3://{bucket}/{key}", "-")
        except AwsError as error:
            lines.append(f"(cannot read s3://{bucket}/{key}: {error})")
            continue
        lines.append(f"--- s3://{bucket}/{key} (last {OUTPUT_TAIL_LINES} lines)")
        lines.extend(text.rstrip("\n").splitlines()[-OUTPUT_TAIL_LINES:])
    return lines or [f"(no stdout or stderr under s3://{bucket}/{prefix})"]


def configuration_run(aws: AwsCli, waiter: Waiter, instance: str, association: str) -> dict[str, Any]:
    """Wait for the association's current version to have run on ``instance``; fail on Failed."""
    described = aws.json("ssm", "describe-association", "--association-id", association)
    version = str(described["AssociationDescription"]["AssociationVersion"])
    where = [
        f"run status: aws ssm describe-instance-associations-status --instance-id {instance}",
        f"on the server: aws ssm start-session --target {instance}, then journalctl -u site-boot",
        f"re-run it: aws ssm start-associations-once --association-ids {association}",
        f"more: {WHERE_TO_LOOK}",
    ]

    def look() -> tuple[str, dict[str, Any] | None]:
        listed = aws.json("ssm", "describe-instance-associations-status", "--instance-id", instance)
        runs = [
            i
            for i in listed.get("InstanceAssociationStatusInfos", [])
            if i.get("AssociationId") == association
        ]
        if not runs:
            return "not run on this instance yet", None
        run = max(runs, key=lambda i: str(i.get("ExecutionDate", "")))
        status = run.get("DetailedStatus") or run.get("Status", "")
        ran = str(run.get("AssociationVersion", ""))
        if ran != version:
            return f"version {ran} {status}; waiting for version {version}", None
        if run.get("Status") == "Success":
            return f"version {version} Success at {run.get('ExecutionDate', '?')}", run
        if run.get("Status") == "Failed" or status in ("Failed", "TimedOut", "Cancelled"):
            summary = " ".join(str(run.get(k, "")) for k in ("ErrorCode", "ExecutionSummary")).strip()
            url = run.get("OutputUrl", {}).get("S3OutputUrl", {}).get("OutputUrl")
            tail = run_output_tail(aws, url) if url else ["(the run left no output location)"]
            raise OpsError(
                f"the site's configuration (version {version}) failed on {instance}"
                + (f": {summary}" if summary else "")
                + (f"; full output under {url}" if url else ""),
                details=[*tail, *where],
            )
        return f"version {version} {status}", None

    return waiter.until(f"configuration on {instance}", look, hint="; ".join(where[:2]))


def verify(aws: AwsCli, target: Target, patience: Patience) -> None:
    web = stack_outputs(aws, target.web_stack)
    content = stack_outputs(aws, target.content_stack)
    instance, association, site_url = required(
        web, target.web_stack, "InstanceId", "ConfigurationAssociationId", "SiteUrl"
    )
    (image_url,) = required(content, target.content_stack, "ImageUrl")
    shown_url = web.get("ImageUrl", image_url)
    if shown_url != image_url:
        raise OpsError(
            f"{target.web_stack} still points the page at {shown_url}, but {target.content_stack} serves "
            f"the image at {image_url}: deploy a change to the web server stack (docs/operations.md, "
            "'image distribution replaced')"
        )
    print(f"verifying {target.web_stack}: {site_url}", flush=True)
    waiter = Waiter(patience)
    run = configuration_run(aws, waiter, instance, association)

    def shows_image(got: Fetched) -> str | None:
        if got.status != 200:
            return "waiting for 200"
        if image_url.encode() not in got.body and html.escape(image_url).encode() not in got.body:
            return "the page does not show the image URL yet (an edge may still have the old one)"
        return None

    def is_image(got: Fetched) -> str | None:
        if got.status != 200:
            return "waiting for 200"
        return None if got.media_type.startswith("image/") else "not an image content type"

    page_hint = f"CloudFront distribution {web.get('SiteDistributionId', '?')}; {WHERE_TO_LOOK}"
    image_hint = f"image distribution {content.get('ImageDistributionId', '?')}; {WHERE_TO_LOOK}"
    waiter.until(f"page {site_url}", lambda: _http_state(site_url, shows_image), hint=page_hint)
    image = waiter.until(f"image {image_url}", lambda: _http_state(image_url, is_image), hint=image_hint)
    print(
        f"site works: {site_url} shows {image_url} ({image.media_type}); configuration version "
        f"{run.get('AssociationVersion')} succeeded on {instance}",
        flush=True,
    )


# ---- the volume check before a deploy --------------------------------------------------


def synthesized_volume(assembly: Path, stack: str) -> dict[str, Any] | None:
    """Properties of the AWS::EC2::Volume in ``stack``'s synthesized template, if it has one."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        properties = artifact.get("properties", {})
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        if properties.get("stackName", artifact_id) != stack:
            continue
        template = json.loads((assembly / properties["templateFile"]).read_text())
        volumes = [r for r in template.get("Resources", {}).values() if r.get("Type") == "AWS::EC2::Volume"]
        if len(volumes) > 1:
            raise OpsError(
                f"{stack} has {len(volumes)} volumes; the check knows only one, DocumentRootVolumeId"
            )
        return volumes[0].get("Properties", {}) if volumes else None
    return None


def volume_changes(wanted: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """'Size 5 -> 8' for each property the template sets to a value the volume does not have."""
    changes = []
    for name in VOLUME_PROPERTIES:
        value = wanted.get(name)
        if value is None or isinstance(value, (dict, list)):  # unset, or resolved at deploy time
            continue
        if str(value) != str(current.get(name)):
            changes.append(f"{name} {current.get(name)} -> {value}")
    return changes


def parse_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def cooldown_refusal(modification: dict[str, Any] | None, now: datetime) -> str | None:
    """Why EBS would hold a change to the volume now, and until when; None if it would not."""
    if not modification or not modification.get("StartTime"):
        return None
    started = parse_time(modification["StartTime"])
    ready = started + EBS_COOLDOWN
    state = modification.get("ModificationState", "")
    if state in ("modifying", "optimizing"):
        progress = modification.get("Progress")
        return (
            f"its last change (started {_utc(started)}) is still {state}"
            + (f" ({progress}%)" if progress is not None else "")
            + f"; deploy again once it shows completed and not before {_utc(ready)}"
        )
    if ready > now:
        return f"its last change started {_utc(started)}; deploy again after {_utc(ready)}"
    return None


def check_volume(aws: AwsCli, target: Target, assembly: Path, now: datetime | None = None) -> None:
    """Stop before a deploy that would modify the volume while EBS refuses to.

    CloudFormation does not fail such an update: it waits out the cooldown, for hours, with
    the stack in UPDATE_IN_PROGRESS (the AWS::EC2::Volume page of the CloudFormation guide).
    """
    wanted = synthesized_volume(assembly, target.web_stack)
    if wanted is None:
        return
    try:
        outputs = stack_outputs(aws, target.web_stack)
    except StackMissing:
        print(f"volume check: {target.web_stack} is not deployed yet, nothing to compare", flush=True)
        return
    volume_id = outputs.get("DocumentRootVolumeId")
    if not volume_id:
        return
    try:
        (current,) = aws.json("ec2", "describe-volumes", "--volume-ids", volume_id)["Volumes"]
    except AwsError as error:
        if error.not_found:
            return
        raise OpsError(f"cannot read volume {volume_id} before deploying: {error}") from error
    changes = volume_changes(wanted, current)
    if not changes:
        print(f"volume check: {volume_id} does not change", flush=True)
        return
    what = f"{target.web_stack} would change volume {volume_id} ({', '.join(changes)})"
    size, was = wanted.get("Size"), current.get("Size")
    if isinstance(size, int) and isinstance(was, int) and size < was:
        raise OpsError(f"{what}, but EBS volumes cannot shrink: keep volume_size_gib at {was} or more")
    try:
        listed = aws.json(
            "ec2", "describe-volumes-modifications", "--filters", f"Name=volume-id,Values={volume_id}"
        )
    except AwsError as error:
        raise OpsError(f"cannot read the last change of {volume_id} before deploying: {error}") from error
    modifications = listed.get("VolumesModifications", [])
    latest = max(modifications, key=lambda m: parse_time(m["StartTime"]), default=None)
    refusal = cooldown_refusal(latest, now or datetime.now(timezone.utc))
    if refusal:
        raise OpsError(
            f"{what}, but EBS takes one change per volume every six hours and CloudFormation would "
            f"wait that out for hours: {refusal} (or leave the volume settings as they are)"
        )
    print(f"volume check: {volume_id} will change ({', '.join(changes)}); EBS allows it now", flush=True)


# ---- commands ---------------------------------------------------------------------------


def cdk_command() -> list[str]:
    """The CDK CLI pinned in package-lock.json, on the venv's Node (make passes it as CDK)."""
    return shlex.split(os.environ.get("CDK", "")) or [str(Path(sys.executable).parent / "npx"), "cdk"]


def run_cdk(*args: str) -> None:
    command = [*cdk_command(), *args]
    result = subprocess.run(command, cwd=PROJECT_ROOT, check=False)
    if result.returncode != 0:
        raise OpsError(f"cdk {args[0]} failed (exit status {result.returncode})", code=result.returncode)


def command_deploy(args: Sequence[str]) -> None:
    target = target_of(args)
    aws = AwsCli(find_aws_cli(), target.profile)
    patience = Patience.from_env(VERIFY_WAIT_SECONDS)
    # Synthesized once: the volume check and the deploy read the same templates.
    output, rest = _take_option(args, "--output", "-o")
    assembly = output or ASSEMBLY
    print(
        f"synthesizing {target.environment} into {assembly}/, checked and then deployed as it is", flush=True
    )
    run_cdk("synth", "--quiet", "--no-notices", "--output", assembly, *rest)
    check_volume(aws, target, PROJECT_ROOT / assembly)
    run_cdk("deploy", "--app", assembly, "--all", *rest)
    verify(aws, target, patience)


def command_verify(args: Sequence[str]) -> None:
    target = target_of(args)
    verify(AwsCli(find_aws_cli(), target.profile), target, Patience.from_env(VERIFY_WAIT_SECONDS))


def command_os_update(args: Sequence[str]) -> None:
    release, rest = _take_option(args, "--release")
    if not release:
        raise OpsError(
            "RELEASE is not set: name the AL2023 release to update to, e.g. make os-update "
            f"RELEASE=2023.9.20251110 ({AL2023_RELEASES}), or RELEASE=latest to take the newest on purpose",
            code=2,
        )
    target = target_of(rest)
    aws = AwsCli(find_aws_cli(), target.profile)
    patience = Patience.from_env(OS_UPDATE_WAIT_SECONDS)
    instance, document = required(
        stack_outputs(aws, target.web_stack), target.web_stack, "InstanceId", "OsUpdateDocument"
    )
    try:
        sent = aws.json(
            "ssm",
            "send-command",
            "--document-name",
            document,
            "--instance-ids",
            instance,
            "--parameters",
            json.dumps({"ReleaseVersion": [release]}),
            "--comment",
            f"OS update to {release}",
        )
    except AwsError as error:
        raise OpsError(f"SSM did not take the OS update to {release!r}: {error}") from error
    command_id = sent["Command"]["CommandId"]
    details = f"aws ssm get-command-invocation --command-id {command_id} --instance-id {instance}"
    print(f"sent {document} ({release}) to {instance} as command {command_id}", flush=True)

    def look() -> tuple[str, dict[str, Any] | None]:
        invocation = aws.json(
            "ssm", "get-command-invocation", "--command-id", command_id, "--instance-id", instance
        )
        status = invocation.get("Status", "")
        if status == "Success":
            return status, invocation
        if status in ("Failed", "Cancelled", "TimedOut", "Cancelling"):
            tail = [
                line
                for name in ("StandardOutputContent", "StandardErrorContent")
                for line in (invocation.get(name) or "").rstrip("\n").splitlines()[-OUTPUT_TAIL_LINES:]
            ]
            raise OpsError(f"OS update {status} on {instance}; details: {details}", details=tail)
        return status, None

    # A reboot in the middle runs the step again afterwards; the command ends after that.
    Waiter(patience).until(f"OS update on {instance}", look, hint=f"it goes on; see {details}")
    print(f"OS update to {release} done on {instance}", flush=True)


COMMANDS: dict[str, Callable[[Sequence[str]], None]] = {
    "deploy": command_deploy,
    "verify": command_verify,
    "os-update": command_os_update,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: {Path(__file__).name} {{{','.join(COMMANDS)}}} [CDK ARGS]", file=sys.stderr)
        return 2
    try:
        COMMANDS[argv[0]](argv[1:])
    except OpsError as error:
        for line in error.details:
            print(line, file=sys.stderr)
        print(f"error: {error}", file=sys.stderr)
        return error.code
    except AwsError as error:
        print(f"error: an AWS CLI call failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
