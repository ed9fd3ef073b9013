"""What the SSM agent does with a Command document's parameters before a script runs.

The agent compiles each ``allowedPattern`` with Go's regexp package and refuses a value that
does not match (agent/parameters/validator/allowedregexparamvalidator.go in
aws/amazon-ssm-agent); Go's regexp is RE2, which the ``re2`` module (google-re2) shares. It
then replaces each ``{{ Name }}`` in the commands as plain text (agent/parameters/parameters.go)
and runs the lines, joined by newlines, as one script with ``sh``, in the environment below.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import re2

# The agent runs a script with its own environment and four variables of its own
# (agent/executers/executers.go, prepareEnvironment). Its own is what systemd gives a system
# service whose unit sets none (packaging/linux/amazon-ssm-agent.service): PATH, and no HOME,
# which systemd sets only for a unit with User= (systemd.exec(5), "Environment Variables in
# Spawned Processes", https://www.freedesktop.org/software/systemd/man/latest/systemd.exec.html).
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"


def environment(*, instance_id: str, region: str) -> dict[str, str]:
    """The environment a Run Command or State Manager script starts with on Amazon Linux 2023."""
    return {
        "PATH": SYSTEMD_PATH,
        "AWS_SSM_INSTANCE_ID": instance_id,
        "AWS_SSM_REGION_NAME": region,
        "AWS_SSM_PLATFORM_NAME": "Amazon Linux",
        "AWS_SSM_PLATFORM_VERSION": "2023",
    }


class ParameterRefused(ValueError):
    """The agent would fail the run before any command starts."""


def compile_pattern(pattern: str) -> re2._Regexp:
    """The pattern as the agent compiles it; raises re2.error where the agent fails every run."""
    return re2.compile(pattern)


def check_value(name: str, pattern: str, value: str) -> None:
    # Go's MatchString looks for a match anywhere; only anchors make it a whole-value check.
    if compile_pattern(pattern).search(value) is None:
        raise ParameterRefused(f"{name}: {value!r} does not match {pattern!r}")


def script(document: Mapping[str, Any], values: Mapping[str, str]) -> str:
    """The shell script the agent runs for ``document``'s one step, given the parameters' values."""
    declared = document["parameters"]
    missing = set(declared) - set(values) - {n for n, d in declared.items() if "default" in d}
    if missing:
        raise ParameterRefused(f"no value for {sorted(missing)}")
    unknown = set(values) - set(declared)
    if unknown:
        raise ParameterRefused(f"not parameters of the document: {sorted(unknown)}")
    given = {name: values.get(name, declaration.get("default", "")) for name, declaration in declared.items()}
    for name, value in given.items():
        pattern = declared[name].get("allowedPattern")
        if pattern is not None:
            check_value(name, pattern, value)
    (step,) = document["mainSteps"]
    text = "\n".join(step["inputs"]["runCommand"])
    for name, value in given.items():
        text = re.sub(r"\{\{\s*" + re.escape(name) + r"\s*\}\}", lambda _m, v=value: v, text)
    return text
