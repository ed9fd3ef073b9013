"""Shared by every test: the venv's Node 24 for jsii and the CDK CLI, and each app variant
synthesized once per session (unit tests read its templates, integration tests run its
configuration document)."""

import os
import sys
from pathlib import Path

import pytest

_VENV_BIN = str(Path(sys.executable).parent)
if not os.environ.get("PATH", "").startswith(_VENV_BIN + os.pathsep):
    os.environ["PATH"] = _VENV_BIN + os.pathsep + os.environ.get("PATH", "")
from tests.synthesis import PROD_CONTEXT, SynthesizedApp, synthesize  # noqa: E402


@pytest.fixture(scope="session")
def dev_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    return synthesize({}, tmp_path_factory.mktemp("cdk-dev"))


@pytest.fixture(scope="session")
def prod_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    return synthesize(PROD_CONTEXT, tmp_path_factory.mktemp("cdk-prod"))
