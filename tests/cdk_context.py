"""The CDK context the unit tests synthesize with: cdk.json's feature flags, nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def feature_flags(cdk_json: Path) -> dict[str, Any]:
    """The feature flags (keys starting with @) of a cdk.json, without any deployment's settings.

    The CLI passes the whole context block to the app; the tests take only its flags, so that
    they synthesize what `cdk synth` does while settings someone keeps in cdk.json for their
    own deployment never change what the tests see.
    """
    context = json.loads(cdk_json.read_text())["context"]
    return {key: value for key, value in context.items() if key.startswith("@")}


CDK_FEATURE_FLAGS = feature_flags(PROJECT_ROOT / "cdk.json")
