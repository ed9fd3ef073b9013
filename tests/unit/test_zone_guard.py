"""The zone guard of the web subnet and its volume, against moto's EC2 and CloudFormation.

moto's us-east-1 maps us-east-1a to use1-az6, us-east-1b to use1-az1 and us-east-1e to use1-az3,
where CloudFront cannot place VPC origins: an account whose first zone is use1-az3 is a first
zone name of us-east-1e here.
"""

from __future__ import annotations

import importlib.util
import json

import boto3
import pytest
from moto import mock_aws

from network.zone_guard import HANDLER_DIR
from network.zones import NO_VPC_ORIGIN_ZONE_IDS

spec = importlib.util.spec_from_file_location("zone_guard", HANDLER_DIR / "zone_guard.py")
guard = importlib.util.module_from_spec(spec)
spec.loader.exec_module(guard)

SUBNET = "NetworkVpcWebSubnet1Subnet6A412B56"


@pytest.fixture(scope="module")
def aws():
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            patch.setenv(name, "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield boto3.client("ec2"), boto3.client("cloudformation")


def _stack_with_subnet(cloudformation, zone_name: str) -> str:
    """A stack deployed before the guard existed: its web subnet only."""
    template = {
        "Resources": {
            "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
            SUBNET: {
                "Type": "AWS::EC2::Subnet",
                "Properties": {
                    "VpcId": {"Ref": "Vpc"},
                    "CidrBlock": "10.0.1.0/24",
                    "AvailabilityZone": zone_name,
                },
            },
        }
    }
    name = f"site-{zone_name}-{len(cloudformation.list_stacks()['StackSummaries'])}"
    return cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))["StackId"]


def _event(
    kind="Create", *, zone_id="", first="us-east-1a", instance_type="t4g.micro", stack="", physical=None
):
    event = {
        "RequestType": kind,
        "StackId": stack or "arn:aws:cloudformation:us-east-1:123456789012:stack/new/1",
        "ResourceProperties": {
            "ZoneId": zone_id,
            "FirstZoneName": first,
            "InstanceType": instance_type,
            "ExcludedZoneIds": list(NO_VPC_ORIGIN_ZONE_IDS),
            "SubnetLogicalId": SUBNET,
        },
    }
    return event | ({"PhysicalResourceId": physical} if physical else {})


def _refused(event) -> str:
    with pytest.raises(guard.Refusal) as refusal:
        guard.on_event(event, None)
    assert "\n" not in str(refusal.value)
    return str(refusal.value)


def test_a_first_deploy_takes_the_first_zone_when_it_works(aws):
    answer = guard.on_event(_event(), None)
    assert answer == {
        "PhysicalResourceId": "first-zone:use1-az6",
        "Data": {"ZoneId": "use1-az6", "ZoneName": "us-east-1a"},
    }


def test_a_first_zone_without_vpc_origins_is_refused_with_the_zones_that_work(aws):
    line = _refused(_event(first="us-east-1e"))
    assert "use1-az3 (us-east-1e) cannot hold CloudFront VPC origins" in line
    assert "availability_zone_id to one of use1-az1, use1-az2, use1-az4, use1-az5, use1-az6" in line


def test_a_zone_id_places_the_subnet_whatever_its_name_in_the_account(aws):
    answer = guard.on_event(_event(zone_id="use1-az1"), None)
    assert answer["PhysicalResourceId"] == "zone-id:use1-az1"
    assert answer["Data"] == {"ZoneId": "use1-az1", "ZoneName": "us-east-1b"}


def test_a_zone_id_of_another_region_is_refused(aws):
    assert "euw1-az1 is not a zone of this Region: its zones are" in _refused(_event(zone_id="euw1-az1"))


def test_a_zone_that_does_not_offer_the_instance_type_is_refused(aws):
    line = _refused(_event(instance_type="vt1.3xlarge"))  # moto's EC2 offers it in use1-az1 and use1-az2
    assert line.endswith(
        "use1-az6 (us-east-1a) does not offer instance type vt1.3xlarge: "
        "choose another, or set availability_zone_id to one of use1-az1, use1-az2"
    )


@pytest.mark.parametrize(
    ("physical", "zone_id", "fix"),
    [
        ("first-zone:use1-az6", "use1-az6", "leave it unset"),  # the same zone, another template form
        ("first-zone:use1-az6", "use1-az1", "leave it unset"),
        ("zone-id:use1-az1", "", "set it to use1-az1"),
        ("zone-id:use1-az1", "use1-az2", "set it to use1-az1"),
    ],
)
def test_an_update_never_moves_the_subnet_or_the_volume(aws, physical, zone_id, fix):
    line = _refused(_event("Update", zone_id=zone_id, physical=physical))
    assert "would replace both and leave the site's data on the old volume" in line
    assert line.endswith(fix)


@pytest.mark.parametrize(
    ("physical", "zone_id"), [("first-zone:use1-az6", ""), ("zone-id:use1-az1", "use1-az1")]
)
def test_an_update_in_the_same_zone_goes_on(aws, physical, zone_id):
    # Also a rollback: a refused update keeps the physical id, and the rollback brings back what matches it.
    answer = guard.on_event(_event("Update", zone_id=zone_id, physical=physical), None)
    assert answer["PhysicalResourceId"] == physical


def test_a_new_instance_type_the_zone_lacks_is_refused_before_the_server_changes(aws):
    line = _refused(_event("Update", instance_type="vt1.3xlarge", physical="first-zone:use1-az6"))
    assert line.endswith("choose an instance_type it offers")


def test_a_deployment_made_before_the_guard_keeps_its_zone(aws):
    _, cloudformation = aws
    stack = _stack_with_subnet(cloudformation, "us-east-1b")
    answer = guard.on_event(_event(first="us-east-1b", stack=stack), None)
    assert answer["PhysicalResourceId"] == "first-zone:use1-az1"
    # Setting the zone, even to the one it is in, would change the subnet's template: refused.
    assert _refused(_event(zone_id="use1-az1", first="us-east-1b", stack=stack)).endswith("leave it unset")


def test_an_earlier_deployment_in_a_zone_now_refused_is_never_moved(aws):
    ec2, cloudformation = aws
    stack = _stack_with_subnet(cloudformation, "us-east-1e")
    in_zone = [{"Name": "location", "Values": ["use1-az3"]}]
    offers = ec2.describe_instance_type_offerings(LocationType="availability-zone-id", Filters=in_zone)
    offered = offers["InstanceTypeOfferings"][0]["InstanceType"]
    answer = guard.on_event(_event(first="us-east-1e", stack=stack, instance_type=offered), None)
    assert answer["Data"]["ZoneId"] == "use1-az3"


def test_deleting_touches_nothing(aws):
    assert guard.on_event(_event("Delete", physical="first-zone:use1-az6"), None) == {}
