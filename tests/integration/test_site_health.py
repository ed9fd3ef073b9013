"""site-health.sh against the real Apache serving the volume the boot scripts
mounted, publishing to moto's CloudWatch on loopback; the metric is read back
from there."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.integration.fallback_harness import (
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
            HEALTH_TIMEOUT_SECONDS="5",
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


def test_publishes_with_dual_stack_on(health, aws: AwsSandbox):  # noqa: F811
    assert "AWS_USE_DUALSTACK_ENDPOINT" not in aws.script_env()
    aws.reset_calls()
    result, _ = health()
    assert result.returncode == 0, result.output
    (publish,) = aws.environments()
    assert publish.get("AWS_USE_DUALSTACK_ENDPOINT") == "true"


def test_publishes_0_when_apache_answers_with_an_error(served_site, health):
    result, values = health(HEALTH_URL=served_site.url + "missing.html")

    assert result.returncode == 0, result.output
    assert values == [0.0]
    assert "answered 404" in result.output


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
