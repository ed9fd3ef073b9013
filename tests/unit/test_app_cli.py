"""The path a user takes: `cdk synth -c name=value`, or `python app.py`, with bad values.

Both run in a scratch directory whose cdk.json holds only the project's feature flags, so that
whatever the real cdk.json holds (the app refuses settings there) cannot change the outcome.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest

from settings.model import SETTING_NAMES, SettingsError, SiteSettings
from tests.cdk_context import CDK_FEATURE_FLAGS, PROJECT_ROOT, feature_flags

CDK_CLI = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"  # what `npx cdk` runs, without npx's start-up
QUIET_CDK = {"CDK_DISABLE_VERSION_CHECK": "1", "CDK_DISABLE_CLI_TELEMETRY": "1"}


def scratch_project(tmp_path: Path) -> Path:
    """A directory with a cdk.json that runs this project's app.py with only the feature flags."""
    project = tmp_path / "project"
    project.mkdir()
    app = f"{sys.executable} {PROJECT_ROOT / 'app.py'}"
    (project / "cdk.json").write_text(json.dumps({"app": app, "context": CDK_FEATURE_FLAGS}))
    return project


def test_cli_synth_with_a_bad_setting_prints_one_line_and_fails(tmp_path):
    """A number JSON cannot hold, in a cdk.context.json that starts with a byte-order mark: the CDK CLI reads
    past the mark and hands the number over as null, which the app refuses by name."""
    out, project = tmp_path / "cdk.out", scratch_project(tmp_path)
    (project / "cdk.context.json").write_bytes(
        b'\xef\xbb\xbf{"environment": "prod", "volume_size_gib": 1e400}'
    )
    result = subprocess.run(
        [str(CDK_CLI), "synth", "--quiet", "-o", str(out)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **QUIET_CDK},
    )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: setting 'volume_size_gib' = null: JSON null is no value (the CDK CLI also writes it for a "
        "number JSON cannot hold, such as 1e400): give a value, or leave the setting out"
    ]
    assert "Traceback" not in result.stderr
    assert not list(out.glob("*.template.json"))


# Bad values of every kind of check: each must stop the app with its one line, never a traceback,
# pydantic's multi-line report or a silent pass.
BAD_CONTEXTS = {
    "a declared choice (pydantic)": (
        {"environment": "staging"},
        "error: setting 'environment' = 'staging': must be one of dev, prod",
    ),
    "a declared pattern (pydantic)": (
        {"waf_web_acl_arn": "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/x/y"},
        "error: setting 'waf_web_acl_arn' = 'arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/x/y': "
        "must be an ARN arn:aws:wafv2:us-east-1:<12-digit account id>:global/webacl/<name>/<UUID>, "
        "the name 1-128 of A-Z a-z 0-9 _ -",
    ),
    "a JSON object from cdk.context.json": (
        {"server_generation": {"a": 1}},
        "error: setting 'server_generation' = {\"a\": 1}: must be a whole number from 1 to 1000000",
    ),
    "IOPS on gp2 (aws-cdk-lib)": (
        {"volume_type": "gp2", "volume_iops": "3000"},
        "error: setting 'volume_iops' = '3000': `iops` may only be specified if the `volumeType` is "
        "`PROVISIONED_IOPS_SSD`, `PROVISIONED_IOPS_SSD_IO2` or `GENERAL_PURPOSE_SSD_GP3` "
        "(volume_type gp2, volume_size_gib 5)",
    ),
    "io2 below 4 GiB": (
        {"volume_type": "io2", "volume_size_gib": "3", "volume_iops": "100"},
        "error: setting 'volume_size_gib' = '3': `io2` volumes must be between 4 GiB and 65536 GiB in size",
    ),
    "impossible pair": (
        {"instance_type": "t4g.metal"},
        "error: setting 'instance_type' = 't4g.metal': t4g comes in nano, micro, small, medium, "
        "large, xlarge, 2xlarge",
    ),
    "mac": (
        {"instance_type": "mac2-m2.metal"},
        "error: setting 'instance_type' = 'mac2-m2.metal': not supported: Mac instances run macOS "
        "on Dedicated Hosts only, not AL2023 on shared tenancy",
    ),
    "tag characters": (
        {"tags": '{"team": "a<b>"}'},
        "error: setting 'tags' = '{\"team\": \"a<b>\"}': tags may hold letters, digits, spaces "
        "and + - = . _ : / @ only",
    ),
    "UK": (
        {"geo_allowlist": "UK"},
        "error: setting 'geo_allowlist' = 'UK': 'UK' is not an ISO 3166-1 code: the United Kingdom is GB",
    ),
    "full-width digits": (
        {"volume_size_gib": "\uff11\uff10"},
        "error: setting 'volume_size_gib' = '\uff11\uff10': must be a whole number in ASCII digits; GiB, the "
        "volume type's range: gp2 1-16384, gp3 1-65536, io1 4-16384, io2 4-65536",
    ),
    "misspelt name with a colon": (
        {"alarm:email": "ops@example.com"},
        "error: unknown setting 'alarm:email': did you mean 'alarm_email'? Known settings: "
        + ", ".join(SETTING_NAMES),
    ),
    "named pipe as the image": (
        {"image_file": "{tmp}/pipe.jpg"},
        "error: setting 'image_file' = '{tmp}/pipe.jpg': must be a regular file (JPEG, PNG or GIF), "
        "not a named pipe",
    ),
}


def _synthesized(outdir: Path) -> bool:
    return any(outdir.glob("*.template.json"))


def test_app_prints_one_line_for_each_bad_value(tmp_path, monkeypatch):
    """app.main as the CLI runs it, in this process (its jsii runtime is warm): one line, no template."""
    import app

    os.mkfifo(tmp_path / "pipe.jpg")  # reading it would wait for a writer for ever
    monkeypatch.chdir(scratch_project(tmp_path))
    for index, (case, (context, line)) in enumerate(BAD_CONTEXTS.items()):
        context = {
            k: v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v for k, v in context.items()
        }
        stderr, outdir = io.StringIO(), tmp_path / str(index)
        with contextlib.redirect_stderr(stderr):
            code = app.main(cdk.App(context={**CDK_FEATURE_FLAGS, **context}, outdir=str(outdir)))
        expected = (1, line.replace("{tmp}", str(tmp_path)) + "\n", False)
        assert (code, stderr.getvalue(), _synthesized(outdir)) == expected, case
    # A real type of a family aws-cdk-lib cannot parse: synthesizes, no traceback.
    stderr, outdir = io.StringIO(), tmp_path / "u-3tb1"
    with contextlib.redirect_stderr(stderr):
        code = app.main(
            cdk.App(context={**CDK_FEATURE_FLAGS, "instance_type": "u-3tb1.56xlarge"}, outdir=str(outdir))
        )
    assert (code, stderr.getvalue(), _synthesized(outdir)) == (0, "", True)


def test_a_null_the_cdk_cli_passes_is_refused_by_name_never_taken_for_the_default(tmp_path, monkeypatch):
    """The CLI hands the context over in CDK_CONTEXT_JSON; on its way to Python, jsii drops a null."""
    import app

    monkeypatch.chdir(scratch_project(tmp_path))
    monkeypatch.setenv("CDK_CONTEXT_JSON", json.dumps({"volume_iops": None}))
    stderr, outdir = io.StringIO(), tmp_path / "out"
    with contextlib.redirect_stderr(stderr):
        code = app.main(cdk.App(context={**CDK_FEATURE_FLAGS, "volume_iops": None}, outdir=str(outdir)))
    assert (code, _synthesized(outdir)) == (1, False)
    assert stderr.getvalue().startswith("error: setting 'volume_iops' = null: JSON null is no value ")


def test_a_context_file_holding_a_list_is_named_not_read_as_settings_0_and_1(tmp_path, monkeypatch, capsys):
    import app

    project = scratch_project(tmp_path)
    (project / "cdk.context.json").write_text('["prod", "t4g.small"]')
    monkeypatch.chdir(project)
    # What the CDK CLI hands the app for that file.
    code = app.main(
        cdk.App(context={**CDK_FEATURE_FLAGS, "0": "prod", "1": "t4g.small"}, outdir=str(tmp_path))
    )
    assert code == 1
    assert capsys.readouterr().err == (
        'error: cdk.context.json holds a list, not an object: settings go in as {"environment": "prod"}\n'
    )


def test_settings_kept_in_cdk_json_never_reach_the_unit_fixtures(tmp_path, dev_app):
    cdk_json = json.loads((PROJECT_ROOT / "cdk.json").read_text())
    # What a user might keep for their own deployment, bad value included.
    cdk_json["context"].update({"environment": "prod", "volume_size_gib": "0", "tags": '{"a": "b"}'})
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps(cdk_json))
    with pytest.raises(SettingsError):
        SiteSettings.from_context(cdk_json["context"])

    flags = feature_flags(path)
    assert flags == CDK_FEATURE_FLAGS
    assert all(key.startswith("@") for key in flags)
    assert SiteSettings.from_context(flags) == SiteSettings.from_context({})
    # The session fixtures are built the same way: defaults, whatever cdk.json holds.
    assert dev_app.settings == SiteSettings.from_context({})


def test_a_setting_kept_in_cdk_json_stops_the_app_with_where_it_belongs(tmp_path, monkeypatch, capsys):
    """The CLI merges cdk.json's context above cdk.context.json's; the app reads cdk.json to tell."""
    import app

    project = scratch_project(tmp_path)
    cdk_json = json.loads((project / "cdk.json").read_text())
    cdk_json["context"]["environment"] = "prod"
    (project / "cdk.json").write_text(json.dumps(cdk_json))
    monkeypatch.chdir(project)
    # What the CLI hands the app: cdk.json's value, although cdk.context.json says dev.
    code = app.main(cdk.App(context=cdk_json["context"], outdir=str(tmp_path / "out")))
    assert code == 1
    assert capsys.readouterr().err == (
        "error: setting 'environment' is in cdk.json, whose context the CDK CLI puts above "
        "cdk.context.json's: move it to cdk.context.json, or give it as -c environment=...\n"
    )
