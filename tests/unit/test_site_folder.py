"""operations/site_folder.py: a folder read, checked and listed as the server lists its served tree."""

from __future__ import annotations

import base64
import gzip
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from operations import site_folder
from operations.site_folder import Entry, manifest, parse_inventory, plan, read_folder, space_needed

RELEASE_SCRIPT = Path(__file__).resolve().parents[2] / "web_server" / "runtime" / "boot" / "site-release.sh"


def tree_state(folder: Path) -> bytes:
    """site-release.sh's own tree_state, run on the folder (the function alone: no root needed)."""
    script = f'eval "$(sed -n "/^tree_state() {{/,/^}}/p" {RELEASE_SCRIPT})"; tree_state "$1"'
    return subprocess.run(
        ["bash", "-c", script, "tree_state", str(folder)], capture_output=True, check=True
    ).stdout


def write(root: Path, files: dict[str, bytes]) -> Path:
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    return root


def test_the_manifest_is_what_the_server_lists_for_the_same_tree(tmp_path):
    folder = write(
        tmp_path / "site",
        {
            "index.html": b"<p>home</p>\n",
            "css/site.css": b"body{}\n",
            "a b/caf\u00e9 \u65e5\u672c.html": b"x",
            "back\\slash.txt": b"escaped by sha256sum",
            "-leading-dash.txt": b"not an option",
            "a/b/c/deep.bin": os.urandom(10_000),
            "ab": b"sorts after a/ and a b/",
        },
    )
    (folder / "empty").mkdir()
    (folder / "latest.html").symlink_to("css/site.css")
    (folder / "a" / "up.html").symlink_to("../index.html")

    entries, refusals = read_folder(folder)

    assert refusals == []
    assert manifest(entries) == tree_state(folder)
    # And what the server lists reads back as what the folder holds.
    meta = b"#free\t5\0#block\t4096\0#served\tx\0"
    text = base64.b64encode(gzip.compress(meta + tree_state(folder))).decode()
    assert parse_inventory(text) == ({"free": "5", "block": "4096", "served": "x"}, entries)


def test_a_link_is_refused_when_its_text_or_what_it_reaches_leaves_the_folder(tmp_path):
    folder = write(tmp_path / "site", {"index.html": b"x", "d/page.html": b"y"})
    (tmp_path / "site" / "d" / "up").symlink_to("..")  # the folder itself: inside
    (folder / "d" / "through").symlink_to("up/..")  # by its text d/, by what it reaches the parent
    (folder / "abs").symlink_to(folder / "index.html")  # inside here, elsewhere on the server
    (folder / "by-name").symlink_to(f"../{folder.name}/index.html")  # here the same file; not there

    entries, refusals = read_folder(folder)

    assert sorted(refusals) == [
        f"abs: a symbolic link that leaves the folder (-> {folder / 'index.html'})",
        f"by-name: a symbolic link that leaves the folder (-> ../{folder.name}/index.html)",
        "d/through: a symbolic link that leaves the folder (-> up/..)",
    ]
    assert entries["d/up"] == Entry("l", target="..")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        # Linux's own filesystems hold at most 255 bytes (macOS's 255 characters): 20 stands in here.
        ("x" * 21, "longer than 20 bytes"),
        ("\u00e9" * 11, "longer than 20 bytes"),  # 22 bytes in UTF-8
        (".htpasswd", "Apache refuses to serve .ht* files"),
        ("new\nline", "control character"),
        ("del\x7f", "control character"),
    ],
)
def test_a_name_that_s3_apache_or_the_volume_cannot_carry_is_refused(tmp_path, monkeypatch, name, why):
    monkeypatch.setattr(site_folder, "MAX_NAME_BYTES", 20)
    folder = write(tmp_path / "site", {"index.html": b"x", name: b"y"})

    _, refusals = read_folder(folder)

    assert len(refusals) == 1
    assert why in refusals[0]


def test_a_path_longer_than_an_s3_key_is_refused(tmp_path):
    deep = "/".join(["d" * 200] * 5) + "/" + "f" * 30  # 1030 bytes
    folder = write(tmp_path / "site", {"index.html": b"x", deep: b"y"})

    _, refusals = read_folder(folder)

    assert refusals == [f"{deep!r}: its path is longer than 1024 bytes, the most an S3 key takes"]


def test_the_plan_and_the_space_the_new_tree_takes():
    served = {
        "a": Entry("f", 1, sha256="1"),
        "b": Entry("f", 2, sha256="2"),
        "d": Entry("d"),
        "l": Entry("l", target="a"),
    }
    local = {
        "a": Entry("f", 1, sha256="1"),
        "b": Entry("f", 3, sha256="3"),
        "c": Entry("f", 5000, sha256="5"),
    }

    result = plan(local, served)

    assert [p for p, _ in result.added] == ["c"]
    assert [p for p, _ in result.changed] == ["b"]
    assert [p for p, _ in result.deleted] == ["d", "l"]
    assert result.upload == ["c", "b"]
    assert space_needed(local.values(), 4096) == 4096 + 4096 + 8192
    assert space_needed([Entry("d"), Entry("f", 0)], 512) == 512


def test_the_bundle_holds_the_files_named_owned_by_nobody_in_particular(tmp_path):
    folder = write(tmp_path / "site", {"index.html": b"<p>x</p>", "css/a.css": b"a{}"})
    (folder / "index.html").chmod(0o600)
    out = io.BytesIO()

    site_folder.bundle(folder, ["css/a.css", "index.html"], out)

    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        members = tar.getmembers()
        assert [(m.name, m.mode, m.uid, m.uname) for m in members] == [
            ("css/a.css", 0o644, 0, ""),
            ("index.html", 0o644, 0, ""),
        ]
        assert tar.extractfile("index.html").read() == b"<p>x</p>"


def test_a_folder_without_any_file_or_one_it_cannot_read_is_refused(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    folder = write(tmp_path / "site", {"index.html": b"x"})
    (folder / "closed").mkdir(mode=0)

    _, empty = read_folder(tmp_path / "empty", force=True)
    _, closed = read_folder(folder)

    assert empty == ["the folder holds no file: there would be nothing to serve"]
    if os.geteuid() != 0:  # root reads it anyway
        assert closed == ["closed/: cannot be read (Permission denied)"]
