"""Shared by every test: the venv's Node 24 for jsii and the CDK CLI, and each app variant
synthesized once per session (unit tests read its templates, integration tests run its
configuration document).

The app is imported by the first synthesis, not here: a session whose tests all skip (the
integration suite without privileges) never starts the jsii runtime, whose package cache
refuses a home directory that another user owns (as under `unshare -r`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.synthesis import SynthesizedApp

_VENV_BIN = str(Path(sys.executable).parent)
if not os.environ.get("PATH", "").startswith(_VENV_BIN + os.pathsep):
    os.environ["PATH"] = _VENV_BIN + os.pathsep + os.environ.get("PATH", "")


@pytest.fixture(scope="session")
def dev_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    from tests.synthesis import synthesize

    return synthesize({}, tmp_path_factory.mktemp("cdk-dev"))


@pytest.fixture(scope="session")
def prod_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    from tests.synthesis import PROD_CONTEXT, synthesize

    return synthesize(PROD_CONTEXT, tmp_path_factory.mktemp("cdk-prod"))
