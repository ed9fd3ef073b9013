"""The site's configuration document, run as the SSM agent runs it: the synthesized
document with the association's values, which downloads the boot files and runs
apply.sh: the scripts installed, the values file and the unit written only when they change,
then site-boot.service (emulated from the real unit file by the systemctl
stand-in) runs boot.sh; apply.sh reports the first attempt's result, and
failed attempts are retried in the background until one succeeds."""

from __future__ import annotations

import os
import time
import urllib.request
from pathlib import Path

import pytest
from bootharness import BOOT_SRC, IMAGE_URL, VOLUME_ID, require_apache, serve

NEW_URL = "https://d333333abcdef8.cloudfront.net/images/site-image-2.jpg"
THIRD_URL = "https://d444444abcdef8.cloudfront.net/images/site-image-3.jpg"
UNIT = "site-boot.service"


def get(url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url)
    with opener.open(request, timeout=10) as response:
        return response.status, response.read().decode()


def snapshot(sandbox, ns) -> dict[str, tuple[int, int, int]]:
    """Inode, mtime and mode of every file the scripts maintain."""
    roots = [
        sandbox.install_dir.resolve(),
        sandbox.env_file.parent,
        sandbox.systemd_dir,
        sandbox.httpd_conf_dir,
        ns.path(sandbox.docroot),
    ]
    files = [sandbox.fstab, sandbox.install_dir]
    for root in roots:
        files += sorted(p for p in root.rglob("*"))
    result = {}
    for path in files:
        st = os.lstat(path)
        result[str(path)] = (st.st_ino, st.st_mtime_ns, st.st_mode)
    return result


def new_calls(sandbox, before: int) -> list[str]:
    return sandbox.calls("systemctl")[before:]


def test_apply_boots_then_reapplying_changes_nothing_and_a_new_image_url_follows(harness, volume):
    require_apache()
    sandbox = harness.sandbox(installed=False)
    sandbox.link_device(volume)
    ns = harness.namespace(sandbox)

    first = ns.apply(sandbox.staging())

    assert first.returncode == 0, first.output + sandbox.journal()
    # The scripts: a release directory behind one symlink, scripts executable.
    assert sandbox.install_dir.is_symlink()
    release = sandbox.install_dir.resolve()
    assert release.parent.name == "site-boot.releases"
    assert os.stat(sandbox.boot_dir / "boot.sh").st_mode & 0o777 == 0o755
    assert (sandbox.install_dir / "site" / "index.html.tmpl").is_file()
    # The values, root only; the unit verbatim.
    env = sandbox.env_file.read_text()
    assert f"VOLUME_ID={VOLUME_ID}\n" in env
    assert f"IMAGE_URL={IMAGE_URL}\n" in env
    assert os.stat(sandbox.env_file).st_mode & 0o777 == 0o600
    unit = sandbox.systemd_dir / UNIT
    assert unit.read_bytes() == (BOOT_SRC / "units" / UNIT).read_bytes()
    calls = sandbox.calls("systemctl")
    assert calls.index("daemon-reload") < calls.index(f"enable {UNIT}") < calls.index(f"restart {UNIT}")
    assert f"attempt 1 of {UNIT}: exit 0" in calls
    # The mirror's and the health check's timers ship with the tree: enabled and started.
    for timer in ("site-sync.timer", "site-health.timer"):
        assert f"enable {timer}" in calls
        assert f"start {timer}" in calls
        assert (sandbox.systemd_dir / timer).read_bytes() == (BOOT_SRC / "units" / timer).read_bytes()
    url = serve(sandbox, ns)
    status, page = get(url)
    assert status == 200
    assert f'src="{IMAGE_URL}"' in page

    # Again, from a fresh download of the same asset: nothing is rewritten,
    # systemd is not reloaded, nothing is enabled again; boot.sh runs (and heals).
    before = snapshot(sandbox, ns)
    count = len(sandbox.calls("systemctl"))
    again = ns.apply(sandbox.staging("staging-2"))
    assert again.returncode == 0, again.output
    assert snapshot(sandbox, ns) == before
    calls = new_calls(sandbox, count)
    assert "daemon-reload" not in calls
    assert f"enable {UNIT}" not in calls
    assert f"restart {UNIT}" in calls
    assert "is up to date" in again.output

    # A new image URL: only the values file changes, and the untouched page follows.
    changed = ns.apply(sandbox.staging("staging-3"), IMAGE_URL=NEW_URL)
    assert changed.returncode == 0, changed.output
    assert f"IMAGE_URL={NEW_URL}\n" in sandbox.env_file.read_text()
    assert sandbox.install_dir.resolve() == release
    status, page = get(url)
    assert f'src="{NEW_URL}"' in page
    assert IMAGE_URL not in page

    # An edited page is kept; the rendering for the next URL goes next to it.
    page_file = ns.path(sandbox.docroot / "index.html")
    edited = page.replace("<h1>", "<h1>Edited: ")
    page_file.write_text(edited)
    kept = ns.apply(sandbox.staging("staging-4"), IMAGE_URL=THIRD_URL)
    assert kept.returncode == 0, kept.output
    assert get(url)[1] == edited
    assert THIRD_URL in ns.path(sandbox.docroot / "index.html.sample-new").read_text()


def test_changed_scripts_become_a_new_release_and_the_previous_one_is_kept(harness, volume):
    sandbox = harness.sandbox(installed=False)
    sandbox.link_device(volume)
    ns = harness.namespace(sandbox)
    assert ns.apply(sandbox.staging()).returncode == 0
    first = sandbox.install_dir.resolve()

    staging = sandbox.staging("staging-2")
    with (staging / "boot" / "seed-page.sh").open("a") as f:
        f.write("# a change\n")
    second = ns.apply(staging)
    assert second.returncode == 0, second.output
    release = sandbox.install_dir.resolve()
    assert release != first
    assert (release / "boot" / "seed-page.sh").read_text().endswith("# a change\n")
    assert "daemon-reload" not in sandbox.calls("systemctl")[-6:]

    third = ns.apply(sandbox.staging("staging-3"))
    assert third.returncode == 0, third.output
    releases = sorted(p.name for p in release.parent.iterdir())
    # Back to the first tree: it is current again, the one before is kept.
    assert sandbox.install_dir.resolve().name != release.name
    assert len(releases) == 2
    assert release.name in releases


def test_a_copy_from_before_releases_is_kept_until_the_scripts_change(harness, volume):
    sandbox, ns = harness.instance(volume)
    assert sandbox.install_dir.is_dir()
    assert not sandbox.install_dir.is_symlink()

    same = ns.apply(sandbox.staging())
    assert same.returncode == 0, same.output
    assert not sandbox.install_dir.is_symlink()
    assert "is up to date" in same.output

    staging = sandbox.staging("staging-2")
    with (staging / "boot" / "seed-page.sh").open("a") as f:
        f.write("# a change\n")
    result = ns.apply(staging)

    assert result.returncode == 0, result.output
    assert sandbox.install_dir.is_symlink()
    assert "moved the earlier copy of the scripts" in result.output
    aside = [p for p in sandbox.install_dir.resolve().parent.iterdir() if p.name.startswith("previous-")]
    assert len(aside) == 1
    assert (aside[0] / "boot" / "boot.sh").is_file()


def test_apply_refuses_to_run_without_the_documents_values(harness):
    """The SSM document checks every value and names them in SITE_VALUES; run by hand
    without them, apply.sh changes nothing."""
    sandbox = harness.sandbox(installed=False)
    ns = harness.namespace(sandbox)

    result = ns.apply_by_hand(sandbox.staging())

    assert result.returncode != 0
    assert "SITE_VALUES is not set: run apply.sh through the site's SSM document" in result.output
    missing = ns.apply_by_hand(sandbox.staging(), SITE_VALUES="VOLUME_ID IMAGE_URL", IMAGE_URL="")
    assert missing.returncode != 0
    assert "IMAGE_URL is not set; nothing was changed" in missing.output
    assert not sandbox.install_dir.exists()
    assert not sandbox.env_file.exists()
    assert not (sandbox.systemd_dir / UNIT).exists()
    assert sandbox.calls("systemctl") == []


def test_shipped_timers_are_enabled_and_started(harness, volume):
    sandbox = harness.sandbox(installed=False)
    sandbox.link_device(volume)
    ns = harness.namespace(sandbox)
    staging = sandbox.staging()
    for timer in ("site-sync.timer", "site-health.timer"):
        (staging / "boot" / "units" / timer).write_text("[Timer]\nOnUnitActiveSec=15s\n")

    result = ns.apply(staging)

    assert result.returncode == 0, result.output
    calls = sandbox.calls("systemctl")
    for timer in ("site-sync.timer", "site-health.timer"):
        assert (sandbox.systemd_dir / timer).is_file()
        assert f"enable {timer}" in calls
        assert f"start {timer}" in calls
    count = len(calls)
    assert ns.apply(sandbox.staging("staging-2")).returncode == 0
    assert not [c for c in sandbox.calls("systemctl")[count:] if ".timer" in c and "is-" not in c]


def wait_for(what: str, condition, timeout: float = 30) -> None:
    """Polls condition() until it is true; the retries run in the background."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def test_a_failed_attempt_fails_the_apply_and_a_later_retry_serves_the_page(harness, volume):
    """The old instance lets go of the volume only after the first attempt has
    given up waiting: apply.sh reports that attempt's failure (the association
    shows Failed), and systemd's Restart=on-failure starts boot.sh again in the
    background until it succeeds, with nothing else run."""
    require_apache()
    sandbox, ns = harness.instance(volume)
    # Held for 3 s; attempt 1 gives up after 1 s; RestartSec 30 s / 10 = 3 s.
    sandbox.set_aws(held_until=int(time.time() * 1000) + 3000)

    result = ns.apply(
        sandbox.staging(),
        ATTACH_WAIT_SECONDS=1,
        ATTACH_POLL_SECONDS=0.2,
        SHIM_RESTART_SEC_DIVISOR=10,
    )

    assert result.returncode != 0, result.output
    assert f"ERROR: {UNIT} failed (exit 1); systemd retries it" in result.output
    assert f"volume {VOLUME_ID} was not attached" in result.output
    calls = sandbox.calls("systemctl")
    # It returned with the first attempt's result, before any retry.
    assert [c for c in calls if c.startswith("attempt ")] == [f"attempt 1 of {UNIT}: exit 1"]

    wait_for("a retry that succeeds", lambda: f"attempt 2 of {UNIT}: exit 0" in sandbox.calls("systemctl"))
    calls = sandbox.calls("systemctl")
    # httpd was started by the retry only.
    assert calls.index(f"attempt 1 of {UNIT}: exit 1") < calls.index("enable --now httpd")
    journal = sandbox.journal()
    assert f"{UNIT}: attempt 1 exited with status 1" in journal
    assert f"{UNIT}: attempt 2 exited with status 0" in journal
    assert "httpd was not started by this run" in journal
    assert "still in use" in journal
    status, page = get(serve(sandbox, ns))
    assert status == 200
    assert f'src="{IMAGE_URL}"' in page


def test_apply_reports_a_failing_boot_with_the_journal_and_the_retries_go_on(harness, volume):
    sandbox, ns = harness.instance(volume)
    sandbox.set_aws(in_use="always")

    result = ns.apply(
        sandbox.staging(),
        ATTACH_WAIT_SECONDS=1,
        ATTACH_POLL_SECONDS=0.2,
        SHIM_RESTART_SEC_DIVISOR=30,
        SHIM_RESTART_BOUND_SECONDS=5,
    )

    assert result.returncode != 0
    assert f"ERROR: {UNIT} failed" in result.output
    # The journal's tail is part of the output (what the association keeps in S3).
    assert f"volume {VOLUME_ID} was not attached" in result.output
    assert sandbox.calls("journalctl")
    # After apply.sh has ended, systemd keeps trying, without a start limit.
    wait_for("a second failed attempt", lambda: f"attempt 2 of {UNIT}: exit 1" in sandbox.calls("systemctl"))
    assert "start limit hit" not in sandbox.journal()
    assert "enable --now httpd" not in sandbox.calls("systemctl")


NOT_FOUND = (
    "An error occurred (InvalidVolume.NotFound) when calling the DescribeVolumes operation: "
    f"The volume '{VOLUME_ID}' does not exist."
)


@pytest.mark.parametrize("changed", [False, True], ids=["same-values", "new-image-url"])
def test_a_run_in_progress_is_waited_for_not_restarted(harness, volume, changed):
    """The association runs again while a boot attempt is still working (here:
    waiting for the volume; on an instance it could be in mkfs or xfs_growfs).
    apply.sh must not restart the unit, which would kill that attempt: it
    waits for it, and runs boot.sh afresh only if it changed something."""
    if changed:
        require_apache()
    sandbox, ns = harness.instance(volume)
    # Attempt 1 fails at once; attempt 2, a second later, waits for the volume.
    sandbox.set_aws(fails_describe_volumes=1, error_describe_volumes=NOT_FOUND, in_use="always")
    settings = {"ATTACH_WAIT_SECONDS": 30, "ATTACH_POLL_SECONDS": 0.2, "SHIM_RESTART_SEC_DIVISOR": 30}
    first = ns.apply(sandbox.staging(), **settings)
    assert first.returncode != 0, first.output
    started = f"{UNIT}: attempt 2 started"
    wait_for(
        "attempt 2 to wait for the volume",
        lambda: started in sandbox.journal() and "still in use" in sandbox.journal().split(started)[1],
    )
    # The volume comes free while the second apply waits.
    sandbox.set_aws(in_use=0, held_until=int(time.time() * 1000) + 2500)
    count = len(sandbox.calls("systemctl"))

    values = {"IMAGE_URL": NEW_URL} if changed else {}
    second = ns.apply(sandbox.staging("staging-2"), **settings, **values)

    calls = new_calls(sandbox, count)
    # The attempt in progress was not killed: it ended by itself, and well.
    assert not [c for c in calls if c.endswith(": killed")], calls
    assert "was killed" not in sandbox.journal()
    assert f"attempt 2 of {UNIT}: exit 0" in calls, calls
    assert second.returncode == 0, second.output + sandbox.journal()
    assert "already running (or waiting to retry); waiting for that run to end" in second.output
    assert calls.index(f"start {UNIT}") < calls.index(f"attempt 2 of {UNIT}: exit 0")
    if not changed:
        # Nothing changed: that run's result is the answer; no second run.
        assert f"restart {UNIT}" not in calls
        return
    # The attempt in progress still had the old values: a fresh run follows it.
    assert calls.index(f"attempt 2 of {UNIT}: exit 0") < calls.index(f"restart {UNIT}")
    assert calls[-1] == f"attempt 1 of {UNIT}: exit 0"
    status, page = get(serve(sandbox, ns))
    assert status == 200
    assert f'src="{NEW_URL}"' in page


def test_unit_file_retries_forever_and_starts_at_boot():
    text = (BOOT_SRC / "units" / UNIT).read_text()
    sections: dict[str, dict[str, str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = {}
        elif "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            sections[current][key] = value
    assert sections["Unit"]["StartLimitIntervalSec"] == "0"
    assert sections["Service"] == {
        "Type": "oneshot",
        "RemainAfterExit": "yes",
        "EnvironmentFile": "/etc/site-boot/site.env",
        # Through bash, like the other units: no reliance on executable bits.
        "ExecStart": "/usr/bin/bash /opt/site-boot/boot/boot.sh",
        "Restart": "on-failure",
        "RestartSec": "30",
    }
    assert sections["Install"]["WantedBy"] == "multi-user.target"


@pytest.fixture(autouse=True)
def _no_stray_paths():
    yield
    assert not Path("/run/site-boot").exists() or os.listdir("/run/site-boot") == []
