"""The web server stack: network, instance, document-root volume, front door, outputs."""

from __future__ import annotations

import base64
import io
import re
import tarfile

from constructs.boot_user_data import USER_DATA_LIMIT, boot_files
from template_queries import only_resource, resources_of


def _web(app):
    return app.raw(app.stacks.web_server)


def _logical_id(stack, construct):
    return stack.get_logical_id(construct.node.default_child)


def _user_data_parts(app):
    instance = only_resource(_web(app), "AWS::EC2::Instance")
    return instance["Properties"]["UserData"]["Fn::Base64"]["Fn::Join"][1]


# ---- 1. network ----
def test_vpc_has_public_subnets_only_and_no_nat_gateway(dev_app):
    raw = _web(dev_app)
    assert not resources_of(raw, "AWS::EC2::NatGateway")
    subnets = resources_of(raw, "AWS::EC2::Subnet")
    assert len(subnets) == 2
    assert all(s["Properties"]["MapPublicIpOnLaunch"] for s in subnets.values())


def test_vpc_has_an_s3_gateway_endpoint(dev_app):
    endpoint = only_resource(_web(dev_app), "AWS::EC2::VPCEndpoint")["Properties"]
    assert endpoint["VpcEndpointType"] == "Gateway"
    assert "s3" in str(endpoint["ServiceName"])


def test_vpc_flow_logs_expire(dev_app):
    dev_app.template(dev_app.stacks.web_server).has_resource_properties(
        "AWS::EC2::FlowLog", {"TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"}
    )
    flow_log = only_resource(_web(dev_app), "AWS::EC2::FlowLog")["Properties"]
    group_id = flow_log["LogGroupName"]["Ref"]
    assert _web(dev_app)["Resources"][group_id]["Properties"]["RetentionInDays"] == 90


# ---- 2. instance ----
def test_instance_requires_imdsv2(dev_app):
    template = dev_app.template(dev_app.stacks.web_server)
    template.has_resource_properties(
        "AWS::EC2::LaunchTemplate",
        {"LaunchTemplateData": {"MetadataOptions": {"HttpTokens": "required"}}},
    )
    instance = only_resource(_web(dev_app), "AWS::EC2::Instance")["Properties"]
    assert "LaunchTemplate" in instance


def test_instance_runs_latest_al2023_for_its_architecture_from_ssm(dev_app, prod_app):
    for app, arch in ((dev_app, "arm64"), (prod_app, "x86_64")):
        parameters = _web(app)["Parameters"]
        image = next(p for p in parameters.values() if "ami-amazon-linux-latest" in str(p.get("Default")))
        assert image["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
        assert image["Default"].startswith("/aws/service/ami-amazon-linux-latest/al2023-ami-")
        assert image["Default"].endswith(arch)


def test_instance_type_follows_settings(dev_app, prod_app):
    assert only_resource(_web(dev_app), "AWS::EC2::Instance")["Properties"]["InstanceType"] == "t4g.micro"
    assert only_resource(_web(prod_app), "AWS::EC2::Instance")["Properties"]["InstanceType"] == "t3.small"


def test_instance_has_no_key_pair_and_an_encrypted_root_volume(dev_app):
    props = only_resource(_web(dev_app), "AWS::EC2::Instance")["Properties"]
    assert "KeyName" not in props
    root = props["BlockDeviceMappings"][0]
    assert root["DeviceName"] == "/dev/xvda"
    assert root["Ebs"]["Encrypted"] is True
    assert root["Ebs"]["VolumeType"] == "gp3"
    assert props["Monitoring"] is True


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
    actions = sorted(s["Action"] for s in statements)
    assert actions == ["ec2:AttachVolume", "ec2:DescribeVolumes"]
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
    subnet_id = instance["NetworkInterfaces"][0]["SubnetId"]["Ref"]
    assert raw["Resources"][subnet_id]["Properties"]["AvailabilityZone"] == volume_az
    assert instance["AvailabilityZone"] == volume_az


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


# ---- 6. the page's image URL ----
def test_user_data_passes_the_image_url_built_from_the_distribution_domain(dev_app):
    content = dev_app.stacks.content
    parts = _user_data_parts(dev_app)
    domain_output = next(
        name
        for name, output in dev_app.raw(content)["Outputs"].items()
        if output["Value"] == {"Fn::GetAtt": [_logical_id(content, content.cdn.distribution), "DomainName"]}
    )
    index = next(
        i for i, part in enumerate(parts) if "Fn::GetStackOutput" in str(part) and domain_output in str(part)
    )
    assert parts[index]["Fn::GetStackOutput"]["StackName"] == content.stack_name
    assert parts[index - 1].endswith("IMAGE_URL='https://")
    assert parts[index + 1].startswith("/images/site-image.jpg'")


def test_user_data_carries_the_volume_id_and_runs_boot(dev_app):
    parts = _user_data_parts(dev_app)
    volume_id = _logical_id(dev_app.stacks.web_server, dev_app.stacks.web_server.document_root.volume)
    index = parts.index({"Ref": volume_id})
    assert parts[index - 1].endswith("export VOLUME_ID='")
    assert parts[-1].rstrip().endswith("/opt/site-boot/boot.sh")


def test_user_data_ships_the_boot_scripts_verbatim_within_the_size_limit(dev_app):
    parts = _user_data_parts(dev_app)
    text = "".join(p for p in parts if isinstance(p, str))
    # Deploy-time values still to come: volume id (21), CloudFront domain (about 30), token (36).
    resolved_values = 21 + 64 + 36
    assert len(text.encode()) + resolved_values < USER_DATA_LIMIT
    match = re.search(r"<<'SITE_BOOT_ARCHIVE_END'[^\n]*\n(.*?)\nSITE_BOOT_ARCHIVE_END", text, re.S)
    assert match, "the archive here-document is missing"
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(match.group(1))), mode="r:gz") as archive:
        shipped = {member.name: archive.extractfile(member).read() for member in archive.getmembers()}
        modes = {member.name: member.mode for member in archive.getmembers()}
    assert shipped == {path.name: path.read_bytes() for path in boot_files()}
    assert "boot.sh" in shipped
    assert modes["boot.sh"] == 0o755


def test_new_user_data_replaces_the_instance(dev_app):
    # CDK salts the logical id with a hash of the user data when replacement is on.
    instance_id = next(iter(resources_of(_web(dev_app), "AWS::EC2::Instance")))
    assert re.fullmatch(r"WebServerInstance[0-9A-F]{8}[0-9a-f]{16}", instance_id)


# ---- front door, monitoring ----
def test_site_distribution_fronts_the_instance_over_http(dev_app):
    raw = _web(dev_app)
    config = only_resource(raw, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    origin = config["Origins"][0]
    instance_id = next(iter(resources_of(raw, "AWS::EC2::Instance")))
    ((address_id, address),) = resources_of(raw, "AWS::EC2::EIP").items()
    assert address["Properties"]["InstanceId"] == {"Ref": instance_id}
    assert address["Properties"]["Domain"] == "vpc"
    gateway_attachment = next(iter(resources_of(raw, "AWS::EC2::VPCGatewayAttachment")))
    assert gateway_attachment in address["DependsOn"]
    # The origin is the Elastic IP's public DNS name, which survives stops and replacements.
    (condition_id,) = raw["Conditions"]
    assert raw["Conditions"][condition_id] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    assert origin["DomainName"] == {
        "Fn::Join": [
            "",
            [
                "ec2-",
                {"Fn::Join": ["-", {"Fn::Split": [".", {"Fn::GetAtt": [address_id, "PublicIp"]}]}]},
                ".",
                {
                    "Fn::If": [
                        condition_id,
                        "compute-1",
                        {"Fn::Join": ["", [{"Ref": "AWS::Region"}, ".compute"]]},
                    ]
                },
                ".",
                {"Ref": "AWS::URLSuffix"},
            ],
        ]
    }
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "http-only"
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["CachePolicyId"]["Ref"].startswith("PageCache")  # page_cache_seconds
    assert config["HttpVersion"] == "http2and3"


def test_status_check_alarms_recover_and_reboot(dev_app):
    alarms = resources_of(_web(dev_app), "AWS::CloudWatch::Alarm")
    by_metric = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms.values()}
    assert set(by_metric) == {"StatusCheckFailed_System", "StatusCheckFailed_Instance"}
    assert ":automate:" in str(by_metric["StatusCheckFailed_System"]["AlarmActions"])
    assert "ec2:recover" in str(by_metric["StatusCheckFailed_System"]["AlarmActions"])
    assert "ec2:reboot" in str(by_metric["StatusCheckFailed_Instance"]["AlarmActions"])


# ---- 7. outputs ----
def test_outputs_a_user_can_click_or_copy(dev_app):
    outputs = _web(dev_app)["Outputs"]
    assert {"SiteUrl", "ImageUrl", "InstanceId", "DocumentRootVolumeId"} <= set(outputs)
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


def test_only_this_distribution_knows_the_origin_token(dev_app):
    raw = _web(dev_app)
    token = {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
    config = only_resource(raw, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    assert config["Origins"][0]["OriginCustomHeaders"] == [
        {"HeaderName": "X-Origin-Verify", "HeaderValue": token}
    ]
    parts = _user_data_parts(dev_app)
    index = parts.index(token)
    assert parts[index - 1].endswith("export ORIGIN_VERIFY_TOKEN='")
    assert parts[index + 1].startswith("'\n")
