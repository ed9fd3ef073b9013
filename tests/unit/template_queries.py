"""Small queries over synthesized CloudFormation templates, and a cloud assembly of the committed ones."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

SNAPSHOTS = Path(__file__).parent / "__snapshots__" / "test_snapshots"


def resources_of(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def only_resource(template: dict[str, Any], resource_type: str) -> dict[str, Any]:
    found = resources_of(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.values()))


_ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def normalized(template: dict[str, Any]) -> dict[str, Any]:
    """The template with asset hashes replaced, so snapshots change only with the infrastructure."""
    return json.loads(_ASSET_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True)))


@functools.cache
def _snapshot(app: str, stack: str) -> str:
    return (SNAPSHOTS / f"test_template_matches_snapshot[{app}-{stack}].json").read_text()


def write_assembly(directory: Path, environment: str, volume: dict[str, Any], zone_id: str = "") -> None:
    """A cloud assembly of the app's templates (the snapshots test_snapshots keeps equal to them),
    with the tree artifact the CDK CLI writes besides the stacks."""
    directory.mkdir(parents=True, exist_ok=True)
    app = "prod_app" if environment == "prod" else "dev_app"
    artifacts: dict[str, Any] = {"Tree": {"type": "cdk:tree", "properties": {"file": "tree.json"}}}
    for stack, prefix in (("web_server", "SiteWebServer"), ("content", "SiteContent")):
        text = _snapshot(app, stack)
        if (volume or zone_id) and stack == "web_server":
            template = json.loads(text)
            for resource in template["Resources"].values():
                if resource["Type"] == "AWS::EC2::Volume":
                    resource["Properties"].update(volume)
                if resource["Type"] == "Custom::ZoneGuard":  # the zone make deploy kept, as synth reads it
                    resource["Properties"]["ZoneId"] = zone_id
            text = json.dumps(template)
        name = f"{prefix}-{environment}"
        (directory / f"{name}.template.json").write_text(text)
        artifacts[name] = {
            "type": "aws:cloudformation:stack",
            "environment": "aws://unknown-account/unknown-region",  # environment-agnostic, as the app's
            "properties": {"templateFile": f"{name}.template.json"},
        }
    (directory / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": artifacts}))
