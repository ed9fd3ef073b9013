"""The Apache web server: Amazon Linux 2023, no SSH, reachable only through CloudFront."""

from __future__ import annotations

from aws_cdk import Aws, CfnCondition, Fn, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct
from constructs.nag import acknowledge


class WebServer(Construct):
    """An instance administered through SSM Session Manager: no key pair, no port 22.

    The AMI is the latest Amazon Linux 2023 for the instance type's CPU architecture,
    resolved from the public SSM parameter at deploy time (no lookup at synth).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnet: ec2.ISubnet,
        instance_type: str,
        arm64: bool,
        user_data: ec2.UserData,
    ) -> None:
        super().__init__(scope, construct_id)
        self._vpc = vpc
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Web server: HTTP from CloudFront only, no SSH",
            # Egress for packages, SSM and the EC2 API (attaching the document-root volume).
            allow_all_outbound=True,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="Web server: SSM Session Manager and attaching its own document-root volume",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")],
        )
        acknowledge(
            self.role.node.default_child,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]",
            "AmazonSSMManagedInstanceCore is the AWS-maintained minimum for Session Manager, "
            "which replaces SSH here; AWS keeps it current as the agent's needs change.",
        )
        cpu = ec2.AmazonLinuxCpuType.ARM_64 if arm64 else ec2.AmazonLinuxCpuType.X86_64
        self.instance = ec2.Instance(
            self,
            "Instance",
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnets=[subnet]),
            instance_type=ec2.InstanceType(instance_type),
            machine_image=ec2.MachineImage.latest_amazon_linux2023(cpu_type=cpu),
            security_group=self.security_group,
            role=self.role,
            user_data=user_data,
            # New user data means a new instance: the boot scripts run once per instance.
            user_data_causes_replacement=True,
            require_imdsv2=True,
            detailed_monitoring=True,
            associate_public_ip_address=True,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        8, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3, delete_on_termination=True
                    ),
                )
            ],
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadVolumeState",
                actions=["ec2:DescribeVolumes"],
                resources=["*"],
            )
        )
        policy = self.role.node.find_child("DefaultPolicy").node.default_child
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
            self.instance.node.default_child,
            "AwsSolutions-EC29",
            "CloudFormation replaces this instance for every new AMI or boot script; instance "
            "termination protection would block its cleanup and leave the old instance holding "
            "the volume. The data lives on the retained volume; production stacks are protected.",
        )

    def add_fixed_address(self) -> str:
        """Give the instance an Elastic IP; return the public DNS name that follows it.

        CloudFront needs a DNS name as origin. The instance's own public name changes with
        every stop and start, so the origin uses the Elastic IP's name instead, which stays
        the same across stops, recoveries and replacements.
        """
        # On replacement CloudFormation updates InstanceId, which reassociates the address.
        address = ec2.CfnEIP(self, "Address", domain="vpc", instance_id=self.instance.instance_id)
        # CloudFormation asks for this dependency when the VPC is in the same template.
        address.node.add_dependency(self._vpc.node.find_child("VPCGW"))
        in_us_east_1 = CfnCondition(
            self, "InUsEast1", expression=Fn.condition_equals(Aws.REGION, "us-east-1")
        )
        # EC2's public names: ec2-1-2-3-4.compute-1.amazonaws.com in us-east-1,
        # ec2-1-2-3-4.<region>.compute.amazonaws.com elsewhere.
        region_part = Fn.condition_if(in_us_east_1.logical_id, "compute-1", f"{Aws.REGION}.compute")
        dashed_ip = Fn.join("-", Fn.split(".", address.attr_public_ip))
        return Fn.join("", ["ec2-", dashed_ip, ".", Token.as_string(region_part), ".", Aws.URL_SUFFIX])

    def allow_http_from_prefix_list(self, prefix_list_id: str) -> None:
        self.security_group.add_ingress_rule(
            ec2.Peer.prefix_list(prefix_list_id),
            ec2.Port.tcp(80),
            "HTTP from CloudFront origin-facing servers",
        )
