"""site-release.sh on the test machine: the served tree on the volume, behind one link that
Apache's DocumentRoot names, and the move of a volume whose files lie at its root (every
deployment before this layout) into its first tree, with a real Apache serving throughout.

A failure is injected by a stand-in for one command on the PATH that fails when its arguments
match; everything else runs for real. What "byte for byte" compares is every entry of a tree:
a file's bytes, a link's target, a directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import os
import shlex
import shutil
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from operations.site_folder import bundle, manifest, parse_inventory, plan, read_folder
from tests import ssm_agent
from tests.integration.bootharness import (
    BOOT_SRC,
    SYSTEM_PATH,
    release_document_of,
    require_apache,
    run,
    serve,
)
from tests.integration.fallback_harness import AwsSandbox, aws, moto_server  # noqa: F401 (fixtures)
from web_server.transfer import TRANSFER_PREFIX

# A site as a user leaves it: nested folders, a link inside the tree, names with spaces and
# non-ASCII letters, an empty folder, a page edited by hand.
LEGACY = {
    "index.html": b"<!doctype html><title>mine</title><p>edited by hand</p>\n",
    "index.html.sample-new": b"<!doctype html><p>the rendering kept beside it</p>\n",
    "css/site.css": b"body { color: #123 }\n",
    "img/photo one.bin": os.urandom(200_000),
    "caf\u00e9/menu.html": "<p>caf\u00e9</p>\n".encode(),
}
LEGACY_LINKS = {"latest.html": "caf\u00e9/menu.html"}
LEGACY_DIRS = ("empty",)


def tree(root: Path) -> dict[str, tuple]:
    """Every entry under root (a link to it is followed): a file's bytes, a link's target, a folder."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            key = str(path.relative_to(root))
            if path.is_symlink():
                found[key] = ("link", os.readlink(path))
            elif path.is_dir():
                found[key] = ("dir",)
            else:
                found[key] = ("file", path.read_bytes())
    return found


def states(root: Path) -> dict[str, tuple[int, int]]:
    """Inode and change time of every entry under root, the root itself included."""
    paths = [root, *root.rglob("*")]
    return {str(p): (os.lstat(p).st_ino, os.lstat(p).st_ctime_ns) for p in paths}


def get(url: str) -> tuple[int, bytes]:
    """Status and body; 0 and the error for no answer (refused, reset, cut short)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (OSError, http.client.HTTPException) as error:
        return 0, repr(error).encode()


def quoted(key: str) -> str:
    return urllib.parse.quote(key)


class Reader:
    """Four threads GET each URL in turn, as fast as Apache answers, until stopped; keeps every
    answer that is not one of those expected for its URL, and which version each answer was."""

    def __init__(self, base: str, expected: Mapping[str, list[bytes]], threads: int = 4) -> None:
        self.base, self.expected = base, expected
        self.wrong: list[tuple[str, int, bytes]] = []
        self.seen: list[tuple[int, str, int]] = []  # per answer: the thread, the URL, which version
        self._done = threading.Event()
        self._threads = [threading.Thread(target=self._read, args=(n,), daemon=True) for n in range(threads)]

    def _read(self, thread: int) -> None:
        while not self._done.is_set():
            for key, versions in self.expected.items():
                status, body = get(self.base + quoted(key))
                if status == 200 and body in versions:
                    self.seen.append((thread, key, versions.index(body)))
                else:
                    self.wrong.append((key, status, body[:200]))

    def went_back(self) -> list[str]:
        """URLs a thread saw in a version older than one it had seen before."""
        latest: dict[tuple[int, str], int] = {}
        back = []
        for thread, key, version in self.seen:
            if version < latest.get((thread, key), 0):
                back.append(key)
            latest[(thread, key)] = max(version, latest.get((thread, key), 0))
        return back

    def __enter__(self) -> Reader:
        for thread in self._threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(self.seen) + len(self.wrong) < 20:  # reading at full speed before the change starts
            assert time.monotonic() < deadline, "the reader gets no answers"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        for thread in self._threads:
            thread.join(timeout=30)
            assert not thread.is_alive()


def failing(workdir: Path, command: str, pattern: str, path: str = SYSTEM_PATH) -> str:
    """``path`` with, first, a ``command`` that fails when its arguments match the shell pattern."""
    bin_dir = workdir / f"failing-{command}"
    bin_dir.mkdir(exist_ok=True)
    real = shutil.which(command, path=path)
    stand_in = bin_dir / command
    stand_in.write_text(
        "#!/usr/bin/env bash\n"
        f"pattern={shlex.quote(pattern)}\n"
        f'if [[ "$*" == $pattern ]]; then echo "{command} $*: failure injected" >&2; exit 1; fi\n'
        f'exec {real} "$@"\n'
    )
    stand_in.chmod(0o755)
    return f"{bin_dir}:{path}"


def release(sandbox, ns, *args: str, **env: str):
    """site-release.sh as the boot or SSM Run Command runs it."""
    return ns.machine.run("bash", str(sandbox.boot_dir / "site-release.sh"), *args, env=sandbox.env(**env))


@pytest.fixture
def site(harness, volume):
    """A new instance whose boot has served the volume once."""
    require_apache()
    sandbox, ns = harness.instance(volume)
    assert ns.boot().returncode == 0
    sandbox.url = serve(sandbox, ns)
    sandbox.ns, sandbox.volume = ns, volume
    return sandbox


def make_legacy(site) -> dict[str, tuple]:
    """The volume as every earlier version left it: the site's files at its root, Apache serving
    the root. Returns what it serves."""
    root, ns = site.ns.path(site.docroot), site.ns
    shutil.rmtree(root / ".releases")
    (root / "current").unlink()
    (site.httpd_conf_dir / "site-docroot.conf").unlink()
    for key, data in LEGACY.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    for key, target in LEGACY_LINKS.items():
        (root / key).symlink_to(target)
    for key in LEGACY_DIRS:
        (root / key).mkdir()
    assert ns.machine.run("systemctl", "reload", "httpd.service").returncode == 0
    for key, data in LEGACY.items():
        assert get(site.url + quoted(key)) == (200, data)
    return tree(root)


def served_id(site) -> str:
    return os.readlink(site.ns.path(site.docroot / ".releases" / "current"))


# ---- a new volume


def test_a_new_volume_gets_a_first_tree_behind_one_link_and_a_rerun_changes_nothing(site):
    root = site.ns.path(site.docroot)
    releases = root / ".releases"
    (first,) = [p.name for p in releases.iterdir() if p.name != "current"]
    assert first.endswith("-initial")
    assert os.readlink(releases / "current") == first  # relative: the volume is mounted anywhere
    assert os.readlink(root / "current") == ".releases/current"
    assert sorted(tree(releases / first)) == ["index.html"]
    conf = (site.httpd_conf_dir / "site-docroot.conf").read_text()
    assert f'DocumentRoot "{site.docroot}/.releases/current"\n' in conf
    assert get(site.url) == (200, (releases / first / "index.html").read_bytes())
    before = states(root) | states(site.httpd_conf_dir)

    again = site.ns.boot()

    assert again.returncode == 0, again.output
    assert states(root) | states(site.httpd_conf_dir) == before


# ---- the move of a volume that served its root


def test_a_served_volume_moves_into_its_first_tree_while_a_reader_never_misses(site):
    legacy = make_legacy(site)
    root = site.ns.path(site.docroot)
    inodes = {key: os.lstat(root / key).st_ino for key, entry in legacy.items() if entry[0] == "file"}
    expected = {key: [data] for key, data in LEGACY.items()}

    with Reader(site.url, expected) as reader:
        moved = release(site, site.ns, "layout")
    result = site.ns.boot()

    assert moved.returncode == 0, moved.stdout
    assert "ERROR" not in moved.stdout
    assert result.returncode == 0, result.output
    assert reader.wrong == []
    assert len(reader.seen) > 2 * len(expected)
    assert served_id(site).endswith("-migrated")
    assert tree(site.ns.path(site.served)) == legacy
    # The same files, linked into the tree: nothing was copied.
    assert {key: os.lstat(root / "current" / key).st_ino for key in inodes} == inodes
    # The root keeps the tree, the link for a shell and the rendering beside the edited page.
    assert sorted(p.name for p in root.iterdir()) == [".releases", "current", "index.html.sample-new"]
    assert b"site-boot generated page" in (root / "index.html.sample-new").read_bytes()
    assert "outside the served tree" not in result.output
    for key, data in LEGACY.items():
        assert get(site.url + quoted(key)) == (200, data)
    before = states(root)

    again = site.ns.boot()

    assert again.returncode == 0, again.output
    assert states(root) == before


def test_a_file_changed_or_added_at_the_root_during_the_move_is_kept_there(site):
    legacy = make_legacy(site)
    root = site.ns.path(site.docroot)
    # As if written between the tree's hard links and the clean-up: the root's copy is no longer
    # the tree's file, and a new one has no counterpart there.
    result = release(site, site.ns, "layout", PATH=failing(site.root, "xargs", "*"))
    assert result.returncode != 0
    (root / "css" / "site.css").unlink()
    (root / "css" / "site.css").write_bytes(b"body { color: red }\n")
    (root / "new.html").write_bytes(b"<p>new</p>\n")

    result = site.ns.boot()

    assert result.returncode == 0, result.output
    assert tree(site.ns.path(site.served)) == legacy
    assert (root / "css" / "site.css").read_bytes() == b"body { color: red }\n"
    assert (root / "new.html").read_bytes() == b"<p>new</p>\n"
    assert sorted(p.name for p in root.iterdir()) == [
        ".releases", "css", "current", "index.html.sample-new", "new.html"
    ]  # fmt: skip
    assert sorted(p.name for p in (root / "css").iterdir()) == ["site.css"]
    assert "WARNING: " in result.output
    assert "holds css new.html outside the served tree" in result.output


MOVE_STEPS = {
    "hard links": ("cp", "*"),
    "the tree's rename": ("mv", "*/.new-*"),
    "the link's creation": ("ln", "*current.new"),
    "the link's rename": ("mv", "*current.new*"),
    "Apache's configuration": ("mv", "*site-docroot.conf*"),
    "Apache's reload": ("systemctl", "try-reload-or-restart*"),
    "the clean-up": ("xargs", "*"),
}


@pytest.mark.parametrize("step", MOVE_STEPS, ids=list(MOVE_STEPS))
def test_a_move_interrupted_at_any_step_serves_the_same_and_the_next_run_finishes_it(site, step):
    legacy = make_legacy(site)
    root = site.ns.path(site.docroot)
    command, pattern = MOVE_STEPS[step]

    failed = release(site, site.ns, "layout", PATH=failing(site.root, command, pattern), SETTLE_SECONDS="0.2")

    assert failed.returncode != 0
    assert "failure injected" in failed.stdout
    for key, data in LEGACY.items():
        assert get(site.url + quoted(key)) == (200, data), key
    # Nothing is lost: each entry is at the root, or in the tree Apache serves, or both.
    served = tree(site.ns.path(site.served)) if os.path.lexists(root / ".releases" / "current") else {}
    at_root = {k: v for k, v in tree(root).items() if not k.startswith((".releases", "current"))}
    assert served | at_root == legacy or served == legacy

    finished = release(site, site.ns, "layout", SETTLE_SECONDS="0.2")

    assert finished.returncode == 0, finished.stdout
    assert tree(site.ns.path(site.served)) == legacy
    assert sorted(p.name for p in root.iterdir()) == [".releases", "current", "index.html.sample-new"]
    assert sorted(p.name for p in (root / ".releases").iterdir()) == sorted(["current", served_id(site)])
    for key, data in LEGACY.items():
        assert get(site.url + quoted(key)) == (200, data), key


# ---- publish: the release document, run as the SSM agent runs it, against moto's S3

V1 = {
    "index.html": b"<!doctype html><title>one</title><link rel=stylesheet href=css/site.css>\n",
    "css/site.css": b"body { color: #111 }\n",
    "img/big.bin": os.urandom(300_000),
    "old.html": b"<p>only in the first</p>\n",
    "back\\slash and space.txt": b"kept as it is\n",
}
V2 = {
    "index.html": b"<!doctype html><title>two</title><link rel=stylesheet href=css/site.css>\n",
    "css/site.css": b"body { color: #222 }\n",
    "img/big.bin": V1["img/big.bin"],
    "new/page.html": b"<p>only in the second</p>\n",
    "back\\slash and space.txt": b"kept as it is\n",
}


def write_folder(path: Path, files: Mapping[str, bytes], links: Mapping[str, str] = {}) -> Path:
    for key, data in files.items():
        (path / key).parent.mkdir(parents=True, exist_ok=True)
        (path / key).write_bytes(data)
    for key, target in links.items():
        (path / key).symlink_to(target)
    return path


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Releases:
    """The instance, the release document as deployed, moto's S3 with the run-output bucket."""

    site: object
    aws: AwsSandbox
    content: dict
    bucket: str

    def run(
        self, action: str, release: str = "none", path: str | None = None, volume: str = "none", **env: str
    ) -> Result:
        """The document with these values, as the SSM agent runs it: stdout and stderr apart."""
        device = "none" if volume == "none" else "/dev/sdg"
        values = {"Action": action, "Release": release, "VolumeId": volume, "DeviceName": device}
        script = self.site.tmp_dir / f"agent-{time.monotonic_ns()}.sh"
        script.write_text(ssm_agent.script(self.content, values))
        script.chmod(0o755)
        errors = script.with_suffix(".err")
        full = {**self.site.env(), **self.aws.script_env(DOCROOT=str(self.site.docroot)), **env}
        if path is not None:
            full["PATH"] = path
        # Amazon Linux's sh, which the agent runs the script with, is bash.
        result = self.site.ns.machine.run("bash", "-c", f"{script} 2>{errors}", env=full)
        return Result(result.returncode, result.stdout, errors.read_text())

    def upload(self, folder: Path, release: str) -> None:
        """What make publish uploads: the folder's manifest and the files the server lacks."""
        entries, refusals = read_folder(folder)
        assert refusals == []
        inventory = self.run("inventory")
        assert inventory.returncode == 0, inventory.stderr
        _, served = parse_inventory(inventory.stdout)
        files = io.BytesIO()
        bundle(folder, plan(entries, served).upload, files)
        s3 = self.aws.moto.client("s3")
        s3.put_object(Bucket=self.bucket, Key=f"{TRANSFER_PREFIX}{release}/manifest", Body=manifest(entries))
        s3.put_object(Bucket=self.bucket, Key=f"{TRANSFER_PREFIX}{release}/files.tar", Body=files.getvalue())

    def publish(self, folder: Path, release: str, **env: str) -> Result:
        self.upload(folder, release)
        return self.run("publish", release, **env)


@pytest.fixture
def releases(site, aws, dev_app):  # noqa: F811
    content, bucket = release_document_of(dev_app.templates, dev_app.stacks.web_server.stack_name)
    s3 = aws.moto.client("s3")
    with contextlib.suppress(
        s3.exceptions.BucketAlreadyOwnedByYou
    ):  # the session's moto: another test made it
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return Releases(site, aws, content, bucket)


def releases_on(site) -> list[str]:
    return sorted(p.name for p in site.ns.path(site.docroot / ".releases").iterdir())


def previous_of(site, release: str) -> str:
    return os.readlink(site.ns.path(site.docroot / ".releases" / f"{release}.previous"))


ONE, TWO = "20260101T120000Z-publish-0001", "20260101T130000Z-publish-0002"


def test_publish_then_publish_again_switch_atomically_and_keep_the_tree_they_replaced(releases, tmp_path):
    site = releases.site
    initial = served_id(site)
    one = write_folder(tmp_path / "one", V1, {"home.html": "index.html"})
    two = write_folder(tmp_path / "two", V2, {"home.html": "new/page.html"})

    first = releases.publish(one, ONE)

    assert first.returncode == 0, first.stderr
    assert served_id(site) == ONE
    assert tree(site.ns.path(site.served)) == tree(one)
    assert previous_of(site, ONE) == initial  # the restore point: the tree the boot made
    assert first.stdout.splitlines()[0].startswith(f"served {ONE} ")
    assert first.stdout.splitlines()[-1].startswith(
        f"page {hashlib.sha256(V1['index.html']).hexdigest()} index.html"
    )
    for key, data in V1.items():
        assert get(site.url + quoted(key)) == (200, data)
    # Apache serves as the folder's modes never said: files 0644, folders 0755.
    served = site.ns.path(site.served)
    assert {oct(os.lstat(p).st_mode & 0o777) for p in served.rglob("*") if not p.is_symlink()} == {
        "0o644",
        "0o755",
    }

    expected = {key: [V1[key], V2[key]] for key in ("index.html", "css/site.css")}
    with Reader(site.url, expected) as reader:
        second = releases.publish(two, TWO)

    assert second.returncode == 0, second.stderr
    assert reader.wrong == []
    assert reader.went_back() == []
    assert tree(site.ns.path(site.served)) == tree(two)
    assert get(site.url + "old.html")[0] == 404
    assert previous_of(site, TWO) == ONE
    assert tree(site.ns.path(site.docroot / ".releases" / ONE)) == tree(one)
    assert releases_on(site) == sorted([ONE, TWO, f"{TWO}.previous", "current"])  # the boot's tree is gone
    # Only what the server lacked was uploaded.
    with tarfile.open(
        fileobj=io.BytesIO(
            releases.aws.moto.client("s3")
            .get_object(Bucket=releases.bucket, Key=f"{TRANSFER_PREFIX}{TWO}/files.tar")["Body"]
            .read()
        )
    ) as tar:
        assert sorted(tar.getnames()) == ["css/site.css", "index.html", "new/page.html"]
    before = states(site.ns.path(site.docroot))

    again = releases.run("publish", TWO)

    assert again.returncode == 0, again.stderr
    assert "already the served tree" in again.stderr
    assert states(site.ns.path(site.docroot)) == before


PUBLISH_STEPS = {
    "the manifest's download": ("aws", "*/manifest *"),
    "the files' download": ("aws", "*/files.tar*"),
    "unpacking": ("tar", "*"),
    "a copy from the served tree": ("cp", "*--reflink*"),
    "the modes": ("chmod", "*"),
    "the check against the manifest": ("cmp", "*"),
    "the tree's rename": ("mv", "*/.new-*"),
    "the restore point's link": ("ln", "*.previous.new"),
    "the flush to disk": ("sync", "*"),
    "the switch": ("mv", "*current.new*"),
}


@pytest.mark.parametrize("step", PUBLISH_STEPS, ids=list(PUBLISH_STEPS))
def test_a_publish_failing_at_any_step_leaves_the_served_tree_byte_for_byte(releases, tmp_path, step):
    site = releases.site
    one = write_folder(tmp_path / "one", V1)
    assert releases.publish(one, ONE).returncode == 0
    two = write_folder(tmp_path / "two", V2)
    before = tree(site.ns.path(site.served))
    command, pattern = PUBLISH_STEPS[step]
    path = failing(site.root, command, pattern, releases.aws.script_env()["PATH"])

    failed = releases.publish(two, TWO, PATH=path)

    assert failed.returncode != 0
    assert "failure injected" in failed.stderr
    assert served_id(site) == ONE
    assert tree(site.ns.path(site.served)) == before
    for key, data in V1.items():
        assert get(site.url + quoted(key)) == (200, data)

    retried = releases.run("publish", TWO)

    assert retried.returncode == 0, retried.stderr
    assert tree(site.ns.path(site.served)) == tree(two)
    assert previous_of(site, TWO) == ONE
    assert releases_on(site) == sorted([ONE, TWO, f"{TWO}.previous", "current"])


def test_a_failure_after_the_switch_leaves_the_new_tree_served_and_says_so(releases, tmp_path):
    site = releases.site
    assert releases.publish(write_folder(tmp_path / "one", V1), ONE).returncode == 0
    two = write_folder(tmp_path / "two", V2)
    path = failing(site.root, "rm", "-rf -- *", releases.aws.script_env()["PATH"])

    result = releases.publish(two, TWO, PATH=path)

    assert result.returncode == 0, result.stderr
    assert "WARNING: could not remove" in result.stderr
    assert tree(site.ns.path(site.served)) == tree(two)
    assert previous_of(site, TWO) == ONE


def test_a_tree_that_does_not_match_its_manifest_is_never_served(releases, tmp_path):
    site = releases.site
    one = write_folder(tmp_path / "one", V1)
    assert releases.publish(one, ONE).returncode == 0
    before = tree(site.ns.path(site.served))
    two = write_folder(tmp_path / "two", V2)
    releases.upload(two, TWO)
    # A file of the served tree edited over a shell after the plan, which took it from there.
    (site.ns.path(site.served) / "img" / "big.bin").write_bytes(b"edited since")
    before["img/big.bin"] = ("file", b"edited since")

    edited = releases.run("publish", TWO)

    assert edited.returncode != 0
    assert "does not match its manifest" in edited.stderr
    assert tree(site.ns.path(site.served)) == before
    assert releases_on(site) == sorted([ONE, f"{ONE}.previous", "current", previous_of(site, ONE)])


def install_mirror(releases) -> None:
    """The mirror's unit as the configuration installs it, reading moto's endpoint from site.env."""
    site = releases.site
    shutil.copy(BOOT_SRC / "units" / "site-sync.service", site.systemd_dir)
    values = releases.aws.script_env(DOCROOT=str(site.docroot), HTTPD_USER="www-data")
    site.env_file.parent.mkdir(parents=True, exist_ok=True)
    site.env_file.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    assert site.ns.machine.run("systemctl", "daemon-reload").returncode == 0


def test_after_the_switch_the_fallback_copy_and_the_edge_caches_follow(releases, tmp_path):
    moto = releases.aws
    install_mirror(releases)
    two = write_folder(tmp_path / "two", V2)

    result = releases.publish(two, TWO)

    assert result.returncode == 0, result.stderr
    assert "site-sync.service ran" in result.stderr
    assert {key: moto.get_object(key)[0] for key in moto.objects()} == V2
    assert [inv["InvalidationBatch"]["Paths"]["Items"] for inv in moto.invalidations()] == [["/*"]]


# ---- restore: back to the tree the last switch replaced


def test_previous_switches_back_atomically_and_again_forth(releases, tmp_path):
    site = releases.site
    one, two = write_folder(tmp_path / "one", V1), write_folder(tmp_path / "two", V2)
    assert releases.publish(one, ONE).returncode == 0
    assert releases.publish(two, TWO).returncode == 0
    expected = {key: [V2[key], V1[key]] for key in ("index.html", "css/site.css")}

    with Reader(site.url, expected) as reader:
        back = releases.run("previous")

    assert back.returncode == 0, back.stderr
    assert reader.wrong == []
    assert reader.went_back() == []
    assert served_id(site) == ONE
    assert tree(site.ns.path(site.served)) == tree(one)
    assert previous_of(site, ONE) == TWO  # the tree it replaced is the restore point now
    assert back.stdout.splitlines()[-1].startswith(
        f"page {hashlib.sha256(V1['index.html']).hexdigest()} index.html"
    )
    assert releases_on(site) == sorted([ONE, TWO, f"{ONE}.previous", "current"])

    forth = releases.run("previous")

    assert forth.returncode == 0, forth.stderr
    assert served_id(site) == TWO
    assert tree(site.ns.path(site.served)) == tree(two)
    assert previous_of(site, TWO) == ONE


PREVIOUS_STEPS = {
    "the new times": ("touch", "*"),
    "the restore point's link": ("ln", "*.previous.new"),
    "the switch": ("mv", "*current.new*"),
}


@pytest.mark.parametrize("step", PREVIOUS_STEPS, ids=list(PREVIOUS_STEPS))
def test_previous_failing_at_any_step_leaves_the_served_tree_byte_for_byte(releases, tmp_path, step):
    site = releases.site
    assert releases.publish(write_folder(tmp_path / "one", V1), ONE).returncode == 0
    two = write_folder(tmp_path / "two", V2)
    assert releases.publish(two, TWO).returncode == 0
    command, pattern = PREVIOUS_STEPS[step]

    failed = releases.run(
        "previous", PATH=failing(site.root, command, pattern, releases.aws.script_env()["PATH"])
    )

    assert failed.returncode != 0
    assert "failure injected" in failed.stderr
    assert served_id(site) == TWO
    assert tree(site.ns.path(site.served)) == tree(two)
    assert previous_of(site, TWO) == ONE
    assert releases.run("previous").returncode == 0
    assert served_id(site) == ONE


def test_previous_without_a_restore_point_changes_nothing(releases):
    site = releases.site
    before = states(site.ns.path(site.docroot))

    result = releases.run("previous")

    assert result.returncode != 0
    assert (
        f"the served tree {served_id(site)} has no restore point on the volume; nothing was changed"
        in result.stderr
    )
    assert states(site.ns.path(site.docroot)) == before


def test_the_fallback_copy_follows_a_switch_back_even_where_sizes_match(releases, tmp_path):
    """css/site.css differs between the trees by its bytes alone: the sync compares sizes and times."""
    moto = releases.aws
    install_mirror(releases)
    assert releases.publish(write_folder(tmp_path / "one", V1), ONE).returncode == 0
    assert releases.publish(write_folder(tmp_path / "two", V2), TWO).returncode == 0
    assert len(V1["css/site.css"]) == len(V2["css/site.css"])

    result = releases.run("previous")

    assert result.returncode == 0, result.stderr
    assert {key: moto.get_object(key)[0] for key in moto.objects()} == V1


# ---- restore: from a snapshot, a copy of the volume on a loop device of its own

SNAPSHOT_VOLUME = "vol-0fedcba9876543210"
RESTORED = "20260101T140000Z-snap-0123456789abcdef0"


@pytest.fixture
def snapshot_of(releases, harness):
    """Takes a "snapshot" of the volume (a copy of its blocks, XFS's UUID and all), attached to the
    instance as the operator attaches the volume made from one; nothing of it stays mounted."""
    site, made = releases.site, []

    def take():
        site.ns.machine.run("sync")
        volume = harness.volume(copy_of=site.volume)
        site.link_device(volume, "nvme-Amazon_Elastic_Block_Store_" + SNAPSHOT_VOLUME.replace("-", ""))
        made.append(volume)
        return volume

    yield take
    for volume in made:
        for mountpoint, mount in site.ns.machine.mounts().items():
            if mount["source"].startswith(volume.dev):
                site.ns.machine.run("umount", mountpoint)


def restore_from(releases, **env: str) -> Result:
    return releases.run("snapshot", RESTORED, volume=SNAPSHOT_VOLUME, **env)


def mounted_from(site, volume) -> list[str]:
    return [
        point for point, mount in site.ns.machine.mounts().items() if mount["source"].startswith(volume.dev)
    ]


def test_a_snapshot_s_tree_is_copied_back_atomically_and_its_volume_left_unmounted(
    releases, snapshot_of, tmp_path
):
    site = releases.site
    one, two = write_folder(tmp_path / "one", V1), write_folder(tmp_path / "two", V2)
    assert releases.publish(one, ONE).returncode == 0
    snapshot = snapshot_of()  # yesterday's, with ONE served
    assert releases.publish(two, TWO).returncode == 0
    expected = {key: [V2[key], V1[key]] for key in ("index.html", "css/site.css")}

    with Reader(site.url, expected) as reader:
        result = restore_from(releases)

    assert result.returncode == 0, result.stderr
    assert "mounted" in result.stderr
    assert reader.wrong == []
    assert reader.went_back() == []
    assert served_id(site) == RESTORED
    assert tree(site.ns.path(site.served)) == tree(one)
    assert previous_of(site, RESTORED) == TWO
    assert releases_on(site) == sorted([RESTORED, TWO, f"{RESTORED}.previous", "current"])
    assert mounted_from(site, snapshot) == []
    before = states(site.ns.path(site.docroot))

    again = restore_from(releases)

    assert again.returncode == 0, again.stderr
    assert states(site.ns.path(site.docroot)) == before


def test_a_snapshot_from_before_the_served_tree_has_its_root_copied_back(releases, snapshot_of, harness):
    site = releases.site
    text = {key: data for key, data in LEGACY.items() if key != "img/photo one.bin"}
    old = harness.volume()
    run("mkfs.ext4", "-q", "-L", "site-docroot", old.dev)  # with lost+found at its root, which stays
    old.populate(old.dev, {key: data.decode() for key, data in text.items()})
    site.link_device(old, "nvme-Amazon_Elastic_Block_Store_" + SNAPSHOT_VOLUME.replace("-", ""))

    result = restore_from(releases)

    assert result.returncode == 0, result.stderr
    restored = tree(site.ns.path(site.served))
    assert {key: entry[1] for key, entry in restored.items() if entry[0] == "file"} == text
    assert "lost+found" not in restored
    assert mounted_from(site, old) == []


SNAPSHOT_STEPS = {
    "the read-only mount": ("mount", "-o ro*"),
    "the copy": ("cp", "-a*"),
    "the tree's rename": ("mv", "*/.new-*"),
    "the switch": ("mv", "*current.new*"),
}


@pytest.mark.parametrize("step", SNAPSHOT_STEPS, ids=list(SNAPSHOT_STEPS))
def test_a_restore_failing_at_any_step_leaves_the_site_and_unmounts_the_snapshot(
    releases, snapshot_of, tmp_path, step
):
    site = releases.site
    assert releases.publish(write_folder(tmp_path / "one", V1), ONE).returncode == 0
    snapshot = snapshot_of()
    two = write_folder(tmp_path / "two", V2)
    assert releases.publish(two, TWO).returncode == 0
    command, pattern = SNAPSHOT_STEPS[step]

    failed = restore_from(
        releases, PATH=failing(site.root, command, pattern, releases.aws.script_env()["PATH"])
    )

    assert failed.returncode != 0
    assert "failure injected" in failed.stderr
    assert served_id(site) == TWO
    assert tree(site.ns.path(site.served)) == tree(two)
    assert mounted_from(site, snapshot) == []
    assert restore_from(releases).returncode == 0
    assert tree(site.ns.path(site.served)) == tree(write_folder(tmp_path / "again", V1))


def test_the_document_root_s_own_volume_is_never_taken_for_a_snapshot(releases):
    site = releases.site
    site.link_device(site.volume, "nvme-Amazon_Elastic_Block_Store_" + SNAPSHOT_VOLUME.replace("-", ""))
    before = states(site.ns.path(site.docroot))

    result = restore_from(releases)

    assert result.returncode != 0
    assert "is the document root's own device; nothing was changed" in result.stderr
    assert states(site.ns.path(site.docroot)) == before
