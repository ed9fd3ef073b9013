"""The site's configuration as AWS runs it: patterns under RE2, values as deployed, update order."""

from __future__ import annotations

import re
import subprocess
from operator import attrgetter

import pytest
import re2

from settings.model import SettingsError, SiteSettings
from tests import ssm_agent
from tests.deployed_values import REGIONS, Deployment
from tests.unit.template_queries import only_resource, resources_of
from web_server.configuration import ALLOWED_PATTERNS, RUNTIME, SCHEDULE, SITE_VALUES
from web_server.instance_values import INSTANCE_VALUES

APPS = ["dev_app", "prod_app"]


@pytest.fixture(params=APPS)
def app(request):
    return request.getfixturevalue(request.param)


def _documents(app):
    for stack in (app.stacks.content, app.stacks.web_server):
        for document in resources_of(app.raw(stack), "AWS::SSM::Document").values():
            yield document["Properties"]["Content"]


def _association(app):
    return only_resource(app.raw(app.stacks.web_server), "AWS::SSM::Association")


def _configuration_document(app):
    raw = app.raw(app.stacks.web_server)
    return raw["Resources"][_association(app)["Properties"]["Name"]["Ref"]]["Properties"]["Content"]


def test_the_agents_engine_refuses_what_pythons_accepts():
    """The check below is the agent's own: a repeat count above 1000 fails every run."""
    too_long = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,1023}$"
    assert re.compile(too_long)
    with pytest.raises(re2.error):
        ssm_agent.compile_pattern(too_long)
    assert ssm_agent.compile_pattern(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,1000}$")


def test_every_allowed_pattern_compiles_under_re2_and_is_anchored(app):
    patterns = [
        declaration["allowedPattern"]
        for document in _documents(app)
        for declaration in document.get("parameters", {}).values()
        if "allowedPattern" in declaration
    ]
    assert len(patterns) >= len(ALLOWED_PATTERNS)
    for pattern in patterns:
        ssm_agent.compile_pattern(pattern)
        # The agent searches: only both anchors make a pattern judge the whole value.
        assert pattern.startswith("^"), pattern
        assert pattern.endswith("$"), pattern


@pytest.mark.parametrize("region", REGIONS)
def test_every_value_the_association_passes_is_one_the_agent_accepts(dev_app, prod_app, region):
    for app in (dev_app, prod_app):
        deployment = Deployment(app.templates, region=region)
        stack = app.stacks.web_server.stack_name
        values = {
            name: deployment.resolve(stack, value)
            for name, (value,) in _association(app)["Properties"]["Parameters"].items()
        }
        assert values["Region"] == region
        rendered = ssm_agent.script(_configuration_document(app), values)
        assert "{{" not in rendered


def test_a_value_the_pattern_refuses_stops_the_run(dev_app):
    deployment = Deployment(dev_app.templates, region="eu-west-1")
    stack = dev_app.stacks.web_server.stack_name
    values = {
        name: deployment.resolve(stack, value)
        for name, (value,) in _association(dev_app)["Properties"]["Parameters"].items()
    }
    with pytest.raises(ssm_agent.ParameterRefused, match="VolumeId"):
        ssm_agent.script(_configuration_document(dev_app), {**values, "VolumeId": "vol-0123"})


# Each would end the single quotes the value is pasted in, run a command, or break the line.
BREAKING = [
    "x' ; rm -rf / '",
    "$(id)",
    "`id`",
    'a"b',
    "a\nb",
    "a\\b",
    "a\n",
    "{{ Region }}",
    "a\tb",
    "a\x7fb",
]


@pytest.mark.parametrize("bad", BREAKING)
def test_no_pattern_admits_what_could_break_the_script(bad):
    for name, (pattern, _) in ALLOWED_PATTERNS.items():
        with pytest.raises(ssm_agent.ParameterRefused):
            ssm_agent.check_value(name, pattern, bad)


def test_every_value_is_pasted_inside_single_quotes(dev_app):
    """A space, a semicolon or a glob in a value is text there: only a quote could end it."""
    commands = "\n".join(_configuration_document(dev_app)["mainSteps"][0]["inputs"]["runCommand"])
    assert set(re.findall(r"\{\{ (\w+) \}\}", commands)) == set(ALLOWED_PATTERNS)
    for line in commands.splitlines():
        assert "{{" not in re.sub(r"'[^']*'", "", line), line


def test_only_text_values_may_hold_spaces():
    spaced = {name for name, (pattern, _) in ALLOWED_PATTERNS.items() if re2.search(pattern, "a b")}
    assert spaced == {"PageTitle"}


TITLES = [
    "Hello from the web server",
    "Café & friends: 100% off!",
    "日本語のページ",
    "a" * 120,
    "a" * 121,
    "x<y",
]


@pytest.mark.parametrize("title", TITLES + BREAKING)
def test_a_setting_refuses_at_synth_what_its_pattern_refuses_on_the_instance(title):
    pattern = next(value.pattern for value in INSTANCE_VALUES if value.parameter == "PageTitle")
    try:
        SiteSettings.from_context({"page_title": title})
        accepted = True
    except SettingsError:
        accepted = False
    # Settings drop the spaces around a value; the rest reaches the instance as it is.
    assert accepted == bool(re2.fullmatch(pattern, title.strip()))


def test_the_script_receives_every_value_intact(dev_app, tmp_path):
    """The text the agent runs, up to apply.sh, hands each value over byte for byte."""
    document = _configuration_document(dev_app)
    values = {
        name: deployment_value
        for name, deployment_value in {
            "AssetBucket": "cdk-hnb659fds-assets-123456789012-eu-west-1",
            "AssetKey": "0" * 64 + ".zip",
            "Region": "eu-west-1",
            "VolumeId": "vol-0123456789abcdef0",
            "DeviceName": "/dev/sdf",
            "VolumeSizeGib": "20",
            "ImageUrl": "https://d111111abcdef8.cloudfront.net/images/caf%C3%A9%20%21.jpg",
            "SiteDomain": "xn--caf-dma.example",
            "FallbackBucket": "sitewebserver-dev-fallback-1a2b3c4d5e6f",
            "DistributionId": "E2QWRUHAPOMQZL",
            "SiteName": "SiteWebServer-dev",
            "PageTitle": "Café & friends: 100% off! (a title; with * and spaces)",
        }.items()
    }
    rendered = ssm_agent.script(document, values)
    # Stop where apply.sh would start: print what it would receive instead.
    exports = [line for line in rendered.splitlines() if line.startswith("export ")]
    probe = "\n".join([*exports, 'for k in $SITE_VALUES; do printf "%s=%s\\n" "$k" "${!k}"; done'])
    result = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    received = dict(line.split("=", 1) for line in result.stdout.splitlines())
    expected = {value.env: values[value.parameter] for value in INSTANCE_VALUES}
    assert received == expected
    assert list(received) == SITE_VALUES.split()


def test_every_value_reaches_a_script_or_the_page_that_reads_it():
    """No value is handed over for nothing, and the scripts take them from the one table."""
    scripts = "\n".join(p.read_text() for p in (RUNTIME / "boot").glob("*.sh"))
    page = (RUNTIME / "site" / "index.html.tmpl").read_text()
    for value in INSTANCE_VALUES:
        read = re.search(rf"\$\{{?{value.env}\b|require_values .*\b{value.env}\b", scripts)
        assert read or f"{{{{{value.env}}}}}" in page, f"{value.parameter} ({value.env}) is read nowhere"
    assert "SITE_VALUES" in (RUNTIME / "boot" / "apply.sh").read_text()


def test_the_page_names_only_values_the_deployment_hands_over():
    placeholders = set(re.findall(r"\{\{([^}]*)\}\}", (RUNTIME / "site" / "index.html.tmpl").read_text()))
    assert "IMAGE_URL" in placeholders
    assert placeholders <= {value.env for value in INSTANCE_VALUES}


def test_each_row_names_a_source_the_stack_has(dev_app):
    for value in INSTANCE_VALUES:
        assert attrgetter(value.source)(dev_app.stacks.web_server) is not None, value.source


def test_the_association_waits_for_every_policy_of_the_instance_role(app):
    raw = app.raw(app.stacks.web_server)
    stack = app.stacks.web_server
    role_id = stack.get_logical_id(stack.server.role.node.default_child)
    attached = {
        logical_id
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        for logical_id, policy in resources_of(raw, kind).items()
        if {"Ref": role_id} in policy["Properties"].get("Roles", [])
    }
    assert len(attached) >= 3
    depends_on = set(_association(app).get("DependsOn", []))
    assert attached | {role_id} <= depends_on


def test_the_download_is_retried_while_iam_catches_up_then_apply_runs(dev_app):
    commands = _configuration_document(dev_app)["mainSteps"][0]["inputs"]["runCommand"]
    assert commands[-1] == 'bash "$staging/files/boot/apply.sh" "$staging/files"'
    loop = next(i for i, line in enumerate(commands) if line.startswith("for attempt in"))
    assert "aws s3 cp" in commands[loop + 1]
    assert commands[loop + 1].endswith("&& break")
    assert re.search(r"sleep [1-9]", "\n".join(commands[loop:]))


def test_the_document_turns_dual_stack_endpoints_on_before_its_first_aws_call(dev_app):
    """The agent's environment leaves the CLI on its IPv4 endpoints (tests/ssm_agent.py), which
    the instance cannot reach; tests/integration/test_boot_apply.py runs it to show each call."""
    commands = _configuration_document(dev_app)["mainSteps"][0]["inputs"]["runCommand"]
    first_call = next(i for i, line in enumerate(commands) if re.search(r"\baws ", line))
    assert "export AWS_USE_DUALSTACK_ENDPOINT=true" in commands[:first_call]


def test_the_schedule_is_a_rate_state_manager_accepts():
    # State Manager takes rate(N minutes) from 30 minutes, hours and days up to 31 days:
    # https://docs.aws.amazon.com/systems-manager/latest/userguide/reference-cron-and-rate-expressions.html
    match = re.fullmatch(r"rate\((\d+) (minutes|hours|days)\)", SCHEDULE)
    assert match
    number, unit = int(match[1]), match[2]
    minutes = number * {"minutes": 1, "hours": 60, "days": 1440}[unit]
    assert 30 <= minutes <= 31 * 1440
