"""site-release.sh on the test machine: the served tree on the volume, behind one link that
Apache's DocumentRoot names, and the move of a volume whose files lie at its root (every
deployment before this layout) into its first tree, with a real Apache serving throughout.

A failure is injected by a stand-in for one command on the PATH that fails when its arguments
match; everything else runs for real. What "byte for byte" compares is every entry of a tree:
a file's bytes, a link's target, a directory.
"""

from __future__ import annotations

import http.client
import os
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.integration.bootharness import SYSTEM_PATH, require_apache, serve

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
        self.seen: list[int] = []  # per answer, the index of the version it was
        self._done = threading.Event()
        self._threads = [threading.Thread(target=self._read, daemon=True) for _ in range(threads)]

    def _read(self) -> None:
        while not self._done.is_set():
            for key, versions in self.expected.items():
                status, body = get(self.base + quoted(key))
                if status == 200 and body in versions:
                    self.seen.append(versions.index(body))
                else:
                    self.wrong.append((key, status, body[:200]))

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


def failing(workdir: Path, command: str, pattern: str) -> str:
    """A PATH whose ``command`` fails when its arguments match the shell pattern."""
    bin_dir = workdir / f"failing-{command}"
    bin_dir.mkdir(exist_ok=True)
    real = shutil.which(command, path=SYSTEM_PATH)
    stand_in = bin_dir / command
    stand_in.write_text(
        "#!/usr/bin/env bash\n"
        f'if [[ "$*" == {pattern} ]]; then echo "{command} $*: failure injected" >&2; exit 1; fi\n'
        f'exec {real} "$@"\n'
    )
    stand_in.chmod(0o755)
    return f"{bin_dir}:{SYSTEM_PATH}"


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
    sandbox.ns = ns
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
