"""The image bucket and its distribution: private bucket, Origin Access Control, HTTPS."""

from __future__ import annotations

import json
import re
import subprocess

from aws_cdk.assertions import Match

from settings.model import PROJECT_ROOT, SettingsError, SiteSettings
from tests.unit.template_queries import only_resource, resources_of
from tests.unit.test_settings import ZIP_REWRITES, png

MANAGED_CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"


def _image_bucket(dev_app):
    content = dev_app.stacks.content
    logical_id = content.get_logical_id(content.images.bucket.node.default_child)
    return logical_id, dev_app.raw(content)["Resources"][logical_id]


def test_every_bucket_blocks_public_access_and_is_encrypted(dev_app):
    buckets = resources_of(dev_app.raw(dev_app.stacks.content), "AWS::S3::Bucket")
    assert len(buckets) == 2  # images and access logs
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_no_public_read_acl_anywhere(dev_app):
    for stack in (dev_app.stacks.content, dev_app.stacks.web_server):
        text = str(dev_app.raw(stack))
        assert "PublicRead" not in text
        assert "AllUsers" not in text


def test_image_bucket_disables_acls_and_keeps_versions_and_access_logs(dev_app):
    _, bucket = _image_bucket(dev_app)
    props = bucket["Properties"]
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "s3-access/image-bucket/"


def test_every_bucket_policy_denies_plain_http(dev_app):
    template = dev_app.template(dev_app.stacks.content)
    policies = resources_of(dev_app.raw(dev_app.stacks.content), "AWS::S3::BucketPolicy")
    assert len(policies) == 2
    template.resource_properties_count_is(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                "Principal": {"AWS": "*"},
                            }
                        )
                    ]
                )
            }
        },
        2,
    )


def test_bucket_policy_lets_only_this_distribution_read_through_oac(dev_app):
    content = dev_app.stacks.content
    template = dev_app.template(content)
    bucket_id, _ = _image_bucket(dev_app)
    distribution_id = content.get_logical_id(content.cdn.distribution.node.default_child)
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "s3:GetObject",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudfront.amazonaws.com"},
                            "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]},
                            "Condition": {
                                "StringEquals": {
                                    "AWS:SourceArn": {
                                        "Fn::Join": Match.array_with(
                                            [Match.array_with([{"Ref": distribution_id}])]
                                        )
                                    }
                                }
                            },
                        }
                    ]
                )
            },
        },
    )


def test_distribution_uses_origin_access_control_not_identity(dev_app):
    raw = dev_app.raw(dev_app.stacks.content)
    oac = only_resource(raw, "AWS::CloudFront::OriginAccessControl")["Properties"]
    config = oac["OriginAccessControlConfig"]
    assert config["OriginAccessControlOriginType"] == "s3"
    assert config["SigningBehavior"] == "always"
    assert config["SigningProtocol"] == "sigv4"
    assert not resources_of(raw, "AWS::CloudFront::CloudFrontOriginAccessIdentity")
    origin = only_resource(raw, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"][
        "Origins"
    ][0]
    assert "OriginAccessControlId" in origin
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}


def test_image_distribution_is_https_only_compressed_cached_and_logged(dev_app):
    raw = dev_app.raw(dev_app.stacks.content)
    config = only_resource(raw, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["Compress"] is True
    assert behavior["CachePolicyId"] == MANAGED_CACHING_OPTIMIZED
    assert "ResponseHeadersPolicyId" in behavior
    assert config["HttpVersion"] == "http2and3"
    assert config["PriceClass"] == "PriceClass_100"
    assert config["Logging"]["Fn::If"][1]["Prefix"] == "cloudfront/images/"


def test_image_is_uploaded_under_its_key_without_pruning_and_invalidated(dev_app):
    raw = dev_app.raw(dev_app.stacks.content)
    deployment = only_resource(raw, "Custom::CDKBucketDeployment")["Properties"]
    assert deployment["DestinationBucketKeyPrefix"] == "images/"
    assert deployment["Prune"] is False
    # A new image under the same name is invalidated in the image distribution at once.
    content = dev_app.stacks.content
    distribution_id = content.get_logical_id(content.cdn.distribution.node.default_child)
    assert deployment["DistributionId"] == {"Ref": distribution_id}
    assert deployment["DistributionPaths"] == ["/images/*"]


def test_content_outputs(dev_app):
    outputs = dev_app.raw(dev_app.stacks.content)["Outputs"]
    assert {"ImageBucketName", "ImageUrl", "ImageDistributionId"} <= set(outputs)


def test_log_bucket_is_encrypted_private_and_expires_logs(dev_app):
    content = dev_app.stacks.content
    logical_id = content.get_logical_id(content.logs.bucket.node.default_child)
    props = dev_app.raw(content)["Resources"][logical_id]["Properties"]
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == dev_app.settings.log_retention_days == 90
    assert rule["Status"] == "Enabled"
    image_logging = _image_bucket(dev_app)[1]["Properties"]["LoggingConfiguration"]
    assert image_logging["DestinationBucketName"] == {"Ref": logical_id}


def test_both_distributions_send_security_headers_and_log(dev_app):
    for stack, prefix in (
        (dev_app.stacks.content, "cloudfront/images/"),
        (dev_app.stacks.web_server, "cloudfront/site/"),
    ):
        raw = dev_app.raw(stack)
        config = only_resource(raw, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
        assert config["Logging"]["Fn::If"][1]["Prefix"] == prefix
        policy_id = config["DefaultCacheBehavior"]["ResponseHeadersPolicyId"]["Ref"]
        headers = raw["Resources"][policy_id]["Properties"]["ResponseHeadersPolicyConfig"][
            "SecurityHeadersConfig"
        ]
        assert headers["StrictTransportSecurity"] == {
            "AccessControlMaxAgeSec": 63072000,
            "IncludeSubdomains": True,
            "Override": True,
        }
        assert headers["ContentTypeOptions"] == {"Override": True}
        assert headers["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
        assert headers["ReferrerPolicy"] == {
            "ReferrerPolicy": "strict-origin-when-cross-origin",
            "Override": True,
        }
        assert "frame-ancestors 'none'" in str(headers["ContentSecurityPolicy"])


def test_page_may_load_images_only_from_the_image_distribution(dev_app):
    raw = dev_app.raw(dev_app.stacks.web_server)
    policy = only_resource(raw, "AWS::CloudFront::ResponseHeadersPolicy")["Properties"]
    csp = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]["ContentSecurityPolicy"]
    parts = csp["ContentSecurityPolicy"]["Fn::Join"][1]
    assert parts[0] == "default-src 'none'; img-src https://"
    association = only_resource(raw, "AWS::SSM::Association")
    image_url = association["Properties"]["Parameters"]["ImageUrl"][0]["Fn::Join"][1]
    image_domain = next(part for part in image_url if "Fn::GetStackOutput" in str(part))
    assert parts[1] == image_domain  # the very value the page's IMAGE_URL is built from


def test_an_image_name_the_settings_take_is_the_name_the_cdk_clis_zip_keeps(tmp_path):
    """The CDK CLI zips the upload with yazl, whose check of each name (run here as the pinned CLI holds it)
    turns \\ into / and refuses names that look absolute or climb: a name the settings take must come out of
    it as it went in, and one it changes or refuses must be one the settings refuse."""
    cli = (PROJECT_ROOT / "node_modules" / "aws-cdk" / "lib" / "index.js").read_text(encoding="utf-8")
    check = re.search(
        r"function validateMetadataPath\(.*?\n\s*\}\n(?=\s*__name\(validateMetadataPath)", cli, re.S
    )
    names = [
        *ZIP_REWRITES,
        "site.png",
        'it\'s "$HOME" [1]!*?.png',
        "café ü.png",
        "a..b.png",
        "1:x.png",
        "-.png",
    ]
    script = f"{check[0]}\nconsole.log(JSON.stringify(JSON.parse(process.argv[1]).map(name => {{\n"
    script += "  try { return validateMetadataPath(name, false); } catch (error) { return null; } })));"
    zipped = subprocess.run(
        ["node", "-e", script, json.dumps(names)], capture_output=True, text=True, timeout=60, check=True
    )
    kept = dict(zip(names, json.loads(zipped.stdout), strict=True))
    taken = {}
    for name in names:
        (tmp_path / name).write_bytes(png(1, 1))
        try:
            taken[name] = bool(SiteSettings.from_context({"image_file": str(tmp_path / name)}))
        except SettingsError:
            taken[name] = False
    assert {name: kept[name] == name for name in names} == taken
    assert sorted(name for name in names if not taken[name]) == sorted(ZIP_REWRITES)
