"""The CLI path a user takes: `cdk synth -c name=value` with a bad value."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CDK_CLI = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"  # what `npx cdk` runs, without npx's start-up


@pytest.mark.skipif(not CDK_CLI.exists(), reason="run `make synth` first")
def test_cli_synth_with_a_bad_setting_prints_one_line_and_fails(tmp_path):
    result = subprocess.run(
        [
            str(CDK_CLI),
            "synth",
            "--quiet",
            "-o",
            str(tmp_path),
            "-c",
            "volume_size_gib=0",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "CDK_DISABLE_VERSION_CHECK": "1", "CDK_DISABLE_CLI_TELEMETRY": "1"},
    )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: setting 'volume_size_gib' = '0': must be a whole number from 1 to 65536"]
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))
