"""The document-root volume: first boot, re-runs, reboots, new instances and
volumes that already carry data."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path

import pytest

from tests.integration.bootharness import IMAGE_URL, VOLUME_ID, partition_table, probe, run


def only_fstab_entry(sandbox) -> list[str]:
    entries = sandbox.fstab_entries()
    assert len(entries) == 1, sandbox.fstab.read_text()
    return entries[0]


def test_fresh_volume_is_partitioned_formatted_mounted_and_served(harness, volume):
    sandbox, ns = harness.instance(volume)

    result = ns.boot()

    assert result.returncode == 0, result.output
    table = partition_table(volume.dev)
    assert table is not None
    assert table["label"] == "gpt"
    assert len(table["partitions"]) == 1
    fs = probe(volume.part(1))
    assert fs["TYPE"] == "xfs"
    assert fs["LABEL"] == "site-docroot"
    assert ns.mount_at(sandbox.docroot) == {"source": volume.part(1), "fstype": "xfs"}

    uuid_field, mountpoint, fstype, options, *_ = only_fstab_entry(sandbox)
    assert uuid_field == f"UUID={fs['UUID']}"
    assert (mountpoint, fstype) == (str(sandbox.docroot), "xfs")
    assert "nofail" in options.split(",")

    drop_in = sandbox.drop_in.read_text()
    assert "[Unit]" in drop_in
    assert f"RequiresMountsFor={sandbox.docroot}" in drop_in.splitlines()
    # systemd runs httpd, enabled, with the drop-in: it requires and follows
    # the document root's mount unit (made from the fstab entry).
    assert sandbox.httpd_state() == ("active", "enabled")
    drop_ins = ns.machine.show("httpd.service", "DropInPaths")["DropInPaths"].split()
    assert "/etc/systemd/system/httpd.service.d/10-document-root.conf" in drop_ins
    mount_unit = ns.machine.mount_unit(sandbox.docroot)
    assert mount_unit in ns.machine.dependencies("httpd.service", "Requires")
    assert mount_unit in ns.machine.dependencies("httpd.service", "After")
    assert ns.machine.show(mount_unit, "FragmentPath")["FragmentPath"].startswith("/run/systemd/generator/")
    assert "install -y httpd" in sandbox.calls("dnf")

    attach = [c for c in sandbox.calls("aws") if c.startswith("ec2 attach-volume")]
    assert len(attach) == 1
    assert f"--volume-id {VOLUME_ID}" in attach[0]
    assert "--device /dev/sdf" in attach[0]

    page = ns.path(sandbox.served / "index.html").read_text()
    assert f'src="{IMAGE_URL}"' in page
    # The root disk's directory under the mount point stayed empty.
    assert list(sandbox.docroot.iterdir()) == []

    log = sandbox.log_file.read_text()
    for step in (
        "install-httpd",
        "attach-volume",
        "prepare-docroot",
        "seed-page",
        "start-httpd",
    ):
        assert f"site-boot[{step}]" in log
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ site-boot\[[a-z-]+\]: ")
    assert all(stamp.match(line) for line in log.splitlines())


def test_rerun_and_reboot_change_nothing(harness, volume):
    sandbox, ns = harness.instance(volume)
    assert ns.boot().returncode == 0
    uuid = probe(volume.part(1))["UUID"]
    marker = ns.path(sandbox.served / "marker.txt")
    marker.write_text("user data\n")
    before = os.stat(marker)
    page_before = os.stat(ns.path(sandbox.served / "index.html"))
    fstab_before = sandbox.fstab.read_bytes()
    drop_in_before = sandbox.drop_in.read_bytes()

    def assert_unchanged(current_ns, result):
        assert result.returncode == 0, result.output
        assert "creating" not in result.output
        assert probe(volume.part(1))["UUID"] == uuid
        assert len(partition_table(volume.dev)["partitions"]) == 1
        now = os.stat(current_ns.path(sandbox.served / "marker.txt"))
        assert (now.st_ino, now.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        assert current_ns.path(sandbox.served / "marker.txt").read_text() == ("user data\n")
        page = os.stat(current_ns.path(sandbox.served / "index.html"))
        assert (page.st_ino, page.st_mtime_ns) == (
            page_before.st_ino,
            page_before.st_mtime_ns,
        )
        assert sandbox.fstab.read_bytes() == fstab_before
        assert sandbox.drop_in.read_bytes() == drop_in_before
        assert current_ns.mount_at(sandbox.docroot)["source"] == volume.part(1)

    # Again in the same boot: everything is already in place.
    assert_unchanged(ns, ns.boot())
    assert len([c for c in sandbox.calls("aws") if "attach-volume" in c]) == 1

    # A reboot: the mount is gone, the fstab and the attachment remain.
    ns.reboot()
    assert_unchanged(ns, ns.boot())
    assert len([c for c in sandbox.calls("aws") if "attach-volume" in c]) == 1


def test_new_instance_reuses_the_volume(harness, volume):
    first, ns = harness.instance(volume)
    assert ns.boot().returncode == 0
    uuid = probe(volume.part(1))["UUID"]
    ns.path(first.served / "data" / "keep.txt").parent.mkdir()
    ns.path(first.served / "data" / "keep.txt").write_text("kept\n")
    ns.close()

    # The replacement: empty fstab, volume not yet attached to it.
    second, ns2 = harness.instance(volume)
    assert second.fstab.read_text() == ""
    result = ns2.boot()

    assert result.returncode == 0, result.output
    assert "creating" not in result.output
    assert probe(volume.part(1))["UUID"] == uuid
    assert ns2.path(second.served / "data" / "keep.txt").read_text() == "kept\n"
    assert only_fstab_entry(second)[0] == f"UUID={uuid}"
    assert any("attach-volume" in c for c in second.calls("aws"))
    assert second.httpd_state() == ("active", "enabled")


def test_stale_fstab_entry_is_replaced_and_other_lines_kept(harness, volume):
    sandbox, ns = harness.instance(volume)
    sandbox.fstab.write_text(
        "# root\n"
        "LABEL=root / ext4 defaults 0 1\n"
        f"UUID=00000000-0000-0000-0000-000000000000 {sandbox.docroot} xfs defaults 0 0\n"
        "tmpfs /scratch tmpfs size=1m 0 0\n"
        f"/dev/xvdf {sandbox.docroot}/ xfs defaults 0 0\n"
    )

    result = ns.boot()

    assert result.returncode == 0, result.output
    uuid = probe(volume.part(1))["UUID"]
    assert sandbox.fstab.read_text() == (
        "# root\n"
        "LABEL=root / ext4 defaults 0 1\n"
        f"UUID={uuid} {sandbox.docroot} xfs defaults,nofail 0 0\n"
        "tmpfs /scratch tmpfs size=1m 0 0\n"
    )
    assert "replacing stale fstab entry" in result.output


FOREIGN = {
    "ext4-whole-disk": ("ext4", False),
    "xfs-whole-disk": ("xfs", False),
    "ext4-in-partition": ("ext4", True),
}


@pytest.mark.parametrize("layout", FOREIGN, ids=list(FOREIGN))
def test_filesystem_made_by_hand_is_mounted_as_is(harness, volume, layout):
    fstype, partitioned = FOREIGN[layout]
    if partitioned:
        volume.make_gpt()
        target = volume.part(1)
    else:
        target = volume.dev
    run(f"mkfs.{fstype}", "-q", target)
    hand_page = "<!doctype html><title>mine</title><p>hand made</p>\n"
    volume.populate(target, {"index.html": hand_page, "photos/a.txt": "photo\n"})
    uuid = probe(target)["UUID"]
    table_before = run("sfdisk", "--dump", volume.dev, check=False).stdout
    if partitioned:
        # As after a fresh attach to a kernel that does not parse partition
        # tables itself: the scripts must make the partition appear.
        run("partx", "-d", volume.dev)
        assert volume.partition_nodes() == []
    sandbox, ns = harness.instance(volume)

    result = ns.boot()

    assert result.returncode == 0, result.output
    assert "creating" not in result.output
    assert probe(target)["UUID"] == uuid
    assert probe(target)["TYPE"] == fstype
    assert ns.mount_at(sandbox.docroot) == {"source": target, "fstype": fstype}
    assert ns.path(sandbox.served / "photos" / "a.txt").read_text() == "photo\n"
    assert ns.path(sandbox.served / "index.html").read_text() == hand_page
    assert IMAGE_URL in ns.path(sandbox.docroot / "index.html.sample-new").read_text()
    assert run("sfdisk", "--dump", volume.dev, check=False).stdout == table_before
    if not partitioned:
        assert partition_table(volume.dev) is None
        assert "PTTYPE" not in probe(volume.dev)
    entry = only_fstab_entry(sandbox)
    assert entry[:3] == [f"UUID={uuid}", str(sandbox.docroot), fstype]
    assert sandbox.httpd_state() == ("active", "enabled")


def test_blank_partition_gets_a_filesystem_and_the_table_stays(harness, volume):
    volume.make_gpt(sizes_mib=(310, None))
    table_before = run("sfdisk", "--dump", volume.dev).stdout
    sandbox, ns = harness.instance(volume)

    result = ns.boot()

    assert result.returncode == 0, result.output
    assert run("sfdisk", "--dump", volume.dev).stdout == table_before
    assert probe(volume.part(1))["TYPE"] == "xfs"
    assert "TYPE" not in probe(volume.part(2))
    assert ns.mount_at(sandbox.docroot)["source"] == volume.part(1)


def first_mib_digest(dev: str) -> str:
    with open(dev, "rb") as f:
        return hashlib.sha256(f.read(2 * 1024 * 1024)).hexdigest()


def scribble(volume) -> None:
    """Unrecognised data at the start of the disk: not blank, not a filesystem."""
    with open(volume.dev, "r+b") as f:
        f.seek(4096)
        f.write(b"precious bytes that no probe recognises" * 100)


def swap(volume) -> None:
    run("mkswap", volume.dev)


@pytest.mark.parametrize(
    "prepare",
    [scribble, swap],
    ids=["unknown-data", "swap-signature"],
)
def test_volume_with_unknown_content_is_never_written(harness, volume, prepare):
    prepare(volume)
    digest = first_mib_digest(volume.dev)
    sandbox, ns = harness.instance(volume)

    result = ns.boot()

    assert result.returncode != 0
    assert "prepare-docroot" in result.output
    assert volume.dev in result.output
    assert "refusing" in result.output
    assert first_mib_digest(volume.dev) == digest
    assert partition_table(volume.dev) is None
    assert ns.mount_at(sandbox.docroot) is None
    assert sandbox.fstab_entries() == []
    assert sandbox.httpd_state() == ("inactive", "disabled")


def tree_digests(root) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def df_bytes(path) -> int:
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize


def has_cap_sys_resource() -> bool:
    """ext4's online resize needs CAP_SYS_RESOURCE, which a container may withhold."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> 24 & 1)
    return False


GROWTH = {
    "xfs-in-partition": (None, False),
    "ext4-in-partition": ("ext4", True),
    "xfs-whole-disk": ("xfs", False),
    "ext4-whole-disk": ("ext4", False),
}


@pytest.mark.parametrize("layout", GROWTH, ids=list(GROWTH))
def test_enlarged_volume_grows_online_with_every_file_intact(harness, volume, layout):
    fstype, partitioned = GROWTH[layout]
    if fstype is not None:
        if partitioned:
            volume.make_gpt()
        run(f"mkfs.{fstype}", "-q", volume.part(1) if partitioned else volume.dev)
    fsdev = volume.part(1) if partitioned or fstype is None else volume.dev
    sandbox, ns = harness.instance(volume)
    assert ns.boot().returncode == 0
    docroot = ns.path(sandbox.served)
    (docroot / "photos").mkdir()
    for i in range(20):
        (docroot / "photos" / f"{i}.bin").write_bytes(os.urandom(64 * 1024))
    (docroot / "about.html").write_text("<p>about</p>\n")
    before = tree_digests(docroot)
    df_before = df_bytes(docroot)
    uuid = probe(fsdev)["UUID"]
    fstab = sandbox.fstab.read_bytes()

    volume.grow("1664M")
    result = ns.boot()

    assert result.returncode == 0, result.output
    # Online: the same mount stayed in place the whole time.
    assert ns.mount_at(sandbox.docroot)["source"] == fsdev
    assert "mounted " + fsdev not in result.output
    assert tree_digests(docroot) == before
    if fsdev != volume.dev:
        assert f"growing partition 1 of {volume.dev}" in result.output
        assert len(partition_table(volume.dev)["partitions"]) == 1
        assert int(run("blockdev", "--getsize64", fsdev).stdout) > 1650 * 1024 * 1024
        # The GPT's backup header moved to the new end of the disk.
        assert "No errors detected" in run("sfdisk", "--verify", volume.dev).stdout
    if probe(fsdev)["TYPE"] == "ext4" and not has_cap_sys_resource():
        # The kernel refuses (EPERM); the boot goes on at the old size.
        assert "WARNING: growing the filesystem" in result.output
        assert sandbox.httpd_state() == ("active", "enabled")
        pytest.skip("ext4 online resize needs CAP_SYS_RESOURCE, which this machine does not grant")
    df_after = df_bytes(docroot)
    assert df_after > df_before + 600 * 1024 * 1024, result.output
    assert probe(fsdev)["UUID"] == uuid
    assert sandbox.fstab.read_bytes() == fstab
    assert "growing the" in result.output

    # Nothing left to grow: the next run is a no-op, and so is a reboot.
    again = ns.boot()
    assert again.returncode == 0, again.output
    assert "growing" not in again.output
    assert df_bytes(docroot) == df_after
    ns.reboot()
    after_reboot = ns.boot()
    assert after_reboot.returncode == 0, after_reboot.output
    assert "growing" not in after_reboot.output
    assert tree_digests(ns.path(sandbox.served)) == before


def test_growth_waits_for_the_size_the_deployment_names(harness, volume):
    """Right after ModifyVolume, EBS may show the old size for a while; the
    run started by the association's new VOLUME_SIZE_GIB waits for it."""
    sandbox, ns = harness.instance(volume)
    assert ns.boot().returncode == 0
    (ns.path(sandbox.served) / "keep.txt").write_text("kept\n")

    # The size never arrives within the wait: the run goes on and succeeds.
    late = ns.boot(VOLUME_SIZE_GIB=3, DEVICE_WAIT_SECONDS=1)
    assert late.returncode == 0, late.output
    assert "WARNING: " + volume.dev + " is still" in late.output
    assert sandbox.httpd_state() == ("active", "enabled")

    grow = threading.Timer(1.5, volume.grow, args=("2G",))
    grow.start()
    try:
        result = ns.boot(VOLUME_SIZE_GIB=2, DEVICE_WAIT_SECONDS=20)
    finally:
        grow.cancel()
        grow.join()

    assert result.returncode == 0, result.output
    assert result.elapsed >= 1.5
    assert "the volume is 2 GiB; waiting up to 20s for the new size" in result.output
    assert df_bytes(ns.path(sandbox.docroot)) > 1900 * 1024 * 1024
    assert (ns.path(sandbox.served) / "keep.txt").read_text() == "kept\n"
    again = ns.boot(VOLUME_SIZE_GIB=2)
    assert "waiting" not in again.output
    assert "growing" not in again.output
