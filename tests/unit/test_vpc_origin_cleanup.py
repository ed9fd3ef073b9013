"""The stack-deletion clean-up of CloudFront's VPC-origin leftovers, against moto's EC2.

The handlers run as aws-cdk-lib's Provider framework calls them (its response URL hidden as "...");
the earlier version's resource, answered directly, meets a local stand-in of CloudFormation's
pre-signed response URL.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3
import pytest
from moto import mock_aws

from front_door.vpc_origin_cleanup import HANDLER_DIR

SERVICE_GROUP = "CloudFront-VPCOrigins-Service-SG"


def _load_handler():
    spec = importlib.util.spec_from_file_location("vpc_origin_cleanup", HANDLER_DIR / "vpc_origin_cleanup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cleanup = _load_handler()


@pytest.fixture
def cloudformation():
    """A local stand-in of the pre-signed URL CloudFormation waits on; yields the answers."""
    answers: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self):
            answers.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval: shutdown() waits for the next one.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/response", answers
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def _moto_ec2():
    """One mocked account for the module (moto's EC2 takes most of a second to start); each test
    works in a VPC of its own."""
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for name, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing"}.items():
            patch.setenv(name, value)
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        yield boto3.client("ec2", region_name="eu-west-1")


@pytest.fixture
def ec2(_moto_ec2):
    return _moto_ec2


def _vpc_with_origin_leftovers(ec2, *, interfaces: int) -> tuple[str, str, list[str]]:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=SERVICE_GROUP, Description="CloudFront", VpcId=vpc)["GroupId"]
    enis = [
        ec2.create_network_interface(SubnetId=subnet, Groups=[group])["NetworkInterface"][
            "NetworkInterfaceId"
        ]
        for _ in range(interfaces)
    ]
    return vpc, group, enis


def _event(kind: str, vpc: str, url: str) -> dict:
    return {
        "RequestType": kind,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/SiteWebServer-dev/1",
        "RequestId": "request-1",
        "LogicalResourceId": "SiteCdnVpcOriginCleanup",
        "PhysicalResourceId": "vpc-origin-cleanup-SiteCdnVpcOriginCleanup",
        "ResourceProperties": {"VpcId": vpc},
    }


def _groups(ec2, vpc: str) -> list[str]:
    found = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": [SERVICE_GROUP]}]
    )
    return [g["GroupId"] for g in found["SecurityGroups"]]


def test_the_deletion_is_complete_only_once_cloudfronts_interfaces_are_gone(ec2, capsys):
    vpc, group, enis = _vpc_with_origin_leftovers(ec2, interfaces=2)
    event = _event("Delete", vpc, "...")

    # Never complete while an interface remains: each look names them and deletes nothing.
    assert cleanup.is_complete(event, None) == {"IsComplete": False}
    assert _groups(ec2, vpc) == [group]
    logged = capsys.readouterr().out
    assert all(eni in logged for eni in enis)
    ec2.delete_network_interface(NetworkInterfaceId=enis[0])
    assert cleanup.is_complete(event, None) == {"IsComplete": False}

    # CloudFront removes its interfaces a while after the origin is deleted.
    ec2.delete_network_interface(NetworkInterfaceId=enis[1])
    assert cleanup.is_complete(event, None) == {"IsComplete": True}
    assert _groups(ec2, vpc) == []
    assert f"deleted {SERVICE_GROUP} ({group}) of {vpc}" in capsys.readouterr().out


def test_nothing_left_behind_is_nothing_to_do(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_security_group(GroupName="site", Description="the stack's own", VpcId=vpc)["GroupId"]

    assert cleanup.is_complete(_event("Delete", vpc, "..."), None) == {"IsComplete": True}
    assert other in [g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]]


@pytest.mark.parametrize("kind", ["Create", "Update"])
def test_create_and_update_touch_nothing(ec2, kind):
    vpc, group, _ = _vpc_with_origin_leftovers(ec2, interfaces=1)

    assert cleanup.on_event(_event(kind, vpc, "..."), None) == {}
    assert cleanup.is_complete(_event(kind, vpc, "..."), None) == {"IsComplete": True}
    assert _groups(ec2, vpc) == [group]


def test_the_start_leaves_the_waiting_to_the_framework(ec2, cloudformation):
    _, answers = cloudformation
    vpc, group, _ = _vpc_with_origin_leftovers(ec2, interfaces=1)

    # The framework hides the response URL; it answers CloudFormation itself.
    assert cleanup.on_event(_event("Delete", vpc, "..."), None) == {}
    assert answers == []
    assert _groups(ec2, vpc) == [group]


def test_the_earlier_versions_resource_leaving_on_an_update_is_answered_at_once(ec2, cloudformation):
    """The earlier clean-up resource went straight to this function, which answered CloudFormation
    itself; on the update that replaces it, its Delete comes the same way while the origins stay."""
    url, answers = cloudformation
    vpc, group, _ = _vpc_with_origin_leftovers(ec2, interfaces=1)

    cleanup.on_event(_event("Delete", vpc, url), None)

    (answer,) = answers
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == "vpc-origin-cleanup-SiteCdnVpcOriginCleanup"
    assert (answer["RequestId"], answer["LogicalResourceId"]) == ("request-1", "SiteCdnVpcOriginCleanup")
    assert _groups(ec2, vpc) == [group]
