"""A site folder as make publish sees it, and the served tree as the server lists it.

A folder is read into entries (a directory, a file with its size and sha256, a link with its
target) and refusals, one line each for what cannot be published. Its manifest is what the
server's ``tree_state`` (web_server/runtime/boot/site-release.sh) prints for a tree holding the
same entries, byte for byte: the server compares the tree it built with it before switching.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# The fallback bucket's keys under this prefix belong to the stack (front_door/fallback.py).
RESERVED_TOP = "_maintenance"
MAX_NAME_BYTES = 255  # a file name on the volume's filesystem (XFS, ext4)
MAX_KEY_BYTES = 1024  # an S3 object key
PAGE = "index.html"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    kind: str  # "d" directory, "f" file, "l" symbolic link ("?" anything else on the server)
    size: int = 0  # a file's
    target: str = ""  # a link's
    sha256: str = ""  # a file's


def _refusal(path: str, name: str, top: bool) -> str | None:
    """Why a name cannot be published, or None."""
    try:
        encoded = path.encode()
    except UnicodeEncodeError:
        return "its name is not UTF-8, which S3 keys are"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "its name holds a control character, which S3 keys and URLs do not carry safely"
    if name.startswith(".ht"):
        return "Apache refuses to serve .ht* files, and the fallback copy leaves them out"
    if top and name == RESERVED_TOP:
        return f"{RESERVED_TOP}/ in the fallback bucket belongs to the maintenance page"
    if len(name.encode()) > MAX_NAME_BYTES:
        return f"its name is longer than {MAX_NAME_BYTES} bytes, the most the volume's filesystem takes"
    if len(encoded) > MAX_KEY_BYTES:
        return f"its path is longer than {MAX_KEY_BYTES} bytes, the most an S3 key takes"
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_folder(root: Path, *, force: bool = False) -> tuple[dict[str, Entry], list[str]]:
    """Entries of the folder by relative path, and one refusal line per entry that cannot be
    published (empty when it can)."""
    entries: dict[str, Entry] = {}
    refusals: list[str] = []
    real_root = os.path.realpath(root)
    pending = [""]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(root / folder) as listing:
                found = sorted(listing, key=lambda item: item.name)
        except OSError as error:
            refusals.append(f"{folder or '.'}: cannot be read ({error.strerror})")
            continue
        for item in found:
            path = f"{folder}{item.name}"
            if why := _refusal(path, item.name, not folder):
                refusals.append(f"{path!r}: {why}")
                continue
            mode = item.stat(follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                target = os.readlink(item.path)
                # Inside by its text (the server has other folders around the tree) and by what it reaches.
                lexical = os.path.normpath(os.path.join(folder, target))
                reached = os.path.realpath(item.path)
                if (
                    os.path.isabs(target)
                    or lexical.split(os.sep)[0] == ".."
                    or os.path.commonpath([real_root, reached]) != real_root
                ):
                    refusals.append(f"{path}: a symbolic link that leaves the folder (-> {target})")
                else:
                    entries[path] = Entry("l", target=target)
            elif stat.S_ISDIR(mode):
                entries[path] = Entry("d")
                pending.append(f"{path}/")
            elif stat.S_ISREG(mode):
                try:
                    entries[path] = Entry("f", size=item.stat().st_size, sha256=_sha256(Path(item.path)))
                except OSError as error:
                    refusals.append(f"{path}: cannot be read ({error.strerror})")
            else:
                refusals.append(
                    f"{path}: a special file (a pipe, socket or device), which a web server cannot serve"
                )
    if not any(entry.kind == "f" for entry in entries.values()):
        refusals.append("the folder holds no file: there would be nothing to serve")
    elif not force and entries.get(PAGE, Entry("?")).kind != "f":
        refusals.append(
            f"{PAGE}: missing at the top of the folder, so the site has no page at / "
            "(FORCE=1 publishes it anyway)"
        )
    return entries, refusals


def _escaped(path: str) -> tuple[str, str]:
    """sha256sum's prefix and name for a file name: a backslash or newline in it is escaped."""
    if "\\" in path or "\n" in path:
        return "\\", path.replace("\\", "\\\\").replace("\n", "\\n")
    return "", path


def manifest(entries: dict[str, Entry]) -> bytes:
    """What site-release.sh's tree_state prints for a tree that holds exactly ``entries``."""
    records = sorted(
        f"{e.kind}\t{e.size if e.kind == 'f' else 0}\t{path}\t{e.target}".encode()
        for path, e in entries.items()
    )
    files = sorted((path.encode(), e.sha256) for path, e in entries.items() if e.kind == "f")
    lines = []
    for path, sha256 in files:
        prefix, name = _escaped(path.decode())
        lines.append(f"{prefix}{sha256}  {name}\n".encode())
    return b"".join(record + b"\0" for record in records) + b"".join(lines)


def parse_inventory(text: str) -> tuple[dict[str, str], dict[str, Entry]]:
    """site-release.sh inventory's output: its values (free, block, served) and the served tree."""
    data = gzip.decompress(base64.b64decode(text.strip()))
    listing, _, hashes = data.rpartition(b"\0")
    meta, entries = {}, {}
    for record in listing.split(b"\0") if listing else []:
        fields = record.decode(errors="surrogateescape").split("\t")
        if fields[0].startswith("#"):
            meta[fields[0][1:]] = fields[1]
        elif len(fields) >= 4:
            kind, size, path, target = fields[0], fields[1], "\t".join(fields[2:-1]), fields[-1]
            entries[path] = Entry(kind, size=int(size) if kind == "f" else 0, target=target)
    for line in hashes.decode(errors="surrogateescape").splitlines():
        escaped = line.startswith("\\")
        sha256, _, name = line.removeprefix("\\").partition("  ")
        if escaped:
            name = name.replace("\\n", "\n").replace("\\\\", "\\")
        if name in entries:
            entries[name] = Entry("f", size=entries[name].size, sha256=sha256)
    return meta, entries


@dataclass(frozen=True)
class Plan:
    added: list[tuple[str, Entry]]
    changed: list[tuple[str, Entry]]
    deleted: list[tuple[str, Entry]]

    @property
    def upload(self) -> list[str]:
        """The files the server does not have: what goes into the bundle."""
        return [path for path, entry in self.added + self.changed if entry.kind == "f"]


def plan(folder: dict[str, Entry], served: dict[str, Entry]) -> Plan:
    return Plan(
        added=[(p, e) for p, e in sorted(folder.items()) if p not in served],
        changed=[(p, e) for p, e in sorted(folder.items()) if p in served and served[p] != e],
        deleted=[(p, e) for p, e in sorted(served.items()) if p not in folder],
    )


def space_needed(entries: Iterable[Entry], block: int) -> int:
    """Bytes the tree takes on the volume: each file and directory in whole blocks."""
    return sum(-(-e.size // block) * block if e.kind == "f" else block for e in entries)


def bundle(root: Path, paths: Iterable[str], out: BinaryIO) -> None:
    """The files as one tar, each owned by nobody in particular: the server sets the modes."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in paths:
            info = tar.gettarinfo(root / path, arcname=path)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o644
            with (root / path).open("rb") as file:
                tar.addfile(info, file)
