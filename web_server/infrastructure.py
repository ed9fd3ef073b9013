"""The Apache web server: Amazon Linux 2023 in a private subnet, no SSH, no public address."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnTag, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from common.nag import acknowledge, default_policy
from network.infrastructure import SiteNetwork

# AWS's public parameter naming the latest AL2023 AMI for an architecture, read by EC2 at launch.
AL2023_IMAGE_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{}"
BOOTSTRAP = Path(__file__).resolve().parent / "runtime" / "boot" / "user-data.yaml"
ROOT_DEVICE = "/dev/xvda"
ROOT_VOLUME_GIB = 8


def bootstrap_user_data(server_generation: int) -> str:
    """The same text for every deployment of one server generation: no deploy-time value can
    change the launch template; the site's configuration arrives through State Manager instead."""
    return BOOTSTRAP.read_text().replace("@SERVER_GENERATION@", str(server_generation))


@dataclass(frozen=True, kw_only=True)
class ServerSpec:
    """What a deployment chooses for the server; the settings have checked every value."""

    instance_type: str
    arm64: bool
    detailed_monitoring: bool
    generation: int


class WebServer(Construct):
    """An instance administered through SSM Session Manager: no key pair, no port 22. EC2 reads the AMI
    at launch (``resolve:ssm:``), so a new AWS image replaces nothing. What would replace the server
    (the architecture, the root disk, the bootstrap, ``server_generation``) lives in the launch
    template; what can change in place, on the instance (type, monitoring, tags)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: SiteNetwork,
        spec: ServerSpec,
    ) -> None:
        super().__init__(scope, construct_id)
        subnet = network.web_subnet
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=network.vpc,
            description="Web server: HTTP from CloudFront only, no SSH",
            # Egress to S3 over IPv4 (the L2's default) and to AWS's dual-stack endpoints over IPv6.
            allow_all_ipv6_outbound=True,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="Web server: SSM, attaching its own document-root volume, its fallback copy",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")],
        )
        acknowledge(
            self.role.node.default_child,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]",
            "AmazonSSMManagedInstanceCore is the AWS-maintained minimum for Session Manager, "
            "which replaces SSH here, and for State Manager, which configures the server.",
        )
        image_parameter = AL2023_IMAGE_PARAMETER.format("arm64" if spec.arm64 else "x86_64")
        user_data = bootstrap_user_data(spec.generation)
        root_volume = ec2.BlockDeviceVolume.ebs(
            ROOT_VOLUME_GIB,
            encrypted=True,
            volume_type=ec2.EbsDeviceVolumeType.GP3,
            delete_on_termination=True,
        )
        self.launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            machine_image=ec2.MachineImage.resolve_ssm_parameter_at_launch(image_parameter),
            user_data=ec2.UserData.custom(user_data),
            security_group=self.security_group,
            role=self.role,
            require_imdsv2=True,
            block_devices=[ec2.BlockDevice(device_name=ROOT_DEVICE, volume=root_volume)],
        )
        # Tags belong on the instance, where a change applies in place; in the template they
        # would make a new version, and a new version replaces the instance.
        self.launch_template.node.default_child.add_property_deletion_override(
            "LaunchTemplateData.TagSpecifications"
        )
        self.instance = ec2.CfnInstance(
            self,
            "Instance",
            launch_template=ec2.CfnInstance.LaunchTemplateSpecificationProperty(
                launch_template_id=self.launch_template.launch_template_id,
                version=self.launch_template.latest_version_number,
            ),
            subnet_id=subnet.subnet_id,
            instance_type=spec.instance_type,
            monitoring=spec.detailed_monitoring,
            propagate_tags_to_volume_on_creation=True,
            tags=[CfnTag(key="Name", value=f"{Stack.of(self).stack_name}/web-server")],
        )
        # Its first boot calls AWS (SSM, EC2, S3) at once: the routes out must exist by then.
        self.instance.node.add_dependency(*network.egress)
        self.instance_id = self.instance.ref
        # Changes with everything that replaces the instance, and with nothing else.
        replaced_by = (image_parameter, user_data, f"{ROOT_DEVICE} {ROOT_VOLUME_GIB}", subnet.node.path)
        self.replacement_key = hashlib.sha256("\n".join(replaced_by).encode()).hexdigest()[:8]
        self.role.add_to_principal_policy(
            iam.PolicyStatement(sid="ReadVolumeState", actions=["ec2:DescribeVolumes"], resources=["*"])
        )
        policy = default_policy(self.role)
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeVolumes, which the boot script uses to wait for the volume, supports "
            "no resource-level permissions in IAM; it is read-only.",
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]",
            "ec2:AttachVolume is limited by a resource-tag condition to this instance and its "
            "document-root volume; naming the instance would make it depend on its own role.",
        )
        acknowledge(
            self.instance,
            "AwsSolutions-EC29",
            "CloudFormation must be able to terminate this instance when it is rolled on purpose "
            "(server_generation, architecture); termination protection would block that cleanup "
            "and leave the old instance holding the volume. The data lives on the retained "
            "volume; production stacks have termination protection.",
        )
        if not spec.detailed_monitoring:
            acknowledge(
                self.instance,
                "AwsSolutions-EC28",
                "Detailed monitoring is off unless the detailed_monitoring setting asks for it: the "
                "alarms read status checks, which EC2 publishes every minute at no charge, and the "
                "site's own health metric; five-minute CPU and network figures suffice here.",
            )

    def add_policy(self, scope: Construct, name: str, *statements: iam.PolicyStatement) -> iam.CfnPolicy:
        """A policy of the role outside its default policy, which the launch template waits for: for
        statements that name resources created after the instance."""
        policy = iam.Policy(scope, name, roles=[self.role], statements=list(statements))
        return policy.node.default_child
