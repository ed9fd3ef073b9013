"""settings/context.py: a cdk.context.json of any shape gets one line naming it; the context as the CDK CLI
hands it to the app, nulls included; make's CDK CLI targets check the file first."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from settings.context import context_file_problem, passed_context
from tests.cdk_context import PROJECT_ROOT


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"[1, 2]", 'holds a list, not an object: settings go in as {"environment": "prod"}'),
        (b"null", 'holds null, not an object: settings go in as {"environment": "prod"}'),
        (b'"prod"', "holds a string, not an object"),
        (b"1e400", "holds a number, not an object"),
        (b"true", "holds true or false, not an object"),
        (
            b'{"environment": "prod",}',
            "is not JSON: Expecting property name enclosed in double quotes: line 1",
        ),
        (b"", "is not JSON: Expecting value: line 1 column 1 (char 0)"),
        (
            b'\xff{"environment": "prod"}',
            "cannot be read: 'utf-8' codec can't decode byte 0xff in position 0",
        ),
    ],
)
def test_a_context_file_that_is_no_json_object_is_one_line_naming_it(tmp_path, content, said):
    path = tmp_path / "cdk.context.json"
    path.write_bytes(content)
    problem = context_file_problem(path)
    assert problem.startswith(f"{path} {said}")
    assert "\n" not in problem


def test_a_byte_order_mark_is_read_past_as_the_cdk_cli_does_and_no_file_is_no_problem(tmp_path):
    path = tmp_path / "cdk.context.json"
    assert context_file_problem(path) is None
    path.write_bytes(b'\xef\xbb\xbf{"environment": "prod"}')
    assert context_file_problem(path) is None
    path.unlink()
    path.mkdir()
    assert context_file_problem(path) == f"{path} cannot be read: Is a directory"


def test_the_context_the_cdk_cli_passed_keeps_its_nulls(tmp_path, monkeypatch):
    monkeypatch.delenv("CDK_CONTEXT_JSON", raising=False)
    monkeypatch.delenv("CONTEXT_OVERFLOW_LOCATION_ENV", raising=False)
    assert passed_context() == {}
    monkeypatch.setenv("CDK_CONTEXT_JSON", json.dumps({"volume_size_gib": None, "environment": "prod"}))
    overflow = tmp_path / "context-overflow.json"
    overflow.write_text(json.dumps({"tags": {"team": None}}))
    monkeypatch.setenv("CONTEXT_OVERFLOW_LOCATION_ENV", str(overflow))
    assert passed_context() == {"volume_size_gib": None, "environment": "prod", "tags": {"team": None}}


def test_the_check_make_runs_before_the_cdk_cli_is_one_line_and_a_failure(tmp_path):
    (tmp_path / "cdk.context.json").write_text("null")
    check = [sys.executable, "-m", "settings.context"]
    env = {"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(check, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        'error: cdk.context.json holds null, not an object: settings go in as {"environment": "prod"}\n'
    )
    (tmp_path / "cdk.context.json").write_text('\ufeff{"environment": "prod"}', encoding="utf-8")
    result = subprocess.run(check, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_make_checks_the_context_file_before_each_cdk_cli_command_that_reads_it():
    dry_run = subprocess.run(
        ["make", "--dry-run", "--always-make", "synth", "bootstrap", "diff", "destroy"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    commands = [line for line in dry_run.splitlines() if "npx cdk" in line]
    assert len(commands) == 4
    assert all(line.index("-m settings.context &&") < line.index("npx cdk") for line in commands), commands
