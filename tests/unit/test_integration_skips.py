"""Root without privileges (a container's default, rootless podman, devcontainers) has uid 0
but may not mount a loop device: the integration suite must skip there, with its reason,
instead of erroring. `unshare -r` is that kind of root.

There the files of other users, the home directory's parents among them, belong to nobody,
and jsii refuses a package cache below such a directory: the skipping suite must not need
the jsii runtime. The inner run gets a cache that jsii refuses as any user, so the guard
holds as root too."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
UNSHARE = shutil.which("unshare", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/bin:/sbin:/bin")


def _unprivileged_root_available() -> bool:
    if UNSHARE is None:
        return False
    probe = subprocess.run([UNSHARE, "-r", "true"], capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _unprivileged_root_available(), reason="`unshare -r` is not available here")
def test_integration_suite_skips_cleanly_as_root_without_privileges(tmp_path):
    pytest_args = ["tests/integration", "-q", "-rs", "-p", "no:cacheprovider"]
    untrusted = tmp_path / "jsii-cache"
    untrusted.mkdir()
    if os.geteuid() == 0:
        os.chown(untrusted, 65534, 65534)  # nobody's, as every other user's file looks there
    result = subprocess.run(
        [UNSHARE, "-r", sys.executable, "-m", "pytest", *pytest_args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        # The caller's filters must not empty the inner run.
        env={**os.environ, "PYTEST_ADDOPTS": "", "JSII_RUNTIME_PACKAGE_CACHE_ROOT": str(untrusted / "cache")},
    )
    output = result.stdout + result.stderr
    summary = output.strip().splitlines()[-1]
    assert result.returncode == 0, output
    assert not re.search(r"\d+ (failed|errors?)\b", summary), output
    assert re.search(r"\d+ skipped", summary), output
    assert "needs root with mount namespaces and loop devices" in output, output
