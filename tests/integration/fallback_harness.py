"""Helpers for the fallback-copy and health tests: moto's server on loopback as
S3, CloudFront and CloudWatch, the real AWS CLI behind a
wrapper that records every call, and a way to run a script on the test
machine (where the document root is mounted).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

from tests.integration.bootharness import (
    BOOT_SRC,
    REGION,
    SYSTEM_PATH,
    VOLUME_ID,
    free_port,
    recorded_environments,
    wait_for_port,
)

BIN = Path(sys.executable).parent
COMMAND_TIMEOUT = 120


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> MotoServer:
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws(moto_server, tmp_path, tmp_path_factory) -> AwsSandbox:
    """A fresh bucket and distribution, and the scripts' scratch directory (which the test
    machine sees too).

    Apache's user runs the CLI for the mirror: the directory is open to it.
    """
    base = tmp_path_factory.getbasetemp()
    for path in (tmp_path, *tmp_path.parents):
        path.chmod(0o755)
        if path == base:
            break
    return AwsSandbox(moto_server, tmp_path)


def find_tool(name: str) -> str | None:
    """A program from the test venv (next to this Python), else from PATH."""
    candidate = BIN / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


class MotoServer:
    """moto_server on 127.0.0.1 at a free port; stop() always ends it."""

    def __init__(self, workdir: Path) -> None:
        moto = find_tool("moto_server")
        # moto[server] is in requirements-dev.txt: missing, the venv is broken (make test rebuilds it).
        assert moto is not None, "moto_server missing from .venv: run make test"
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._log = open(workdir / "moto.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [moto, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.port, timeout=30)
        except OSError:
            self.stop()
            raise

    def client(self, service: str):
        """A boto3 client of ``service`` that talks to this server, in REGION."""
        return boto3.session.Session().client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def cli_env(self, home: Path) -> dict[str, str]:
        """What an AWS CLI needs to talk to this server and nothing else: its endpoint, test
        credentials, REGION, no configuration from ``home`` or the instance metadata, one
        attempt per call."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": str(home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
            "HOME": str(home),
            "LANG": "C.UTF-8",
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


AWS_WRAPPER = """#!/usr/bin/env bash
# Records each call (service and operation first) and the environment it was
# started with (NUL-separated, a second NUL after it), then fails it if the test
# asked for that (a file named after the operation in AWS_FAIL_DIR), else runs
# the real CLI against moto (older CLI v2 releases ignore AWS_ENDPOINT_URL).
printf '%s\\n' "$*" >>"${AWS_CALLS_FILE:?}"
{
  env -0
  printf '\\0'
} >>"$AWS_CALLS_FILE.env"
for word in "$@"; do
  case $word in --*) ;; *) if [[ -e ${AWS_FAIL_DIR:?}/$word ]]; then
    echo "An error occurred (InternalError) when calling $word: injected by the test" >&2
    exit 255
  fi ;; esac
done
# The scripts turn dual-stack on (recorded above); at a custom endpoint the CLI refuses it.
AWS_USE_DUALSTACK_ENDPOINT=false exec @REAL_AWS@ --endpoint-url "${AWS_ENDPOINT_URL:?}" "$@"
"""


@dataclass
class AwsSandbox:
    """One bucket, one distribution and one scratch dir for the scripts."""

    moto: MotoServer
    root: Path
    bucket: str = field(default_factory=lambda: f"site-fallback-{uuid.uuid4().hex[:12]}")
    distribution_id: str = ""

    def __post_init__(self) -> None:
        # The system's CLI, as on the instance (v2), which Apache's user can start too.
        aws = shutil.which("aws", path=SYSTEM_PATH)
        if aws is None:
            pytest.skip(
                "needs Amazon's command-line interface version 2 as a system package, which "
                "make test installs on Debian; Ubuntu ships it only as a snap"
            )
        self.real_aws = aws
        self.bin_dir = self.root / "bin"
        self.fail_dir = self.root / "fail"
        self.state_dir = self.root / "state"
        self.calls_file = self.root / "aws.calls"
        self.environments_file = self.root / "aws.calls.env"
        self.log_file = self.root / "site-sync.log"
        for d in (self.bin_dir, self.fail_dir):
            d.mkdir(parents=True, exist_ok=True)
        wrapper = self.bin_dir / "aws"
        wrapper.write_text(AWS_WRAPPER.replace("@REAL_AWS@", aws))
        wrapper.chmod(0o755)
        for record in (self.calls_file, self.environments_file):  # Apache's user appends too
            record.touch(mode=0o666)
            record.chmod(0o666)
        self.s3 = self.moto.client("s3")
        self.cloudfront = self.moto.client("cloudfront")
        self.cloudwatch = self.moto.client("cloudwatch")
        self.s3.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        config = {
            "CallerReference": self.bucket,
            "Comment": "",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "fallback",
                        "DomainName": f"{self.bucket}.s3.{REGION}.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "fallback",
                "ViewerProtocolPolicy": "redirect-to-https",
                "MinTTL": 0,
                "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                "TrustedSigners": {"Enabled": False, "Quantity": 0},
            },
        }
        created = self.cloudfront.create_distribution(DistributionConfig=config)
        self.distribution_id = created["Distribution"]["Id"]

    # -- the AWS side, read back with boto3 (not through the wrapper) --------

    def aws_env(self) -> dict[str, str]:
        return {
            **self.moto.cli_env(self.root),
            "AWS_DEFAULT_REGION": REGION,
            "AWS_PAGER": "",
        }

    def objects(self) -> dict[str, str]:
        """Key -> ETag (without quotes) of every object in the bucket."""
        found = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for obj in page.get("Contents", []):
                found[obj["Key"]] = obj["ETag"].strip('"')
        return found

    def get_object(self, key: str) -> tuple[bytes, str]:
        response = self.s3.get_object(Bucket=self.bucket, Key=key)
        return response["Body"].read(), response.get("ContentType", "")

    def put_object(self, key: str, body: bytes, content_type: str = "text/html") -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def invalidations(self) -> list[dict]:
        """Every invalidation of the distribution, oldest first, with its batch."""
        listing = self.cloudfront.list_invalidations(DistributionId=self.distribution_id)
        items = listing.get("InvalidationList", {}).get("Items") or []
        full = [
            self.cloudfront.get_invalidation(DistributionId=self.distribution_id, Id=item["Id"])[
                "Invalidation"
            ]
            for item in items
        ]
        return sorted(full, key=lambda inv: inv["CreateTime"])

    # -- the scripts' view ---------------------------------------------------

    def script_env(self, **overrides: str) -> dict[str, str]:
        env = {
            **self.aws_env(),
            "PATH": f"{self.bin_dir}:{SYSTEM_PATH}",
            "AWS_CALLS_FILE": str(self.calls_file),
            "AWS_FAIL_DIR": str(self.fail_dir),
            "FALLBACK_BUCKET": self.bucket,
            "DISTRIBUTION_ID": self.distribution_id,
            "STATE_DIR": str(self.state_dir),
            "LOG_FILE": str(self.log_file),
            "VOLUME_ID": VOLUME_ID,
            "HTTPD_USER": "www-data",
        }
        env.update(overrides)
        return env

    def calls(self) -> list[str]:
        return self.calls_file.read_text().splitlines() if self.calls_file.exists() else []

    def environments(self) -> list[dict[str, str]]:
        """The environment of each recorded call, in order."""
        return recorded_environments(self.environments_file)

    def reset_calls(self) -> None:
        self.calls_file.write_text("")
        self.environments_file.write_text("")

    def fail(self, operation: str, failing: bool = True) -> None:
        marker = self.fail_dir / operation
        if failing:
            marker.touch()
        else:
            marker.unlink(missing_ok=True)


@dataclass
class ScriptResult:
    returncode: int
    output: str


def _run_script(command: list[str], env: dict[str, str]) -> ScriptResult:
    result = subprocess.run(
        command, env=env, cwd="/", capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    return ScriptResult(result.returncode, result.stdout + result.stderr)


def run_in_namespace(namespace, script: str, env: dict[str, str]) -> ScriptResult:
    """Run one of the boot directory's scripts on the instance's machine (its
    mounts, its systemd)."""
    result = namespace.machine.run("bash", str(BOOT_SRC / script), env=env, timeout=COMMAND_TIMEOUT)
    return ScriptResult(result.returncode, result.stdout)


def run_on_host(script: str, env: dict[str, str]) -> ScriptResult:
    return _run_script(["bash", str(BOOT_SRC / script)], env)


def stop_apache(namespace) -> None:
    """Stop httpd as an operator would, through systemd (which then leaves it stopped)."""
    result = namespace.machine.run("systemctl", "stop", "httpd.service")
    assert result.returncode == 0, result.stdout
    assert not namespace.machine.is_active("httpd.service")


def http_get(base_url: str, key: str) -> tuple[int, bytes, str]:
    """GET a key's URL from Apache as CloudFront would: status, body, media type."""
    url = base_url + urllib.parse.quote(key)
    request = urllib.request.Request(url)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers.get("Content-Type", "")


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()
