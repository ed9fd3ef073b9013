"""operations/: the tool behind make deploy, verify, os-update, publish and restore, in-process and offline.

Each test has an account of its own: its stacks are a dict that answers CloudFormation's
DescribeStacks by name (moto's CloudFormation takes longer to load than this whole file takes to
run); its EC2 and SSM calls go through botocore's Stubber, whose scripted answers must come in the
order given, but for a restore from a snapshot, whose volume calls go to moto's EC2; S3 is moto's
(`mock_aws`, its accounts reset before each test). The page and the
image come from an HTTP server on 127.0.0.1; the CDK CLI is a callable that writes an assembly of the
committed template snapshots. moto, the clients and the server are made once for the module. Fake
credentials, and mock_aws around every test: nothing here can reach AWS.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import io
import json
import os
import re
import runpy
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.retries.standard import ExponentialBackoff
from botocore.stub import ANY, Stubber
from moto import mock_aws
from moto.core.base_backend import BackendDict

from operations import cli, site_folder
from operations.cli import OpsError, Poll, main, read_site_stacks
from tests.unit.template_queries import write_assembly
from tests.unit.test_app_cli import CDK_CLI, QUIET_CDK

REGION = "eu-west-1"
INSTANCE = "i-0123456789abcdef0"
ASSOCIATION = "11111111-2222-3333-4444-555555555555"
DOCUMENT = "SiteWebServer-dev-OsUpdate-ABC"
RELEASE_DOCUMENT = "SiteWebServer-dev-ReleasesDocument-ABC"
COMMAND_ID = "c0ffee00-1111-2222-3333-444444444444"
IMAGE_PATH = "/images/site-image.jpg"
RUN_OUTPUT_BUCKET = "site-run-output-test"
VOLUME = "vol-0123456789abcdef0"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, one Region, no profile or proxy from this machine, short waits."""
    for name in ("AWS_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("WAIT_SECONDS", "10")
    monkeypatch.setenv("POLL_SECONDS", "0.01")


@pytest.fixture(scope="module", autouse=True)
def moto(tmp_path_factory):
    """One mock_aws around every test of the module: nothing here reaches AWS."""
    with mock_aws(), pytest.MonkeyPatch.context() as monkeypatch:
        _offline(monkeypatch, tmp_path_factory.mktemp("aws"))
        yield


@pytest.fixture(autouse=True)
def offline(moto, monkeypatch, tmp_path):
    _offline(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)  # the tool reads ./cdk.context.json: this test's, not the project's


@pytest.fixture(scope="module")
def clients(moto):
    """The tool's own clients, made once: each new session loads the service models again."""
    return cli.connect(profile=None, region=None)


# ---- the page and the image, as CloudFront would answer them


@dataclass
class SiteState:
    image_url: str = ""
    page_statuses: list[int] = field(default_factory=lambda: [200])  # one per request, the last repeated
    image_type: str = "image/jpeg"
    requests: list[str] = field(default_factory=list)
    bodies: dict[str, list[bytes]] = field(
        default_factory=dict
    )  # a path's answers in turn, the last repeated


class _SiteHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        state: SiteState = self.server.state  # type: ignore[attr-defined]
        state.requests.append(self.path)
        if bodies := state.bodies.get(self.path):
            status, body, content_type = 200, bodies.pop(0) if len(bodies) > 1 else bodies[0], "text/html"
        elif self.path.split("?")[0] == IMAGE_PATH:
            status, body, content_type = 200, b"\xff\xd8\xff\xe0" + bytes(64), state.image_type
        else:
            status = state.page_statuses.pop(0) if len(state.page_statuses) > 1 else state.page_statuses[0]
            page = (
                f'<!DOCTYPE html><html><body><img src="{html.escape(state.image_url)}" alt=""></body></html>'
            )
            body, content_type = (
                (page.encode() if status == 200 else b"unavailable"),
                "text/html; charset=UTF-8",
            )
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SiteHandler)
    server.endpoint = f"http://127.0.0.1:{server.server_port}"  # type: ignore[attr-defined]
    server.site_url = f"{server.endpoint}/"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
    assert not thread.is_alive()


@pytest.fixture
def site(server):
    """The module's server, with this test's own page state."""
    server.state = SiteState(image_url=f"{server.endpoint}{IMAGE_PATH}")
    return server


# ---- one account: its stacks, the EC2 and SSM stubs, moto's S3, the site and the CDK CLI


def run(association: str, version: str, status: str, *, output_url: str = "", minutes: int = 0) -> dict:
    """One entry of DescribeInstanceAssociationsStatus."""
    entry = {
        "AssociationId": association,
        "InstanceId": INSTANCE,
        "AssociationVersion": version,
        "Status": status,
        "DetailedStatus": status,
        "ExecutionDate": NOW + timedelta(minutes=minutes),
    }
    if output_url:
        entry["OutputUrl"] = {"S3OutputUrl": {"OutputUrl": output_url}}
    return entry


@dataclass
class Account:
    aws: cli.Aws
    ec2: Stubber
    ssm: Stubber
    site: ThreadingHTTPServer
    tmp: Path
    capsys: pytest.CaptureFixture
    stacks: dict[str, dict[str, str]] = field(default_factory=dict)  # the deployed stacks' outputs
    cdk_calls: list[list[str]] = field(default_factory=list)
    cdk_exit: dict[str, int] = field(default_factory=dict)
    volume: dict[str, Any] = field(default_factory=dict)  # what the synthesized volume sets
    connected: list[dict] = field(default_factory=list)

    @property
    def state(self) -> SiteState:
        return self.site.state  # type: ignore[attr-defined]

    def deploy_site(self) -> None:
        """The dev stacks as deployed."""
        self.stacks["SiteWebServer-dev"] = {
            "SiteUrl": self.site.site_url,  # type: ignore[attr-defined]
            "ImageUrl": self.state.image_url,
            "InstanceId": INSTANCE,
            "DocumentRootVolumeId": VOLUME,
            "SiteDistributionId": "E2SITE",
            "ConfigurationAssociationId": ASSOCIATION,
            "OsUpdateDocument": DOCUMENT,
            "ReleaseDocument": RELEASE_DOCUMENT,
            "RunOutputBucketName": RUN_OUTPUT_BUCKET,
        }
        self.stacks["SiteContent-dev"] = {"ImageUrl": self.state.image_url, "ImageDistributionId": "E2IMAGE"}

    def describe_stacks(self, params: dict, **_: Any) -> tuple[AWSResponse, dict]:
        """CloudFormation's DescribeStacks of one stack by name, answered as the Stubber answers (a
        before-call handler), from ``stacks`` and in any order."""
        name = params["body"]["StackName"]
        if name not in self.stacks:
            error = {"Code": "ValidationError", "Message": f"Stack with id {name} does not exist"}
            return AWSResponse("", 400, {}, None), {"Error": error}
        outputs = [{"OutputKey": key, "OutputValue": value} for key, value in self.stacks[name].items()]
        return AWSResponse("", 200, {}, None), {"Stacks": [{"StackName": name, "Outputs": outputs}]}

    def volume_is(self, size: int, modifications: list[dict] | None = None) -> None:
        """DescribeVolumes: the deployed volume, gp3 at 3000 IOPS and 125 MiB/s; then, if given,
        DescribeVolumesModifications, which the tool asks only about a volume it would change."""
        current = {"VolumeId": VOLUME, "Size": size, "VolumeType": "gp3", "Iops": 3000, "Throughput": 125}
        self.ec2.add_response("describe_volumes", {"Volumes": [current]}, {"VolumeIds": [VOLUME]})
        if modifications is not None:
            listed = {"VolumesModifications": modifications}
            self.ec2.add_response("describe_volumes_modifications", listed, {"VolumeIds": [VOLUME]})

    def zones(self, names_and_ids: list[tuple[str, str]], offered: list[str]) -> None:
        """DescribeAvailabilityZones (in any order), then the zones offering t4g.micro, the dev type."""
        listed = [{"ZoneName": name, "ZoneId": zone} for name, zone in names_and_ids]
        self.ec2.add_response("describe_availability_zones", {"AvailabilityZones": listed[::-1]})
        offers = [
            {"InstanceType": "t4g.micro", "LocationType": "availability-zone-id", "Location": z}
            for z in offered
        ]
        self.ec2.add_response("describe_instance_type_offerings", {"InstanceTypeOfferings": offers})

    def configuration(self, *listings: list[dict], version: str = "2") -> None:
        """DescribeAssociation, then one DescribeInstanceAssociationsStatus answer per listing."""
        self.ssm.add_response(
            "describe_association",
            {"AssociationDescription": {"AssociationId": ASSOCIATION, "AssociationVersion": version}},
            {"AssociationId": ASSOCIATION},
        )
        for listing in listings:
            self.ssm.add_response(
                "describe_instance_associations_status",
                {"InstanceAssociationStatusInfos": listing},
                {"InstanceId": INSTANCE},
            )

    def fake_cdk(self, command: list[str]) -> int:
        """The CDK CLI as the tool uses it: synth writes the committed templates as an assembly."""
        assert command[:2] == ["npx-cdk", "cdk"]
        args = command[2:]
        self.cdk_calls.append(args)
        if args[0] == "synth":
            context = dict(a.split("=", 1) for a in args if "=" in a)
            if (kept := Path("cdk.context.json")).exists():  # the CDK CLI reads it from the project
                context = {**(json.loads(kept.read_text("utf-8-sig")) or {}), **context}
            write_assembly(
                Path(args[args.index("--output") + 1]),
                context.get("environment", "dev"),
                self.volume,
                zone_id=context.get("availability_zone_id", ""),
            )
        return self.cdk_exit.get(args[0], 0)

    def run(self, *argv: str) -> tuple[int, str, str]:
        """The tool as make runs it; its exit status, stdout and stderr."""
        self.capsys.readouterr()

        def connect(**how: Any) -> cli.Aws:
            self.connected.append(how)
            return self.aws

        code = main(
            [argv[0], "--cdk", "npx-cdk cdk", "--output", str(self.tmp / "assembly"), *argv[1:]],
            connect=connect,
            run_cdk=self.fake_cdk,
        )
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err


@pytest.fixture
def account(clients, site, tmp_path, capsys):
    BackendDict.reset()  # moto's accounts as new: no bucket of another test
    with Stubber(clients.ec2) as ec2, Stubber(clients.ssm) as ssm:
        created = Account(clients, ec2, ssm, site, tmp_path, capsys)
        created.deploy_site()
        described = "before-call.cloudformation.DescribeStacks"
        clients.cloudformation.meta.events.register(described, created.describe_stacks)
        try:
            yield created
        finally:
            clients.cloudformation.meta.events.unregister(described, created.describe_stacks)
        for stub in (ec2, ssm):
            stub.assert_no_pending_responses()  # every scripted answer was asked for


def _error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert lines, err
    assert lines[-1].startswith("error: "), err
    assert "Traceback" not in err
    return lines[-1]


# ---- verify


def test_verify_waits_for_the_current_run_then_checks_page_and_image(account):
    account.configuration(
        [run(ASSOCIATION, "1", "Success")],
        [run(ASSOCIATION, "2", "InProgress", minutes=1)],
        [run(ASSOCIATION, "2", "Success", minutes=1)],
    )
    account.state.page_statuses = [404, 503, 200]

    code, out, err = account.run("verify")

    assert code == 0, out + err
    assert "waiting for version 2" in out
    assert "version 2 InProgress" in out
    assert "HTTP 404 text/html, waiting for 200" in out
    assert "HTTP 503" in out
    site_url, image_url = account.site.site_url, account.state.image_url  # type: ignore[attr-defined]
    assert out.strip().splitlines()[-1] == (
        f"site works: {site_url} shows {image_url} (image/jpeg); "
        f"configuration version 2 succeeded on {INSTANCE}"
    )
    assert account.state.requests == ["/", "/", "/", IMAGE_PATH]
    # The stacks came from the synthesized assembly.
    assert account.cdk_calls == [
        ["synth", "--quiet", "--no-notices", "--output", str(account.tmp / "assembly")]
    ]


def test_verify_waits_for_a_run_on_the_current_instance_and_takes_the_latest(account):
    account.configuration(
        [],
        [run("another-association", "2", "Failed", minutes=9), run(ASSOCIATION, "2", "Failed"),
         run(ASSOCIATION, "2", "Success", minutes=5)],
    )  # fmt: skip

    code, out, err = account.run("verify")

    assert code == 0, out + err
    assert "not run on this instance yet" in out
    assert "site works:" in out


def run_output(s3: Any) -> str:
    """A failed run's output in moto's S3; its key prefix."""
    s3.create_bucket(Bucket=RUN_OUTPUT_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    prefix = f"site-configuration/{INSTANCE}/{ASSOCIATION}/run-1"
    step = f"{prefix}/awsrunShellScript/applySiteConfiguration"
    s3.put_object(Bucket=RUN_OUTPUT_BUCKET, Key=f"{step}/stdout", Body=b"attaching vol-1\n")
    lines = "".join(f"line {n}\n" for n in range(30)) + "mount: /var/www/html: wrong fs type\n"
    s3.put_object(Bucket=RUN_OUTPUT_BUCKET, Key=f"{step}/stderr", Body=lines.encode())
    s3.put_object(Bucket=RUN_OUTPUT_BUCKET, Key=f"{step}/notes", Body=b"not an output stream\n")
    return prefix


@pytest.mark.parametrize(
    "url_form",
    [
        "https://s3.{region}.amazonaws.com/{bucket}/{prefix}",
        "https://{bucket}.s3.{region}.amazonaws.com/{prefix}",
        "s3://{bucket}/{prefix}",
    ],
)
def test_verify_fails_on_a_failed_run_and_prints_its_output_tail(account, url_form):
    prefix = run_output(account.aws.s3)
    url = url_form.format(region=REGION, bucket=RUN_OUTPUT_BUCKET, prefix=prefix)
    account.configuration([run(ASSOCIATION, "2", "Failed", output_url=url)])

    code, _, err = account.run("verify")

    assert code == 1
    assert "attaching vol-1" in err
    assert "mount: /var/www/html: wrong fs type" in err
    assert "line 11\n" in err  # the last 20 lines of stderr only
    assert "line 10\n" not in err
    assert "not an output stream" not in err
    assert "journalctl -u site-boot" in err
    assert f"aws ssm start-associations-once --association-ids {ASSOCIATION}" in err
    assert "configuration (version 2) failed" in _error_line(err)
    assert account.state.requests == []


def test_verify_names_the_environment_like_deploy(account):
    code, _, err = account.run("verify", "-c", "environment=prod")

    assert code == 1
    assert _error_line(err) == (
        f"error: stack SiteWebServer-prod does not exist in {REGION} in this account: deploy it first"
    )
    assert account.cdk_calls[0][-2:] == ["-c", "environment=prod"]


def test_verify_stops_when_the_page_points_at_another_image_than_the_content_stack_serves(account):
    account.stacks["SiteContent-dev"] = {
        "ImageUrl": "https://d2new.cloudfront.net/images/x.jpg",
        "ImageDistributionId": "E",
    }

    code, _, err = account.run("verify")

    assert code == 1
    line = _error_line(err)
    assert f"still points the page at {account.state.image_url}" in line
    assert "serves the image at https://d2new.cloudfront.net/images/x.jpg" in line


def test_a_page_without_the_image_is_waited_for_until_wait_seconds(account, monkeypatch):
    monkeypatch.setenv("WAIT_SECONDS", "0.1")
    account.configuration([run(ASSOCIATION, "2", "Success")])
    account.state.image_url = "https://old.example/image.jpg"

    started = time.monotonic()
    code, out, err = account.run("verify")

    assert code == 1
    assert time.monotonic() - started < 5
    assert out.count("the page does not show the image URL yet") == 1  # one line per state, not per look
    assert "(WAIT_SECONDS=0.1); CloudFront distribution E2SITE" in _error_line(err)


def test_a_page_may_show_the_image_url_html_escaped(account):
    image_url = f"{account.state.image_url}?v=2&size=large"  # &amp; in the page's HTML
    account.state.image_url = image_url
    for stack in ("SiteWebServer-dev", "SiteContent-dev"):
        account.stacks[stack]["ImageUrl"] = image_url
    account.configuration([run(ASSOCIATION, "2", "Success")])

    code, out, err = account.run("verify")

    assert code == 0, out + err
    assert account.state.requests == ["/", "/images/site-image.jpg?v=2&size=large"]


def test_an_image_with_another_content_type_does_not_pass(account, monkeypatch):
    monkeypatch.setenv("WAIT_SECONDS", "0.05")
    account.configuration([run(ASSOCIATION, "2", "Success")])
    account.state.image_type = "text/html"

    code, _, err = account.run("verify")

    assert code == 1
    assert "HTTP 200 text/html, not an image" in _error_line(err)


def test_a_refused_aws_call_is_one_line(account):
    account.ssm.add_client_error(
        "describe_association", "AccessDeniedException", "not authorized to perform ssm:DescribeAssociation"
    )

    code, _, err = account.run("verify")

    assert code == 1
    assert err.count("\n") == 1
    assert "AccessDeniedException" in _error_line(err)


def test_a_throttled_call_is_retried_not_fatal(account, monkeypatch):
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda *_: 0)  # at once, not up to 1 s later
    url = f"s3://{RUN_OUTPUT_BUCKET}/{run_output(account.aws.s3)}"
    throttled = []

    def throttle(request, **_):  # S3 asks to slow down, once; moto answers after that
        if not throttled:
            throttled.append(request.url)
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            return AWSResponse(request.url, 503, {}, _Raw(body))
        return None

    sent = "before-send.s3.ListObjectsV2"
    account.aws.s3.meta.events.register(sent, throttle)
    account.configuration([run(ASSOCIATION, "2", "Failed", output_url=url)])
    try:
        code, _, err = account.run("verify")
    finally:
        account.aws.s3.meta.events.unregister(sent, throttle)

    assert code == 1
    assert throttled
    assert "attaching vol-1" in err  # listed on the second try
    assert "configuration (version 2) failed" in _error_line(err)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any):
        yield self.body


# ---- deploy


def test_deploy_deploys_the_checked_assembly_then_verifies(account):
    account.volume_is(5)
    account.configuration([run(ASSOCIATION, "2", "Success")])

    code, out, err = account.run("deploy", "--require-approval", "never", "--profile", "ops")

    assert code == 0, out + err
    assembly = str(account.tmp / "assembly")
    assert account.cdk_calls == [
        [
            "synth",
            "--quiet",
            "--no-notices",
            "--output",
            assembly,
            "--require-approval",
            "never",
            "--profile",
            "ops",
        ],
        ["deploy", "--app", assembly, "--all", "--require-approval", "never", "--profile", "ops"],
    ]
    assert account.connected == [{"profile": "ops", "region": None}]
    assert "does not change" in out  # the snapshot's volume is the deployed one: Size 5, gp3
    assert "site works:" in out


def test_deploy_stops_before_a_volume_change_within_six_hours_of_the_last(account):
    started = datetime.now(timezone.utc) - timedelta(hours=5, minutes=59)
    done = {"VolumeId": VOLUME, "ModificationState": "completed", "Progress": 100, "StartTime": started}
    account.volume_is(6, [done])
    account.volume = {"Size": 8}

    code, _, err = account.run("deploy")

    assert code == 1
    line = _error_line(err)
    assert f"would change volume {VOLUME} (Size 6 -> 8)" in line
    assert f"deploy again after {started + timedelta(hours=6):%Y-%m-%d %H:%M} UTC" in line
    assert len(err.strip().splitlines()) == 1
    assert [call[0] for call in account.cdk_calls] == ["synth"]


def test_deploy_names_a_volume_change_still_in_progress_with_its_progress(account):
    account.volume = {"Size": 8}
    started = datetime.now(timezone.utc) - timedelta(hours=7)  # past the six hours, but not done
    earlier = {"VolumeId": VOLUME, "ModificationState": "completed", "StartTime": started - timedelta(days=1)}
    latest = {"VolumeId": VOLUME, "ModificationState": "optimizing", "Progress": 40, "StartTime": started}
    account.volume_is(6, [latest, earlier])

    code, _, err = account.run("deploy")

    assert code == 1
    assert "(Size 6 -> 8)" in _error_line(err)
    assert "is still optimizing (40%); deploy again once it shows completed" in _error_line(err)
    assert [call[0] for call in account.cdk_calls] == ["synth"]


def test_deploy_goes_ahead_with_a_volume_change_ebs_allows(account):
    account.volume = {"Size": 8, "Iops": {"Ref": "IopsParameter"}}
    account.volume_is(5, [])
    account.configuration([run(ASSOCIATION, "2", "Success")])

    code, out, err = account.run("deploy")

    assert code == 0, out + err
    assert "will change (Size 5 -> 8); EBS allows it now" in out
    assert [call[0] for call in account.cdk_calls] == ["synth", "deploy"]


def test_a_shrink_is_refused_before_deploying(account):
    account.volume = {"Size": 3}
    account.volume_is(5)

    code, _, err = account.run("deploy")

    assert code == 1
    assert "EBS volumes cannot shrink: keep volume_size_gib at 5 or more" in _error_line(err)
    assert [call[0] for call in account.cdk_calls] == ["synth"]


def test_a_first_deploy_has_no_volume_to_compare(account):
    account.stacks.clear()
    account.zones([("eu-west-1a", "euw1-az3"), ("eu-west-1b", "euw1-az1")], ["euw1-az1", "euw1-az3"])
    account.cdk_exit["deploy"] = 1  # stop after the check

    code, out, _ = account.run("deploy")

    assert code == 1
    assert "volume check: SiteWebServer-dev has no deployed volume, nothing to compare" in out


@pytest.fixture
def project(account, tmp_path, monkeypatch):
    """The project directory make runs the tool in, with its cdk.context.json."""
    monkeypatch.chdir(tmp_path)
    account.stacks.clear()  # a first deploy
    return tmp_path / "cdk.context.json"


def test_a_first_deploy_keeps_the_first_zone_when_it_holds_the_site(account, project):
    account.zones([("eu-west-1b", "euw1-az1"), ("eu-west-1a", "euw1-az3")], ["euw1-az1", "euw1-az3"])
    account.cdk_exit["deploy"] = 1  # stop after the checks

    _, out, _ = account.run("deploy")

    assert "zone check: the Region's first zone eu-west-1a is euw1-az3 in this account: it holds VPC" in out
    assert not project.exists()
    assert [call[0] for call in account.cdk_calls] == ["synth", "deploy"]


@pytest.mark.parametrize(
    ("first", "offered", "why"),
    [
        ("use1-az3", ["use1-az3", "use1-az1"], "cannot hold VPC origins"),
        ("use1-az2", ["use1-az1"], "lacks t4g.micro"),
    ],
)
def test_a_first_deploy_takes_a_zone_that_holds_the_site_and_keeps_it(account, project, first, offered, why):
    project.write_text('{\n  "environment": "dev",\n  "volume_size_gib": 8\n}\n')
    account.zones([("us-east-1a", first), ("us-east-1b", "use1-az1")], offered)
    account.cdk_exit["deploy"] = 1

    _, out, _ = account.run("deploy")

    assert f"zone check: the Region's first zone us-east-1a is {first} in this account, which {why}: " in out
    assert "use1-az1 instead, kept in cdk.context.json" in out
    assert json.loads(project.read_text()) == {
        "environment": "dev",
        "volume_size_gib": 8,
        "availability_zone_id": "use1-az1",
    }
    # Synthesized again with it, and that assembly deployed.
    assert [call[0] for call in account.cdk_calls] == ["synth", "synth", "deploy"]
    (template,) = (account.tmp / "assembly").glob("SiteWebServer-*.template.json")
    guard = next(
        r for r in json.loads(template.read_text())["Resources"].values() if r["Type"] == "Custom::ZoneGuard"
    )
    assert guard["Properties"]["ZoneId"] == "use1-az1"


def test_a_zone_is_kept_in_a_context_file_with_a_byte_order_mark(account, project):
    project.write_bytes(b'\xef\xbb\xbf{"environment": "dev"}')  # the CDK CLI reads past the mark
    account.zones([("us-east-1a", "use1-az3"), ("us-east-1b", "use1-az1")], ["use1-az1", "use1-az3"])
    account.cdk_exit["deploy"] = 1

    account.run("deploy")

    assert json.loads(project.read_text()) == {"environment": "dev", "availability_zone_id": "use1-az1"}


def test_a_deployed_stack_keeps_its_zone_without_asking_ec2(account):
    account.volume_is(5)
    account.cdk_exit["deploy"] = 1

    _, out, _ = account.run("deploy")

    assert "zone check: SiteWebServer-dev is deployed: its zone stays" in out


def test_a_failed_cdk_deploy_is_not_verified(account):
    account.volume_is(5)
    account.cdk_exit["deploy"] = 3

    code, out, err = account.run("deploy")

    assert code == 3
    assert [call[0] for call in account.cdk_calls] == ["synth", "deploy"]
    assert _error_line(err) == "error: cdk deploy failed (exit status 3)"
    assert "verifying" not in out  # and the SSM stub, given no answer, was asked nothing


def test_a_failed_synth_stops_with_its_exit_status(account):
    account.cdk_exit["synth"] = 2  # e.g. a bad setting: the app has printed its one line

    code, _, err = account.run("verify", "-c", "environment=staging")

    assert code == 2
    assert _error_line(err) == "error: cdk synth failed (exit status 2)"


def test_ctrl_c_ends_with_130_and_no_traceback(account):
    def interrupted(command: list[str]) -> int:
        raise KeyboardInterrupt

    code = main(["deploy"], connect=lambda **_: account.aws, run_cdk=interrupted)

    assert code == 130
    assert "Traceback" not in account.capsys.readouterr().err


# ---- os-update


def test_os_update_sends_the_release_and_waits_for_the_command(account):
    parameters = {
        "DocumentName": DOCUMENT,
        "InstanceIds": [INSTANCE],
        "Parameters": {"ReleaseVersion": ["2023.9.20251110"]},
        "Comment": "OS update to 2023.9.20251110",
    }
    account.ssm.add_response("send_command", {"Command": {"CommandId": COMMAND_ID}}, parameters)
    invocation = {"CommandId": COMMAND_ID, "InstanceId": INSTANCE}
    account.ssm.add_client_error(
        "get_command_invocation", "InvocationDoesNotExist", expected_params=invocation
    )
    for status in ("InProgress", "InProgress", "Success"):
        account.ssm.add_response("get_command_invocation", {**invocation, "Status": status}, invocation)

    code, out, err = account.run("os-update", "--release", "2023.9.20251110")

    assert code == 0, out + err
    assert f"OS update on {INSTANCE}: InvocationDoesNotExist" in out
    assert out.count(f"OS update on {INSTANCE}: InProgress") == 1
    assert out.strip().splitlines()[-1] == f"OS update to 2023.9.20251110 done on {INSTANCE}"


def test_os_update_without_a_release_stops_before_any_aws_call(account):
    code, _, err = account.run("os-update", "--release", "")

    assert code == 2
    line = _error_line(err)
    assert line.startswith("error: RELEASE is not set")
    assert "RELEASE=latest" in line
    assert len(err.strip().splitlines()) == 1
    assert account.connected == []
    assert account.cdk_calls == []


def test_os_update_refused_by_the_documents_pattern_sends_nothing_more(account):
    account.ssm.add_client_error(
        "send_command",
        "InvalidParameters",
        'Parameter "ReleaseVersion" "2023.9; reboot" does not match the allowed pattern',
    )

    code, _, err = account.run("os-update", "--release", "2023.9; reboot")

    assert code == 1
    assert "does not match the allowed pattern" in _error_line(err)
    assert len(err.strip().splitlines()) == 1  # and no GetCommandInvocation: the stub has none to give


def test_a_failed_os_update_prints_the_end_of_its_output(account):
    account.ssm.add_response("send_command", {"Command": {"CommandId": COMMAND_ID}})
    output = "".join(f"dnf line {n}\n" for n in range(40))
    account.ssm.add_response(
        "get_command_invocation",
        {
            "Status": "Failed",
            "StandardOutputContent": output,
            "StandardErrorContent": "dnf: no such release\n",
        },
    )

    code, _, err = account.run("os-update", "--release", "latest")

    assert code == 1
    assert "dnf line 39" in err
    assert "dnf line 20\n" in err
    assert "dnf line 19\n" not in err
    assert "dnf: no such release" in err
    line = _error_line(err)
    assert f"OS update Failed on {INSTANCE}" in line
    assert f"aws ssm get-command-invocation --command-id {COMMAND_ID}" in line


@pytest.mark.parametrize("status", ["Cancelled", "Cancelling", "TimedOut"])
def test_an_os_update_in_any_final_state_but_success_fails_at_once(account, status):
    account.ssm.add_response("send_command", {"Command": {"CommandId": COMMAND_ID}})
    account.ssm.add_response("get_command_invocation", {"Status": status})  # one look: no more answers

    code, _, err = account.run("os-update", "--release", "latest")

    assert code == 1
    assert _error_line(err).startswith(f"error: OS update {status} on {INSTANCE}; details: aws ssm")


def test_an_os_update_still_running_at_wait_seconds_says_so(account, monkeypatch):
    monkeypatch.setenv("WAIT_SECONDS", "0")
    account.ssm.add_response("send_command", {"Command": {"CommandId": COMMAND_ID}})
    account.ssm.add_response(
        "get_command_invocation", {"Status": "InProgress"}
    )  # one look, then no time left

    code, _, err = account.run("os-update", "--release", "latest")

    assert code == 1
    assert f"OS update on {INSTANCE} still 'InProgress'" in _error_line(err)
    assert "(WAIT_SECONDS=0); it goes on" in _error_line(err)


# ---- the account, the Region and the stacks


def test_the_region_is_the_one_the_cdk_cli_uses(monkeypatch, tmp_path, clients):
    assert {client.meta.region_name for client in clients} == {REGION}
    assert {client.meta.config.retries["mode"] for client in clients} == {"standard"}
    (tmp_path / "aws-config").write_text(
        "[default]\nregion = ap-south-1\n[profile ops]\nregion = eu-north-1\n"
    )
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    # Each client's Region, without loading the four service models again for every case.
    monkeypatch.setattr(boto3.Session, "client", lambda session, *_, **__: session.region_name)

    assert set(cli.connect(profile=None, region=None)) == {"ap-south-1"}
    assert set(cli.connect(profile="ops", region=None)) == {"eu-north-1"}
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert set(cli.connect(profile="ops", region=None)) == {"us-west-2"}
    monkeypatch.setenv("AWS_REGION", "ca-central-1")  # read before AWS_DEFAULT_REGION, as the CDK CLI does
    assert set(cli.connect(profile="ops", region=None)) == {"ca-central-1"}
    assert set(cli.connect(profile="ops", region="sa-east-1")) == {"sa-east-1"}


def test_profile_and_region_in_the_arguments_pick_them_for_the_tool_and_the_cdk_cli(account):
    account.cdk_exit["synth"] = 1

    account.run("verify", "--profile=ops", "--region", "eu-north-1", "-c", "environment=prod")

    assert account.connected == [{"profile": "ops", "region": "eu-north-1"}]
    assert account.cdk_calls[0][-6:] == [
        "-c",
        "environment=prod",
        "--profile",
        "ops",
        "--region",
        "eu-north-1",
    ]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b'["prod"]', "holds a list, not an object"),
        (b"null", "holds null, not an object"),
        (b'{"environment": prod}', "is not JSON: Expecting value: line 1 column 17 (char 16)"),
        (b"\xff", "cannot be read: 'utf-8' codec can't decode byte 0xff"),
    ],
)
def test_a_context_file_of_another_shape_is_one_line_before_the_cdk_cli_runs(account, content, said):
    (account.tmp / "cdk.context.json").write_bytes(content)

    code, _, err = account.run("deploy")

    assert code == 1
    assert _error_line(err).startswith(f"error: cdk.context.json {said}")
    assert len(err.strip().splitlines()) == 1
    assert account.cdk_calls == []


def test_a_context_file_with_a_byte_order_mark_is_read_as_the_cdk_cli_reads_it(account):
    (account.tmp / "cdk.context.json").write_bytes(b'\xef\xbb\xbf{"environment": "prod"}')

    code, _, err = account.run("verify", "-c", "environment=prod")

    assert code == 1  # past the file, as far as the stacks: prod is not deployed in this account
    assert _error_line(err).startswith("error: stack SiteWebServer-prod does not exist")
    assert [call[0] for call in account.cdk_calls] == ["synth"]


def test_the_stacks_checked_are_those_the_cdk_cli_synthesized_with_the_users_own_cdk_json(
    account, monkeypatch, tmp_path
):
    """~/.cdk.json's context reaches the app through the real CDK CLI, never the tool, which checks the
    stacks of the assembly the CLI wrote. The app is a stand-in that names them as the app does (the
    environment in the stack names) without its minutes of synthesis."""
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    (home / ".cdk.json").write_text(json.dumps({"context": {"environment": "prod"}}))
    stand_in = (
        "import json, os, pathlib; from tests.unit.template_queries import write_assembly; "
        "context = json.loads(os.environ['CDK_CONTEXT_JSON']); "
        "write_assembly(pathlib.Path(os.environ['CDK_OUTDIR']), context.get('environment', 'dev'), {})"
    )
    app = f'env PYTHONPATH={Path(__file__).parents[2]} {sys.executable} -c "{stand_in}"'
    (project / "cdk.json").write_text(json.dumps({"app": app}))
    monkeypatch.chdir(project)
    monkeypatch.setenv("HOME", str(home))
    for name, value in QUIET_CDK.items():
        monkeypatch.setenv(name, value)

    argv = ["verify", "--cdk", str(CDK_CLI), "--output", str(tmp_path / "assembly")]
    code = main(argv, connect=lambda **_: account.aws, run_cdk=subprocess.call)

    assert code == 1
    assert _error_line(account.capsys.readouterr().err) == (
        f"error: stack SiteWebServer-prod does not exist in {REGION} in this account: deploy it first"
    )


def test_a_cdk_cli_this_user_may_not_run_is_one_clear_line(account, monkeypatch, tmp_path):
    """What a directory on PATH that the user may not search gives: subprocess's lookup raises
    PermissionError. A file without execute permission on PATH raises it as well, for root too."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "npx").write_text("#!/bin/sh\n")
    os.chmod(tmp_path / "bin" / "npx", 0o644)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))

    code = main(["verify", "--cdk", "npx cdk"], connect=lambda **_: account.aws, run_cdk=subprocess.call)

    err = account.capsys.readouterr().err
    assert code == 1
    assert err == (
        "error: cannot run the CDK CLI 'npx': Permission denied (check --cdk, and that this user may search "
        "every directory on PATH)\n"
    )


def test_an_unknown_profile_is_one_line(capsys):
    code = main(["verify", "--profile", "nobody"], run_cdk=lambda _: pytest.fail("synthesized"))

    assert code == 1
    assert "The config profile (nobody) could not be found" in _error_line(capsys.readouterr().err)


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_the_stacks_are_told_apart_by_their_outputs(tmp_path, environment):
    write_assembly(tmp_path, environment, {})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["artifacts"] = dict(reversed(manifest["artifacts"].items()))  # the order says nothing
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))

    web_server, content = read_site_stacks(tmp_path)

    assert (web_server.name, content.name) == (f"SiteWebServer-{environment}", f"SiteContent-{environment}")


def test_an_assembly_without_the_site_is_one_line(tmp_path):
    with pytest.raises(OpsError, match=r"cannot read the cloud assembly in .*manifest\.json"):
        read_site_stacks(tmp_path)
    write_assembly(tmp_path, "dev", {})
    (tmp_path / "SiteContent-dev.template.json").write_text(json.dumps({"Resources": {}}))
    with pytest.raises(OpsError, match=r"one stack with the outputs ImageDistributionId, ImageUrl: none$"):
        read_site_stacks(tmp_path)


# ---- when EBS would hold a volume change


def _modification(hours_ago: float, state: str = "completed", progress: int = 100) -> dict:
    return {"StartTime": NOW - timedelta(hours=hours_ago), "ModificationState": state, "Progress": progress}


@pytest.mark.parametrize(
    ("modification", "expected"),
    [
        (None, None),
        (_modification(7), None),
        (_modification(1), "deploy again after 2026-01-01 17:00 UTC"),
        (_modification(5.99), "deploy again after 2026-01-01 12:00 UTC"),
        (_modification(2, "optimizing", 40), "is still optimizing (40%)"),
        (_modification(9, "optimizing", 95), "once it shows completed and not before 2026-01-01 09:00 UTC"),
        (_modification(0.1, "modifying", 0), "is still modifying (0%)"),
    ],
)
def test_cooldown_refusal_names_when_the_deploy_may_run(modification, expected):
    refusal = cli.cooldown_refusal(modification, NOW)
    if expected is None:
        assert refusal is None
    else:
        assert expected in (refusal or "")


def test_only_properties_the_template_sets_to_a_value_are_compared():
    current = {"Size": 5, "VolumeType": "gp3", "Iops": 3000, "Throughput": 125}

    assert cli.volume_changes({"Size": 5, "VolumeType": "gp3", "Encrypted": True}, current) == []
    assert cli.volume_changes({"Size": {"Ref": "SizeParameter"}, "VolumeType": "gp3"}, current) == []
    assert cli.volume_changes({"Size": 8, "VolumeType": "io2", "Iops": 3000}, current) == [
        "Size 5 -> 8",
        "VolumeType gp3 -> io2",
    ]


# ---- the rest


@pytest.mark.parametrize(
    "url",
    [
        "s3://output-bucket/site-configuration/i-1/run",
        "https://s3.eu-west-1.amazonaws.com/output-bucket/site-configuration/i-1/run",
        "https://s3.amazonaws.com/output-bucket/site-configuration/i-1/run",
        "https://output-bucket.s3.eu-west-1.amazonaws.com/site-configuration/i-1/run",
        "https://output-bucket.s3-eu-west-1.amazonaws.com/site-configuration/i-1/run",
    ],
)
def test_run_output_urls_of_every_s3_form_name_the_bucket_and_prefix(url):
    assert cli.s3_location(url) == ("output-bucket", "site-configuration/i-1/run")


def test_a_wait_ends_at_its_deadline_with_the_last_state(monkeypatch, capsys):
    clock = [1000.0]  # the tool's clock: each sleep moves it on, at once

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    monkeypatch.setattr(cli, "time", SimpleNamespace(monotonic=lambda: clock[0], sleep=sleep))
    looks = []
    poll = Poll(wait_seconds=130, poll_seconds=7)

    with pytest.raises(OpsError, match=r"page still 'HTTP 503' after 130s \(WAIT_SECONDS=130\); look here"):
        poll.until("page", lambda: looks.append(clock[0] - 1000) or ("HTTP 503", None), hint="look here")

    assert looks == [*range(0, 130, 7), 130]  # every POLL_SECONDS, the last at WAIT_SECONDS, not later
    # A line when the state changes, and once a minute while it does not.
    shown = [line.split("]")[0] for line in capsys.readouterr().out.splitlines()]
    assert shown == ["[   0s", "[  63s", "[ 126s"]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("WAIT_SECONDS", "soon", "WAIT_SECONDS='soon': expected a number of seconds, 0 or more"),
        ("WAIT_SECONDS", "-1", "WAIT_SECONDS='-1': expected a number of seconds, 0 or more"),
        ("POLL_SECONDS", "0", "POLL_SECONDS='0': expected a number of seconds, more than 0"),
        ("POLL_SECONDS", "inf", "POLL_SECONDS='inf': expected a number of seconds, more than 0"),
    ],
)
def test_bad_timing_settings_get_one_line_before_anything_runs(monkeypatch, capsys, name, value, expected):
    monkeypatch.setenv(name, value)

    code = main(
        ["verify"], connect=lambda **_: pytest.fail("connected"), run_cdk=lambda _: pytest.fail("ran")
    )

    assert code == 2
    assert capsys.readouterr().err == f"error: {expected}\n"


def test_the_tool_without_a_command_says_its_usage_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["python -m operations"])

    with pytest.raises(SystemExit) as exited:  # python -m operations, in this process
        runpy.run_module("operations", run_name="__main__")

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "usage: python -m operations {deploy,verify,os-update,publish,restore}" in _error_line(err)


# ---- publish


def write_site(root: Path, files: dict[str, bytes]) -> Path:
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    return root


SERVED = {"index.html": b"<p>served</p>\n", "css/site.css": b"body{}\n", "old.html": b"<p>old</p>\n"}
LOCAL = {"index.html": b"<p>new</p>\n", "css/site.css": b"body{}\n", "img/a.bin": bytes(5000)}


def release_command(
    account: Account, action: str, *, status: str = "Success", stdout_url: str = "", looks: int = 2, **answer
):
    """SendCommand of the release document, then its invocation as the waiter (``looks``, the last with
    ``status``) and the tool read it."""
    instance = account.stacks["SiteWebServer-dev"]["InstanceId"]
    parameters = {"Action": [action], "Release": [ANY], "VolumeId": [ANY], "DeviceName": [ANY]}
    sent = {
        "DocumentName": RELEASE_DOCUMENT,
        "InstanceIds": [instance],
        "Parameters": parameters,
        "Comment": ANY,
        "OutputS3BucketName": RUN_OUTPUT_BUCKET,
        "OutputS3KeyPrefix": "site-commands",
    }
    account.ssm.add_response("send_command", {"Command": {"CommandId": COMMAND_ID}}, sent)
    invocation = {"CommandId": COMMAND_ID, "InstanceId": instance}
    answer = {**invocation, "Status": status, "StandardOutputUrl": stdout_url, **answer}
    for _ in range(looks - 1):
        account.ssm.add_response("get_command_invocation", {**answer, "Status": "InProgress"}, invocation)
    account.ssm.add_response("get_command_invocation", answer, invocation)
    if status == "Success":
        account.ssm.add_response("get_command_invocation", answer, invocation)


def inventory(account: Account, served: dict[str, bytes], *, free: int = 10**9) -> None:
    """The server's answer to the inventory: the served tree, listed by site-release.sh, in S3."""
    entries, _ = site_folder.read_folder(write_site(account.tmp / "served", served))
    listing = f"#free\t{free}\0#block\t4096\0#served\t20260101T000000Z-initial\0".encode()
    text = base64.b64encode(gzip.compress(listing + site_folder.manifest(entries))).decode() + "\n"
    s3 = account.aws.s3
    s3.create_bucket(Bucket=RUN_OUTPUT_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    key = f"site-commands/{COMMAND_ID}/{INSTANCE}/awsrunShellScript/changeServedTree/stdout"
    s3.put_object(Bucket=RUN_OUTPUT_BUCKET, Key=key, Body=text.encode())
    release_command(
        account, "inventory", stdout_url=f"https://s3.{REGION}.amazonaws.com/{RUN_OUTPUT_BUCKET}/{key}"
    )


def transfers(account: Account) -> dict[str, bytes]:
    listed = account.aws.s3.list_objects_v2(Bucket=RUN_OUTPUT_BUCKET, Prefix="site-transfer/").get(
        "Contents", []
    )
    return {
        o["Key"]: account.aws.s3.get_object(Bucket=RUN_OUTPUT_BUCKET, Key=o["Key"])["Body"].read()
        for o in listed
    }


def test_publish_refuses_what_it_cannot_carry_one_line_each_before_anything_else(account):
    site = write_site(account.tmp / "site", {"about.html": b"<p>about</p>\n", "_maintenance/x.html": b"x"})
    (site / "passwd").symlink_to("/etc/passwd")
    (site / "up").symlink_to("../outside")
    (site / "a.css").symlink_to("about.html")  # stays inside: fine
    os.mkfifo(site / "pipe")
    (site / ".htaccess").write_text("Require all denied\n")
    (site / "tab\there.html").write_text("x")
    with open(os.path.join(os.fsencode(site), b"caf\xe9.html"), "wb") as latin1:
        latin1.write(b"x")

    code, out, err = account.run("publish", "--site", str(site))

    assert code == 2
    lines = err.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines), err
    assert len(lines) == 8, err
    for expected in (
        "passwd: a symbolic link that leaves the folder (-> /etc/passwd)",
        "up: a symbolic link that leaves the folder (-> ../outside)",
        "pipe: a special file",
        "'.htaccess': Apache refuses to serve .ht* files",
        "'tab\\there.html': its name holds a control character",
        "'caf\\udce9.html': its name is not UTF-8",
        "'_maintenance': _maintenance/ in the fallback bucket belongs to the maintenance page",
        "index.html: missing at the top of the folder",
    ):
        assert any(expected in line for line in lines), (expected, err)
    assert account.connected == []
    assert account.cdk_calls == []
    assert out == ""


def test_force_takes_a_folder_without_index_html_and_a_missing_site_is_named(account):
    site = write_site(account.tmp / "site", {"about.html": b"<p>about</p>\n"})
    account.cdk_exit["synth"] = 1  # stop right after the checks

    forced = account.run("publish", "--site", str(site), "--force", "1")
    unset = account.run("publish", "--site", "")
    absent = account.run("publish", "--site", str(account.tmp / "nowhere"))

    assert _error_line(forced[2]) == "error: cdk synth failed (exit status 1)"
    assert _error_line(unset[2]).startswith("error: SITE is not set: make publish SITE=path/to/folder")
    assert _error_line(absent[2]).startswith(f"error: SITE={account.tmp / 'nowhere'} is not a folder")
    assert unset[0] == absent[0] == 2


def test_plan_lists_what_would_be_added_changed_and_deleted_with_sizes_and_changes_nothing(account):
    site = write_site(account.tmp / "site", LOCAL)
    inventory(account, SERVED)

    code, out, err = account.run("publish", "--site", str(site), "--plan", "1")

    assert code == 0, out + err
    lines = out.splitlines()
    listed = [" ".join(line.split()) for line in lines if line.startswith("  ")]
    assert listed == [
        "add (folder) img",
        "add 4.9 KiB img/a.bin",
        "change 11 B index.html",
        "delete 11 B old.html",
    ]  # css/site.css has the same bytes: unchanged
    assert "plan against 20260101T000000Z-initial: 2 to add (4.9 KiB), 1 to change (11 B), 1 to delete" in out
    assert lines[-1] == "PLAN=1: nothing was uploaded or changed"
    assert transfers(account) == {}
    assert account.state.requests == []  # and no publish command: the stub has none to give


def test_publish_refuses_a_tree_larger_than_the_free_space_the_server_measured(account):
    site = write_site(account.tmp / "site", LOCAL)
    inventory(account, SERVED, free=16384)

    code, _, err = account.run("publish", "--site", str(site))

    assert code == 1
    assert _error_line(err) == (
        f"error: {site} needs 24.0 KiB on the volume, which has 16.0 KiB free (measured on {INSTANCE}): "
        "raise volume_size_gib, or publish less; nothing was uploaded or changed"
    )
    assert transfers(account) == {}


def test_publish_uploads_what_the_server_lacks_applies_it_and_ends_with_the_verdict(account):
    site = write_site(account.tmp / "site", LOCAL)
    inventory(account, SERVED)
    release_command(account, "publish", StandardOutputContent="served x 1 1\n")
    account.state.bodies["/"] = [SERVED["index.html"], LOCAL["index.html"]]  # until CloudFront is invalidated

    code, out, err = account.run("publish", "--site", str(site))

    assert code == 0, out + err
    uploaded = transfers(account)
    (manifest_key,) = [key for key in uploaded if key.endswith("/manifest")]
    name = manifest_key.split("/")[1]
    assert re.fullmatch(r"\d{8}T\d{6}Z-publish-[0-9a-f]{4}", name)
    assert uploaded[manifest_key] == site_folder.manifest(site_folder.read_folder(site)[0])
    with tarfile.open(fileobj=io.BytesIO(uploaded[f"site-transfer/{name}/files.tar"])) as tar:
        assert {m.name: tar.extractfile(m).read() for m in tar.getmembers()} == {
            "img/a.bin": LOCAL["img/a.bin"],
            "index.html": LOCAL["index.html"],
        }
    assert re.search(r"\] upload: \d+\.\d KiB of \d+\.\d KiB\n", out)
    assert f"publish on {INSTANCE}: InProgress" in out
    assert "another index.html" in out
    digest = hashlib.sha256(LOCAL["index.html"]).hexdigest()
    assert out.splitlines()[-1] == (
        f"site works: {account.site.site_url} serves the published index.html (sha256 {digest[:12]})"
    )


def test_a_failed_apply_ends_with_its_output_and_where_to_look(account):
    site = write_site(account.tmp / "site", LOCAL)
    inventory(account, SERVED)
    release_command(
        account,
        "publish",
        status="Failed",
        StandardErrorContent="site-boot[release-publish]: ERROR: the tree does not match its manifest\n",
    )

    code, _, err = account.run("publish", "--site", str(site))

    assert code == 1
    assert "does not match its manifest" in err
    assert _error_line(err).startswith(
        f"error: publish Failed on {INSTANCE}; details: aws ssm get-command-invocation"
    )
    assert account.state.requests == []


def test_a_folder_the_server_serves_already_is_not_uploaded_again_but_verified(account):
    site = write_site(account.tmp / "site", SERVED)
    inventory(account, SERVED)
    account.state.bodies["/"] = [SERVED["index.html"]]

    code, out, err = account.run("publish", "--site", str(site))

    assert code == 0, out + err
    assert "nothing to publish: the server serves this folder already (20260101T000000Z-initial)" in out
    assert transfers(account) == {}
    assert out.splitlines()[-1].startswith("site works: ")


def test_a_site_that_never_serves_the_published_page_ends_at_wait_seconds(account, monkeypatch):
    monkeypatch.setenv("WAIT_SECONDS", "0.2")
    site = write_site(account.tmp / "site", SERVED | {"index.html": b"<p>another</p>\n"})
    inventory(account, SERVED)
    release_command(account, "publish")
    account.state.bodies["/"] = [SERVED["index.html"]]

    code, _, err = account.run("publish", "--site", str(site))

    assert code == 1
    assert f"page {account.site.site_url} still 'HTTP 200, another index.html'" in _error_line(err)
    assert "journalctl -u site-sync" in _error_line(err)


# ---- restore: the list, and back to the tree on the volume


def status_lines(page: bytes, *, previous: bool = True) -> str:
    lines = ["served 20260102T000000Z-publish-0002 307200 5"]
    lines += ["previous 20260101T000000Z-publish-0001 2048 2"] if previous else []
    return "\n".join([*lines, f"page {hashlib.sha256(page).hexdigest()} index.html", ""])


def test_restore_lists_the_tree_on_the_volume_and_the_volumes_snapshots(account):
    release_command(account, "status", StandardOutputContent=status_lines(b"x"))
    listed = [
        {"SnapshotId": "snap-0aaaaaaaaaaaaaaaa", "StartTime": NOW - timedelta(days=1), "VolumeSize": 5,
         "State": "completed", "VolumeId": VOLUME},
        {"SnapshotId": "snap-0bbbbbbbbbbbbbbbb", "StartTime": NOW, "VolumeSize": 8, "State": "pending",
         "VolumeId": VOLUME},
    ]  # fmt: skip
    filters = {"OwnerIds": ["self"], "Filters": [{"Name": "volume-id", "Values": [VOLUME]}]}
    account.ec2.add_response("describe_snapshots", {"Snapshots": listed}, filters)

    code, out, err = account.run("restore")

    assert code == 0, out + err
    assert out.splitlines()[-5:] == [
        f"{INSTANCE} serves 20260102T000000Z-publish-0002 (300.0 KiB, 5 files)",
        "restore points:",
        "  on the volume  20260101T000000Z-publish-0001 (2.0 KiB, 2 files): make restore PREVIOUS=1",
        "  snapshot       snap-0bbbbbbbbbbbbbbbb of 2026-01-01 12:00 UTC (8 GiB volume, pending): "
        "make restore SNAPSHOT=snap-0bbbbbbbbbbbbbbbb",
        "  snapshot       snap-0aaaaaaaaaaaaaaaa of 2025-12-31 12:00 UTC (5 GiB volume): "
        "make restore SNAPSHOT=snap-0aaaaaaaaaaaaaaaa",
    ]
    assert account.state.requests == []


def test_restore_says_when_there_is_no_restore_point_yet(account):
    release_command(account, "status", StandardOutputContent=status_lines(b"x", previous=False))
    account.ec2.add_response("describe_snapshots", {"Snapshots": []})

    code, out, _ = account.run("restore")

    assert code == 0
    assert out.splitlines()[-1] == (
        f"  none yet: the first publish keeps one, and {VOLUME} is snapshotted daily at 03:00 UTC"
    )


def test_restore_previous_switches_back_and_ends_with_the_verdict(account):
    page = b"<p>yesterday</p>\n"
    release_command(account, "previous", StandardOutputContent=status_lines(page))
    account.state.bodies["/"] = [b"<p>today</p>\n", page]

    code, out, err = account.run("restore", "--previous", "1")

    assert code == 0, out + err
    assert f"restore on {INSTANCE}: InProgress" in out
    assert out.splitlines()[-1] == (
        f"site works: {account.site.site_url} serves the restored index.html "
        f"(sha256 {hashlib.sha256(page).hexdigest()[:12]})"
    )


def test_restore_previous_without_a_restore_point_is_the_servers_one_line(account):
    release_command(
        account,
        "previous",
        status="Failed",
        StandardErrorContent="ERROR: the tree x has no restore point on the volume; nothing was changed",
    )

    code, _, err = account.run("restore", "--previous", "1")

    assert code == 1
    assert "has no restore point on the volume; nothing was changed" in err
    assert _error_line(err).startswith(f"error: restore Failed on {INSTANCE}")


def test_a_flag_with_another_value_than_1_is_a_usage_error(account):
    code, _, err = account.run("restore", "--previous", "yes")

    assert code == 2
    assert "argument --previous: invalid choice: 'yes'" in _error_line(err)
    assert account.connected == []


# ---- restore from a snapshot: the EC2 calls against moto, the server's command stubbed


@pytest.fixture(scope="module")
def moto_ec2(moto):
    """EC2 as moto keeps it (the account's own EC2 client answers from its Stubber)."""
    return boto3.client("ec2", region_name=REGION, config=cli.CLIENT_CONFIG)


@pytest.fixture
def snapshot_account(account, moto_ec2):
    """The account with moto's EC2: the server with its document-root volume, and that volume's snapshot."""
    zone = f"{REGION}b"
    placement = {"AvailabilityZone": zone}
    (server,) = moto_ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, Placement=placement)[
        "Instances"
    ]
    docroot = moto_ec2.create_volume(AvailabilityZone=zone, Size=5, VolumeType="gp3")["VolumeId"]
    moto_ec2.attach_volume(VolumeId=docroot, InstanceId=server["InstanceId"], Device="/dev/sdf")
    snapshot = moto_ec2.create_snapshot(VolumeId=docroot)["SnapshotId"]
    account.stacks["SiteWebServer-dev"].update(InstanceId=server["InstanceId"], DocumentRootVolumeId=docroot)
    account.aws = account.aws._replace(ec2=moto_ec2)
    account.server, account.docroot, account.snapshot, account.zone = (
        server["InstanceId"],
        docroot,
        snapshot,
        zone,
    )
    sent = []

    def seen_by_the_command(params, **_):  # the volume as the server finds it while the command runs
        if params["Parameters"]["Action"] == ["snapshot"]:
            (volume,) = moto_ec2.describe_volumes(VolumeIds=params["Parameters"]["VolumeId"])["Volumes"]
            sent.append((params["Parameters"], volume))

    account.aws.ssm.meta.events.register("provide-client-params.ssm.SendCommand", seen_by_the_command)
    account.sent = sent
    yield account
    account.aws.ssm.meta.events.unregister("provide-client-params.ssm.SendCommand", seen_by_the_command)


def temporary_volumes(account) -> list[dict]:
    volumes = account.aws.ec2.describe_volumes()["Volumes"]
    return [
        v for v in volumes if v["VolumeId"] != account.docroot and v.get("SnapshotId") == account.snapshot
    ]


def test_restore_from_a_snapshot_copies_through_a_temporary_volume_that_is_deleted_after(snapshot_account):
    account = snapshot_account
    page = b"<p>as it was</p>\n"
    release_command(account, "snapshot", StandardOutputContent=status_lines(page))
    account.state.bodies["/"] = [page]

    code, out, err = account.run("restore", "--snapshot", account.snapshot)

    assert code == 0, out + err
    ((parameters, volume),) = account.sent
    assert parameters["Action"] == ["snapshot"]
    assert re.fullmatch(rf"\d{{8}}T\d{{6}}Z-{account.snapshot}", parameters["Release"][0])
    assert parameters["DeviceName"] == ["/dev/sdg"]  # the first name the server does not use
    assert volume["SnapshotId"] == account.snapshot
    assert volume["AvailabilityZone"] == account.zone
    assert volume["VolumeId"] == parameters["VolumeId"][0] != account.docroot
    assert [(a["InstanceId"], a["Device"], a["State"]) for a in volume["Attachments"]] == [
        (account.server, "/dev/sdg", "attached")
    ]
    assert temporary_volumes(account) == []
    (docroot,) = account.aws.ec2.describe_volumes(VolumeIds=[account.docroot])["Volumes"]
    assert [a["InstanceId"] for a in docroot["Attachments"]] == [account.server]
    assert f"deleted the temporary volume {volume['VolumeId']}" in out
    assert out.splitlines()[-1].startswith(
        f"site works: {account.site.site_url} serves the restored index.html"
    )


def test_a_failed_copy_removes_the_temporary_volume_and_says_what_failed(snapshot_account):
    account = snapshot_account
    release_command(
        account, "snapshot", status="Failed", StandardErrorContent="ERROR: no filesystem on /dev/nvme2n1"
    )

    code, out, err = account.run("restore", "--snapshot", account.snapshot)

    assert code == 1
    assert "no filesystem on /dev/nvme2n1" in err
    assert _error_line(err).startswith(f"error: restore Failed on {account.server}")
    assert temporary_volumes(account) == []
    assert "deleted the temporary volume" in out
    assert account.state.requests == []


def test_a_restore_interrupted_while_it_waits_removes_the_temporary_volume(snapshot_account, monkeypatch):
    account = snapshot_account
    monkeypatch.setenv("WAIT_SECONDS", "0")
    release_command(account, "snapshot", status="InProgress", looks=1)

    code, _, err = account.run("restore", "--snapshot", account.snapshot)

    assert code == 1
    assert "still 'InProgress'" in _error_line(err)
    assert temporary_volumes(account) == []


def test_an_unknown_snapshot_is_one_line_and_no_volume(snapshot_account):
    code, _, err = snapshot_account.run("restore", "--snapshot", "snap-0123456789abcdef0")

    assert code == 1
    assert "InvalidSnapshot.NotFound" in _error_line(err)
    assert len(err.strip().splitlines()) == 1
    assert temporary_volumes(snapshot_account) == []


def test_a_snapshot_still_being_taken_is_one_line_and_no_volume(account):
    pending = {"SnapshotId": "snap-0123456789abcdef0", "State": "pending", "VolumeSize": 5}
    account.ec2.add_response(
        "describe_snapshots", {"Snapshots": [pending]}, {"SnapshotIds": [pending["SnapshotId"]]}
    )

    code, _, err = account.run("restore", "--snapshot", pending["SnapshotId"])

    assert code == 1  # and no CreateVolume: the stub has no answer for one
    assert _error_line(err) == (
        "error: snap-0123456789abcdef0 is pending: restore from it once it is completed (make restore)"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--snapshot", "snap-12"],
            "error: SNAPSHOT=snap-12 is not a snapshot id such as snap-0123456789abcdef0",
        ),
        (["--snapshot", "snap-0123456789abcdef0", "--previous", "1"], "error: PREVIOUS=1 and SNAPSHOT= name"),
    ],
)
def test_restore_refuses_a_bad_snapshot_id_or_two_restore_points_before_anything(account, args, expected):
    code, _, err = account.run("restore", *args)

    assert code == 2
    assert _error_line(err).startswith(expected)
    assert account.connected == []


def test_no_region_or_no_credentials_is_one_line_saying_where_to_set_them(monkeypatch, capsys):
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    assert main(["verify"]) == 1  # the clients are made before the CDK CLI runs
    (line,) = capsys.readouterr().err.splitlines()
    assert line == "error: You must specify a region. (README.md, Deploy: credentials, then the Region)"
