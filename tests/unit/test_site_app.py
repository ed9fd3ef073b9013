"""The app as a whole: what every stack gets."""

from __future__ import annotations

import pytest

from tests.unit.template_queries import resources_of


@pytest.mark.parametrize("stack", ["content", "web_server"])
def test_custom_resources_wait_for_the_log_groups_of_their_functions(dev_app, stack):
    raw = dev_app.raw(getattr(dev_app.stacks, stack))
    functions = resources_of(raw, "AWS::Lambda::Function")
    log_groups = {
        name
        for name, group in resources_of(raw, "AWS::Logs::LogGroup").items()
        if any(function in str(group["Properties"].get("LogGroupName")) for function in functions)
    }
    assert log_groups, "the custom-resource functions have log groups of their own"
    custom = {name: r for name, r in raw["Resources"].items() if r["Type"].startswith("Custom::")}
    assert custom
    for name, resource in custom.items():
        assert log_groups <= set(resource.get("DependsOn", [])), name
