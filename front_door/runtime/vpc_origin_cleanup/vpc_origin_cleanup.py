"""Custom resource: on stack deletion, once the VPC origins are gone, wait for the network interfaces
CloudFront placed in the VPC to go and delete the security group it left (neither is in the stack), so
that the subnets and the VPC can go. It always reports success: a failure would stop the deletion
before the subnets, which would fail on the same interfaces; the reason says what is left."""

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
            seconds = (context.get_remaining_time_in_millis() - MARGIN_MILLISECONDS) / 1000
            vpc_id = event["ResourceProperties"]["VpcId"]
            reason = clean_up(boto3.client("ec2"), vpc_id, time.monotonic() + seconds)
    except Exception as error:  # an answer must reach CloudFormation in every case
        reason = f"clean-up not finished: {error}"
    print(reason)
    physical_id = event.get("PhysicalResourceId") or f"vpc-origin-cleanup-{event['LogicalResourceId']}"
    answer = {"Status": "SUCCESS", "Reason": reason[:1000], "PhysicalResourceId": physical_id}
    answer |= {key: event[key] for key in ("StackId", "RequestId", "LogicalResourceId")}
    body = json.dumps(answer).encode()
    request = urllib.request.Request(event["ResponseURL"], body, method="PUT", headers={"Content-Type": ""})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def clean_up(ec2, vpc_id: str, deadline: float) -> str:
    """Wait for CloudFront's interfaces in ``vpc_id`` to go, then delete its security group."""
    filters = [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [SERVICE_GROUP]}]
    groups = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    if not groups:
        return f"no {SERVICE_GROUP} in {vpc_id}"
    group_id = groups[0]["GroupId"]
    in_group = [{"Name": "group-id", "Values": [group_id]}]
    while interfaces := ec2.describe_network_interfaces(Filters=in_group)["NetworkInterfaces"]:
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
