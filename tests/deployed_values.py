"""What CloudFormation puts in place of a template's intrinsic functions, with realistic values.

Unit tests match these values against the patterns AWS enforces on them; integration tests
run the instance's configuration with them. Every resource type and attribute the app's
values depend on has an example here in the shape AWS gives it; any other one is an error,
so that a new kind of value cannot slip past the checks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import botocore.session

ACCOUNT = "123456789012"
# Values of resources the integration harness also knows (its loop device stands for this volume).
VOLUME_ID = "vol-0123456789abcdef0"
INSTANCE_ID = "i-0123456789abcdef0"


def _regions(partitions: tuple[str, ...]) -> list[str]:
    endpoints = botocore.session.get_session().get_component("data_loader").load_data("endpoints")
    return sorted(r for p in endpoints["partitions"] if p["partition"] in partitions for r in p["regions"])


# Every commercial Region, as botocore knows them: where the app deploys. (Not China: CloudFront
# there has no origin access control, functions or VPC origins; tests/unit/test_cfn_lint.py.)
REGIONS = _regions(("aws",))


_UPPER_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _digest(*parts: str, length: int, alphabet: str = "abcdefghijklmnopqrstuvwxyz0123456789") -> str:
    """A stable pseudo-random token, like the suffixes CloudFormation and AWS services make."""
    value = int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest(), "big")
    out = []
    for _ in range(length):
        value, index = divmod(value, len(alphabet))
        out.append(alphabet[index])
    return "".join(out)


class Deployment:
    """The app's templates as deployed in one account and Region."""

    def __init__(
        self, templates: Mapping[str, dict[str, Any]], *, region: str, account: str = ACCOUNT
    ) -> None:
        self.templates = templates
        self.region = region
        self.account = account
        self.partition = "aws-cn" if region.startswith("cn-") else "aws"
        self.url_suffix = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"

    # ---- examples in the shape AWS gives them ----
    def _physical_name(self, stack: str, logical_id: str, limit: int) -> str:
        """CloudFormation's generated names: stack, logical id and a random suffix, cut to fit."""
        suffix = _digest(stack, logical_id, length=12)
        head = f"{stack}-{logical_id}"[: limit - len(suffix) - 1]
        return f"{head}-{suffix}"

    def _ref(self, stack: str, logical_id: str) -> str:
        resource_type = self.templates[stack]["Resources"][logical_id]["Type"]
        if resource_type == "AWS::EC2::Volume":
            return VOLUME_ID
        if resource_type == "AWS::EC2::Instance":
            return INSTANCE_ID
        if resource_type == "AWS::S3::Bucket":
            return self._physical_name(stack, logical_id, 63).lower()
        if resource_type == "AWS::CloudFront::Distribution":
            return "E" + _digest(
                stack, logical_id, length=13, alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
            )
        if resource_type == "AWS::SSM::Document":
            return self._physical_name(stack, logical_id, 128)
        if resource_type == "AWS::SecretsManager::Secret":
            name = f"{logical_id}-{_digest(stack, logical_id, length=12)}"
            secret = f"{name}-{_digest(name, length=6)}"
            return f"arn:{self.partition}:secretsmanager:{self.region}:{self.account}:secret:{secret}"
        raise KeyError(f"no example for Ref of {resource_type} ({stack}/{logical_id})")

    def _get_att(self, stack: str, logical_id: str, attribute: str) -> str:
        resource_type = self.templates[stack]["Resources"][logical_id]["Type"]
        if resource_type == "AWS::CloudFront::Distribution" and attribute == "DomainName":
            return f"d{_digest(stack, logical_id, length=13)}.cloudfront.net"
        if resource_type == "AWS::EC2::Instance" and attribute == "PrivateDnsName":
            domain = "ec2.internal" if self.region == "us-east-1" else f"{self.region}.compute.internal"
            return f"ip-10-0-0-{int(_digest(logical_id, length=2, alphabet='0123456789')) + 10}.{domain}"
        raise KeyError(f"no example for {resource_type}.{attribute} ({stack}/{logical_id})")

    def _pseudo(self, name: str, stack: str) -> str:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::StackName": stack,
        }[name]

    # ---- intrinsic functions ----
    def resolve(self, stack: str, value: Any) -> Any:
        """``value`` from ``stack``'s template with every intrinsic function evaluated."""
        if isinstance(value, list):
            return [self.resolve(stack, item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Fn::", "Ref")):
            return {key: self.resolve(stack, inner) for key, inner in value.items()}
        ((function, args),) = value.items()
        if function == "Ref":
            return self._pseudo(args, stack) if args.startswith("AWS::") else self._ref(stack, args)
        if function == "Fn::GetAtt":
            return self._get_att(stack, args[0], args[1])
        if function == "Fn::Join":
            separator, parts = args
            return separator.join(str(self.resolve(stack, part)) for part in parts)
        if function == "Fn::Sub":
            text = args if isinstance(args, str) else args[0]
            return re.sub(r"\$\{([A-Za-z0-9:]+)\}", lambda m: self._pseudo(m[1], stack), text)
        if function == "Fn::GetStackOutput":
            other = self.resolve(stack, args["StackName"])
            output = self.templates[other]["Outputs"][args["OutputName"]]["Value"]
            return self.resolve(other, output)
        if function == "Fn::Select":
            index, items = args
            return self.resolve(stack, items)[int(index)]
        if function == "Fn::Split":
            separator, text = args
            return self.resolve(stack, text).split(separator)
        raise KeyError(f"no evaluation of {function} in {stack}")
