"""os-update.sh: the in-place OS update that SSM Run Command runs, with dnf
shimmed. Exit 194 is Run Command's "reboot, then run the script again"."""

from __future__ import annotations

import subprocess

import pytest
from bootharness import COMMAND_TIMEOUT


@pytest.fixture
def sandbox(harness):
    return harness.sandbox()


def os_update(sandbox, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(sandbox.boot_dir / "os-update.sh"), *args],
        env=sandbox.env(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def test_update_without_reboot_exits_0(sandbox):
    result = os_update(sandbox)

    assert result.returncode == 0, result.stderr
    assert sandbox.calls("dnf") == ["upgrade -y --releasever=latest", "needs-restarting -r"]
    assert "no reboot needed" in result.stderr
    assert "site-boot[os-update]" in sandbox.log_file.read_text()


def test_update_that_needs_a_reboot_exits_194_then_0_after_it(sandbox):
    (sandbox.calls_dir / "dnf-needs-restarting").write_text("1\n")

    first = os_update(sandbox, "2023.6.20241010")

    assert first.returncode == 194, first.stderr
    assert "upgrade -y --releasever=2023.6.20241010" in sandbox.calls("dnf")
    assert "a reboot is needed" in first.stderr

    # After the reboot Run Command runs it again: nothing left to do.
    (sandbox.calls_dir / "dnf-needs-restarting").write_text("0\n")
    second = os_update(sandbox, "2023.6.20241010")
    assert second.returncode == 0, second.stderr


@pytest.mark.parametrize("release", ["2023", "newest", "2023.6.x", "2023.6.1; reboot", "--help"])
def test_malformed_release_is_refused_before_dnf_runs(sandbox, release):
    result = os_update(sandbox, release)

    assert result.returncode == 1
    assert f"release '{release}' is not valid" in result.stderr
    assert sandbox.calls("dnf") == []


def test_failures_are_reported(sandbox):
    (sandbox.calls_dir / "dnf-upgrade-fails").touch()
    failed = os_update(sandbox)
    assert failed.returncode == 1
    assert "ERROR: step os-update failed" in failed.stderr
    assert "needs-restarting -r" not in sandbox.calls("dnf")

    (sandbox.calls_dir / "dnf-upgrade-fails").unlink()
    (sandbox.calls_dir / "dnf-needs-restarting").write_text("2\n")
    unknown = os_update(sandbox)
    assert unknown.returncode == 1
    assert "cannot tell whether a reboot is needed" in unknown.stderr
