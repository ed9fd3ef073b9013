"""The hashed lock files agree with the top-level pins they were compiled from.

requirements.txt and requirements-dev.txt are edited by hand; `make lock` compiles them into
requirements.lock and requirements-dev.lock, which are what `make` installs. A pin changed
without `make lock` would otherwise be silently ignored."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
PAIRS = [("requirements.txt", "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock")]


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> set[tuple[str, str]]:
    """(name, version) of every pin in a requirements file, following -r includes."""
    pins = set()
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("-r "):
            pins |= _pins(path.parent / line[3:].strip())
        elif match := PIN.match(line):
            pins.add((_normalize(match[1]), match[2]))
    return pins


@pytest.mark.parametrize(("source", "lock"), PAIRS, ids=[lock for _, lock in PAIRS])
def test_every_pin_is_in_the_lock_at_the_same_version(source, lock):
    wanted = _pins(PROJECT_ROOT / source)
    locked = _pins(PROJECT_ROOT / lock)
    assert wanted
    assert wanted <= locked, f"{lock} is out of date: run `make lock` ({sorted(wanted - locked)})"


@pytest.mark.parametrize("lock", [lock for _, lock in PAIRS])
def test_every_locked_package_has_a_hash(lock):
    entries = re.split(r"\n(?=[A-Za-z0-9])", (PROJECT_ROOT / lock).read_text())
    packages = [entry for entry in entries if PIN.match(entry)]
    assert packages
    assert all("--hash=sha256:" in entry for entry in packages)


def test_runtime_lock_agrees_with_the_dev_lock():
    """make installs both into one venv: a package may appear at one version only."""
    runtime = _pins(PROJECT_ROOT / "requirements.lock")
    dev = _pins(PROJECT_ROOT / "requirements-dev.lock")
    assert runtime <= dev


def test_the_shared_cloud_assembly_schema_module_is_aws_cdk_libs_copy():
    """aws-cdk-lib and aws-cdk.cloud-assembly-schema both install aws_cdk/cloud_assembly_schema;
    `make` reinstalls aws-cdk-lib last so that its copy, the one its own types refer to, is kept."""
    from aws_cdk.cloud_assembly_schema import CdkCommands

    assert CdkCommands.__jsii_type__ == "aws-cdk-lib.cloud_assembly_schema.CdkCommands", (
        "the venv holds aws-cdk.cloud-assembly-schema's copy of aws_cdk/cloud_assembly_schema: "
        "rebuild it with `rm -rf .venv && make test`"
    )
