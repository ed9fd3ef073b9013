"""site-sync.sh against moto's S3 and CloudFront on loopback, with the document
root mounted by the real boot scripts on a loop device and served by Apache.

What the bucket must hold is judged by Apache itself: every object is fetched
from Apache and compared byte for byte, and every file Apache serves must be
in the bucket, but for what the copy leaves out by design.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.integration.fallback_harness import (
    AwsSandbox,
    aws,  # noqa: F401 (fixture)
    http_get,
    media_type,
    moto_server,  # noqa: F401 (fixture)
    run_in_namespace,
)

MAINTENANCE_KEY = "_maintenance/index.html"
MAINTENANCE_PAGE = b"<!doctype html><title>Back soon</title>\n"


@pytest.fixture
def site(served_site, aws: AwsSandbox):  # noqa: F811
    """The served site with a sync function bound to this test's bucket."""

    def sync(**env: str):
        result = run_in_namespace(
            served_site.namespace,
            "site-sync.sh",
            aws.script_env(**{"DOCROOT": str(served_site.sandbox.docroot), **env}),
        )
        return result

    served_site.sync = sync
    served_site.root = root = Path(served_site.served_in_ns)
    before = {p.name for p in root.iterdir()}
    page = (root / "index.html").read_bytes()
    yield served_site
    # The volume is shared by the module's tests: leave it as found.
    for path in root.iterdir():
        if path.name not in before:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    (root / "index.html").write_bytes(page)


def operations(calls: list[str]) -> list[str]:
    """ "service operation" of each recorded AWS CLI call."""
    found = []
    for call in calls:
        match = re.search(r"(?:^| )(s3api|s3|cloudfront|cloudwatch|secretsmanager) (\S+)", call)
        found.append(f"{match[1]} {match[2]}" if match else call)
    return found


def write(root: Path, key: str, content: str | bytes, mode: int = 0o644) -> Path:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    for parent in [path.parent, *path.parent.parents]:
        if parent == root:
            break
        parent.chmod(0o755)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    path.chmod(mode)
    return path


def left_out_by_design(path: Path) -> bool:
    """Files the copy leaves out although the test's Apache would serve them: .ht*
    (Amazon Linux's httpd.conf denies them; the harness's Debian config does not),
    symlinks (the copy does not follow them), and names that are not UTF-8 (no S3 key
    can name them)."""
    if path.name.startswith(".ht") or path.is_symlink():
        return True
    try:
        path.name.encode()
    except UnicodeEncodeError:
        return True
    return False


def same_media_type(stored: str, served: str) -> bool:
    # S3's default for an unknown extension says the same as Apache's.
    octets = {"binary/octet-stream", "application/octet-stream"}
    stored, served = media_type(stored), media_type(served or "application/octet-stream")
    return stored == served or {stored, served} <= octets


def assert_mirror(site, aws: AwsSandbox) -> dict[str, str]:  # noqa: F811
    objects = aws.objects()
    # Every object is something Apache serves, byte for byte, of the same type.
    for key in objects:
        if key.startswith("_maintenance/"):
            continue
        status, body, served_type = http_get(site.url, key)
        assert status == 200, f"{key} is in the bucket but Apache answers {status}"
        data, stored_type = aws.get_object(key)
        assert data == body, key
        assert same_media_type(stored_type, served_type), (key, stored_type, served_type)
    # Every file Apache serves is in the bucket.
    root = site.root
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            key = path.relative_to(root).as_posix()
            if key.startswith("_maintenance/") or left_out_by_design(path) or not path.is_file():
                continue
            status, body, _ = http_get(site.url, key)
            if status == 200:
                assert key in objects, f"Apache serves {key} but the bucket lacks it"
                assert aws.get_object(key)[0] == body, key
    return objects


def invalidated_paths(aws: AwsSandbox) -> list[list[str]]:  # noqa: F811
    return [inv["InvalidationBatch"]["Paths"]["Items"] for inv in aws.invalidations()]


def test_bucket_mirrors_adds_edits_and_deletes_and_nothing_apache_would_not_serve(
    site,
    aws: AwsSandbox,  # noqa: F811
):
    root = site.root
    aws.put_object(MAINTENANCE_KEY, MAINTENANCE_PAGE)
    aws.put_object("stray.txt", b"on no volume\n", "text/plain")
    write(root, "mirror/a.txt", "first\n")
    write(root, "mirror/style.css", "body { color: red }\n")
    write(root, "mirror/sub dir/ü page.html", "<p>ü</p>\n")
    write(root, "mirror/data.bin", bytes(range(256)) * 4)
    write(root, "mirror/[odd] *name?.txt", "brackets\n")
    write(root, "mirror/[odd] *name?.secret", "root only\n", mode=0o600)
    write(root, "-leading-dash.txt", "not an option\n")
    write(root, "mirror/.htaccess", "Require all denied\n")
    write(root, "mirror/secret.txt", "root only\n", mode=0o600)
    write(root, "mirror/private/hidden.txt", "behind a closed directory\n")
    (root / "mirror/private").chmod(0o700)
    (root / "mirror/link-in.txt").symlink_to("a.txt")
    (root / "mirror/link-out.txt").symlink_to("/etc/passwd")
    os.mkfifo(root / "mirror/fifo")

    first = site.sync()

    assert first.returncode == 0, first.output
    objects = assert_mirror(site, aws)
    assert {
        "index.html",
        "mirror/a.txt",
        "mirror/style.css",
        "mirror/sub dir/ü page.html",
        "mirror/data.bin",
        "mirror/[odd] *name?.txt",
        "-leading-dash.txt",
    } <= set(objects)
    for absent in (
        "stray.txt",
        "mirror/.htaccess",
        "mirror/secret.txt",
        "mirror/[odd] *name?.secret",
        "mirror/private/hidden.txt",
        "mirror/link-in.txt",
        "mirror/link-out.txt",
        "mirror/fifo",
    ):
        assert absent not in objects
    assert aws.get_object(MAINTENANCE_KEY)[0] == MAINTENANCE_PAGE
    assert media_type(aws.get_object("mirror/style.css")[1]) == "text/css"

    # Edits, an add, a delete, and permissions that change what Apache serves.
    write(root, "mirror/a.txt", "second\n")
    write(root, "mirror/new.html", "<p>new</p>\n")
    (root / "mirror/style.css").unlink()
    (root / "mirror/secret.txt").chmod(0o644)
    (root / "mirror/data.bin").chmod(0o600)

    second = site.sync()

    assert second.returncode == 0, second.output
    objects = assert_mirror(site, aws)
    assert aws.get_object("mirror/a.txt")[0] == b"second\n"
    assert "mirror/new.html" in objects
    assert "mirror/secret.txt" in objects
    assert "mirror/style.css" not in objects
    assert "mirror/data.bin" not in objects
    assert aws.get_object(MAINTENANCE_KEY)[0] == MAINTENANCE_PAGE


def test_an_idle_pass_calls_nothing_and_a_change_is_one_invalidation_of_everything(
    site,
    aws: AwsSandbox,  # noqa: F811
):
    root = site.root
    write(root, "inv/index.html", "<p>1</p>\n")
    write(root, "inv/a b.txt", "1\n")
    assert site.sync().returncode == 0
    before = len(aws.invalidations())

    # Nothing changed: no call to S3 or CloudFront at all.
    aws.reset_calls()
    idle = site.sync()
    assert idle.returncode == 0, idle.output
    assert aws.calls() == []
    assert len(aws.invalidations()) == before

    # A burst of edits, a delete and a chmod before one pass: one sync, one invalidation.
    write(root, "inv/index.html", "<p>2</p>\n")
    write(root, "inv/ü.txt", "new\n")
    (root / "inv/a b.txt").unlink()
    burst = site.sync()
    assert burst.returncode == 0, burst.output
    assert operations(aws.calls()) == ["s3 sync", "cloudfront create-invalidation"]
    assert invalidated_paths(aws)[before:] == [["/*"]]
    assert_mirror(site, aws)


def test_every_call_of_a_pass_has_dual_stack_on_the_mirrors_as_apaches_user_too(
    site,
    aws: AwsSandbox,  # noqa: F811
):
    """The scripts turn the CLI's dual-stack endpoints on (the instance has no IPv4 route out),
    and runuser keeps that for the mirror's call."""
    assert "AWS_USE_DUALSTACK_ENDPOINT" not in aws.script_env()
    write(site.root, "ipv6/index.html", "<p>v6</p>\n")
    aws.reset_calls()
    result = site.sync()
    assert result.returncode == 0, result.output
    assert operations(aws.calls()) == ["s3 sync", "cloudfront create-invalidation"]
    mirror, invalidation = aws.environments()
    assert mirror["USER"] == "www-data"
    assert (mirror.get("AWS_USE_DUALSTACK_ENDPOINT"), invalidation.get("AWS_USE_DUALSTACK_ENDPOINT")) == (
        "true",
        "true",
    )


def test_a_new_instance_makes_the_bucket_the_volume_again(
    site,
    aws: AwsSandbox,  # noqa: F811
):
    root = site.root
    write(root, "rec/keep.txt", "keep\n")
    assert site.sync().returncode == 0
    aws.put_object(MAINTENANCE_KEY, MAINTENANCE_PAGE)
    aws.put_object("rec/stray.txt", b"not on the volume\n", "text/plain")
    # A new instance has no state.
    for child in aws.state_dir.iterdir():
        child.unlink()
    write(root, "rec/added.txt", "added\n")

    result = site.sync()

    assert result.returncode == 0, result.output
    objects = assert_mirror(site, aws)
    assert "rec/stray.txt" not in objects
    assert "rec/added.txt" in objects
    assert aws.get_object(MAINTENANCE_KEY)[0] == MAINTENANCE_PAGE
    assert invalidated_paths(aws)[-1] == ["/*"]


def test_a_failed_sync_or_invalidation_is_retried_by_the_next_pass(
    site,
    aws: AwsSandbox,  # noqa: F811
):
    root = site.root
    write(root, "retry/page.html", "<p>1</p>\n")
    assert site.sync().returncode == 0
    count = len(aws.invalidations())

    write(root, "retry/page.html", "<p>2</p>\n")
    aws.fail("sync")
    failed = site.sync()
    assert failed.returncode != 0
    assert "aws s3 sync" in failed.output
    assert len(aws.invalidations()) == count
    aws.fail("sync", failing=False)
    retried = site.sync()
    assert retried.returncode == 0, retried.output
    assert aws.get_object("retry/page.html")[0] == b"<p>2</p>\n"
    assert len(aws.invalidations()) == count + 1

    # The copy went through, the invalidation did not: the next pass invalidates with
    # nothing left to copy.
    write(root, "retry/page.html", "<p>3</p>\n")
    aws.fail("create-invalidation")
    assert site.sync().returncode != 0
    assert aws.get_object("retry/page.html")[0] == b"<p>3</p>\n"
    aws.fail("create-invalidation", failing=False)
    aws.reset_calls()
    assert site.sync().returncode == 0
    assert operations(aws.calls()) == ["s3 sync", "cloudfront create-invalidation"]
    assert len(aws.invalidations()) == count + 2


def test_nothing_happens_while_the_document_root_is_not_mounted(
    site,
    aws: AwsSandbox,  # noqa: F811
    tmp_path,
):
    aws.put_object("index.html", b"the real page\n")
    empty = tmp_path / "not-mounted"
    empty.mkdir()

    result = site.sync(DOCROOT=str(empty))

    assert result.returncode == 0, result.output
    assert "is not mounted; nothing to mirror" in result.output
    assert aws.calls() == []
    assert aws.objects().keys() == {"index.html"}
