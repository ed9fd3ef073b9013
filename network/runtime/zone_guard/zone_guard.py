"""Custom resource (aws-cdk-lib's Provider framework): the zone of the web subnet and its volume, checked
before either is created or changed. A first deploy refuses a zone where CloudFront cannot place VPC
origins or that does not offer the instance type, naming the zone IDs that work; a later deploy refuses
any change of zone, which would replace the subnet and the volume. The physical id records how the zone
was chosen and which it is: ``first-zone:use1-az1`` (the Region's first zone name, the template's
``Fn::Select [0, Fn::GetAZs]``) or ``zone-id:use1-az1`` (the availability_zone_id setting)."""

from __future__ import annotations

import boto3
from botocore.exceptions import ClientError


class Refusal(Exception):
    """The deploy stops here, before the subnet or the volume changes; CloudFormation shows the line."""


def on_event(event: dict, context) -> dict:
    if event["RequestType"] == "Delete":
        return {}
    props, ec2 = event["ResourceProperties"], boto3.client("ec2")
    available = ec2.describe_availability_zones(
        Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}]
    )
    names = {zone["ZoneId"]: zone["ZoneName"] for zone in available["AvailabilityZones"]}
    form = "zone-id" if props["ZoneId"] else "first-zone"
    wanted = props["ZoneId"] or next(i for i, name in names.items() if name == props["FirstZoneName"])
    instance_type, excluded = props["InstanceType"], props["ExcludedZoneIds"]
    offering = ec2.describe_instance_type_offerings(
        LocationType="availability-zone-id", Filters=[{"Name": "instance-type", "Values": [instance_type]}]
    )
    offered = {offer["Location"] for offer in offering["InstanceTypeOfferings"]}
    usable = ", ".join(sorted(zone for zone in names if zone in offered and zone not in excluded)) or "none"
    kept = _kept(event, ec2)
    if kept and kept != (form, wanted):
        kept_form, kept_zone = kept
        fix = "leave it unset" if kept_form == "first-zone" else f"set it to {kept_zone}"
        given = f"availability_zone_id={props['ZoneId']}" if props["ZoneId"] else "availability_zone_id unset"
        raise Refusal(
            f"this deployment's subnet and volume are in {kept_zone}, chosen with availability_zone_id "
            f"{'unset' if kept_form == 'first-zone' else 'set'}; {given} would replace both and leave the "
            f"site's data on the old volume: {fix}"
        )
    if wanted not in names:
        zones = ", ".join(sorted(names))
        raise Refusal(f"availability_zone_id {wanted} is not a zone of this Region: its zones are {zones}")
    where = f"{wanted} ({names[wanted]})"
    if not kept and wanted in excluded:
        raise Refusal(
            f"the zone {where} cannot hold CloudFront VPC origins in this account: set availability_zone_id "
            f"to one of {usable} (cdk.context.json, or -c availability_zone_id=...) and deploy again"
        )
    if wanted not in offered:
        fix = (
            "choose an instance_type it offers"
            if kept
            else f"choose another, or set availability_zone_id to one of {usable}"
        )
        raise Refusal(f"the zone {where} does not offer instance type {instance_type}: {fix}")
    return {"PhysicalResourceId": f"{form}:{wanted}", "Data": {"ZoneId": wanted, "ZoneName": names[wanted]}}


def _kept(event: dict, ec2) -> tuple[str, str] | None:
    """(form, zone ID) of the deployment's subnet; None on a first deploy."""
    if event["RequestType"] == "Update":
        form, _, zone = event["PhysicalResourceId"].partition(":")
        return form, zone
    # Created into a stack deployed before this resource existed, whose subnet took the first zone.
    try:
        subnet = boto3.client("cloudformation").describe_stack_resource(
            StackName=event["StackId"], LogicalResourceId=event["ResourceProperties"]["SubnetLogicalId"]
        )["StackResourceDetail"]["PhysicalResourceId"]
    except ClientError as error:
        if "does not exist" in error.response["Error"]["Message"]:
            return None
        raise
    (found,) = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]
    return "first-zone", found["AvailabilityZoneId"]
