"""os-update.sh: the in-place OS update that SSM Run Command runs, with dnf
shimmed. Exit 194 is Run Command's "reboot, then run the script again". A
reboot is a new boot id in the file that stands for
/proc/sys/kernel/random/boot_id."""

from __future__ import annotations

import subprocess

import pytest

from tests.integration.bootharness import COMMAND_TIMEOUT


@pytest.fixture
def sandbox(harness):
    return harness.sandbox()


def state_dir(sandbox):
    return sandbox.root / "var" / "lib" / "site-boot"


def boot(sandbox, boot_id: str) -> None:
    """The instance (re)booted: a new boot id."""
    (sandbox.root / "boot_id").write_text(boot_id + "\n")


def needs_restarting(sandbox, answer: str) -> None:
    (sandbox.calls_dir / "dnf-needs-restarting").write_text(answer + "\n")


def os_update(sandbox, *args: str) -> subprocess.CompletedProcess:
    boot_id = sandbox.root / "boot_id"
    if not boot_id.exists():
        boot(sandbox, "11111111-1111-4111-8111-111111111111")
    return subprocess.run(
        ["bash", str(sandbox.boot_dir / "os-update.sh"), *args],
        env=sandbox.env(STATE_DIR=state_dir(sandbox), BOOT_ID_FILE=boot_id),
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
    needs_restarting(sandbox, "1")

    first = os_update(sandbox, "2023.6.20241010")

    assert first.returncode == 194, first.stderr
    assert "upgrade -y --releasever=2023.6.20241010" in sandbox.calls("dnf")
    assert "a reboot is needed" in first.stderr
    assert (state_dir(sandbox) / "os-update-reboot").is_file()

    # After the reboot Run Command runs it again: nothing left to do.
    boot(sandbox, "22222222-2222-4222-8222-222222222222")
    needs_restarting(sandbox, "0")
    second = os_update(sandbox, "2023.6.20241010")
    assert second.returncode == 0, second.stderr
    assert not (state_dir(sandbox) / "os-update-reboot").exists()


def test_a_reboot_that_did_not_help_is_not_asked_for_again(sandbox):
    needs_restarting(sandbox, "1")
    assert os_update(sandbox, "2023.6.20241010").returncode == 194
    # Run again before the reboot happened: the request stands.
    assert os_update(sandbox, "2023.6.20241010").returncode == 194

    # Rebooted, and dnf still says a reboot is required: no second reboot.
    boot(sandbox, "22222222-2222-4222-8222-222222222222")
    after = os_update(sandbox, "2023.6.20241010")

    assert after.returncode == 1, after.stderr
    errors = [line for line in after.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, after.stderr
    assert "not asking for another" in errors[0]
    assert "2023.6.20241010" in errors[0]

    # A later update (another command, another release) may reboot again.
    assert os_update(sandbox, "2023.7.20250101").returncode == 194


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        ("missing", "No such command: needs-restarting"),
        ("error", "Error: rpmdb open failed"),
        ("2", "no output"),
    ],
    ids=["plugin-missing", "dnf-error", "exit-2"],
)
def test_no_answer_from_needs_restarting_fails_with_one_line_and_no_reboot(sandbox, answer, shown):
    # dnf exits 1 for an unknown command too: only its "Reboot is required" means a reboot.
    needs_restarting(sandbox, answer)

    result = os_update(sandbox)

    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    errors = [line for line in lines if "ERROR" in line]
    assert len(errors) == 1, result.stderr
    assert "cannot tell whether a reboot is needed" in errors[0]
    assert shown in errors[0]
    assert "exiting 194" not in result.stderr
    assert not (state_dir(sandbox) / "os-update-reboot").exists()


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
