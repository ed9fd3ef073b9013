"""The content of an SSM Command document that runs one shell script on the instance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# Long enough for a boot that waits for the volume (30 min) and a dnf upgrade.
TIMEOUT_SECONDS = 3600


def shell_script_document(
    *, description: str, parameters: Mapping[str, Mapping[str, str]], step: str, commands: Sequence[str]
) -> dict:
    """A schema 2.2 document with one ``aws:runShellScript`` step.

    ``parameters`` maps each name to its declaration (type, description, allowedPattern...),
    which SSM checks before the script sees a value.
    """
    return {
        "schemaVersion": "2.2",
        "description": description,
        "parameters": {name: dict(declaration) for name, declaration in parameters.items()},
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": step,
                "inputs": {"timeoutSeconds": str(TIMEOUT_SECONDS), "runCommand": list(commands)},
            }
        ],
    }
