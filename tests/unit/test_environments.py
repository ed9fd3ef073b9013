"""dev and prod: what `cdk destroy` deletes or keeps, protection, tags, optional features."""

from __future__ import annotations

import functools
import json

import botocore.session
import regex
from aws_cdk.assertions import Annotations, Match
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from tests.unit.template_queries import only_resource, resources_of

# The call each service takes tags with; CloudFormation's CreateStack for a stack's own tags.
TAGGING_CALLS = (
    "TagResource",
    "AddTagsToResource",
    "CreateTags",
    "TagRole",
    "PutBucketTagging",
    "CreateStack",
)


@functools.cache
def tag_shapes(service: str) -> tuple:
    """The tag key's and value's shapes in ``service``'s botocore model, in the input of its tagging call."""
    model = botocore.session.get_session().get_service_model(service)
    call = next(name for name in TAGGING_CALLS if name in model.operation_names)

    def pair(shape):
        if shape.type_name == "map":
            return shape.key, shape.value
        if shape.type_name == "list":
            return pair(shape.member)
        members = {name.lower(): member for name, member in getattr(shape, "members", {}).items()}
        if set(members) in ({"key", "value"}, {"tagkey", "tagvalue"}):
            return members.get("key", members.get("tagkey")), members.get("value", members.get("tagvalue"))
        found = (pair(members[name]) for name in ("tags", "tagging", "tagset", "items") if name in members)
        return next(filter(None, found), None)

    return pair(model.operation_model(call).input_shape)


def refusal(service: str, key: str, value: str) -> str | None:
    """Why ``service`` refuses the tag: its key's or value's length (in UTF-16 units) or pattern, a Java
    regex that the regex package reads as Java does (\\p{L}; +-= inside brackets is a range)."""
    for text, shape in zip((key, value), tag_shapes(service), strict=True):
        rule = shape.metadata
        pattern = rule.get("pattern", ".*").replace(r"\p{all}", r"\s\S")  # Java's any character
        units = len(text.encode("utf-16-le")) // 2
        if not rule.get("min", 0) <= units <= rule.get("max", units) or not regex.fullmatch(pattern, text):
            return f"{service} refuses {text!r}: {shape.name} {rule}"
    return None


def _taggable(kind: str) -> bool:
    """Whether CloudFormation tags a resource of this type, and so passes a stack's tags on to it."""
    return (
        PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", kind)
        .schema.get("tagging", {})
        .get("taggable")
    )


def test_dev_destroy_empties_and_deletes_buckets_but_snapshots_the_volume(dev_app):
    content = dev_app.raw(dev_app.stacks.content)
    for bucket in resources_of(content, "AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Delete"
    assert len(resources_of(content, "Custom::S3AutoDeleteObjects")) == 2
    volume = only_resource(dev_app.raw(dev_app.stacks.web_server), "AWS::EC2::Volume")
    assert (volume["DeletionPolicy"], volume["UpdateReplacePolicy"]) == ("Snapshot", "Snapshot")
    deployment = only_resource(content, "Custom::CDKBucketDeployment")["Properties"]
    assert deployment.get("RetainOnDelete") is False


def test_prod_destroy_keeps_buckets_and_volume(prod_app):
    content = prod_app.raw(prod_app.stacks.content)
    for bucket in resources_of(content, "AWS::S3::Bucket").values():
        assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert not resources_of(content, "Custom::S3AutoDeleteObjects")
    volume = only_resource(prod_app.raw(prod_app.stacks.web_server), "AWS::EC2::Volume")
    assert (volume["DeletionPolicy"], volume["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_the_volume_keeps_its_logical_id(dev_app):
    # A new logical id means CloudFormation creates a new, blank volume and the site starts
    # over (the old data survives only as a snapshot or a retained volume). Renaming or
    # moving the construct must be a deliberate decision, not a side effect.
    volumes = resources_of(dev_app.raw(dev_app.stacks.web_server), "AWS::EC2::Volume")
    assert list(volumes) == ["DocumentRootVolumeECA53C58"]


def test_termination_protection_on_prod_stacks_never_on_the_instance(dev_app, prod_app):
    for app, protected in ((dev_app, False), (prod_app, True)):
        manifest = json.loads((app.outdir / "manifest.json").read_text())
        for stack in (app.stacks.content, app.stacks.web_server):
            assert (
                manifest["artifacts"][stack.artifact_id]["properties"]["terminationProtection"] is protected
            )
        # CloudFormation must be able to terminate a replaced instance, or it keeps the volume.
        instance = only_resource(app.raw(app.stacks.web_server), "AWS::EC2::Instance")
        assert "DisableApiTermination" not in instance["Properties"]


def test_stack_names_carry_the_environment_and_no_physical_names_collide(dev_app, prod_app):
    assert {dev_app.stacks.content.stack_name, dev_app.stacks.web_server.stack_name} == {
        "SiteContent-dev",
        "SiteWebServer-dev",
    }
    assert prod_app.stacks.web_server.stack_name == "SiteWebServer-prod"
    for app in (dev_app, prod_app):
        for bucket in resources_of(app.raw(app.stacks.content), "AWS::S3::Bucket").values():
            assert "BucketName" not in bucket["Properties"]


def test_web_server_stack_deploys_after_content_stack(dev_app):
    manifest = json.loads((dev_app.outdir / "manifest.json").read_text())
    web = manifest["artifacts"][dev_app.stacks.web_server.artifact_id]
    assert dev_app.stacks.content.artifact_id in web["dependencies"]
    content = manifest["artifacts"][dev_app.stacks.content.artifact_id]
    assert dev_app.stacks.web_server.artifact_id not in content.get("dependencies", [])


def test_stacks_carry_the_tags_so_cloudformation_propagates_them(dev_app, prod_app):
    for app in (dev_app, prod_app):
        manifest = json.loads((app.outdir / "manifest.json").read_text())
        for stack in (app.stacks.content, app.stacks.web_server):
            tags = manifest["artifacts"][stack.artifact_id]["properties"]["tags"]
            assert tags["project"] == "ebs-cloudfront-site"
            assert tags["environment"] == app.settings.environment


def test_each_resource_carries_every_tag_its_service_takes_and_none_it_refuses(dev_app, prod_app):
    """Each resource CloudFormation tags (its registry schema, as cfn-lint ships it) has each tag, its own or
    the stack's, which CloudFormation passes on to it, unless its service's botocore model refuses the tag;
    nothing, the stack itself included, has a tag its service refuses. prod's tags hold a key that Data
    Lifecycle Manager alone refuses."""
    assert refusal("dlm", "cost centre", "x")
    assert not refusal("ec2", "cost centre", "x")
    assert "cost centre" in prod_app.settings.tags
    for app in (dev_app, prod_app):
        manifest = json.loads((app.outdir / "manifest.json").read_text())
        for stack in (app.stacks.content, app.stacks.web_server):
            stack_tags = manifest["artifacts"][stack.artifact_id]["properties"]["tags"]
            assert not list(filter(None, (refusal("cloudformation", *tag) for tag in stack_tags.items())))
            for logical_id, resource in app.raw(stack)["Resources"].items():
                kind = resource["Type"]
                if kind.startswith("Custom::") or not _taggable(kind):
                    continue
                own = resource["Properties"].get("Tags", [])
                tags = {
                    **stack_tags,
                    **(own if isinstance(own, dict) else {t["Key"]: t["Value"] for t in own}),
                }
                service = kind.split("::")[1].lower()
                for key, value in tags.items():
                    assert not refusal(service, key, value), f"{logical_id} ({kind})"
                for key, value in app.settings.all_tags.items():
                    expected = None if refusal(service, key, value) else value
                    assert tags.get(key) == expected, f"{logical_id} ({kind}): tag {key!r}"


def test_a_tag_left_off_the_snapshot_policy_is_said_at_synth(prod_app):
    notes = Annotations.from_stack(prod_app.stacks.web_server).find_info(
        "/SiteWebServer-prod/Snapshots/Policy", Match.string_like_regexp("tag key 'cost centre' is left off")
    )
    assert len(notes) == 1


def test_custom_domain_gets_its_certificate_and_tls_1_2(prod_app):
    raw = prod_app.raw(prod_app.stacks.web_server)
    config = only_resource(raw, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    assert config["Aliases"] == ["www.example.com"]
    certificate = config["ViewerCertificate"]
    assert certificate["AcmCertificateArn"].startswith("arn:aws:acm:us-east-1:")
    assert certificate["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert certificate["SslSupportMethod"] == "sni-only"
    assert raw["Outputs"]["SiteUrl"]["Value"] == "https://www.example.com/"


def test_waf_and_geo_restriction_apply_to_both_distributions(prod_app, dev_app):
    for stack in (prod_app.stacks.content, prod_app.stacks.web_server):
        config = only_resource(prod_app.raw(stack), "AWS::CloudFront::Distribution")["Properties"][
            "DistributionConfig"
        ]
        assert config["WebACLId"] == prod_app.settings.waf_web_acl_arn
        assert config["Restrictions"]["GeoRestriction"] == {
            "RestrictionType": "whitelist",
            "Locations": ["US", "CA"],
        }
    dev_config = only_resource(dev_app.raw(dev_app.stacks.web_server), "AWS::CloudFront::Distribution")
    assert "WebACLId" not in dev_config["Properties"]["DistributionConfig"]


def test_alarm_email_gets_an_encrypted_topic_on_both_alarms(prod_app, dev_app):
    raw = prod_app.raw(prod_app.stacks.web_server)
    topic_id, topic = next(iter(resources_of(raw, "AWS::SNS::Topic").items()))
    assert "KmsMasterKeyId" in topic["Properties"]
    subscription = only_resource(raw, "AWS::SNS::Subscription")["Properties"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ops@example.com")
    for alarm in resources_of(raw, "AWS::CloudWatch::Alarm").values():
        assert {"Ref": topic_id} in alarm["Properties"]["AlarmActions"]
    (policy,) = resources_of(raw, "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    assert allow == [
        {
            "Sid": "AllowCloudWatchAlarms",
            "Action": "sns:Publish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Resource": {"Ref": topic_id},
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        }
    ]
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in str(s) for s in statements)
    assert not resources_of(dev_app.raw(dev_app.stacks.web_server), "AWS::SNS::Topic")


def test_page_cache_time_follows_the_setting(dev_app, prod_app):
    def cache_policy(app):
        raw = app.raw(app.stacks.web_server)
        config = only_resource(raw, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
        policy_id = config["DefaultCacheBehavior"]["CachePolicyId"]["Ref"]
        return raw["Resources"][policy_id]["Properties"]["CachePolicyConfig"]

    dev, prod = cache_policy(dev_app), cache_policy(prod_app)
    assert (dev["DefaultTTL"], dev["MaxTTL"], dev["MinTTL"]) == (86400, 31536000, 0)
    assert (prod["DefaultTTL"], prod["MaxTTL"], prod["MinTTL"]) == (60, 31536000, 0)
