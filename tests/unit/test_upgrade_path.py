"""An existing deployment keeps its subnet, its volume and its server across this version's update.

tests/unit/deployed/ holds, from the templates of the version before the zone check (4b618b2), every
resource whose update could replace the server, its volume or their subnet. CloudFormation updates a
resource only where its template differs, so identical properties mean no update and no replacement:
the zone check and the new clean-up only add resources and dependencies.
"""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from network.infrastructure import SiteNetwork
from tests.unit.template_queries import resources_of

DEPLOYED = Path(__file__).parent / "deployed"


@pytest.mark.parametrize("app", ["dev_app", "prod_app"])
def test_the_resources_that_hold_the_site_are_unchanged(request, app):
    template = request.getfixturevalue(app).raw(request.getfixturevalue(app).stacks.web_server)
    deployed = json.loads((DEPLOYED / f"web_server_{app.removesuffix('_app')}.json").read_text())
    assert {"AWS::EC2::Subnet", "AWS::EC2::Volume", "AWS::EC2::Instance"} <= {
        r["Type"] for r in deployed.values()
    }
    for logical_id, before in deployed.items():
        now = template["Resources"].get(logical_id)
        assert now is not None, f"{logical_id} ({before['Type']}) would be deleted"
        assert now["Type"] == before["Type"]
        assert now.get("Properties", {}) == before["Properties"], f"{logical_id} would be updated"


def test_the_zone_check_comes_before_the_subnet_the_volume_and_the_server(dev_app):
    raw = dev_app.raw(dev_app.stacks.web_server)
    (guard,) = resources_of(raw, "Custom::ZoneGuard")
    web_subnet = raw["Resources"][guard]["Properties"]["SubnetLogicalId"]
    for logical_id in (
        web_subnet,
        *resources_of(raw, "AWS::EC2::Volume"),
        *resources_of(raw, "AWS::EC2::Instance"),
    ):
        assert guard in raw["Resources"][logical_id]["DependsOn"], logical_id
    # It reads the Region's first zone name exactly as the subnet and the volume do.
    first_zone = raw["Resources"][web_subnet]["Properties"]["AvailabilityZone"]
    assert (
        raw["Resources"][guard]["Properties"]["FirstZoneName"]
        == first_zone
        == {"Fn::Select": [0, {"Fn::GetAZs": ""}]}
    )


def test_a_zone_id_places_the_subnet_by_the_zone_the_check_found():
    stack = cdk.Stack(cdk.App())
    network = SiteNetwork(
        stack, "Network", flow_log_retention_days=7, zone_id="use1-az1", instance_type="t3.micro"
    )
    raw = Template.from_stack(stack).to_json()
    (guard,) = resources_of(raw, "Custom::ZoneGuard")
    assert raw["Resources"][guard]["Properties"]["ZoneId"] == "use1-az1"
    web_subnet = stack.get_logical_id(network.web_subnet.node.default_child)
    assert raw["Resources"][web_subnet]["Properties"]["AvailabilityZone"] == {
        "Fn::GetAtt": [guard, "ZoneName"]
    }
    assert stack.resolve(network.web_zone) == {"Fn::GetAtt": [guard, "ZoneName"]}
