"""web_server/os_update.py: the OS-update document pins a release unless told `latest`."""

from __future__ import annotations

import re

from tests.unit.template_queries import resources_of
from web_server.os_update import RELEASE_PATTERN


def _release_parameter(app) -> dict:
    template = app.raw(app.stacks.web_server)
    (parameter,) = [
        d["Properties"]["Content"]["parameters"]["ReleaseVersion"]
        for d in resources_of(template, "AWS::SSM::Document").values()
        if "ReleaseVersion" in d["Properties"]["Content"].get("parameters", {})
    ]
    return parameter


def test_the_release_is_required(dev_app, prod_app):
    # A parameter without a default is required: SSM refuses a command that names no release
    # (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DocumentParameter.html).
    for app in (dev_app, prod_app):
        assert "default" not in _release_parameter(app)


def test_latest_stays_an_explicit_choice_and_nothing_else_gets_through(dev_app):
    pattern = _release_parameter(dev_app)["allowedPattern"]
    assert pattern == RELEASE_PATTERN
    assert re.fullmatch(pattern, "latest")
    assert re.fullmatch(pattern, "2023.9.20251110")
    for refused in ("", "2023.9; reboot", "2023.9.20251110 latest", "$(reboot)", "'latest'"):
        assert not re.fullmatch(pattern, refused), refused
