"""The stack-deletion clean-up of CloudFront's VPC-origin leftovers, against moto's EC2.

The handler runs as Lambda would run it, and answers a local stand-in of CloudFormation's
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


class _Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


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
def ec2(_moto_ec2, monkeypatch):
    monkeypatch.setattr(cleanup, "POLL_SECONDS", 0.05)
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


def test_the_group_goes_once_cloudfronts_interfaces_are_gone(ec2, cloudformation):
    url, answers = cloudformation
    vpc, group, (eni,) = _vpc_with_origin_leftovers(ec2, interfaces=1)
    # CloudFront removes its interface a moment after the origin is deleted.
    threading.Timer(0.3, lambda: ec2.delete_network_interface(NetworkInterfaceId=eni)).start()

    cleanup.handler(_event("Delete", vpc, url), _Context(remaining_ms=120_000))

    assert _groups(ec2, vpc) == []
    (answer,) = answers
    assert answer["Status"] == "SUCCESS"
    assert answer["Reason"] == f"deleted {SERVICE_GROUP} ({group}) of {vpc}"
    assert answer["PhysicalResourceId"] == "vpc-origin-cleanup-SiteCdnVpcOriginCleanup"
    assert (answer["RequestId"], answer["LogicalResourceId"]) == ("request-1", "SiteCdnVpcOriginCleanup")


def test_interfaces_that_stay_are_named_and_the_deletion_goes_on(ec2, cloudformation):
    url, answers = cloudformation
    vpc, group, enis = _vpc_with_origin_leftovers(ec2, interfaces=2)

    # Just past the margin kept for the answer: no time to wait at all.
    cleanup.handler(_event("Delete", vpc, url), _Context(remaining_ms=cleanup.MARGIN_MILLISECONDS + 200))

    assert _groups(ec2, vpc) == [group]
    (answer,) = answers
    assert answer["Status"] == "SUCCESS"
    assert "still has network interfaces" in answer["Reason"]
    assert all(eni in answer["Reason"] for eni in enis)


def test_nothing_left_behind_is_nothing_to_do(ec2, cloudformation):
    url, answers = cloudformation
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_security_group(GroupName="site", Description="the stack's own", VpcId=vpc)["GroupId"]

    cleanup.handler(_event("Delete", vpc, url), _Context(remaining_ms=120_000))

    assert answers[0]["Status"] == "SUCCESS"
    assert answers[0]["Reason"] == f"no {SERVICE_GROUP} in {vpc}"
    assert other in [g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]]


@pytest.mark.parametrize("kind", ["Create", "Update"])
def test_create_and_update_touch_nothing(ec2, cloudformation, kind):
    url, answers = cloudformation
    vpc, group, _ = _vpc_with_origin_leftovers(ec2, interfaces=0)

    cleanup.handler(_event(kind, vpc, url), _Context(remaining_ms=120_000))

    assert _groups(ec2, vpc) == [group]
    assert answers[0]["Status"] == "SUCCESS"
    assert answers[0]["Reason"] == "nothing to do"


def test_an_error_still_answers_cloudformation(ec2, cloudformation):
    url, answers = cloudformation
    event = _event("Delete", "vpc-0", url)
    del event["ResourceProperties"]["VpcId"]

    cleanup.handler(event, _Context(remaining_ms=120_000))

    assert answers[0]["Status"] == "SUCCESS"
    assert answers[0]["Reason"].startswith("clean-up not finished: ")
