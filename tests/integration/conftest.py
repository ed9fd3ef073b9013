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
    require,
    require_apache,
    serve,
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
    require_apache()
    with contextlib.ExitStack() as stack:
        harness = Harness(stack)
        vol = harness.volume()
        sandbox, ns = harness.instance(vol)
        result = ns.boot()
        assert result.returncode == 0, result.output
        url = serve(sandbox, ns)
        mount = ns.mount_at(sandbox.docroot)
        assert mount is not None
        yield ServedSite(
            url=url,
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
