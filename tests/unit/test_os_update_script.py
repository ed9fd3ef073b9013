"""scripts/os-update.sh, with a stand-in for the AWS CLI: what it sends, and what it refuses."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "os-update.sh"
FAKE_AWS = """#!/usr/bin/env bash
printf '%s\\n' "$*" >>"$CALLS"
case "$*" in
*OutputKey==\\'InstanceId\\'*) echo i-0123456789abcdef0 ;;
*OutputKey==\\'OsUpdateDocument\\'*) echo SiteWebServer-prod-OsUpdate-ABC ;;
*send-command*) echo 11111111-2222-3333-4444-555555555555 ;;
*get-command-invocation*)
  [[ $STATUS != __fail__ ]] || { echo "ExpiredToken" >&2; exit 254; }
  echo "$STATUS" ;;
esac
"""


def _run(
    tmp_path: Path, *args: str, status: str = "Success", wait_seconds: str = "60"
) -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "aws").write_text(FAKE_AWS)
    (bin_dir / "aws").chmod(0o755)
    calls = tmp_path / "calls"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(calls),
        "STATUS": status,
        "POLL_SECONDS": "0",
        "WAIT_SECONDS": wait_seconds,
    }
    result = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=30)
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_sends_the_stacks_os_update_document_to_its_instance(tmp_path):
    result, calls = _run(tmp_path, "prod", "2023.9.20251110")
    assert result.returncode == 0, result.stderr
    assert all("--stack-name SiteWebServer-prod" in c for c in calls[:2])
    (send,) = [c for c in calls if c.startswith("ssm send-command")]
    assert "--document-name SiteWebServer-prod-OsUpdate-ABC" in send
    assert "--instance-ids i-0123456789abcdef0" in send
    assert "--parameters ReleaseVersion=2023.9.20251110" in send
    assert "done" in result.stdout


def test_a_failed_update_fails_the_command(tmp_path):
    result, _ = _run(tmp_path, "dev", "latest", status="Failed")
    assert result.returncode == 1
    assert "OS update Failed" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("staging",), "environment 'staging': expected dev or prod"),
        (("dev", "2023.9; reboot"), "release '2023.9; reboot': expected latest or an AL2023 release"),
    ],
)
def test_bad_arguments_are_refused_before_any_aws_call(tmp_path, args, message):
    result, calls = _run(tmp_path, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert calls == []


def test_gives_up_when_the_status_cannot_be_read(tmp_path):
    result, calls = _run(tmp_path, "dev", "latest", status="__fail__")
    assert result.returncode == 1
    assert "cannot read the command's status" in result.stderr
    assert sum(c.startswith("ssm get-command-invocation") for c in calls) == 6


def test_stops_waiting_at_its_deadline(tmp_path):
    result, _ = _run(tmp_path, "dev", "latest", status="InProgress", wait_seconds="0")
    assert result.returncode == 1
    assert "still 'InProgress'" in result.stderr
