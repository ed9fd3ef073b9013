"""Static contract of the boot scripts and of the test harness' shell code."""

from __future__ import annotations

import re
import shutil

import pytest
from bootharness import BOOT_SRC, MACHINE_SRC, SHIMS, SYSTEM_PATH, run

# common.sh is sourced; user-data.sh (the instance's static bootstrap, when
# present) is run by cloud-init from the user data, not from this directory.
NOT_RUN_HERE = {"common.sh", "user-data.sh"}
EXECUTABLE = sorted(p for p in BOOT_SRC.glob("*.sh") if p.name not in NOT_RUN_HERE)
MACHINE_SHELL = [
    MACHINE_SRC / "container.sh",
    MACHINE_SRC / "usr-local" / "lib" / "machine" / "devices.sh",
    MACHINE_SRC / "usr-local" / "lib" / "machine" / "fstab-generator.sh",
]
HARNESS_SHELL = [*MACHINE_SHELL, *sorted(SHIMS.iterdir())]


def test_every_step_script_is_strict_bash():
    names = {p.name for p in EXECUTABLE}
    assert {
        "boot.sh",
        "attach-volume.sh",
        "prepare-docroot.sh",
        "configure-httpd.sh",
        "seed-page.sh",
        "apply.sh",
        "os-update.sh",
    } <= names
    for script in EXECUTABLE:
        lines = script.read_text().splitlines()
        assert lines[0] == "#!/usr/bin/env bash", script.name
        assert "set -euo pipefail" in lines[:20], script.name
        assert script.stat().st_mode & 0o111, f"{script.name} is not executable"


def test_host_paths_come_from_the_environment_with_aws_defaults():
    common = (BOOT_SRC / "common.sh").read_text()
    for name, default in {
        "DOCROOT": "/var/www/html",
        "FSTAB": "/etc/fstab",
        "BY_ID_DIR": "/dev/disk/by-id",
        "SYSTEMD_DIR": "/etc/systemd/system",
        "HTTPD_CONF_DIR": "/etc/httpd/conf.d",
        "LOG_FILE": "/var/log/site-boot.log",
        "DEVICE_CANDIDATES": "/dev/sdf /dev/xvdf",
        "DEVICE_WAIT_SECONDS": "180",
        "ATTACH_WAIT_SECONDS": "1800",
    }.items():
        assert re.search(rf"^{name}=\$\{{{name}:-{re.escape(default)}\}}$", common, re.M), name
    assert re.search(
        r"^PAGE_TEMPLATE=\$\{PAGE_TEMPLATE:-\$\{BOOT_DIR%/\*\}/site/index.html.tmpl\}$", common, re.M
    )


@pytest.mark.parametrize(
    "script", [*EXECUTABLE, BOOT_SRC / "common.sh", *HARNESS_SHELL], ids=lambda p: p.name
)
def test_shellcheck_is_clean(script):
    if shutil.which("shellcheck", path=SYSTEM_PATH) is None:
        pytest.skip("shellcheck is not installed")
    result = run("shellcheck", "-x", script.name, cwd=script.parent, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
