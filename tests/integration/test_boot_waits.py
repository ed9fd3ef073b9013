"""Bounded waits: for the block device to appear and for the previous
instance to release the volume."""

from __future__ import annotations

import threading
import time

import pytest

from tests.integration.bootharness import VOLUME_ID, partition_table, probe


def assert_httpd_not_started(sandbox) -> None:
    assert sandbox.httpd_state() == ("inactive", "disabled")


def test_device_appearing_late_is_waited_for(harness, volume):
    sandbox = harness.sandbox()
    ns = harness.namespace(sandbox)
    appear = threading.Timer(1.5, sandbox.link_device, args=(volume,))
    appear.start()
    try:
        result = ns.boot(DEVICE_WAIT_SECONDS=20)
    finally:
        appear.cancel()
        appear.join()

    assert result.returncode == 0, result.output
    assert result.elapsed >= 1.5
    assert "waiting up to 20s" in result.output
    assert ns.mount_at(sandbox.docroot)["source"] == volume.part(1)
    assert sandbox.httpd_state() == ("active", "enabled")


def test_device_that_never_appears_fails_in_time(harness, volume):
    sandbox = harness.sandbox()
    ns = harness.namespace(sandbox)

    result = ns.boot(DEVICE_WAIT_SECONDS=2)

    assert result.returncode != 0
    assert 2.0 <= result.elapsed < 8.0
    assert "step prepare-docroot failed" in result.output
    assert VOLUME_ID in result.output
    assert volume.by_id_name in result.output
    assert "within 2s" in result.output
    assert_httpd_not_started(sandbox)
    assert partition_table(volume.dev) is None
    assert sandbox.fstab_entries() == []


def test_block_node_without_media_is_not_taken_for_the_disk(harness, volume):
    """A by-id link to a loop node with nothing behind it (size 0)."""
    sandbox = harness.sandbox()
    empty = harness.empty_loop_node()
    (sandbox.by_id_dir / volume.by_id_name).symlink_to(empty)
    ns = harness.namespace(sandbox)

    result = ns.boot(DEVICE_WAIT_SECONDS=1)

    assert result.returncode != 0
    assert "no non-empty block device appeared within 1s" in result.output
    assert_httpd_not_started(sandbox)


def test_xen_device_name_is_accepted(harness, volume):
    sandbox = harness.sandbox()
    (sandbox.dev_dir / "xvdf").symlink_to(volume.dev)
    ns = harness.namespace(sandbox)

    result = ns.boot()

    assert result.returncode == 0, result.output
    assert ns.mount_at(sandbox.docroot)["source"] == volume.part(1)


def test_attach_retries_while_the_old_instance_holds_the_volume(harness, volume):
    sandbox, ns = harness.instance(volume)
    sandbox.set_aws(in_use=2, attaching_polls=2)

    result = ns.boot()

    assert result.returncode == 0, result.output
    attach_calls = [c for c in sandbox.calls("aws") if c.startswith("ec2 attach-volume")]
    assert len(attach_calls) == 3
    assert result.output.count("still in use (held by: i-0aaaaaaaaaaaaaaaa)") == 2
    assert "attachment to i-0123456789abcdef0 is 'attaching'" in result.output
    assert (sandbox.aws_dir / "attached-to").read_text() == "i-0123456789abcdef0"
    assert sandbox.httpd_state() == ("active", "enabled")


def test_attach_gives_up_after_the_wait_and_names_the_volume(harness, volume):
    sandbox, ns = harness.instance(volume)
    sandbox.set_aws(in_use="always")
    started = time.monotonic()

    result = ns.boot(ATTACH_WAIT_SECONDS=1, ATTACH_POLL_SECONDS=0.2)

    assert result.returncode != 0
    assert time.monotonic() - started < 10
    assert "step attach-volume failed" in result.output
    assert f"volume {VOLUME_ID} was not attached" in result.output
    assert_httpd_not_started(sandbox)
    assert ns.mount_at(sandbox.docroot) is None
    assert probe(volume.dev) == {}
    assert "prepare-docroot" not in sandbox.log_file.read_text()


def test_other_attach_errors_fail_at_once(harness, volume):
    sandbox, ns = harness.instance(volume)
    # The shim rejects any volume id but the expected one.
    result = ns.boot(VOLUME_ID="vol-0ffffffffffffffff")

    assert result.returncode != 0
    assert "InvalidVolume.NotFound" in result.output
    assert result.elapsed < 5
    assert_httpd_not_started(sandbox)


# What a first boot can meet while the new instance role settles in, as the CLI prints it.
NO_CREDENTIALS = 'Unable to locate credentials. You can configure credentials by running "aws configure".'
TRANSIENT_ERRORS = {
    "unauthorized": "An error occurred (UnauthorizedOperation) when calling the DescribeVolumes operation: "
    "You are not authorized to perform this operation.",
    "throttled": "An error occurred (RequestLimitExceeded) when calling the DescribeVolumes operation "
    "(reached max retries: 2): Request limit exceeded.",
    "network": 'Could not connect to the endpoint URL: "https://ec2.eu-west-1.amazonaws.com/"',
}


def test_describe_failing_until_credentials_arrive_is_retried(harness, volume):
    sandbox, ns = harness.instance(volume)
    sandbox.set_aws(fails_describe_volumes=3)

    result = ns.boot()

    assert result.returncode == 0, result.output
    assert result.output.count(f"describe-volumes failed: {NO_CREDENTIALS}; retrying") == 3
    assert len([c for c in sandbox.calls("aws") if c.startswith("ec2 describe-volumes")]) >= 4
    assert (sandbox.aws_dir / "attached-to").read_text() == "i-0123456789abcdef0"
    assert ns.mount_at(sandbox.docroot)["source"] == volume.part(1)
    assert sandbox.httpd_state() == ("active", "enabled")


@pytest.mark.parametrize("error", TRANSIENT_ERRORS.values(), ids=TRANSIENT_ERRORS.keys())
@pytest.mark.parametrize("operation", ["describe-volumes", "attach-volume"])
def test_transient_aws_errors_are_retried(harness, volume, operation, error):
    sandbox, ns = harness.instance(volume)
    sandbox.set_aws(**{f"fails_{operation}": 2, f"error_{operation}": error})

    result = ns.boot()

    assert result.returncode == 0, result.output
    assert result.output.count(f"{operation} failed: {error}; retrying") == 2
    assert sandbox.httpd_state() == ("active", "enabled")


def test_describe_that_keeps_failing_gives_up_after_the_wait(harness, volume):
    sandbox, ns = harness.instance(volume)
    sandbox.set_aws(fails_describe_volumes="always")

    result = ns.boot(ATTACH_WAIT_SECONDS=2, ATTACH_POLL_SECONDS=0.2)

    assert result.returncode != 0
    assert 2.0 <= result.elapsed < 10
    assert result.output.count("; retrying") >= 5
    assert (
        f"step attach-volume failed for volume {VOLUME_ID}: volume {VOLUME_ID} was not attached"
        f" to i-0123456789abcdef0 within 2s (last error: describe-volumes failed: {NO_CREDENTIALS})"
    ) in result.output
    assert not [c for c in sandbox.calls("aws") if c.startswith("ec2 attach-volume")]
    assert_httpd_not_started(sandbox)
    assert ns.mount_at(sandbox.docroot) is None
    assert probe(volume.dev) == {}


@pytest.mark.parametrize(
    "error",
    [
        "An error occurred (InvalidVolume.NotFound) when calling the DescribeVolumes operation: "
        f"The volume '{VOLUME_ID}' does not exist.",
        "An error occurred (InvalidParameterValue) when calling the DescribeVolumes operation: "
        "Invalid value for parameter volume ids.",
    ],
    ids=["not-found", "invalid-parameter"],
)
def test_permanent_describe_errors_fail_at_once(harness, volume, error):
    sandbox, ns = harness.instance(volume)
    sandbox.set_aws(fails_describe_volumes="always", error_describe_volumes=error)

    result = ns.boot(ATTACH_WAIT_SECONDS=60)

    assert result.returncode != 0
    assert result.elapsed < 5
    failure = f"step attach-volume failed for volume {VOLUME_ID}: describe-volumes failed: {error}"
    assert failure in result.output
    assert "retrying" not in result.output
    assert len([c for c in sandbox.calls("aws") if c.startswith("ec2 describe-volumes")]) == 1
    assert_httpd_not_started(sandbox)
    assert ns.mount_at(sandbox.docroot) is None
