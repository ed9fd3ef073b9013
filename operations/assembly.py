"""The site's two stacks in a synthesized cloud assembly, told apart by the outputs their templates hold.

The CDK CLI synthesized the assembly with the operator's arguments, so its stack names and
templates are those a deploy with the same arguments uses, whatever context chose them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from operations.waiting import OpsError

WEB_SERVER_OUTPUTS = {"InstanceId", "ConfigurationAssociationId", "OsUpdateDocument"}
CONTENT_OUTPUTS = {"ImageUrl", "ImageDistributionId"}


class Stack(NamedTuple):
    name: str
    template: dict[str, Any]


def read_site_stacks(assembly: Path) -> tuple[Stack, Stack]:
    """(web server stack, content stack)."""
    try:
        artifacts = json.loads((assembly / "manifest.json").read_text()).get("artifacts", {})
        stacks = [
            Stack(
                a["properties"].get("stackName", key),
                json.loads((assembly / a["properties"]["templateFile"]).read_text()),
            )
            for key, a in artifacts.items()
            if a.get("type") == "aws:cloudformation:stack"
        ]
    except (OSError, ValueError, KeyError) as error:
        raise OpsError(f"cannot read the cloud assembly in {assembly}/ ({error})") from error
    found = []
    for outputs in (WEB_SERVER_OUTPUTS, CONTENT_OUTPUTS):
        holding = [stack for stack in stacks if outputs <= set(stack.template.get("Outputs", {}))]
        if len(holding) != 1:
            names = ", ".join(stack.name for stack in holding) or "none"
            raise OpsError(
                f"{assembly}/ should hold one stack with the outputs {', '.join(sorted(outputs))}: {names}"
            )
        found.append(holding[0])
    return found[0], found[1]
