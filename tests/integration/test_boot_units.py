"""The units under systemd on the test machine: httpd bound to the document
root's mount by the boot's drop-in, and site-boot.service at every boot.

The machine has no udev: systemd cannot mount the volume by itself (the
fstab entry names it by UUID, whose /dev/disk/by-uuid link udev would make),
so every mount it attempts fails, as for a volume that is not attached yet.
The boot scripts mount it themselves."""

from __future__ import annotations

import socket
import urllib.request

from tests.integration.bootharness import IMAGE_URL, require_apache, serve


def get(url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url)
    with opener.open(request, timeout=10) as response:
        return response.status, response.read().decode()


def listens(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def positions(lines: list[str], text: str) -> list[int]:
    return [i for i, line in enumerate(lines) if text in line]


def test_httpd_runs_only_while_the_document_root_is_mounted(harness, volume):
    require_apache()
    sandbox, ns = harness.instance(volume)
    assert ns.boot().returncode == 0
    serve(sandbox, ns)
    mount = ns.machine.mount_unit(sandbox.docroot)
    # The drop-in makes httpd require, and follow, the mount that the fstab entry makes.
    assert mount in ns.machine.dependencies("httpd.service", "Requires")
    assert mount in ns.machine.dependencies("httpd.service", "After")
    assert ns.machine.show("httpd.service", "Restart")["Restart"] == "on-failure"

    # Unmounting through systemd (as at shutdown) stops httpd first.
    stopped = ns.machine.run("systemctl", "stop", mount)
    assert stopped.returncode == 0, stopped.stdout
    assert ns.mount_at(sandbox.docroot) is None
    assert not ns.machine.is_active("httpd.service")
    lines = ns.machine.journal().splitlines()
    [stop_httpd] = positions(lines, "Stopping httpd.service")
    [unmount] = positions(lines, f"Unmounting {mount}")
    assert stop_httpd < unmount
    assert not listens(sandbox.http_port)

    # Starting httpd while the volume cannot be mounted starts nothing.
    start = ns.machine.run("systemctl", "start", "httpd.service")
    assert start.returncode != 0
    assert "Dependency failed for httpd.service" in ns.machine.journal()
    assert not ns.machine.is_active("httpd.service")
    assert ns.mount_at(sandbox.docroot) is None
    assert not listens(sandbox.http_port)

    # The boot scripts mount it again, and httpd comes back with it.
    assert ns.boot().returncode == 0
    assert sandbox.httpd_state() == ("active", "enabled")
    status, page = get(serve(sandbox, ns))
    assert status == 200
    assert f'src="{IMAGE_URL}"' in page


def test_site_boot_runs_at_every_boot(harness, volume):
    """apply.sh enables site-boot.service; after a reboot systemd runs it by
    itself, with the values apply.sh wrote, and httpd starts only once it
    has mounted the document root."""
    require_apache()
    sandbox = harness.sandbox(installed=False)
    sandbox.link_device(volume)
    ns = harness.namespace(sandbox)
    assert ns.apply(sandbox.staging()).returncode == 0
    (ns.path(sandbox.docroot) / "kept.txt").write_text("kept\n")

    ns.reboot()

    assert ns.machine.show("site-boot.service", "ActiveState", "SubState", "Result") == {
        "ActiveState": "active",
        "SubState": "exited",
        "Result": "success",
    }
    assert ns.mount_at(sandbox.docroot)["source"] == volume.part(1)
    assert (ns.path(sandbox.docroot) / "kept.txt").read_text() == "kept\n"
    lines = ns.machine.journal().splitlines()
    [run] = positions(lines, "site-boot[boot]: starting:")
    [mounted] = positions(lines, f"site-boot[prepare-docroot]: mounted {volume.part(1)} on {sandbox.docroot}")
    [started] = positions(lines, "Started httpd.service")
    assert run < mounted < started
    # Before that, at boot, httpd did not start without the document root.
    assert positions(lines, "Dependency failed for httpd.service")[0] < mounted
    assert sandbox.httpd_state() == ("active", "enabled")
    status, page = get(serve(sandbox, ns))
    assert status == 200
    assert f'src="{IMAGE_URL}"' in page
