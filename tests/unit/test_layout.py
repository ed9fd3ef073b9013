"""The layout: component folders import as packages of the project, none shadows an installed
package, and nothing edits the import path by hand."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys

import pytest

from tests.cdk_context import PROJECT_ROOT

PACKAGES = sorted(p.parent.name for p in PROJECT_ROOT.glob("*/__init__.py"))


def test_the_components_are_packages_of_the_project():
    assert {"common", "content", "front_door", "network", "operations", "settings", "stacks"} <= set(PACKAGES)
    assert {"web_server", "tests", "benchmarks"} <= set(PACKAGES)
    assert not (PROJECT_ROOT / "constructs").exists()


@pytest.mark.parametrize("package", PACKAGES)
def test_no_project_package_shadows_an_installed_one(package):
    installed = {
        name
        for distribution in importlib.metadata.distributions()
        for name in (distribution.read_text("top_level.txt") or "").split()
    }
    assert package not in installed
    assert package not in sys.stdlib_module_names


def test_nothing_edits_the_import_path():
    tracked = subprocess.run(
        ["git", "ls-files", "*.py", "*.sh", "Makefile"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    editing = [
        name for name in tracked if re.search(r"sys\.path\s*(\.|\[|=)", (PROJECT_ROOT / name).read_text())
    ]
    assert editing == [name for name in editing if name == "tests/unit/test_layout.py"]
