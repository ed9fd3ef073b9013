"""Fixtures for the boot-script integration tests (see bootharness.py)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest

# The helpers module sits next to this file; make it importable in any
# pytest import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bootharness import (
    BASE_TOOLS,
    Harness,
    LoopVolume,
    ServedSite,
    apache_config,
    free_port,
    require,
    wait_for_port,
)


@pytest.fixture(scope="session")
def base_tools() -> None:
    require(*BASE_TOOLS)


@pytest.fixture
def harness(base_tools) -> Harness:
    with contextlib.ExitStack() as stack:
        yield Harness(stack)


@pytest.fixture
def volume(harness: Harness) -> LoopVolume:
    return harness.volume()


@pytest.fixture(scope="module")
def served_site(base_tools) -> ServedSite:
    """The real scripts mount a fresh volume; Debian's apache2 serves it."""
    require("apache2")
    if not Path("/usr/lib/apache2/modules/mod_mpm_event.so").exists():
        pytest.skip("apache2 modules not found in /usr/lib/apache2/modules")
    with contextlib.ExitStack() as stack:
        harness = Harness(stack)
        vol = harness.volume()
        sandbox, ns = harness.instance(vol)
        result = ns.boot()
        assert result.returncode == 0, result.output
        port = free_port()
        ns.start_apache(apache_config(sandbox, port))
        try:
            wait_for_port(port)
        except OSError:
            error_log = sandbox.root / "apache" / "error.log"
            detail = error_log.read_text() if error_log.exists() else ""
            pytest.fail(f"apache2 did not listen on 127.0.0.1:{port}: {detail}")
        mount = ns.mount_at(sandbox.docroot)
        assert mount is not None
        yield ServedSite(
            url=f"http://127.0.0.1:{port}/",
            docroot_in_ns=ns.path(sandbox.docroot),
            sandbox=sandbox,
            namespace=ns,
            mount_source=mount["source"],
        )


def pytest_collection_modifyitems(config, items):
    """Everything in this directory is an integration test."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)
