"""The site's configuration document, run as the SSM agent runs it (the
synthesized document with the association's values, which downloads the boot
files and runs apply.sh): the scripts installed, the values file and the unit
written only when they change,
then site-boot.service, run by systemd on the test machine, runs boot.sh;
apply.sh reports the first attempt's result, and systemd retries failed
attempts (Restart=on-failure; the test drop-in shortens RestartSec) until one
succeeds."""

from __future__ import annotations

import os
import re
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from tests import ssm_agent
from tests.integration.bootharness import BOOT_SRC, IMAGE_URL, VOLUME_ID, require_apache, serve

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


def boot_runs(ns) -> list[str]:
    """boot.sh's first line of each run of site-boot.service, from its journal."""
    return [line for line in ns.machine.journal(UNIT).splitlines() if "site-boot[boot]: starting:" in line]


def reloads_before_the_run(ns, cursor: str) -> int:
    """How often systemd re-read its configuration after the cursor and
    before it restarted site-boot.service: apply.sh's doing (boot.sh's own
    systemctl enable --now httpd re-reads it on every run, later)."""
    lines = ns.machine.journal(after=cursor).splitlines()
    [restart] = positions(lines, f"Stopping {UNIT}")
    return lines[:restart].count("Reloading.")


def positions(lines: list[str], text: str) -> list[int]:
    """Where text occurs in a journal, by line."""
    return [i for i, line in enumerate(lines) if text in line]


def unit_state(ns, unit: str = UNIT) -> dict[str, str]:
    return ns.machine.show(unit, "ActiveState", "SubState", "UnitFileState", "NRestarts", "Result")


def test_every_aws_call_of_a_run_has_dual_stack_on_though_the_agents_environment_has_not(harness, volume):
    """The instance reaches AWS's APIs over IPv6 only. The agent starts the document with its
    own environment, which says nothing of dual-stack endpoints; the document, apply.sh and
    boot.sh (run by systemd) must turn them on for every AWS CLI call."""
    require_apache()
    assert not any("DUALSTACK" in name for name in ssm_agent.environment(instance_id="i", region="r"))
    sandbox = harness.sandbox(installed=False)
    sandbox.link_device(volume)
    ns = harness.namespace(sandbox)

    result = ns.apply(sandbox.staging())

    assert result.returncode == 0, result.output + ns.machine.journal(UNIT)
    calls = [" ".join(call.split()[:2]) for call in sandbox.calls("aws")]
    assert calls[0] == "s3 cp"  # the document's download
    assert {"ec2 describe-volumes", "ec2 attach-volume"} <= set(calls)  # boot.sh's, under systemd
    environments = sandbox.aws_environments()
    assert len(environments) == len(calls)
    assert "HOME" not in environments[0]  # the agent's environment, not the test's
    assert [env.get("AWS_USE_DUALSTACK_ENDPOINT") for env in environments] == ["true"] * len(calls), calls


def test_apply_boots_then_reapplying_changes_nothing_and_a_new_image_url_follows(harness, volume):
    require_apache()
    sandbox = harness.sandbox(installed=False)
    sandbox.link_device(volume)
    ns = harness.namespace(sandbox)

    first = ns.apply(sandbox.staging())

    assert first.returncode == 0, first.output + ns.machine.journal(UNIT)
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
    # systemd read the unit (daemon-reload) and ran it once, successfully; it is
    # enabled for every boot.
    assert ns.machine.reloads() >= 1
    assert ns.machine.show(UNIT, "NeedDaemonReload")["NeedDaemonReload"] == "no"
    state = unit_state(ns)
    assert (state["ActiveState"], state["SubState"]) == ("active", "exited")
    assert state["UnitFileState"] == "enabled"
    assert len(boot_runs(ns)) == 1
    # The mirror's and the health check's timers ship with the tree: enabled and started.
    for timer in ("site-sync.timer", "site-health.timer"):
        assert (unit_state(ns, timer)["ActiveState"], unit_state(ns, timer)["UnitFileState"]) == (
            "active",
            "enabled",
        )
        assert (sandbox.systemd_dir / timer).read_bytes() == (BOOT_SRC / "units" / timer).read_bytes()
    url = serve(sandbox, ns)
    status, page = get(url)
    assert status == 200
    assert f'src="{IMAGE_URL}"' in page

    # Again, from a fresh download of the same asset: nothing is rewritten,
    # systemd is not reloaded, nothing is enabled again; boot.sh runs (and heals).
    before = snapshot(sandbox, ns)
    cursor = ns.machine.cursor()
    again = ns.apply(sandbox.staging("staging-2"))
    assert again.returncode == 0, again.output
    assert snapshot(sandbox, ns) == before
    assert reloads_before_the_run(ns, cursor) == 0
    assert "systemd units are up to date" in again.output
    assert len(boot_runs(ns)) == 2
    assert "is up to date" in again.output

    # A new image URL: only the values file changes, and the untouched page follows.
    changed = ns.apply(sandbox.staging("staging-3"), IMAGE_URL=NEW_URL)
    assert changed.returncode == 0, changed.output
    assert f"IMAGE_URL={NEW_URL}\n" in sandbox.env_file.read_text()
    assert sandbox.install_dir.resolve() == release
    status, page = get(url)
    assert f'src="{NEW_URL}"' in page
    assert IMAGE_URL not in page

    # A title with spaces, an ampersand and Unicode: through SSM's check, the environment file
    # systemd reads and the page template, intact.
    title = "Café & friends: 100% off (日本語)"
    titled = ns.apply(sandbox.staging("staging-title"), IMAGE_URL=NEW_URL, PAGE_TITLE=title)
    assert titled.returncode == 0, titled.output
    assert f"PAGE_TITLE={title}\n" in sandbox.env_file.read_text()
    status, page = get(url)
    escaped = title.replace("&", "&amp;")
    assert f"<title>{escaped}</title>" in page
    assert f"<h1>{escaped}</h1>" in page

    # An edited page is kept; the rendering for the next URL goes next to it.
    page_file = ns.path(sandbox.served / "index.html")
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
    cursor = ns.machine.cursor()

    staging = sandbox.staging("staging-2")
    with (staging / "boot" / "seed-page.sh").open("a") as f:
        f.write("# a change\n")
    second = ns.apply(staging)
    assert second.returncode == 0, second.output
    assert reloads_before_the_run(ns, cursor) == 0
    release = sandbox.install_dir.resolve()
    assert release != first
    assert (release / "boot" / "seed-page.sh").read_text().endswith("# a change\n")
    assert "systemd units are up to date" in second.output

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


def assert_systemd_untouched(ns) -> None:
    """No configuration re-read, no unit known, nothing started."""
    assert ns.machine.reloads() == 0
    assert ns.machine.show(UNIT, "LoadState")["LoadState"] == "not-found"
    assert ns.sandbox.httpd_state() == ("inactive", "disabled")


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
    assert_systemd_untouched(ns)


def wait_for(what: str, condition, timeout: float = 30) -> None:
    """Polls condition() until it is true; systemd's retries go on in the background."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


MICROSECONDS = {"d": 86_400e6, "h": 3_600e6, "min": 60e6, "s": 1e6, "ms": 1e3, "us": 1}


def microseconds(span: str) -> int:
    """A time span as systemctl prints it ("2h 8min 3.5s", "10s") in microseconds."""
    if span.isdigit():
        return int(span)
    parts = re.findall(r"([0-9.]+)(d|h|min|ms|us|s)\b", span)
    assert parts, span
    return round(sum(float(number) * MICROSECONDS[suffix] for number, suffix in parts))


def monotonic_us(ns, unit: str, prop: str) -> int:
    """A point on the monotonic clock that systemd recorded for a unit."""
    return microseconds(ns.machine.show(unit, prop)[prop])


def monotonic_timers(ns, timer: str) -> dict[str, list[tuple[int, int]]]:
    """A timer's monotonic triggers as systemd read them: setting -> [(span, next elapse)], in µs."""
    shown = ns.machine.run("systemctl", "show", timer, "--property=TimersMonotonic").stdout
    found: dict[str, list[tuple[int, int]]] = {}
    for setting, span, at in re.findall(r"TimersMonotonic=\{ (\w+)=([^;]+) ; next_elapse=([^}]+) \}", shown):
        found.setdefault(setting, []).append((microseconds(span.strip()), microseconds(at.strip())))
    return found


TIMERS = ("site-sync.timer", "site-health.timer")


@pytest.fixture
def timers_fire_at_once(harness):
    """A test drop-in for each shipped timer that adds a trigger 1 s after it
    starts to the shipped ones (which fire after 10 s and a minute)."""
    drop_ins = [harness.machine.usr_local / "lib" / "systemd" / "system" / f"{timer}.d" for timer in TIMERS]
    for drop_in in drop_ins:
        drop_in.mkdir()
        (drop_in / "50-at-once.conf").write_text("[Timer]\nOnActiveSec=1s\n")
    yield
    for drop_in in drop_ins:
        shutil.rmtree(drop_in)


def test_shipped_timers_are_enabled_started_and_fire(harness, volume, timers_fire_at_once):
    """Each timer starts its service, and systemd schedules the next run as
    shipped: the mirror 15 s after a run has ended, the health check a
    minute after a run has started."""
    sandbox = harness.sandbox(installed=False)
    sandbox.link_device(volume)
    ns = harness.namespace(sandbox)

    result = ns.apply(sandbox.staging())

    assert result.returncode == 0, result.output
    # As shipped, in µs, with the drop-in's 1 s.
    shipped = {
        "site-sync.timer": {"OnActiveUSec": [1e6, 10e6], "OnBootUSec": [30e6], "OnUnitInactiveUSec": [15e6]},
        "site-health.timer": {"OnActiveUSec": [1e6, 60e6], "OnBootUSec": [60e6], "OnUnitActiveUSec": [60e6]},
    }
    started = {}
    for timer, triggers in shipped.items():
        assert (sandbox.systemd_dir / timer).read_bytes() == (BOOT_SRC / "units" / timer).read_bytes()
        state = unit_state(ns, timer)
        assert (state["ActiveState"], state["UnitFileState"]) == ("active", "enabled")
        assert {k: sorted(span for span, _ in v) for k, v in monotonic_timers(ns, timer).items()} == triggers
        started[timer] = monotonic_us(ns, timer, "ActiveEnterTimestampMonotonic")

    # Applying again leaves running timers alone.
    assert ns.apply(sandbox.staging("staging-2")).returncode == 0
    for timer in started:
        assert monotonic_us(ns, timer, "ActiveEnterTimestampMonotonic") == started[timer]

    # Each service runs when its timer fires (here they fail at once: no
    # bucket and no site are configured), and the next run is scheduled.
    for timer in TIMERS:
        service = timer.replace(".timer", ".service")
        ended = lambda s=service: monotonic_us(ns, s, "InactiveEnterTimestampMonotonic")  # noqa: E731
        wait_for(f"{timer} to fire", lambda ended=ended: ended() > 0)
        assert monotonic_us(ns, service, "ExecMainStartTimestampMonotonic") > started[timer]
    ended = monotonic_us(ns, "site-sync.service", "InactiveEnterTimestampMonotonic")
    [(_, next_sync)] = monotonic_timers(ns, "site-sync.timer")["OnUnitInactiveUSec"]
    assert abs(next_sync - (ended + 15e6)) <= 1e6
    ran = monotonic_us(ns, "site-health.service", "ExecMainStartTimestampMonotonic")
    [(_, next_health)] = monotonic_timers(ns, "site-health.timer")["OnUnitActiveUSec"]
    assert abs(next_health - (ran + 60e6)) <= 1e6


def test_a_failed_attempt_fails_the_apply_and_a_later_retry_serves_the_page(harness, volume):
    """The old instance lets go of the volume only after the first attempt has
    given up waiting: apply.sh reports that attempt's failure (the association
    shows Failed), and systemd's Restart=on-failure starts boot.sh again in the
    background, which succeeds, with nothing else run."""
    require_apache()
    sandbox, ns = harness.instance(volume)
    sandbox.set_aws(in_use="always")

    result = ns.apply(sandbox.staging(), ATTACH_WAIT_SECONDS=1, ATTACH_POLL_SECONDS=0.2)

    assert result.returncode != 0, result.output
    assert f"ERROR: {UNIT} failed (exit 1); systemd retries it" in result.output
    assert f"volume {VOLUME_ID} was not attached" in result.output
    # The old instance lets go now; the retry (0.2 s after the failure, then
    # waiting up to 1 s for the volume) gets it.
    sandbox.set_aws(in_use=0)

    wait_for("a retry that succeeds", lambda: unit_state(ns)["ActiveState"] == "active")
    state = unit_state(ns)
    assert (state["SubState"], state["Result"], state["NRestarts"]) == ("exited", "success", "1")
    journal = ns.machine.journal(UNIT).splitlines()
    assert len(boot_runs(ns)) == 2
    assert "httpd was not started by this run" in "\n".join(journal)
    assert "still in use" in "\n".join(journal)
    # httpd was started by the retry only.
    [retried] = positions(journal, "Scheduled restart job, restart counter is at 1")
    [started_httpd] = positions(journal, "site-boot[boot]: step start-httpd: begin")
    assert retried < started_httpd
    status, page = get(serve(sandbox, ns))
    assert status == 200
    assert f'src="{IMAGE_URL}"' in page


NOT_FOUND = (
    "An error occurred (InvalidVolume.NotFound) when calling the DescribeVolumes operation: "
    f"The volume '{VOLUME_ID}' does not exist."
)


def test_apply_reports_a_failing_boot_with_the_journal_and_the_retries_go_on(harness, volume):
    """Every attempt fails at once: more starts than systemd's default start
    limit allows (5 in 10 s) follow, because the unit has none."""
    sandbox, ns = harness.instance(volume)
    sandbox.set_aws(fails_describe_volumes="always", error_describe_volumes=NOT_FOUND)

    result = ns.apply(sandbox.staging())

    assert result.returncode != 0
    assert f"ERROR: {UNIT} failed" in result.output
    # The journal's tail is part of the output (what the association keeps in S3).
    assert f"describe-volumes failed: {NOT_FOUND}" in result.output
    assert f"{UNIT}: Main process exited, code=exited, status=1/FAILURE" in result.output
    # After apply.sh has ended, systemd keeps trying, without a start limit.
    wait_for("a sixth attempt", lambda: int(unit_state(ns)["NRestarts"]) >= 5)
    assert unit_state(ns)["ActiveState"] == "activating"
    assert "Start request repeated too quickly" not in ns.machine.journal(UNIT)
    assert sandbox.httpd_state() == ("inactive", "disabled")


CHANGED_SCRIPT_LINE = "seed-page.sh of the new release"


@pytest.mark.parametrize("changed", ["", "values", "scripts"], ids=["same", "new-image-url", "new-scripts"])
def test_a_run_in_progress_is_waited_for_not_restarted(harness, volume, changed):
    """The association runs again while a boot attempt is still working (here:
    waiting for the volume; on an instance it could be in mkfs or xfs_growfs).
    apply.sh must not restart the unit, which would kill that attempt: it
    waits for it, and runs boot.sh afresh only if it changed something. New
    scripts go to a new release directory: the attempt in progress finishes
    with the files it started with (bash reads a script as it runs it), the
    fresh run uses the new ones."""
    if changed == "values":
        require_apache()
    # As on an instance: the scripts arrive with the first apply, as a release.
    sandbox = harness.sandbox(installed=False)
    sandbox.link_device(volume)
    ns = harness.namespace(sandbox)
    # Attempt 1 fails at once; attempt 2, 0.2 s later, waits for the volume.
    sandbox.set_aws(fails_describe_volumes=1, error_describe_volumes=NOT_FOUND, in_use="always")
    settings = {"ATTACH_WAIT_SECONDS": 30, "ATTACH_POLL_SECONDS": 0.2}
    first = ns.apply(sandbox.staging(), **settings)
    assert first.returncode != 0, first.output

    def attempt_2_waits() -> bool:
        runs = boot_runs(ns)
        return len(runs) == 2 and "still in use" in ns.machine.journal(UNIT).rpartition(runs[1])[2]

    wait_for("attempt 2 to wait for the volume", attempt_2_waits)
    attempt = ns.machine.show(UNIT, "MainPID")["MainPID"]
    assert attempt != "0"
    # The volume comes free while the second apply waits.
    sandbox.set_aws(in_use=0, held_until=int(time.time() * 1000) + 1200)

    values = {"IMAGE_URL": NEW_URL} if changed == "values" else {}
    staging = sandbox.staging("staging-2")
    if changed == "scripts":
        with (staging / "boot" / "seed-page.sh").open("a") as script:
            script.write(f'log "{CHANGED_SCRIPT_LINE}"\n')
    second = ns.apply(staging, **settings, **values)

    assert second.returncode == 0, second.output + ns.machine.journal(UNIT)
    assert "already running (or waiting to retry); waiting for that run to end" in second.output
    # It waited for the attempt, which ended by itself, and well: never stopped, never killed.
    assert second.elapsed >= 1.0
    journal = ns.machine.journal(UNIT)
    assert "code=killed" not in journal
    assert f"{UNIT}: Killing process {attempt}" not in journal
    finished = positions(journal.splitlines(), "site-boot[boot]: finished:")
    stopping = positions(journal.splitlines(), f"Stopping {UNIT}")
    if not changed:
        # Nothing changed: that run's result is the answer; no second run.
        assert unit_state(ns)["NRestarts"] == "1"
        assert len(boot_runs(ns)) == 2
        assert len(finished) == 1
        assert stopping == []
        return
    # The attempt in progress still had the old values: a fresh run follows
    # it, started by apply.sh (which resets systemd's count of retries).
    assert unit_state(ns)["NRestarts"] == "0"
    assert len(boot_runs(ns)) == 3
    assert len(finished) == 2
    assert len(stopping) == 1
    assert finished[0] < stopping[0] < finished[1]
    assert unit_state(ns)["ActiveState"] == "active"
    if changed == "scripts":
        lines = journal.splitlines()
        marks = positions(lines, CHANGED_SCRIPT_LINE)
        assert len(marks) == 1, journal
        assert stopping[0] < marks[0] < finished[1]
        return
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
