"""Fixtures for the boot-script integration tests (see bootharness.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tests.integration.bootharness import (
    BASE_TOOLS,
    MACHINE_TOOLS,
    ConfigurationDocument,
    Harness,
    LoopVolume,
    Machine,
    ServedSite,
    booted_machine,
    configuration_of,
    require,
    serve,
)


@pytest.fixture(scope="session")
def base_tools() -> None:
    require(*BASE_TOOLS)


@pytest.fixture(scope="session")
def machine(base_tools, tmp_path_factory) -> Machine:
    """Real systemd in a container, for the whole session (see bootharness.Machine)."""
    require(*MACHINE_TOOLS)
    # The tests' temporary directories (AWS stand-ins, scratch) are seen there too.
    with booted_machine(shared=[tmp_path_factory.getbasetemp()]) as booted:
        yield booted


@pytest.fixture(scope="session")
def configuration(base_tools, dev_app) -> ConfigurationDocument:
    """The synthesized configuration document and its association's values, as deployed."""
    return configuration_of(dev_app.templates, dev_app.stacks.web_server.stack_name)


@pytest.fixture
def harness(machine, configuration) -> Harness:
    with contextlib.ExitStack() as stack:
        yield Harness(stack, machine, configuration)


@pytest.fixture
def volume(harness: Harness) -> LoopVolume:
    return harness.volume()


@pytest.fixture(scope="module")
def served_site(machine, configuration) -> ServedSite:
    """The real scripts mount a fresh volume; httpd (Debian's apache2), started by them
    through systemd, serves it."""
    with contextlib.ExitStack() as stack:
        harness = Harness(stack, machine, configuration)
        vol = harness.volume()
        sandbox, ns = harness.instance(vol)
        result = ns.boot()
        assert result.returncode == 0, result.output
        url = serve(sandbox, ns)
        mount = ns.mount_at(sandbox.docroot)
        assert mount is not None
        yield ServedSite(
            url=url,
            served_in_ns=ns.path(sandbox.served),
            sandbox=sandbox,
            namespace=ns,
            mount_source=mount["source"],
        )


def pytest_collection_modifyitems(config, items):
    """Everything in this directory is an integration test. The machine runs one instance
    at a time, so within a module the tests that share the module's served site run first,
    before tests that boot an instance of their own (which ends the shared one)."""
    here = Path(__file__).resolve().parent
    modules: dict[Path, int] = {}
    for item in items:
        modules.setdefault(Path(str(item.path)), len(modules))
        if here in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)
    items.sort(key=lambda item: (modules[Path(str(item.path))], "served_site" not in item.fixturenames))
