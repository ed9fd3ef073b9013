"""CloudFormation custom resource: on stack deletion, let the VPC go once CloudFront is done with it.

A CloudFront VPC origin works through network interfaces that CloudFront places in the
origin's subnet, in a security group it creates there (CloudFront-VPCOrigins-Service-SG).
Neither is part of the stack. After the last VPC origin is deleted, this waits until those
interfaces are gone and deletes the group if CloudFront left it, so that CloudFormation can
delete the subnets and the VPC. Create and Update do nothing.

It always reports success: a failure here would stop the stack's deletion before the
subnets are tried, which would then fail on the same interfaces; the reason says what is left.
"""

from __future__ import annotations

import json
import time
import urllib.request

import boto3
from botocore.exceptions import ClientError

SERVICE_GROUP = "CloudFront-VPCOrigins-Service-SG"
POLL_SECONDS = 15
# Stop in time to answer CloudFormation before Lambda's own timeout.
MARGIN_MILLISECONDS = 60_000


def handler(event: dict, context) -> None:
    reason = "nothing to do"
    try:
        if event["RequestType"] == "Delete":
            deadline = (
                time.monotonic() + (context.get_remaining_time_in_millis() - MARGIN_MILLISECONDS) / 1000
            )
            reason = clean_up(boto3.client("ec2"), event["ResourceProperties"]["VpcId"], deadline)
    except Exception as error:  # an answer must reach CloudFormation in every case
        reason = f"clean-up not finished: {error}"
    print(reason)
    respond(event, reason)


def clean_up(ec2, vpc_id: str, deadline: float) -> str:
    """Wait for CloudFront's interfaces in ``vpc_id`` to go, then delete its security group."""
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [SERVICE_GROUP]}]
    )["SecurityGroups"]
    if not groups:
        return f"no {SERVICE_GROUP} in {vpc_id}"
    group_id = groups[0]["GroupId"]
    while True:
        interfaces = ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [group_id]}])[
            "NetworkInterfaces"
        ]
        if not interfaces:
            break
        if time.monotonic() >= deadline:
            left = ", ".join(i["NetworkInterfaceId"] for i in interfaces)
            return f"{SERVICE_GROUP} ({group_id}) still has network interfaces: {left}"
        time.sleep(POLL_SECONDS)
    try:
        ec2.delete_security_group(GroupId=group_id)
    except ClientError as error:
        if error.response["Error"]["Code"] != "InvalidGroup.NotFound":
            raise
    return f"deleted {SERVICE_GROUP} ({group_id}) of {vpc_id}"


def respond(event: dict, reason: str) -> None:
    body = json.dumps(
        {
            "Status": "SUCCESS",
            "Reason": reason[:1000],
            "PhysicalResourceId": event.get("PhysicalResourceId")
            or f"vpc-origin-cleanup-{event['LogicalResourceId']}",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
