"""The server reaches every AWS API it calls without IPv4 egress.

It has no public IPv4 address and no NAT gateway: S3 goes through the VPC's gateway endpoint,
everything else over IPv6 to the service's dual-stack endpoint. botocore's own endpoint rules
(the ones the AWS CLI resolves with) must give a dual-stack host for every API the boot
scripts call, in every Region the app supports. What botocore does not model (the SSM agent's
ssmmessages and ec2messages) rests on AWS's documentation: docs/security.md.
"""

from __future__ import annotations

import copy
import re
from functools import cache

import botocore.session
import pytest
from botocore.config import Config

from tests.deployed_values import REGIONS
from web_server.configuration import RUNTIME, document_content

# "aws ec2 attach-volume", "aws_cli cloudwatch put-metric-data", '"$aws" --region X s3 sync'
CLI_CALL = re.compile(
    r"\baws(?:_cli)?\"?[ \t]+(?:--region[ \t]+\S+[ \t]+(?:\\\n[ \t]*)?)?([a-z0-9]+)[ \t]+([a-z0-9-]+)"
)
# The CLI's own names of the services and the high-level S3 commands, as botocore names them.
SERVICE_NAMES = {"s3api": "s3"}
HIGH_LEVEL = {("s3", "cp"): "GetObject", ("s3", "sync"): "PutObject", ("s3", "rm"): "DeleteObject"}
DUAL_STACK_HOST = re.compile(
    r"^https://([a-z0-9.-]+\.)?(api\.aws|api\.amazonwebservices\.com\.cn|s3\.dualstack\.[a-z0-9-]+\.amazonaws\.com(\.cn)?)(/|$)"
)


def _called() -> set[tuple[str, str]]:
    """(botocore service, operation) for every AWS CLI call of the boot scripts and the document."""
    texts = [p.read_text() for p in (RUNTIME / "boot").glob("*.sh")]
    texts.append("\n".join(document_content()["mainSteps"][0]["inputs"]["runCommand"]))
    calls = set()
    for command, operation in CLI_CALL.findall("\n".join(texts)):
        service = SERVICE_NAMES.get(command, command)
        name = HIGH_LEVEL.get((command, operation)) or "".join(w.title() for w in operation.split("-"))
        calls.add((service, name))
    return calls


CALLS = sorted(_called())


@cache
def _client(service: str):
    return botocore.session.get_session().create_client(
        service,
        region_name="us-east-1",
        aws_access_key_id="offline",
        aws_secret_access_key="offline",
        config=Config(use_dualstack_endpoint=True),
    )


def _endpoint(service: str, operation: str, region: str) -> str:
    """The URL botocore's endpoint rules give a request, offline (the resolver it runs before
    every request, with the client's settings but another Region)."""
    client = _client(service)
    resolver = copy.copy(client._ruleset_resolver)
    resolver._builtins = {**resolver._builtins, "AWS::Region": region}
    params = {"Bucket": "example-bucket", "Key": "k"} if service == "s3" else {}
    return resolver.construct_endpoint(
        operation_model=client.meta.service_model.operation_model(operation),
        call_args=params,
        request_context={},
    ).url


def test_the_scripts_calls_are_found():
    services = {service for service, _ in CALLS}
    assert {"ec2", "s3", "cloudwatch", "cloudfront"} <= services, CALLS
    assert ("ec2", "AttachVolume") in CALLS


@pytest.mark.parametrize(("service", "operation"), CALLS)
def test_every_api_the_server_calls_has_a_dual_stack_endpoint_in_every_region(service, operation):
    for region in REGIONS:
        url = _endpoint(service, operation, region)
        assert DUAL_STACK_HOST.match(url), f"{service}:{operation} in {region} resolves to {url}"
        # CloudFront's API is global; every other endpoint is the Region's own.
        assert region in url or service == "cloudfront", url


def test_the_check_tells_an_ipv4_only_host():
    assert not DUAL_STACK_HOST.match("https://ec2.eu-west-1.amazonaws.com")
    assert not DUAL_STACK_HOST.match("https://cloudfront.amazonaws.com")
    assert DUAL_STACK_HOST.match("https://cloudfront.global.api.aws")
    assert DUAL_STACK_HOST.match("https://s3.dualstack.eu-west-1.amazonaws.com/example-bucket")
