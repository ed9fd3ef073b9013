"""What the CDK CLI reads and hands the app, taken as it is: the project's cdk.context.json, checked for its
shape before the CLI reads it (`python -m settings.context`, as make does), and the context the CLI passes,
where a JSON null survives that the jsii bridge to Python drops. Light on purpose: the operator tool and
make run it before anything else."""

import json
import os
from pathlib import Path
from typing import Any

CONTEXT_FILE = Path("cdk.context.json")  # beside cdk.json, where the CDK CLI, make and the app run
KINDS = {list: "a list", str: "a string", bool: "true or false", type(None): "null"}  # the rest are numbers


def context_file_problem(path: Path = CONTEXT_FILE) -> str | None:
    """What keeps ``path`` from being the CDK CLI's context file, in one line; None if it is absent or a JSON
    object. A UTF-8 byte-order mark is read past, as the CDK CLI reads past it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeError) as error:  # UnicodeError before ValueError, its base
        return f"{path} cannot be read: {getattr(error, 'strerror', None) or error}"
    except ValueError as error:
        return f"{path} is not JSON: {error}"
    if isinstance(data, dict):
        return None
    kind = KINDS.get(type(data), "a number")
    return f'{path} holds {kind}, not an object: settings go in as {{"environment": "prod"}}'


def passed_context() -> dict[str, Any]:
    """The context the CDK CLI passed: CDK_CONTEXT_JSON, and the file it overflows into."""
    context = json.loads(os.environ.get("CDK_CONTEXT_JSON") or "{}")
    if overflow := os.environ.get("CONTEXT_OVERFLOW_LOCATION_ENV"):
        context.update(json.loads(Path(overflow).read_text(encoding="utf-8")))
    return context


if __name__ == "__main__":  # make, before each CDK CLI command that reads the file
    if problem := context_file_problem():
        raise SystemExit(f"error: {problem}")
