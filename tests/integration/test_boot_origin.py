"""The origin check: httpd serves only requests carrying CloudFront's
X-Origin-Verify header. What Apache makes of the file is in
test_boot_serving.py; here, how the scripts write it and refuse bad tokens."""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest
from bootharness import ORIGIN_TOKEN

OTHER_TOKEN = "0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"


def httpd_reloads(ns) -> int:
    """How often systemd has reloaded httpd in this instance."""
    return ns.machine.journal("httpd.service").count("Reloaded httpd.service")


def httpd_started_ns(ns) -> int:
    """When systemd started httpd's running process, in nanoseconds since the epoch."""
    shown = ns.machine.run(
        "systemctl", "show", "--timestamp=us+utc", "--property=ExecMainStartTimestamp", "--value", "httpd"
    )
    started = dt.datetime.strptime(shown.stdout.strip(), "%a %Y-%m-%d %H:%M:%S.%f UTC")
    return int(started.replace(tzinfo=dt.timezone.utc).timestamp() * 1_000_000) * 1000


def test_origin_check_is_written_once_root_only_and_follows_the_token(harness, volume):
    sandbox, ns = harness.instance(volume)
    conf = sandbox.origin_verify_conf

    first = ns.boot()

    assert first.returncode == 0, first.output
    text = conf.read_text()
    assert f"<If \"%{{HTTP:X-Origin-Verify}} != '{ORIGIN_TOKEN}'\">" in text
    assert "Require all denied" in text
    st = os.stat(conf)
    assert (oct(st.st_mode & 0o777), st.st_uid, st.st_gid) == ("0o640", 0, 0)
    assert sorted(p.name for p in conf.parent.iterdir()) == ["origin-verify.conf", "server-name.conf"]
    assert ORIGIN_TOKEN not in first.output
    assert ORIGIN_TOKEN not in sandbox.log_file.read_text()
    # Written before systemd started httpd; nothing to reload while it was not running.
    assert sandbox.httpd_state() == ("active", "enabled")
    assert st.st_mtime_ns < httpd_started_ns(ns)
    assert httpd_reloads(ns) == 0

    # The same token again: the file is not touched, httpd not reloaded.
    again = ns.boot()
    assert again.returncode == 0, again.output
    now = os.stat(conf)
    assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    assert "is up to date" in again.output
    assert httpd_reloads(ns) == 0

    # A new token: rewritten, and a running httpd picks it up. The old one
    # stays accepted for the grace period (test_boot_serving.py shows Apache
    # honouring it); a re-run within it changes nothing.
    changed = ns.boot(ORIGIN_VERIFY_TOKEN=OTHER_TOKEN)
    assert changed.returncode == 0, changed.output
    text = conf.read_text()
    assert f"!= '{OTHER_TOKEN}' && !(%{{HTTP:X-Origin-Verify}} == '{ORIGIN_TOKEN}' && %{{TIME}} < '" in text
    assert "the previous one stays accepted until" in changed.output
    assert OTHER_TOKEN not in changed.output
    assert ORIGIN_TOKEN not in changed.output
    assert oct(os.stat(conf).st_mode & 0o777) == "0o640"
    assert httpd_reloads(ns) == 1
    rerun = ns.boot(ORIGIN_VERIFY_TOKEN=OTHER_TOKEN)
    assert rerun.returncode == 0, rerun.output
    assert conf.read_text() == text
    assert httpd_reloads(ns) == 1

    # No token: the check in place is kept (removing it would open the site
    # to every CloudFront distribution).
    unset = ns.boot(ORIGIN_VERIFY_TOKEN="")
    assert unset.returncode == 0, unset.output
    assert conf.read_text() == text
    assert "ORIGIN_VERIFY_TOKEN is not set; skipping the origin check" in unset.output


def test_after_the_grace_period_only_the_new_token_remains(harness, volume):
    sandbox, ns = harness.instance(volume)
    conf = sandbox.origin_verify_conf
    assert ns.boot().returncode == 0

    rotated = ns.boot(ORIGIN_VERIFY_TOKEN=OTHER_TOKEN, ORIGIN_TOKEN_GRACE_SECONDS=1)
    assert rotated.returncode == 0, rotated.output
    assert ORIGIN_TOKEN in conf.read_text()
    time.sleep(2.1)

    later = ns.boot(ORIGIN_VERIFY_TOKEN=OTHER_TOKEN)
    assert later.returncode == 0, later.output
    assert ORIGIN_TOKEN not in conf.read_text()
    assert f"<If \"%{{HTTP:X-Origin-Verify}} != '{OTHER_TOKEN}'\">" in conf.read_text()


def test_token_is_read_from_secrets_manager_and_never_logged(harness, volume):
    sandbox, ns = harness.instance(volume)
    secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:site-origin-token-AbCdEf"
    sandbox.set_aws(secret_id=secret_arn, secret_string=OTHER_TOKEN)

    result = ns.boot(ORIGIN_VERIFY_TOKEN="", ORIGIN_TOKEN_SECRET_ID=secret_arn)

    assert result.returncode == 0, result.output
    assert f"!= '{OTHER_TOKEN}'" in sandbox.origin_verify_conf.read_text()
    assert OTHER_TOKEN not in result.output
    assert OTHER_TOKEN not in sandbox.log_file.read_text()
    [call] = [c for c in sandbox.calls("aws") if c.startswith("secretsmanager")]
    assert f"get-secret-value --region eu-west-1 --secret-id {secret_arn}" in call

    # An unreadable secret stops the boot before httpd is started.
    other, ns2 = harness.instance(None)
    failed = ns2.boot(ORIGIN_VERIFY_TOKEN="", ORIGIN_TOKEN_SECRET_ID=secret_arn + "x")
    assert failed.returncode != 0
    assert "could not read the origin token from Secrets Manager" in failed.output
    assert other.httpd_state() == ("inactive", "disabled")
    assert not other.drop_in.exists()


def test_without_a_token_the_check_is_skipped_and_logged(harness, volume):
    sandbox, ns = harness.instance(volume)

    result = ns.boot(ORIGIN_VERIFY_TOKEN="")

    assert result.returncode == 0, result.output
    assert "ORIGIN_VERIFY_TOKEN is not set; skipping the origin check" in result.output
    assert not sandbox.origin_verify_conf.exists()
    assert sandbox.httpd_state() == ("active", "enabled")


MALFORMED = {
    "too-short": "short-token-xyz",
    "too-long": "a" * 65,
    "quote": "6f1c2d3e-4b5a-4c7d' || 'x' == 'x",
    "space": "6f1c2d3e 4b5a 4c7d 8e9f",
    "newline": "6f1c2d3e-4b5a-4c7d\nRequire all granted",
    "braces": "%{HTTP:X-Origin-Verify}-xxxxxxxx",
    "non-ascii": "6f1c2d3e-4b5a-4c7d-é",
}


@pytest.mark.parametrize("token", MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_token_fails_the_step_and_httpd_is_not_started(harness, token):
    sandbox, ns = harness.instance(None)

    result = ns.boot(ORIGIN_VERIFY_TOKEN=token)

    assert result.returncode != 0
    assert "ERROR: step install-httpd failed" in result.output
    assert "ORIGIN_VERIFY_TOKEN is malformed" in result.output
    assert "step install-httpd did not complete; httpd was not started" in result.output
    assert token not in result.output
    assert not sandbox.origin_verify_conf.exists()
    assert not sandbox.origin_verify_conf.parent.exists()
    # systemd was not touched: no drop-in, httpd neither enabled nor started.
    assert not sandbox.drop_in.exists()
    assert sandbox.httpd_state() == ("inactive", "disabled")
    assert sandbox.calls("dnf") == []
    # Stopped before the volume was asked for.
    assert sandbox.calls("aws") == []
