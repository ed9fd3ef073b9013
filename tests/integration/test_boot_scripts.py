"""Static contract of the boot scripts. Shellcheck runs on every shell script of the project,
these and the harness' included, in tests/unit/test_lint.py."""

from __future__ import annotations

import re

from tests.integration.bootharness import BOOT_SRC

# common.sh is sourced, never run.
NOT_RUN_HERE = {"common.sh"}
EXECUTABLE = sorted(p for p in BOOT_SRC.glob("*.sh") if p.name not in NOT_RUN_HERE)


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
