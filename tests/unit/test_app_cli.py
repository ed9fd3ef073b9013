"""The CLI path a user takes: `npx cdk synth -c name=value` with a bad value."""

from __future__ import annotations


def test_cli_synth_with_a_bad_setting_prints_one_line_and_fails(cli_bad_setting_run):
    # conftest.py runs `npx cdk synth -c volume_size_gib=0` early, beside the in-process synths.
    assert cli_bad_setting_run.returncode != 0
    errors = [line for line in cli_bad_setting_run.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: setting 'volume_size_gib' = '0': must be a whole number from 1 to 16384"]
    assert "Traceback" not in cli_bad_setting_run.stderr
    assert not list(cli_bad_setting_run.outdir.glob("*.template.json"))
