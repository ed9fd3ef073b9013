"""site-health.sh against the real Apache serving the volume the boot scripts
mounted, publishing to moto's CloudWatch on loopback; the metric is read back
from there."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from bootharness import ORIGIN_TOKEN
from fallback_harness import (
    AwsSandbox,
    aws,  # noqa: F401 (fixture)
    moto_server,  # noqa: F401 (fixture)
    run_on_host,
    stop_apache,
)


@pytest.fixture
def health(served_site, aws: AwsSandbox):  # noqa: F811
    """Runs site-health.sh with a site name of its own; returns the result
    and every value published for that name."""
    site_name = f"SiteWebServer-{uuid.uuid4().hex[:8]}"

    def check(**env: str):
        base = aws.script_env(
            HEALTH_URL=served_site.url,
            SITE_NAME=site_name,
            ORIGIN_VERIFY_TOKEN=ORIGIN_TOKEN,
            HEALTH_TIMEOUT_SECONDS="5",
            # No origin-verify.conf unless a test points at one.
            HTTPD_CONF_DIR=str(aws.root / "conf.d"),
        )
        result = run_on_host("site-health.sh", {**base, **env})
        return result, published(aws, site_name)

    return check


def published(sandbox: AwsSandbox, site_name: str) -> list[float]:
    """The OriginAvailable values CloudWatch holds for the site, oldest first."""
    now = dt.datetime.now(dt.UTC)
    answer = sandbox.cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "available",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "Site",
                        "MetricName": "OriginAvailable",
                        "Dimensions": [{"Name": "SiteName", "Value": site_name}],
                    },
                    "Period": 1,
                    "Stat": "Minimum",
                },
            }
        ],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=1),
        ScanBy="TimestampAscending",
    )
    return answer["MetricDataResults"][0]["Values"]


def test_publishes_1_while_apache_serves_the_site(health):
    result, values = health()

    assert result.returncode == 0, result.output
    assert values == [1.0]
    assert ORIGIN_TOKEN not in result.output


def test_reads_the_token_apache_checks_from_its_configuration(served_site, health, aws: AwsSandbox):  # noqa: F811
    """Secrets Manager cannot be read (here: no such secret); the token is
    taken from the origin-verify.conf the boot wrote, the one Apache checks."""
    missing = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:missing-AbCdEf"
    conf_dir = served_site.sandbox.httpd_conf_dir
    assert ORIGIN_TOKEN in (conf_dir / "origin-verify.conf").read_text()

    result, values = health(
        ORIGIN_VERIFY_TOKEN="", ORIGIN_TOKEN_SECRET_ID=missing, HTTPD_CONF_DIR=str(conf_dir)
    )

    assert result.returncode == 0, result.output
    assert values == [1.0]
    assert not [c for c in aws.calls() if "secretsmanager" in c]
    assert ORIGIN_TOKEN not in result.output
    assert not [c for c in aws.calls() if ORIGIN_TOKEN in c]


def test_after_a_rotation_the_current_token_is_sent_not_the_previous_one(health, aws: AwsSandbox):  # noqa: F811
    # Apache serving the site accepts ORIGIN_TOKEN only: the previous one would get 403.
    conf_dir = aws.root / "rotated"
    conf_dir.mkdir()
    previous = "0ld0ld00-4b5a-4c7d-8e9f-0a1b2c3d4e5f"
    (conf_dir / "origin-verify.conf").write_text(
        "# Written by site-boot: 403 unless the request has this site's CloudFront origin header.\n"
        f"<If \"%{{HTTP:X-Origin-Verify}} != '{ORIGIN_TOKEN}' && "
        f"!(%{{HTTP:X-Origin-Verify}} == '{previous}' && %{{TIME}} < '29991231235959')\">\n"
        "  Require all denied\n"
        "</If>\n"
    )

    result, values = health(ORIGIN_VERIFY_TOKEN="", HTTPD_CONF_DIR=str(conf_dir))

    assert result.returncode == 0, result.output
    assert values == [1.0]


@pytest.mark.parametrize("conf", [None, "# no origin check here\n"], ids=["no-conf", "conf-without-token"])
def test_reads_the_origin_token_from_secrets_manager(health, aws: AwsSandbox, conf):  # noqa: F811
    """Without a token in origin-verify.conf, the secret is the fallback."""
    if conf is not None:
        (aws.root / "conf.d").mkdir()
        (aws.root / "conf.d" / "origin-verify.conf").write_text(conf)
    secret = aws.secretsmanager.create_secret(
        Name=f"origin-token-{uuid.uuid4().hex[:8]}", SecretString=ORIGIN_TOKEN
    )

    result, values = health(ORIGIN_VERIFY_TOKEN="", ORIGIN_TOKEN_SECRET_ID=secret["ARN"])

    assert result.returncode == 0, result.output
    assert values == [1.0]
    calls = aws.calls()
    assert any("secretsmanager get-secret-value" in c for c in calls), calls


def test_publishes_0_when_apache_refuses_the_request(health):
    # Apache answers 403 to a request without the site's token.
    result, values = health(ORIGIN_VERIFY_TOKEN="wrong-token-0000000000")

    assert result.returncode == 0, result.output
    assert values == [0.0]
    assert "answered 403" in result.output


def test_fails_without_publishing_when_the_token_cannot_be_read(health, aws: AwsSandbox):  # noqa: F811
    missing = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:missing-AbCdEf"

    result, values = health(ORIGIN_VERIFY_TOKEN="", ORIGIN_TOKEN_SECRET_ID=missing)

    assert result.returncode != 0
    assert "cannot read the origin token" in result.output
    assert values == []


def test_fails_when_the_metric_cannot_be_published(health, aws: AwsSandbox):  # noqa: F811
    aws.fail("put-metric-data")

    result, values = health()

    assert result.returncode != 0
    assert "cannot publish Site/OriginAvailable=1" in result.output
    assert values == []


# Last in this module: it stops the module's Apache.
def test_publishes_0_once_apache_is_down(served_site, health):
    first, _ = health()
    assert first.returncode == 0, first.output

    stop_apache(served_site.namespace)
    down, values = health()

    assert down.returncode == 0, down.output
    assert values[-1] == 0.0
    assert "no response" in down.output
