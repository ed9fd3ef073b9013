"""Custom resource (aws-cdk-lib's Provider framework): on stack deletion, once the VPC origins are gone,
wait for the network interfaces CloudFront placed in the VPC to go and delete the security group it left
(neither is in the stack), so that the subnets and the VPC can go. The framework asks ``is_complete``
again and again until it says so or the total timeout passes; then the deletion stops with a failure,
never a success while interfaces remain (docs/operations.md says what to do)."""

from __future__ import annotations

import json
import urllib.request

import boto3
from botocore.exceptions import ClientError

SERVICE_GROUP = "CloudFront-VPCOrigins-Service-SG"


def on_event(event: dict, context) -> dict:
    # The framework hides the response URL ("..."). A real one is CloudFormation itself: the earlier
    # version's resource, which this function answered directly, leaving the stack on an update while the
    # VPC origins stay. Nothing is to be cleaned: answer at once.
    if event.get("ResponseURL", "...") != "...":
        _answer(event, "the earlier clean-up resource leaves the stack; the VPC origins stay")
    return {}


def is_complete(event: dict, context) -> dict:
    if event["RequestType"] != "Delete":
        return {"IsComplete": True}
    state = clean_up(boto3.client("ec2"), event["ResourceProperties"]["VpcId"])
    print(state)
    return {"IsComplete": not state.startswith("waiting")}


def clean_up(ec2, vpc_id: str) -> str:
    """One look: what CloudFront left in ``vpc_id``; its group is deleted once it has no interfaces."""
    filters = [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [SERVICE_GROUP]}]
    groups = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    if not groups:
        return f"no {SERVICE_GROUP} in {vpc_id}"
    group_id = groups[0]["GroupId"]
    in_group = [{"Name": "group-id", "Values": [group_id]}]
    if interfaces := ec2.describe_network_interfaces(Filters=in_group)["NetworkInterfaces"]:
        left = ", ".join(i["NetworkInterfaceId"] for i in interfaces)
        return f"waiting: {SERVICE_GROUP} ({group_id}) still has network interfaces: {left}"
    try:
        ec2.delete_security_group(GroupId=group_id)
    except ClientError as error:
        if error.response["Error"]["Code"] != "InvalidGroup.NotFound":
            raise
    return f"deleted {SERVICE_GROUP} ({group_id}) of {vpc_id}"


def _answer(event: dict, reason: str) -> None:
    answer = {"Status": "SUCCESS", "Reason": reason, "PhysicalResourceId": event["PhysicalResourceId"]}
    answer |= {key: event[key] for key in ("StackId", "RequestId", "LogicalResourceId")}
    request = urllib.request.Request(
        event["ResponseURL"], json.dumps(answer).encode(), method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
