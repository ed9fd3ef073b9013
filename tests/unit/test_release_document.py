"""web_server/releases.py: the document make publish and make restore send, what the server's role
gains for it (reading the uploads, writing the output), and the uploads' expiry."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from tests import ssm_agent
from tests.deployed_values import Deployment
from tests.unit.template_queries import resources_of
from web_server.releases import PARAMETERS
from web_server.transfer import COMMAND_OUTPUT_PREFIX, TRANSFER_PREFIX


@pytest.fixture(params=["dev_app", "prod_app"])
def app(request):
    return request.getfixturevalue(request.param)


def _document(app) -> dict:
    raw = app.raw(app.stacks.web_server)
    name = raw["Outputs"]["ReleaseDocument"]["Value"]["Ref"]
    return raw["Resources"][name]["Properties"]


def _objects(prefix: str) -> dict:
    return {
        "Fn::Join": [
            "",
            [{"Fn::GetAtt": [Match.string_like_regexp("^RunOutputBucket"), "Arn"]}, f"/{prefix}*"],
        ]
    }


def test_the_document_runs_the_release_script_with_each_value_quoted(app):
    document = _document(app)
    assert document["DocumentType"] == "Command"
    content = Deployment(app.templates, region="eu-west-1").resolve(
        app.stacks.web_server.stack_name, document["Content"]
    )
    values = {
        "Action": "publish",
        "Release": "20260101T120000Z-publish-1a2b",
        "VolumeId": "none",
        "DeviceName": "none",
    }

    script = ssm_agent.script(content, values)

    bucket = Deployment(app.templates, region="eu-west-1").resolve(
        app.stacks.web_server.stack_name,
        app.raw(app.stacks.web_server)["Outputs"]["RunOutputBucketName"]["Value"],
    )
    assert script == (
        f"export AWS_REGION='eu-west-1' TRANSFER_BUCKET='{bucket}' TRANSFER_PREFIX='{TRANSFER_PREFIX}'\n"
        "bash /opt/site-boot/boot/site-release.sh 'publish' '20260101T120000Z-publish-1a2b' 'none' 'none'"
    )


@pytest.mark.parametrize(
    ("name", "accepted", "refused"),
    [
        (
            "Action",
            ["inventory", "status", "publish", "previous", "snapshot"],
            ["layout", "publish; reboot", ""],
        ),
        (
            "Release",
            ["none", "20260101T120000Z-publish-1a2b", "20260101T120000Z-snap-0123456789abcdef0"],
            ["", "latest", "20260101T120000Z-../x", "20260101T120000Z-A", "x/20260101T120000Z-a"],
        ),
        (
            "VolumeId",
            ["none", "vol-0123abcd", "vol-0123456789abcdef0"],
            ["vol-0123", "vol-$(id)", "snap-01234567"],
        ),
        # Never the document root's own device.
        ("DeviceName", ["none", "/dev/sdg", "/dev/xvdp"], ["/dev/sdf", "/dev/xvdf", "/dev/sda", "/dev/sdg1"]),
    ],
)
def test_each_parameter_takes_what_its_command_needs_and_nothing_that_breaks_the_script(
    dev_app, name, accepted, refused
):
    pattern = _document(dev_app)["Content"]["parameters"][name]["allowedPattern"]
    assert pattern == PARAMETERS[name][0]
    for value in accepted:
        ssm_agent.check_value(name, pattern, value)
    for value in refused:
        with pytest.raises(ssm_agent.ParameterRefused):
            ssm_agent.check_value(name, pattern, value)


def test_the_server_may_read_the_uploads_and_write_the_output_and_nothing_more_for_it(app):
    template = app.template(app.stacks.web_server)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyName": Match.string_like_regexp("^ReleasesInstancePolicy"),
            "PolicyDocument": {
                "Statement": [
                    {"Sid": "ReadPublishedFolders", "Effect": "Allow", "Action": "s3:GetObject",
                     "Resource": _objects(TRANSFER_PREFIX)},
                    {"Sid": "WriteCommandOutput", "Effect": "Allow", "Action": "s3:PutObject",
                     "Resource": _objects(COMMAND_OUTPUT_PREFIX)},
                ],
                "Version": "2012-10-17",
            },
            "Roles": [{"Ref": Match.string_like_regexp("^WebServerRole")}],
        },
    )  # fmt: skip
    # No EC2 action for a restore from a snapshot: the operator's credentials make those calls.
    actions = set()
    for policy in resources_of(app.raw(app.stacks.web_server), "AWS::IAM::Policy").values():
        if any(role["Ref"].startswith("WebServerRole") for role in policy["Properties"]["Roles"]):
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                given = statement["Action"]
                actions |= {given} if isinstance(given, str) else set(given)
    assert {action for action in actions if action.startswith("ec2:")} == {
        "ec2:AttachVolume",
        "ec2:DescribeVolumes",
    }


def test_the_uploads_expire_after_a_day_and_the_logs_as_before(app):
    (bucket,) = [
        b
        for name, b in resources_of(app.raw(app.stacks.web_server), "AWS::S3::Bucket").items()
        if name.startswith("RunOutputBucket")
    ]
    rules = {rule["Id"]: rule for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireTransfers"] == {
        "ExpirationInDays": 1,
        "Id": "ExpireTransfers",
        "Prefix": TRANSFER_PREFIX,
        "Status": "Enabled",
    }
    assert rules["ExpireLogs"]["ExpirationInDays"] == app.settings.log_retention_days
    assert bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        key: True
        for key in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    }


def test_the_operator_finds_the_document_and_the_bucket_in_the_outputs(app):
    outputs = app.raw(app.stacks.web_server)["Outputs"]
    assert outputs["ReleaseDocument"]["Value"]["Ref"].startswith("ReleasesDocument")
    assert outputs["RunOutputBucketName"]["Value"]["Ref"].startswith("RunOutputBucket")
