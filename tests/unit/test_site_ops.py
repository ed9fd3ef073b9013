"""scripts/site_ops.py: deploy, verify and os-update against local stand-ins of AWS.

End to end, the tool runs as make runs it (the venv's Python, .venv/bin first on PATH) and
talks through an `aws` that reports version 2 (tests/unit/ops_standins.py) to moto_server and
an SSM stand-in, and fetches the page and the image from a local HTTP server. The decisions
(which CLI, which stacks, when EBS would hold a volume change, how long to wait) are also
tested in-process. Nothing here calls AWS.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from operations import site_ops
from tests.unit.ops_standins import (
    ASSOCIATION,
    DOCUMENT,
    IMAGE_PATH,
    INSTANCE,
    PROJECT_ROOT,
    REGION,
    VENV_BIN,
    MotoServer,
    OfflineAccount,
    SiteStandIn,
    SsmStandIn,
    association_run,
)
from web_server.os_update import RELEASE_PATTERN

RUN_OUTPUT_BUCKET = "site-run-output-test"
FAKE_CDK = """#!@PYTHON@
# The CDK CLI as far as `make deploy` uses it: records each call; synth writes an assembly
# whose web server stack holds the volume the test asked for.
import json, os, pathlib, sys
args = sys.argv[1:]
with open(os.environ["CDK_CALLS"], "a") as calls:
    calls.write(" ".join(args) + "\\n")
if args[0] == "synth":
    out = pathlib.Path(args[args.index("--output") + 1])
    out.mkdir(parents=True, exist_ok=True)
    volume = {"Type": "AWS::EC2::Volume", "Properties": json.loads(os.environ["CDK_VOLUME"])}
    template = {"Resources": {"DocumentRootVolume0A1B2C3D": volume}}
    (out / "SiteWebServer-dev.template.json").write_text(json.dumps(template))
    stack = {"type": "aws:cloudformation:stack",
             "properties": {"templateFile": "SiteWebServer-dev.template.json"}}
    (out / "manifest.json").write_text(json.dumps({"artifacts": {"SiteWebServer-dev": stack}}))
sys.exit(int(os.environ.get("CDK_EXIT_" + args[0].upper(), "0")))
"""


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto-ops"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ssm():
    server = SsmStandIn()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def site():
    server = SiteStandIn()
    yield server
    server.stop()


@pytest.fixture
def account(moto, ssm, site, tmp_path) -> OfflineAccount:
    """A deployed dev site whose configuration has run and whose page shows the image."""
    account = OfflineAccount(moto, ssm, site, tmp_path, poll_seconds="0.2")
    account.deploy_site()
    account.ssm.state.documents[DOCUMENT] = {
        "ReleaseVersion": {"type": "String", "allowedPattern": RELEASE_PATTERN}
    }
    return account


def _error_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert lines, result.stdout
    assert lines[-1].startswith("error: "), result.stderr
    return lines[-1]


# ---- verify, end to end -----------------------------------------------------------------


def test_verify_waits_for_the_current_run_then_checks_page_and_image(account):
    account.ssm.state.runs[INSTANCE] = [
        [association_run(ASSOCIATION, "1", "Success")],
        [association_run(ASSOCIATION, "2", "InProgress")],
        [association_run(ASSOCIATION, "2", "Success")],
    ]
    account.site.state.page_statuses = [503, 200]

    result = account.run("verify")

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "waiting for version 2" in out
    assert "version 2 InProgress" in out
    assert "HTTP 503" in out
    assert out.strip().splitlines()[-1].startswith(f"site works: {account.site.site_url}")
    assert account.site.state.requests == ["/", "/", IMAGE_PATH]
    assert account.ssm.state.calls[0] == "DescribeAssociation"


def test_verify_fails_on_a_failed_run_and_prints_its_output_tail(account):
    s3 = account.moto.client("s3")
    s3.create_bucket(Bucket=RUN_OUTPUT_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    prefix = f"site-configuration/{INSTANCE}/{ASSOCIATION}/{uuid.uuid4()}"
    step = f"{prefix}/awsrunShellScript/applySiteConfiguration"
    s3.put_object(Bucket=RUN_OUTPUT_BUCKET, Key=f"{step}/stdout", Body=b"attaching vol-1\n")
    lines = "".join(f"line {n}\n" for n in range(30)) + "mount: /var/www/html: wrong fs type\n"
    s3.put_object(Bucket=RUN_OUTPUT_BUCKET, Key=f"{step}/stderr", Body=lines.encode())
    url = f"https://s3.{REGION}.amazonaws.com/{RUN_OUTPUT_BUCKET}/{prefix}"
    account.ssm.state.runs[INSTANCE] = [[association_run(ASSOCIATION, "2", "Failed", output_url=url)]]

    result = account.run("verify")

    assert result.returncode == 1
    assert "mount: /var/www/html: wrong fs type" in result.stderr
    assert "line 11" in result.stderr  # the last 20 lines of stderr only
    assert "line 10\n" not in result.stderr
    assert "journalctl -u site-boot" in result.stderr
    assert "configuration (version 2) failed" in _error_line(result)
    assert account.site.state.requests == []


def test_verify_names_the_environment_like_deploy(account):
    result = account.run("verify", "-c", "environment=prod")

    assert result.returncode == 1
    assert _error_line(result) == (
        "error: stack SiteWebServer-prod does not exist in this account and Region: deploy it first"
    )


# ---- deploy, end to end -----------------------------------------------------------------


def _deploy(
    account: OfflineAccount, volume: dict, **env: str
) -> tuple[subprocess.CompletedProcess, list[str]]:
    fake = account.tmp / "cdk"
    fake.write_text(FAKE_CDK.replace("@PYTHON@", sys.executable))
    fake.chmod(0o755)
    calls = account.tmp / "cdk.calls"
    assembly = account.tmp / "assembly"
    result = account.run(
        "deploy",
        "--output",
        str(assembly),
        "--require-approval",
        "never",
        CDK=str(fake),
        CDK_CALLS=str(calls),
        CDK_VOLUME=json.dumps(volume),
        **env,
    )
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_deploy_stops_before_a_volume_change_within_six_hours_of_the_last(account):
    stack = account.moto.client("cloudformation").describe_stacks(StackName="SiteWebServer-dev")["Stacks"][0]
    volume_id = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["DocumentRootVolumeId"]
    account.moto.client("ec2").modify_volume(VolumeId=volume_id, Size=6)

    result, calls = _deploy(account, {"Size": 8, "VolumeType": "gp3"})

    assert result.returncode == 1
    line = _error_line(result)
    assert f"would change volume {volume_id} (Size 6 -> 8)" in line
    assert "deploy again after" in line
    assert len(result.stderr.strip().splitlines()) == 1
    assert [c.split()[0] for c in calls] == ["synth"]


def test_deploy_deploys_the_checked_assembly_then_verifies(account):
    result, calls = _deploy(account, {"Size": 5, "VolumeType": "gp3", "Iops": 3000, "Throughput": 125})

    assert result.returncode == 0, result.stdout + result.stderr
    assembly = str(account.tmp / "assembly")
    assert calls == [
        f"synth --quiet --no-notices --output {assembly} --require-approval never",
        f"deploy --app {assembly} --all --require-approval never",
    ]
    assert "does not change" in result.stdout
    assert "site works:" in result.stdout


def test_a_failed_cdk_deploy_is_not_verified(account):
    result, calls = _deploy(account, {"Size": 5, "VolumeType": "gp3"}, CDK_EXIT_DEPLOY="3")

    assert result.returncode == 3
    assert [c.split()[0] for c in calls] == ["synth", "deploy"]
    assert _error_line(result) == "error: cdk deploy failed (exit status 3)"
    assert account.ssm.state.calls == []


# ---- os-update, end to end --------------------------------------------------------------


def test_os_update_sends_the_release_and_waits_for_the_command(account):
    account.ssm.state.invocation_statuses = ["error", "InProgress", "Success"]

    result = account.run("os-update", "--release", "2023.9.20251110")

    assert result.returncode == 0, result.stdout + result.stderr
    (sent,) = account.ssm.state.sent
    assert sent["DocumentName"] == DOCUMENT
    assert sent["InstanceIds"] == [INSTANCE]
    assert sent["Parameters"] == {"ReleaseVersion": ["2023.9.20251110"]}
    assert "OS update on i-0123456789abcdef0: InProgress" in result.stdout
    assert "OS update to 2023.9.20251110 done" in result.stdout


def test_os_update_without_a_release_stops_before_any_aws_call(account):
    result = account.run("os-update", "--release", "")

    assert result.returncode == 2
    line = _error_line(result)
    assert line.startswith("error: RELEASE is not set")
    assert "RELEASE=latest" in line
    assert account.ssm.state.calls == []


def test_os_update_refused_by_the_documents_pattern_sends_nothing(account):
    result = account.run("os-update", "--release", "2023.9; reboot")

    assert result.returncode == 1
    assert "does not match the allowed pattern" in _error_line(result)
    assert account.ssm.state.sent == []


def test_a_failed_os_update_prints_the_end_of_its_output(account):
    account.ssm.state.invocation_statuses = ["Failed"]
    account.ssm.state.invocation_output = "".join(f"dnf line {n}\n" for n in range(40))

    result = account.run("os-update", "--release", "latest")

    assert result.returncode == 1
    assert "dnf line 39" in result.stderr
    assert "dnf line 19\n" not in result.stderr
    assert "OS update Failed" in _error_line(result)


# ---- which CLI, which stacks ------------------------------------------------------------


def _fake_cli(directory: Path, version_line: str) -> Path:
    directory.mkdir(parents=True)
    script = directory / "aws"
    script.write_text(f"#!/bin/sh\necho '{version_line}'\n")
    script.chmod(0o755)
    return directory


def test_the_venvs_aws_cli_is_passed_over_for_the_operators(tmp_path):
    operator = _fake_cli(tmp_path / "usr-local-bin", "aws-cli/2.31.0 Python/3.13.7 Linux/6.1")
    assert (VENV_BIN / "aws").exists()

    found = site_ops.find_aws_cli(f"{VENV_BIN}:{operator}")

    assert found == operator / "aws"


def test_an_aws_cli_v1_is_refused_in_one_line(tmp_path):
    old = _fake_cli(tmp_path / "bin", "aws-cli/1.46.3 Python/3.11.7 Linux/6.1 botocore/1.43.62")

    with pytest.raises(site_ops.OpsError, match=r"is AWS CLI 1\.46\.3; these commands need AWS CLI v2"):
        site_ops.find_aws_cli(f"{VENV_BIN}:{old}")


def test_no_aws_cli_outside_the_venv_is_said_plainly():
    with pytest.raises(site_ops.OpsError, match=r"^no AWS CLI on PATH \(outside \.venv\)"):
        site_ops.find_aws_cli(str(VENV_BIN))


@pytest.mark.parametrize(
    ("args", "context_file", "stack"),
    [
        ((), None, "SiteWebServer-dev"),
        (("-c", "environment=prod"), None, "SiteWebServer-prod"),
        (("--context=environment=prod", "--profile", "ops"), None, "SiteWebServer-prod"),
        ((), {"environment": "prod"}, "SiteWebServer-prod"),
        (("-c", "environment=dev"), {"environment": "prod"}, "SiteWebServer-dev"),
    ],
)
def test_the_stacks_are_those_the_cdk_cli_would_deploy(tmp_path, monkeypatch, args, context_file, stack):
    monkeypatch.delenv("SITE_ENV", raising=False)
    if context_file:
        (tmp_path / "cdk.context.json").write_text(json.dumps(context_file))

    target = site_ops.target_of(args, project_root=tmp_path)

    assert target.web_stack == stack
    assert target.content_stack == stack.replace("WebServer", "Content")
    assert target.profile == ("ops" if "--profile" in args else None)


def test_a_bad_environment_gets_the_settings_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("SITE_ENV", raising=False)
    with pytest.raises(site_ops.OpsError, match="environment") as raised:
        site_ops.target_of(["-c", "environment=staging"], project_root=tmp_path)
    assert "staging" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_site_env_is_refused_rather_than_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("SITE_ENV", "prod")
    with pytest.raises(site_ops.OpsError, match=r'ARGS="-c environment=prod"'):
        site_ops.target_of([], project_root=tmp_path)


# ---- when EBS would hold a volume change ------------------------------------------------

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def _modification(hours_ago: float, state: str = "completed", progress: int = 100) -> dict:
    started = (NOW - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")
    return {"StartTime": started, "ModificationState": state, "Progress": progress}


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
    refusal = site_ops.cooldown_refusal(modification, NOW)
    if expected is None:
        assert refusal is None
    else:
        assert expected in (refusal or "")


def test_only_properties_the_template_sets_to_a_value_are_compared():
    current = {"Size": 5, "VolumeType": "gp3", "Iops": 3000, "Throughput": 125}

    assert site_ops.volume_changes({"Size": 5, "VolumeType": "gp3"}, current) == []
    assert site_ops.volume_changes({"Size": {"Ref": "SizeParameter"}, "VolumeType": "gp3"}, current) == []
    assert site_ops.volume_changes({"Size": 8, "VolumeType": "io2", "Iops": 3000}, current) == [
        "Size 5 -> 8",
        "VolumeType gp3 -> io2",
    ]


def test_a_shrink_is_refused_before_deploying(tmp_path):
    assembly = tmp_path / "assembly"
    assembly.mkdir()
    volume = {"Type": "AWS::EC2::Volume", "Properties": {"Size": 3, "VolumeType": "gp3"}}
    (assembly / "web.json").write_text(json.dumps({"Resources": {"Volume": volume}}))
    stack = {"type": "aws:cloudformation:stack", "properties": {"templateFile": "web.json"}}
    (assembly / "manifest.json").write_text(json.dumps({"artifacts": {"SiteWebServer-dev": stack}}))

    class Cli:
        def json(self, service, operation, *args):
            if operation == "describe-stacks":
                return {
                    "Stacks": [{"Outputs": [{"OutputKey": "DocumentRootVolumeId", "OutputValue": "vol-1"}]}]
                }
            assert operation == "describe-volumes", operation
            return {"Volumes": [{"Size": 5, "VolumeType": "gp3"}]}

    target = site_ops.Target("dev", "SiteContent-dev", "SiteWebServer-dev", None)
    with pytest.raises(
        site_ops.OpsError, match="EBS volumes cannot shrink: keep volume_size_gib at 5 or more"
    ):
        site_ops.check_volume(Cli(), target, assembly, NOW)


# ---- the rest ---------------------------------------------------------------------------


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
    assert site_ops.s3_location(url) == ("output-bucket", "site-configuration/i-1/run")


def test_a_wait_ends_at_its_deadline_with_the_last_state(capsys):
    waiter = site_ops.Waiter(site_ops.Patience(wait_seconds=0.3, poll_seconds=0.05, max_api_errors=3))
    started = time.monotonic()

    with pytest.raises(
        site_ops.OpsError, match=r"page still 'HTTP 503' after 0s \(WAIT_SECONDS=0.3\); look here"
    ):
        waiter.until("page", lambda: ("HTTP 503", None), hint="look here")

    assert 0.3 <= time.monotonic() - started < 5
    assert capsys.readouterr().out.count("page: HTTP 503") == 1  # a new line only when the state changes


def test_a_wait_gives_up_after_repeated_failed_calls():
    waiter = site_ops.Waiter(site_ops.Patience(wait_seconds=60, poll_seconds=0, max_api_errors=3))
    calls = []

    def look():
        calls.append(1)
        raise site_ops.AwsError("An error occurred (ThrottlingException): Rate exceeded")

    with pytest.raises(site_ops.OpsError, match=r"^cannot read the command \(An error occurred"):
        waiter.until("the command", look, hint="see there")
    assert len(calls) == 3


def test_a_failed_call_between_good_ones_does_not_count_against_the_limit():
    waiter = site_ops.Waiter(site_ops.Patience(wait_seconds=60, poll_seconds=0, max_api_errors=2))
    answers = iter(["error", ("InProgress", None), "error", ("Success", "done")])

    def look():
        answer = next(answers)
        if answer == "error":
            raise site_ops.AwsError("Rate exceeded")
        return answer

    assert waiter.until("the command", look, hint="") == "done"


def test_bad_timing_settings_get_one_line(monkeypatch):
    monkeypatch.setenv("WAIT_SECONDS", "soon")
    with pytest.raises(site_ops.OpsError, match=r"WAIT_SECONDS='soon': expected a number"):
        site_ops.Patience.from_env(60)


def test_the_tool_runs_without_a_command_as_usage():
    result = subprocess.run(
        [sys.executable, "-m", "operations.site_ops"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 2
    assert "usage:" in result.stderr
