"""Local stand-ins for what scripts/site_ops.py talks to, all on 127.0.0.1 and offline.

- moto_server for CloudFormation (stack outputs), EC2 (volumes and their modifications) and S3
  (the configuration's run output), as the fallback-copy tests already run it;
- `SsmStandIn`, the few Systems Manager calls moto lacks or cannot script (association runs per
  instance, the OS-update command and its status), over SSM's JSON protocol;
- `SiteStandIn`, the page and the image as CloudFront would answer them;
- `aws_cli_v2`, an `aws` that reports version 2 and runs the venv's AWS CLI v1 with the Region
  v2 would read from AWS_REGION (this machine has no AWS CLI v2).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.integration.fallback_harness import REGION, MotoServer, find_tool

__all__ = ["MotoServer", "OfflineAccount", "SiteStandIn", "SsmStandIn", "association_run", "aws_cli_v2"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
INSTANCE = "i-0123456789abcdef0"
ASSOCIATION = "11111111-2222-3333-4444-555555555555"
DOCUMENT = "SiteWebServer-dev-OsUpdate-ABC"
IMAGE_PATH = "/images/site-image.jpg"
IMAGE_BYTES = b"\xff\xd8\xff\xe0" + b"\x00" * 64
AWS_CLI_V2 = """#!/usr/bin/env bash
set -euo pipefail
if [[ ${1:-} == --version ]]; then
  echo "aws-cli/2.31.0 Python/3.13.7 Linux/6.1 exe/x86_64 (stand-in)"
  exit 0
fi
export AWS_DEFAULT_REGION=${AWS_REGION:?}
exec @REAL_AWS@ "$@"
"""


def aws_cli_v2(directory: Path) -> Path:
    """A directory holding the `aws` stand-in; the venv's AWS CLI v1 does the work."""
    real = find_tool("aws")
    assert real, "the dev venv has the AWS CLI (awscli in requirements-dev.txt)"
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "aws"
    script.write_text(AWS_CLI_V2.replace("@REAL_AWS@", real))
    script.chmod(0o755)
    return directory


def _next(script: list[Any]) -> Any:
    """The next answer of a script: one per call, the last one repeated."""
    return script.pop(0) if len(script) > 1 else script[0]


class _Server:
    """A ThreadingHTTPServer on a free loopback port, served from a thread until stop()."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


# ---- Systems Manager --------------------------------------------------------------------


@dataclass
class SsmState:
    association_versions: dict[str, str] = field(default_factory=dict)
    # instance id -> what describe-instance-associations-status lists, one listing per call,
    # the last one repeated
    runs: dict[str, list[list[dict[str, Any]]]] = field(default_factory=dict)
    # document name -> its parameters (type, allowedPattern, default)
    documents: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    # statuses get-command-invocation gives, one per call, the last one repeated; "error" fails the call
    invocation_statuses: list[str] = field(default_factory=lambda: ["Success"])
    invocation_output: str = ""
    sent: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)


class Refused(Exception):
    """An error answer: SSM's error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _SsmHandler(_Quiet):
    def do_POST(self) -> None:
        state: SsmState = self.server.owner.state  # type: ignore[attr-defined]
        operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        state.calls.append(operation)
        try:
            reply = getattr(self, f"op_{operation}")(state, request)
        except Refused as refused:
            body = {"__type": refused.code, "message": str(refused)}
            self.answer(400, json.dumps(body).encode(), "application/x-amz-json-1.1")
            return
        self.answer(200, json.dumps(reply).encode(), "application/x-amz-json-1.1")

    @staticmethod
    def op_DescribeAssociation(state: SsmState, request: dict) -> dict:
        association = request["AssociationId"]
        if association not in state.association_versions:
            raise Refused("AssociationDoesNotExist", f"association {association} does not exist")
        version = state.association_versions[association]
        return {"AssociationDescription": {"AssociationId": association, "AssociationVersion": version}}

    @staticmethod
    def op_DescribeInstanceAssociationsStatus(state: SsmState, request: dict) -> dict:
        return {"InstanceAssociationStatusInfos": _next(state.runs.get(request["InstanceId"], [[]]))}

    @staticmethod
    def op_SendCommand(state: SsmState, request: dict) -> dict:
        declared = state.documents.get(request["DocumentName"])
        if declared is None:
            raise Refused("InvalidDocument", f"document {request['DocumentName']} does not exist")
        given = request.get("Parameters", {})
        for name, declaration in declared.items():
            values = given.get(name)
            if values is None and "default" not in declaration:
                raise Refused("InvalidParameters", f"parameter {name} is required")
            for value in values or []:
                if not re.fullmatch(declaration["allowedPattern"], value):
                    raise Refused(
                        "InvalidParameters",
                        f'Parameter "{name}" "{value}" does not match the allowed pattern',
                    )
        command = {"CommandId": str(uuid.uuid4()), **request}
        state.sent.append(command)
        return {"Command": command}

    @staticmethod
    def op_GetCommandInvocation(state: SsmState, request: dict) -> dict:
        status = _next(state.invocation_statuses)
        if status == "error":
            raise Refused("ThrottlingException", "Rate exceeded")
        return {
            "CommandId": request["CommandId"],
            "InstanceId": request["InstanceId"],
            "Status": status,
            "StandardOutputContent": state.invocation_output,
            "StandardErrorContent": "",
        }


class SsmStandIn(_Server):
    def __init__(self) -> None:
        self.state = SsmState()
        super().__init__(_SsmHandler)

    def reset(self) -> SsmState:
        self.state = SsmState()
        return self.state


def association_run(association: str, version: str, status: str, *, output_url: str = "") -> dict[str, Any]:
    """One entry of describe-instance-associations-status (ExecutionDate in epoch seconds, as JSON)."""
    run: dict[str, Any] = {
        "AssociationId": association,
        "AssociationVersion": version,
        "Status": status,
        "DetailedStatus": status,
        "ExecutionDate": 1767225600.0,
    }
    if output_url:
        run["OutputUrl"] = {"S3OutputUrl": {"OutputUrl": output_url}}
    return run


# ---- the site through CloudFront --------------------------------------------------------


@dataclass
class SiteState:
    image_url: str = ""
    # statuses the page answers, one per request, the last one repeated
    page_statuses: list[int] = field(default_factory=lambda: [200])
    image_type: str = "image/jpeg"
    requests: list[str] = field(default_factory=list)


class _SiteHandler(_Quiet):
    def do_GET(self) -> None:
        state: SiteState = self.server.owner.state  # type: ignore[attr-defined]
        state.requests.append(self.path)
        if self.path == IMAGE_PATH:
            self.answer(200, IMAGE_BYTES, state.image_type)
            return
        status = _next(state.page_statuses)
        page = f'<!DOCTYPE html><html><body><img src="{state.image_url}" alt=""></body></html>'
        self.answer(
            status, page.encode() if status == 200 else b"<h1>unavailable</h1>", "text/html; charset=UTF-8"
        )


class SiteStandIn(_Server):
    def __init__(self) -> None:
        self.state = SiteState()
        super().__init__(_SiteHandler)
        self.site_url = f"{self.endpoint}/"
        self.image_url = f"{self.endpoint}{IMAGE_PATH}"

    def reset(self) -> SiteState:
        self.state = SiteState(image_url=self.image_url)
        return self.state


# ---- one account ----------------------------------------------------------------------


@dataclass
class OfflineAccount:
    """moto's resources and the stand-ins as one account, and site_ops.py run against it."""

    moto: MotoServer
    ssm: SsmStandIn
    site: SiteStandIn
    tmp: Path
    poll_seconds: str = ""

    def stack(self, name: str, outputs: dict[str, str]) -> None:
        cloudformation = self.moto.client("cloudformation")
        cloudformation.delete_stack(StackName=name)
        template = {
            "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {key: {"Value": value} for key, value in outputs.items()},
        }
        cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))

    def volume(self, size: int = 5) -> str:
        created = self.moto.client("ec2").create_volume(
            AvailabilityZone=f"{REGION}a", Size=size, VolumeType="gp3", Iops=3000, Throughput=125
        )
        return created["VolumeId"]

    def env(self, **overrides: str) -> dict[str, str]:
        cli_dir = aws_cli_v2(self.tmp / "operator-bin")
        return {
            **self.moto.cli_env(self.tmp),
            # As make runs it: the venv first (with its AWS CLI v1), the operator's tools after.
            "PATH": f"{VENV_BIN}:{cli_dir}:/usr/bin:/bin",
            "AWS_ENDPOINT_URL_SSM": self.ssm.endpoint,
            **({"POLL_SECONDS": self.poll_seconds} if self.poll_seconds else {}),
            "WAIT_SECONDS": "60",
            "PYTHONPATH": str(PROJECT_ROOT),
            "MAX_API_ERRORS": "3",
            **overrides,
        }

    def deploy_site(self) -> None:
        """The dev stacks' outputs, a configuration that has run, a page showing the image."""
        ssm = self.ssm.reset()
        self.site.reset()
        ssm.association_versions[ASSOCIATION] = "2"
        ssm.runs[INSTANCE] = [[association_run(ASSOCIATION, "2", "Success")]]
        self.stack(
            "SiteWebServer-dev",
            {
                "SiteUrl": self.site.site_url,
                "ImageUrl": self.site.image_url,
                "InstanceId": INSTANCE,
                "DocumentRootVolumeId": self.volume(),
                "SiteDistributionId": "E2SITE",
                "ConfigurationAssociationId": ASSOCIATION,
                "OsUpdateDocument": DOCUMENT,
            },
        )
        self.stack(
            "SiteContent-dev",
            {"ImageUrl": self.site.image_url, "ImageDistributionId": "E2IMAGE", "ImageBucketName": "images"},
        )

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "operations.site_ops", *args]

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(*args),
            env=self.env(**env),
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )
