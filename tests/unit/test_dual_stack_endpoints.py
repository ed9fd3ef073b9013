"""Every AWS API the server's CLI calls resolves to a dual-stack host that AWS documents.

The server has no public IPv4 address and no NAT gateway: its AWS CLI must reach each API at
the service's dual-stack endpoint, over IPv6. botocore's endpoint rules build
``{service}.{region}.api.aws`` for every Region of the partition by one generic rule, whether
or not that host exists, so resolving with botocore alone proves nothing. Here every call of
the boot scripts and the configuration document must resolve (botocore, dual-stack on, every
Region the app supports) to the host pinned below from the service's own documentation: a call
to another service, a host of another form, or a Region no pinned page covers fails until
someone has read the page again. That the scripts really run with dual-stack on is shown by
running them (tests/integration: test_boot_apply.py, test_site_sync.py, test_site_health.py).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import botocore.session
import pytest
from botocore.config import Config

from tests.deployed_values import REGIONS
from web_server.configuration import RUNTIME, document_content


@dataclass(frozen=True)
class DualStackHost:
    form: str  # {region}: the Region's code; {bucket}: the bucket's name
    source: str


# The dual-stack hosts each service's page gives. EC2's and S3's pages state the form for every
# Region ("supports only regional dual-stack endpoints"); CloudWatch's lists a row per Region
# (the rows read here: us-east-1, us-east-2, us-west-1, us-west-2, af-south-1, ap-east-1; the
# others rest on the page). CloudFront's one global host is on its endpoints page since 2025
# (earlier copies of the page list only cloudfront.amazonaws.com) and in botocore's ruleset.
DOCUMENTED = {
    "ec2": DualStackHost(
        "ec2.{region}.api.aws", "https://docs.aws.amazon.com/ec2/latest/devguide/ec2-endpoints.html"
    ),
    "cloudwatch": DualStackHost(
        "monitoring.{region}.api.aws", "https://docs.aws.amazon.com/general/latest/gr/cw_region.html"
    ),
    "s3": DualStackHost(
        "{bucket}.s3.dualstack.{region}.amazonaws.com",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/dual-stack-endpoints.html",
    ),
    "cloudfront": DualStackHost(
        "cloudfront.global.api.aws", "https://docs.aws.amazon.com/general/latest/gr/cf_region.html"
    ),
}
# The Regions those pages were read for (the commercial Regions of botocore 1.44.8). A Region
# botocore adds is not covered until the pages above have been read for it and it is added here.
PINNED_REGIONS = frozenset(
    """af-south-1 ap-east-1 ap-east-2 ap-northeast-1 ap-northeast-2 ap-northeast-3 ap-south-1
    ap-south-2 ap-southeast-1 ap-southeast-2 ap-southeast-3 ap-southeast-4 ap-southeast-5
    ap-southeast-6 ap-southeast-7 ca-central-1 ca-west-1 eu-central-1 eu-central-2 eu-north-1
    eu-south-1 eu-south-2 eu-west-1 eu-west-2 eu-west-3 il-central-1 me-central-1 me-south-1
    mx-central-1 sa-east-1 us-east-1 us-east-2 us-west-1 us-west-2""".split()
)
BUCKET = "example-bucket"

# "aws ec2 attach-volume", "aws_cli cloudwatch put-metric-data", '"$aws" --region X s3 sync'
CLI_CALL = re.compile(
    r"\baws(?:_cli)?\"?[ \t]+(?:--region[ \t]+\S+[ \t]+(?:\\\n[ \t]*)?)?([a-z0-9]+)[ \t]+([a-z0-9-]+)"
)
# The CLI's own names of the services and the high-level S3 commands, as botocore names them.
SERVICE_NAMES = {"s3api": "s3"}
HIGH_LEVEL = {("s3", "cp"): "GetObject", ("s3", "sync"): "PutObject", ("s3", "rm"): "DeleteObject"}


def calls_in(texts: Iterable[str]) -> set[tuple[str, str]]:
    """(botocore service, operation) of every AWS CLI call in the shell ``texts``."""
    calls = set()
    for command, operation in CLI_CALL.findall("\n".join(texts)):
        service = SERVICE_NAMES.get(command, command)
        name = HIGH_LEVEL.get((command, operation)) or "".join(w.title() for w in operation.split("-"))
        calls.add((service, name))
    return calls


def _scripts() -> list[str]:
    """The boot scripts and the configuration document's commands: everything the server runs."""
    texts = [p.read_text() for p in (RUNTIME / "boot").glob("*.sh")]
    texts.append("\n".join(document_content()["mainSteps"][0]["inputs"]["runCommand"]))
    return texts


CALLS = sorted(calls_in(_scripts()))


@cache
def _client(service: str):
    return botocore.session.get_session().create_client(
        service,
        region_name="us-east-1",
        aws_access_key_id="offline",
        aws_secret_access_key="offline",
        config=Config(use_dualstack_endpoint=True),
    )


def resolved_host(service: str, operation: str, region: str) -> str:
    """The host botocore's endpoint rules give a request, offline (the resolver it runs before
    every request, with the client's settings but another Region)."""
    client = _client(service)
    resolver = copy.copy(client._ruleset_resolver)
    resolver._builtins = {**resolver._builtins, "AWS::Region": region}
    params = {"Bucket": BUCKET, "Key": "k"} if service == "s3" else {}
    url = resolver.construct_endpoint(
        operation_model=client.meta.service_model.operation_model(operation),
        call_args=params,
        request_context={},
    ).url
    return urlsplit(url).hostname


def problem(service: str, operation: str, region: str, host: str) -> str | None:
    """What is wrong with ``host`` for that call in ``region``, or None when it is the documented one."""
    documented = DOCUMENTED.get(service)
    if documented is None:
        return f"{service}:{operation}: no documented dual-stack host is pinned for {service}"
    if "{region}" in documented.form and region not in PINNED_REGIONS:
        return f"{service}:{operation} in {region}: no pinned page covers this Region ({documented.source})"
    expected = documented.form.format(region=region, bucket=BUCKET)
    if host != expected:
        return f"{service}:{operation} in {region} resolves to {host}, not {expected} ({documented.source})"
    return None


def test_the_scripts_calls_are_found():
    services = {service for service, _ in CALLS}
    assert {"ec2", "s3", "cloudwatch", "cloudfront"} <= services, CALLS
    assert ("ec2", "AttachVolume") in CALLS
    assert ("cloudfront", "CreateInvalidation") in CALLS


@pytest.mark.parametrize(("service", "operation"), CALLS)
def test_every_call_resolves_to_its_documented_dual_stack_host_in_every_region(service, operation):
    found = [problem(service, operation, r, resolved_host(service, operation, r)) for r in REGIONS]
    assert [p for p in found if p] == []


def test_a_call_to_a_service_not_on_the_list_is_reported():
    (call,) = calls_in(['aws --region "$AWS_REGION" sns publish --topic-arn "$TOPIC" --message x'])
    assert call == ("sns", "Publish")
    assert "no documented dual-stack host is pinned for sns" in problem(
        *call, "eu-west-1", resolved_host(*call, "eu-west-1")
    )


def test_a_region_no_pinned_page_covers_is_reported_though_botocore_builds_a_host_for_it():
    # botocore's generic rule gives a host for a Region that does not exist.
    assert resolved_host("ec2", "AttachVolume", "eu-east-9") == "ec2.eu-east-9.api.aws"
    assert "no pinned page covers" in problem("ec2", "AttachVolume", "eu-east-9", "ec2.eu-east-9.api.aws")


def test_an_ipv4_only_host_is_reported():
    assert "not ec2.eu-west-1.api.aws" in problem(
        "ec2", "AttachVolume", "eu-west-1", "ec2.eu-west-1.amazonaws.com"
    )
    assert problem("cloudfront", "CreateInvalidation", "eu-west-1", "cloudfront.amazonaws.com")
    assert problem("cloudfront", "CreateInvalidation", "eu-west-1", "cloudfront.global.api.aws") is None


def test_the_scripts_environment_switch_is_what_turns_botocore_to_the_dual_stack_hosts(monkeypatch, tmp_path):
    """The scripts set AWS_USE_DUALSTACK_ENDPOINT=true (tests/integration finds it in each call's
    environment); without it, the same call goes to the IPv4-only host."""
    empty = tmp_path / "config"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.delenv("AWS_USE_DUALSTACK_ENDPOINT", raising=False)

    def host() -> str:
        client = botocore.session.get_session().create_client(
            "ec2", region_name="eu-west-1", aws_access_key_id="offline", aws_secret_access_key="offline"
        )
        return urlsplit(client.meta.endpoint_url).hostname

    assert host() == "ec2.eu-west-1.amazonaws.com"
    monkeypatch.setenv("AWS_USE_DUALSTACK_ENDPOINT", "true")
    assert host() == "ec2.eu-west-1.api.aws"
