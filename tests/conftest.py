"""Shared by every test: run jsii and the CDK CLI on the venv's Node 24, not the system's."""

import os
import sys
from pathlib import Path

_VENV_BIN = str(Path(sys.executable).parent)
if not os.environ.get("PATH", "").startswith(_VENV_BIN + os.pathsep):
    os.environ["PATH"] = _VENV_BIN + os.pathsep + os.environ.get("PATH", "")
