"""Helpers for running the real boot scripts and units on a test machine.

The machine is real systemd (the host's own) booted as PID 1 of a
systemd-nspawn container (``Machine``, one per session): the scripts run
there, ``systemctl`` and ``journalctl`` are systemd's, and the units run as
systemd runs them. A sparse file on a loop device stands for the EBS volume;
``aws`` and ``dnf`` are small shims that record their arguments, and Debian's
apache2 stands for Amazon Linux's httpd. One instance at a time uses the
machine (``Harness.sandbox`` resets it to a new instance); a reboot of the
container is a reboot of the instance, and a new instance against the same
loop device is a replacement instance.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import ssm_agent
from tests.deployed_values import INSTANCE_ID, VOLUME_ID, Deployment
from tests.integration.chromium import SYSTEM_PATH, find_chromium  # noqa: F401 (find_chromium: for the tests)
from web_server.instance_values import INSTANCE_VALUES

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BOOT_SRC = REPO / "web_server" / "runtime" / "boot"
SITE_SRC = REPO / "web_server" / "runtime" / "site"
SHIMS = HERE / "shims"
MACHINE_SRC = HERE / "machine"
CONTAINER = MACHINE_SRC / "container.sh"

REGION = "eu-west-1"
IMAGE_URL = "https://d111111abcdef8.cloudfront.net/images/site-image.jpg"
PAGE_TITLE = "Hello from the web server"
# The viewer's host name: the site distribution's domain.
SITE_DOMAIN = "d222222abcdef8.cloudfront.net"
# Sparse, so it costs nothing; one GiB, the smallest size a deployment can name.
VOLUME_SIZE = "1G"
VOLUME_SIZE_GIB = "1"
# What the deployment passes (the association's parameters, by their environment names);
# everything else in Sandbox.env() is the machine itself (its paths, its tools' settings).
DEPLOYMENT_KEYS = tuple(value.env for value in INSTANCE_VALUES)

BASE_TOOLS = (
    "unshare",
    "losetup",
    "blkid",
    "blockdev",
    "sfdisk",
    "partx",
    "mkfs.xfs",
    "mkfs.ext4",
    "mount",
    "umount",
    "mountpoint",
    "flock",
    "truncate",
    "sha256sum",
)
# The machine: systemd-nspawn (Debian's systemd-container), nsenter to run
# commands in it, udevadm for the device nodes, apache2 as its httpd.
MACHINE_TOOLS = ("systemd-nspawn", "nsenter", "udevadm", "apache2")
COMMAND_TIMEOUT = 90
BOOT_TIMEOUT = 60
# Where the machine sees the host's /dev (see machine/container.sh).
HOST_DEV = "/run/host-dev"


def require(*tools: str) -> None:
    """Skip unless every named binary is installed and this process can do what the harness
    does: make a private mount + PID namespace and attach a loop device."""
    if sys.platform != "linux":
        pytest.skip(f"needs Linux (loop devices, mount namespaces), not {sys.platform}")
    probe_tools = ("unshare", "losetup", "mkfs.ext4", "mount")
    missing = [t for t in (*tools, *probe_tools) if shutil.which(t, path=SYSTEM_PATH) is None]
    if missing:
        pytest.skip(f"needs {', '.join(dict.fromkeys(missing))} (not installed)")
    problem = privilege_problem()
    if problem:
        pytest.skip(f"needs root with mount namespaces and loop devices: {problem}")


@functools.cache
def privilege_problem() -> str | None:
    """Why the harness cannot run here, or None. What it does is tried, not the uid: mount a
    filesystem from a loop device inside a private mount + PID namespace. Root without
    privileges (a container's default, rootless podman, `unshare -r`) has uid 0, and may even
    attach a loop device, but cannot mount it; a normal user gets no mount namespace."""

    def failure(step: str, result: subprocess.CompletedProcess) -> str:
        lines = (result.stderr or result.stdout).strip().splitlines()
        return f"{step} failed ({lines[0].strip() if lines else f'exit status {result.returncode}'})"

    namespace = ["unshare", "--mount", "--pid", "--fork", "--mount-proc"]
    try:
        result = run(*namespace, "true", check=False)
        if result.returncode != 0:
            return failure("unshare --mount --pid", result)
        with tempfile.TemporaryDirectory(prefix="site-boot-probe-") as workdir:
            image, target = Path(workdir) / "probe.img", Path(workdir) / "mnt"
            target.mkdir()
            with image.open("wb") as file:
                file.truncate(4 << 20)
            run("mkfs.ext4", "-q", "-F", str(image))
            result = run("losetup", "--find", "--show", str(image), check=False)
            if result.returncode != 0:
                return failure("losetup", result)
            device = result.stdout.strip()
            try:
                # Mounted inside the namespace only: it goes away with the namespace.
                result = run(*namespace, "mount", "-o", "ro", device, str(target), check=False)
            finally:
                run("losetup", "--detach", device, check=False)
            if result.returncode != 0:
                return failure("mounting a loop device in a mount namespace", result)
    except (OSError, subprocess.SubprocessError) as error:
        return str(error)
    return None


def run(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": SYSTEM_PATH}
    return subprocess.run(
        list(args),
        check=check,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        env=env,
        **kwargs,
    )


def recorded_environments(path: Path) -> list[dict[str, str]]:
    """The environments an AWS CLI stand-in recorded, one a call, in order (``env -0`` and a
    second NUL after each: shims/aws, fallback_harness.AWS_WRAPPER)."""
    text = path.read_text() if path.exists() else ""
    return [dict(v.split("=", 1) for v in call.split("\0")) for call in text.split("\0\0") if call]


def probe(dev: str) -> dict[str, str]:
    """blkid's low-level probe of a device, as a dict (empty when blank)."""
    result = run("blkid", "-p", "-o", "export", dev, check=False)
    pairs = (line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return dict(pairs)


def partition_table(dev: str) -> dict | None:
    """sfdisk's view of the partition table, or None when there is none."""
    result = run("sfdisk", "--json", dev, check=False)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)["partitiontable"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class ConfigurationDocument:
    """The synthesized SSM document that configures the instance, and the association's values."""

    content: dict
    values: Mapping[str, str] = field(default_factory=dict)

    def values_for(self, env: Mapping[str, str]) -> dict[str, str]:
        """The association's values, with those the test environment names instead."""
        values = dict(self.values)
        for value in INSTANCE_VALUES:
            if value.env in env:
                values[value.parameter] = env[value.env]
        return values

    @property
    def asset_url(self) -> str:
        return f"s3://{self.values['AssetBucket']}/{self.values['AssetKey']}"


def configuration_of(templates: Mapping[str, dict], stack: str) -> ConfigurationDocument:
    """The configuration document of ``stack``'s synthesized template, with its association's
    values resolved as CloudFormation would in REGION."""
    resources = templates[stack]["Resources"]
    (association,) = (r for r in resources.values() if r["Type"] == "AWS::SSM::Association")
    properties = association["Properties"]
    deployment = Deployment(templates, region=REGION)
    values = {name: deployment.resolve(stack, value) for name, (value,) in properties["Parameters"].items()}
    content = resources[properties["Name"]["Ref"]]["Properties"]["Content"]
    return ConfigurationDocument(content=content, values=values)


def release_document_of(templates: Mapping[str, dict], stack: str) -> tuple[dict, str]:
    """The synthesized document make publish and make restore send, resolved as CloudFormation would
    in REGION, and the bucket it downloads from."""
    outputs = templates[stack]["Outputs"]
    deployment = Deployment(templates, region=REGION)
    document = templates[stack]["Resources"][outputs["ReleaseDocument"]["Value"]["Ref"]]
    content = deployment.resolve(stack, document["Properties"]["Content"])
    return content, deployment.resolve(stack, outputs["RunOutputBucketName"]["Value"])


class LoopVolume:
    """A sparse file on a loop device, standing in for the EBS volume."""

    def __init__(self, workdir: Path, copy_of: LoopVolume | None = None) -> None:
        self.image = workdir / "volume.img"
        if copy_of is None:
            run("truncate", "-s", VOLUME_SIZE, str(self.image))
        else:  # a snapshot: the volume's blocks as they are now, as EBS takes them (crash-consistent)
            run("cp", "--sparse=always", str(copy_of.image), str(self.image))
        self.dev = run("losetup", "--find", "--show", "--partscan", str(self.image)).stdout.strip()
        self.by_id_name = "nvme-Amazon_Elastic_Block_Store_" + VOLUME_ID.replace("-", "")

    def part(self, number: int = 1) -> str:
        return f"{self.dev}p{number}"

    def partition_nodes(self) -> list[str]:
        base = Path(self.dev).name
        parts = sorted(
            (int((p / "partition").read_text()), f"/dev/{p.name}")
            for p in Path("/sys/class/block", base).glob(f"{base}*")
            if (p / "partition").exists()
        )
        return [node for _, node in parts]

    def make_gpt(self, sizes_mib: tuple[int | None, ...] = (None,)) -> None:
        """Write a GPT by hand, like an operator would, and tell the kernel.

        One partition per size in MiB; None takes the rest of the disk.
        """
        script = "label: gpt\n" + "".join(
            f"size={size}MiB, type=L\n" if size else "type=L\n" for size in sizes_mib
        )
        run("sfdisk", "--quiet", self.dev, input=script)
        run("partx", "-u", self.dev, check=False)
        deadline = time.monotonic() + 10
        while len(self.partition_nodes()) < len(sizes_mib):
            if time.monotonic() > deadline:
                raise AssertionError(f"partitions of {self.dev} did not appear")
            time.sleep(0.05)

    def populate(self, dev: str, files: dict[str, str]) -> None:
        """Write files onto the filesystem on dev, mounted in a throwaway namespace."""
        with tempfile.TemporaryDirectory(prefix="site-boot-populate-") as mnt:
            lines = [
                "set -euo pipefail",
                "mount --make-rprivate /",
                f"mount {shlex.quote(dev)} {shlex.quote(mnt)}",
            ]
            for name, content in files.items():
                target = shlex.quote(f"{mnt}/{name}")
                lines.append(f"mkdir -p $(dirname {target})")
                lines.append(f"printf %s {shlex.quote(content)} > {target}")
            lines.append(f"umount {shlex.quote(mnt)}")
            run("unshare", "--mount", "bash", "-c", "\n".join(lines))

    def grow(self, size: str) -> None:
        """Enlarge the volume, as ModifyVolume does: the backing file grows and
        the loop device is told its new size (NVMe reports it by itself)."""
        run("truncate", "-s", size, str(self.image))
        run("losetup", "-c", self.dev)

    def detach(self) -> None:
        deadline = time.monotonic() + 15
        while True:
            result = run("losetup", "-d", self.dev, check=False)
            still = run("losetup", "-j", str(self.image), check=False).stdout.strip()
            if not still:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"loop device {self.dev} stays attached: {result.stderr}")
            time.sleep(0.2)
        self.image.unlink(missing_ok=True)


@dataclass
class BootResult:
    returncode: int
    output: str
    elapsed: float


class MachineError(RuntimeError):
    """The test machine did not boot, or stopped answering."""


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


# Run in the machine when a new instance takes it over: nothing of the last
# one is left in /run, in the journal or in systemd's view of the units
# (re-read when the last instance had written any: "$1" is "reload").
NEW_INSTANCE = """
rm -rf /run/site-boot /run/site-boot.lock
[[ $1 != reload ]] || systemctl daemon-reload
systemctl reset-failed
journalctl --rotate --quiet 2>/dev/null || true
find /run/log/journal /var/log/journal -name '*@*.journal*' -delete 2>/dev/null || true
"""

# Run in the machine when an instance ends: its services stop, its document
# root is unmounted (so that the loop device can be detached).
END_INSTANCE = """
systemctl stop 'site-*' httpd.service 2>/dev/null || true
while mountpoint -q "$1"; do umount "$1" || break; done
"""


class Machine:
    """The web server's operating system: real systemd as PID 1 of a
    systemd-nspawn container (see machine/container.sh), booted once per
    session.

    Its /usr is the host's own, read-only (systemd, apache2, xfsprogs... as
    `make system-deps` installed them), so nothing is downloaded and it boots
    in about a second. What an instance writes to /etc/systemd/system,
    /etc/site-boot, /etc/httpd, /etc/fstab and /opt lives in ``state``, bound
    at those paths and also at its own, where the tests read it; so are
    ``instances`` (the sandboxes), ``shared`` and, read-only, ``read_only``.
    """

    def __init__(self, workdir: Path, shared: Sequence[Path] = (), read_only: Sequence[Path] = ()) -> None:
        self.workdir = workdir
        self.state = workdir / "state"
        self.instances = workdir / "instances"
        self.usr_local = workdir / "usr-local"
        self.machine_env = self.usr_local / "lib" / "machine" / "machine.env"
        self.console = workdir / "console.log"
        self.instances.mkdir()
        shutil.copytree(MACHINE_SRC / "usr-local", self.usr_local, symlinks=True)
        self.pid = 0
        self.current: Namespace | None = None
        shared = [self.state, self.instances, *shared]
        self._binds = [*map(str, shared), *(f"ro:{p}" for p in read_only)]
        self._console = open(self.console, "ab")  # noqa: SIM115
        started = time.monotonic()
        self._start()
        self.boot_seconds = time.monotonic() - started

    def _start(self) -> None:
        """Run the container (machine/container.sh) and wait until systemd has booted it."""
        namespace = ["unshare", "--mount", "--pid", "--fork", "--kill-child"]
        self.proc = subprocess.Popen(
            [*namespace, "bash", str(CONTAINER), str(self.workdir), *self._binds],
            stdin=subprocess.PIPE,
            stdout=self._console,
            stderr=subprocess.STDOUT,
            env={"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"},
            cwd="/",
        )
        try:
            self._wait_for_boot()
        except BaseException:
            self.stop()
            raise

    def _container_pid(self) -> int:
        """The host pid of the container's systemd (child of systemd-nspawn), or 0."""
        pending = [self.proc.pid]
        while pending:
            pid = pending.pop()
            nspawn = _comm(pid) == "systemd-nspawn"
            for child in _children(pid):
                if nspawn and _comm(child) == "systemd":
                    return child
                if not nspawn:
                    pending.append(child)
        return 0

    def _wait_for_boot(self) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise MachineError(f"the container ended while booting:\n{self.console_tail()}")
            pid = self._container_pid()
            if pid:
                state = self._enter(pid, "systemctl", "is-system-running").stdout.strip()
                if state in ("running", "degraded"):
                    self.pid = pid
                    return
            if time.monotonic() > deadline:
                raise MachineError(f"the container did not boot in {BOOT_TIMEOUT} s:\n{self.console_tail()}")
            time.sleep(0.05)

    def console_tail(self, lines: int = 40) -> str:
        self._console.flush()
        return "\n".join(self.console.read_text(errors="replace").splitlines()[-lines:])

    def _enter(
        self, pid: int, *argv: str, env: dict[str, str] | None = None, timeout: float = COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["nsenter", "--all", f"--target={pid}", "--", *argv],
            env=env or {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run(self, *argv: str, env: dict[str, str] | None = None, timeout: float = COMMAND_TIMEOUT):
        """A command in the machine, as root (standard error merged into the output)."""
        return self._enter(self.pid, *argv, env=env, timeout=timeout)

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        """Properties of a unit as systemctl show gives them."""
        out = self.run("systemctl", "show", unit, *(f"--property={p}" for p in properties)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def dependencies(self, unit: str, kind: str) -> list[str]:
        """The units a unit has as Requires=, After=, ... (systemctl show quotes escaped names)."""
        return shlex.split(self.show(unit, kind).get(kind, ""))

    def is_active(self, unit: str) -> bool:
        return self.run("systemctl", "is-active", "--quiet", unit).returncode == 0

    def journal(self, unit: str | None = None, after: str | None = None) -> str:
        """The messages of this instance on the machine (of one unit; after a
        cursor), oldest first."""
        selection = [*(["--unit", unit] if unit else []), *([f"--after-cursor={after}"] if after else [])]
        return self.run("journalctl", "--no-pager", "--quiet", "--output=cat", *selection).stdout

    def cursor(self) -> str:
        """The journal's position now, for journal(after=...)."""
        shown = self.run("journalctl", "--no-pager", "--quiet", "--lines=1", "--show-cursor", "--output=cat")
        return shown.stdout.rsplit("-- cursor: ", 1)[1].strip()

    def mount_unit(self, path: Path | str) -> str:
        """The name of the mount unit for a path (systemd-escape)."""
        return self.run("systemd-escape", "--path", "--suffix=mount", str(path)).stdout.strip()

    def reloads(self) -> int:
        """How often systemd has re-read its configuration (daemon-reload) in this instance."""
        messages = self.run("journalctl", "--no-pager", "--quiet", "--output=cat", "_PID=1").stdout
        return messages.splitlines().count("Reloading.")

    def path(self, path: Path | str) -> Path:
        """A path as the machine sees it (with its mounts), from the host."""
        return Path(f"/proc/{self.pid}/root") / Path(path).relative_to("/")

    def wait_for_node(self, dev: str, timeout: float = 10) -> None:
        """Until the machine's /dev has the block node (see machine/usr-local/lib/machine/devices.sh)."""
        deadline = time.monotonic() + timeout
        while not self.path(dev).is_block_device():
            if time.monotonic() > deadline:
                raise MachineError(f"{dev} did not appear in the machine's /dev")
            time.sleep(0.02)

    def write_machine_env(self, env: dict[str, str]) -> None:
        """The settings site-boot.service reads after site.env (the test drop-in)."""
        quoted = {k: v.replace("\\", "\\\\").replace('"', '\\"') for k, v in env.items()}
        self.machine_env.write_text("".join(f'{k}="{v}"\n' for k, v in quoted.items()))

    def new_instance(self) -> None:
        """The machine as a new instance finds it: the last instance's
        services stopped, its files gone, its journal too."""
        if self.current is not None:
            self.current.close()
        units = self.state / "etc" / "systemd" / "system"
        reload = "reload" if any(units.iterdir()) else "keep"
        for directory in ("etc/systemd/system", "etc/site-boot", "etc/httpd", "opt"):
            for entry in (self.state / directory).iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        for leftover in (self.state / "etc").glob("fstab.*"):
            leftover.unlink()
        (self.state / "etc" / "fstab").write_text("")  # in place: it is bound at /etc/fstab
        self.machine_env.unlink(missing_ok=True)
        result = self.run("bash", "-c", NEW_INSTANCE, "new-instance", reload)
        if result.returncode != 0:
            raise MachineError(f"resetting the machine failed: {result.stdout}")

    def reboot(self) -> None:
        """A clean shutdown (systemd stops the services and unmounts what is
        mounted), then a new boot from the same disk."""
        mounted = self._mounted_devices()
        self.run("systemctl", "poweroff")
        try:
            self.proc.wait(timeout=BOOT_TIMEOUT)
        except subprocess.TimeoutExpired as timeout:
            raise MachineError(f"the container did not power off:\n{self.console_tail()}") from timeout
        for dev in mounted:
            _wait_until_released(dev)
        self._start()

    def mounts(self) -> dict[str, dict[str, str]]:
        """Mount point -> source and type of what is mounted there (the last mount wins).

        mount(8) names a partition by the node its /dev link leads to, the
        host's (see machine/usr-local/lib/machine/devices.sh): given here by
        its /dev name again, as on an instance."""
        found = {}
        for line in Path(f"/proc/{self.pid}/mountinfo").read_text().splitlines():
            fields = line.split()
            sep = fields.index("-")
            source = fields[sep + 2]
            if source.startswith(f"{HOST_DEV}/"):
                source = "/dev/" + source.removeprefix(f"{HOST_DEV}/")
            found[fields[4]] = {"source": source, "fstype": fields[sep + 1]}
        return found

    def _mounted_devices(self) -> list[str]:
        """The loop devices (the volume) that the machine has mounted."""
        return [m["source"] for m in self.mounts().values() if m["source"].startswith("/dev/loop")]

    def stop(self) -> None:
        """End the container and everything in it (the runner ends its PID
        namespace), then remove the runner's cgroups."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # --kill-child takes the namespace down too
                self.proc.wait(timeout=30)
        self._console.close()
        listed = self.workdir / "cgroups"
        for top in dict.fromkeys(listed.read_text().split() if listed.exists() else []):
            for cgroup in sorted(Path(top).glob("**/"), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    cgroup.rmdir()


def _wait_until_released(dev: str, timeout: float = 15) -> None:
    """Until no filesystem holds the block device any more. The kernel ends
    the mounts of a container that ended after the container itself; a new
    boot must not read the device while the old mount still holds it (its
    page cache is dropped only when the last holder closes it). An exclusive
    open succeeds only then."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.close(os.open(dev, os.O_RDONLY | os.O_EXCL))
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if error.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def _repository_and_python() -> list[Path]:
    """What the machine must see read-only for the tests' scripts: the
    repository, and the Python its venv (the AWS CLI) runs on when that is
    not the host's own under /usr."""
    paths = [REPO]
    python = Path(sys.base_prefix).resolve()
    if not python.is_relative_to("/usr"):
        paths.append(python)
    return paths


@contextlib.contextmanager
def booted_machine(shared: Sequence[Path] = ()) -> Iterator[Machine]:
    """A booted machine that sees the repository and ``shared``; stopped and removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="site-boot-machine-"))
    workdir.chmod(0o755)  # apache's worker user walks down to the document roots
    machine = None
    try:
        machine = Machine(workdir, shared=shared, read_only=_repository_and_python())
        yield machine
    finally:
        if machine is not None:
            machine.stop()
        shutil.rmtree(workdir, ignore_errors=True)


class Sandbox:
    """The instance the machine is now, and what stands for its world.

    A new Sandbox is a new instance (Harness.sandbox resets the machine):
    empty fstab, no units or drop-ins, no scripts unless ``installed`` (the
    copy user data leaves), and an AWS view where the volume is not attached
    to it. Where systemd, the units or httpd look (fstab, SYSTEMD_DIR,
    HTTPD_CONF_DIR, INSTALL_DIR, ENV_FILE) it is the machine's ``state``;
    everything else lives in ``root`` (the document root's mount point, the
    log, the by-id links udev would make, the shims' records).
    """

    def __init__(
        self,
        root: Path,
        machine: Machine,
        *,
        installed: bool = True,
        configuration: ConfigurationDocument | None = None,
    ) -> None:
        self.root = root
        self.machine = machine
        self.configuration = configuration
        state = machine.state
        self.install_dir = state / "opt" / "site-boot"
        self.boot_dir = self.install_dir / "boot"
        self.systemd_dir = state / "etc" / "systemd" / "system"
        self.httpd_dir = state / "etc" / "httpd"
        self.httpd_conf_dir = self.httpd_dir / "conf.d"
        self.env_file = state / "etc" / "site-boot" / "site.env"
        self.fstab = state / "etc" / "fstab"
        self.shim_dir = root / "shims"
        self.dev_dir = root / "dev"
        self.by_id_dir = self.dev_dir / "disk" / "by-id"
        self.log_file = root / "var" / "log" / "site-boot.log"
        self.aws_dir = root / "aws"
        self.calls_dir = root / "calls"
        self.tmp_dir = root / "tmp"
        self.docroot = root / "var" / "www" / "html"
        # The tree Apache serves, through the link the scripts keep for a shell.
        self.served = self.docroot / "current"
        for d in (self.by_id_dir, self.log_file.parent, self.aws_dir, self.calls_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.docroot.mkdir(parents=True)
        # The deployed layout: a mirror of runtime/boot and runtime/site.
        if installed:
            shutil.copytree(BOOT_SRC, self.boot_dir)
            shutil.copytree(SITE_SRC, self.install_dir / "site")
        shutil.copytree(SHIMS, self.shim_dir)
        # Amazon Linux's sh is bash: the agent's "sh -c <script>" runs it with bash.
        (self.shim_dir / "sh").symlink_to(shutil.which("bash", path=SYSTEM_PATH))
        self.set_aws(volume_id=VOLUME_ID)
        self.drop_in = self.systemd_dir / "httpd.service.d" / "10-document-root.conf"
        self.site_conf = self.httpd_conf_dir / "site.conf"
        self.http_port = free_port()
        write_httpd_conf(self)

    def link_device(self, volume: LoopVolume, name: str | None = None) -> Path:
        """Make the volume's device appear (the by-id link udev would create)."""
        link = self.by_id_dir / (name or volume.by_id_name)
        link.symlink_to(volume.dev)
        return link

    def set_aws(self, **state: str | int) -> None:
        for key, value in state.items():
            (self.aws_dir / key.replace("_", "-")).write_text(str(value))

    def calls(self, tool: str) -> list[str]:
        path = self.calls_dir / f"{tool}.calls"
        return path.read_text().splitlines() if path.exists() else []

    def aws_environments(self) -> list[dict[str, str]]:
        """The environment of each call of the aws stand-in, in order."""
        return recorded_environments(self.calls_dir / "aws.env")

    def httpd_state(self) -> tuple[str, str]:
        """Whether systemd runs httpd now, and starts it at boot: ("active", "enabled")
        once the boot has started it; ("inactive", "disabled") before."""
        httpd = self.machine.show("httpd.service", "ActiveState", "UnitFileState")
        return httpd["ActiveState"], httpd["UnitFileState"]

    def fstab_entries(self) -> list[list[str]]:
        return [
            line.split()
            for line in self.fstab.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]

    def env(self, **overrides: str | int) -> dict[str, str]:
        env = {
            "PATH": f"{self.shim_dir}:{SYSTEM_PATH}",
            "HOME": str(self.root),
            "TMPDIR": str(self.tmp_dir),
            "LANG": "C.UTF-8",
            "VOLUME_ID": VOLUME_ID,
            "IMAGE_URL": IMAGE_URL,
            "DEVICE_NAME": "/dev/sdf",
            "VOLUME_SIZE_GIB": VOLUME_SIZE_GIB,
            "INSTANCE_ID": INSTANCE_ID,
            "AWS_REGION": REGION,
            # Would fail fast instead of leaving the machine if ever used.
            "IMDS_ENDPOINT": "http://127.0.0.1:9",
            "DOCROOT": str(self.docroot),
            "FSTAB": str(self.fstab),
            "BY_ID_DIR": str(self.by_id_dir),
            "SYSTEMD_DIR": str(self.systemd_dir),
            "HTTPD_CONF_DIR": str(self.httpd_conf_dir),
            "SITE_DOMAIN": SITE_DOMAIN,
            "PAGE_TITLE": PAGE_TITLE,
            "INSTALL_DIR": str(self.install_dir),
            "ENV_FILE": str(self.env_file),
            "LOG_FILE": str(self.log_file),
            "DEVICE_CANDIDATES": f"{self.dev_dir}/sdf {self.dev_dir}/xvdf",
            "DEVICE_WAIT_SECONDS": "10",
            "DEVICE_POLL_SECONDS": "0.1",
            "ATTACH_WAIT_SECONDS": "10",
            "ATTACH_POLL_SECONDS": "0.1",
            "DNF_RETRY_SECONDS": "0",
            "BLKID_FILE": str(self.root / "blkid.tab"),
            "AWS_SIM_DIR": str(self.aws_dir),
            "SHIM_LOG_DIR": str(self.calls_dir),
        }
        env.update({k: str(v) for k, v in overrides.items()})
        return env

    def publish_asset(self, staging: Path, url: str) -> None:
        """Zip ``staging`` as the CDK CLI publishes a directory asset; the aws stand-in serves it."""
        with zipfile.ZipFile(self.aws_dir / "asset.zip", "w") as archive:
            for path in sorted(staging.rglob("*")):
                archive.write(path, path.relative_to(staging))
        self.set_aws(asset_object=url)

    def staging(self, name: str = "staging") -> Path:
        """The site asset unpacked, as the association's document does it."""
        staging = self.root / name
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(BOOT_SRC, staging / "boot")
        shutil.copytree(SITE_SRC, staging / "site")
        return staging


class Namespace:
    """The instance running on the machine: its scripts run there as root
    with the machine's settings (Sandbox.env), as user data or the
    association would run them, and see the container's mounts and files."""

    def __init__(self, machine: Machine, sandbox: Sandbox) -> None:
        self.machine = machine
        self.sandbox = sandbox
        machine.current = self

    def _run(self, argv: list[str], env: dict[str, str]) -> BootResult:
        start = time.monotonic()
        result = self.machine.run(*argv, env=env)
        return BootResult(result.returncode, result.stdout, time.monotonic() - start)

    def boot(self, **env: str | int) -> BootResult:
        """Run boot.sh from the deployed copy, as the user data would."""
        return self._run([str(self.sandbox.boot_dir / "boot.sh")], self.sandbox.env(**env))

    def apply(self, staging: Path, **env: str | int) -> BootResult:
        """Run the synthesized configuration document as the SSM agent does.

        ``staging`` is published as the boot-file object the document downloads. The values
        are the association's, with the test environment's deployment values instead where
        it names them; the agent's checks and text substitution give the script, which runs
        with ``sh -c`` and the agent's own environment (ssm_agent.environment), in which PATH
        finds the stand-ins first and apply.sh is told the path the host reads the installed
        scripts at (the machine's /opt). The machine's own settings go to the file
        site-boot.service reads after site.env.
        """
        configuration = self.sandbox.configuration
        assert configuration is not None, "this sandbox has no configuration document"
        full = self.sandbox.env(**env)
        machine = {k: v for k, v in full.items() if k not in DEPLOYMENT_KEYS}
        self.machine.write_machine_env(machine)
        self.sandbox.publish_asset(staging, configuration.asset_url)
        script = self.sandbox.tmp_dir / f"agent-{time.monotonic_ns()}.sh"
        script.write_text(ssm_agent.script(configuration.content, configuration.values_for(full)))
        script.chmod(0o755)
        agent = ssm_agent.environment(instance_id=INSTANCE_ID, region=REGION)
        agent.update(
            PATH=f"{self.sandbox.shim_dir}:{agent['PATH']}", INSTALL_DIR=str(self.sandbox.install_dir)
        )
        return self._run(["sh", "-c", str(script)], agent)

    def apply_by_hand(self, staging: Path, **env: str | int) -> BootResult:
        """Run apply.sh from ``staging`` directly, with the test environment and nothing else."""
        return self._run(["bash", str(staging / "boot" / "apply.sh"), str(staging)], self.sandbox.env(**env))

    def path(self, path: Path | str) -> Path:
        """A path as the instance sees it (with its mounts)."""
        return self.machine.path(path)

    def mount_at(self, target: Path | str) -> dict[str, str] | None:
        """Source and type of what is mounted at target in the machine."""
        return self.machine.mounts().get(str(target))

    def reboot(self) -> None:
        """The instance reboots: processes, mounts and /run go; the volume,
        its attachment, fstab and everything in /etc and /opt stay."""
        self.machine.reboot()

    def close(self) -> None:
        """The instance ends: its services stop and the document root is unmounted."""
        if self.machine.current is not self:
            return
        self.machine.current = None
        result = self.machine.run("bash", "-c", END_INSTANCE, "end-instance", str(self.sandbox.docroot))
        if result.returncode != 0:
            raise MachineError(f"ending the instance failed: {result.stdout}")


class Harness:
    """Creates volumes, sandboxes and instances on the machine; tears all of them down.

    Without a machine (the benchmarks), it boots one of its own.
    """

    def __init__(
        self,
        stack: contextlib.ExitStack,
        machine: Machine | None = None,
        configuration: ConfigurationDocument | None = None,
    ) -> None:
        self._stack = stack
        self.configuration = configuration
        self.machine = machine or stack.enter_context(booted_machine())
        self.workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=self.machine.instances)))
        self.workdir.chmod(0o755)  # apache's worker user walks down to the docroot
        self._count = 0

    def _subdir(self, name: str) -> Path:
        self._count += 1
        path = self.workdir / f"{self._count:02d}-{name}"
        path.mkdir()
        return path

    def volume(self, copy_of: LoopVolume | None = None) -> LoopVolume:
        vol = LoopVolume(self._subdir("volume"), copy_of)
        self._stack.callback(vol.detach)
        self.machine.wait_for_node(vol.dev)
        return vol

    def sandbox(self, *, installed: bool = True) -> Sandbox:
        self.machine.new_instance()
        return Sandbox(
            self._subdir("instance"), self.machine, installed=installed, configuration=self.configuration
        )

    def namespace(self, sandbox: Sandbox) -> Namespace:
        ns = Namespace(self.machine, sandbox)
        self._stack.callback(ns.close)
        return ns

    def empty_loop_node(self) -> str:
        """A loop device node with nothing attached: a block node of size 0."""
        node = run("losetup", "--find").stdout.strip()
        self.machine.wait_for_node(node)
        return node

    def instance(self, volume: LoopVolume | None) -> tuple[Sandbox, Namespace]:
        """A new instance whose volume device is already visible."""
        sandbox = self.sandbox()
        if volume is not None:
            sandbox.link_device(volume)
        return sandbox, self.namespace(sandbox)


APACHE_MODULES = ("mpm_event", "authz_core", "dir", "mime", "log_config", "unixd", "headers")


def write_httpd_conf(sandbox: Sandbox) -> None:
    """/etc/httpd/conf/httpd.conf for Debian's apache2, shaped like Amazon
    Linux's: the document root on the volume, the server's own settings,
    then conf.d/*.conf, where the scripts write the site's settings."""
    logs = sandbox.root / "apache"
    logs.mkdir(exist_ok=True)
    modules = "\n".join(
        f"<IfModule !{m}_module>\n  LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n</IfModule>"
        for m in APACHE_MODULES
    )
    conf = sandbox.httpd_dir / "conf" / "httpd.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(
        f"""ServerRoot "/etc/httpd"
ServerName 127.0.0.1
Listen 127.0.0.1:{sandbox.http_port}
PidFile "/run/httpd/httpd.pid"
DefaultRuntimeDir "/run/httpd"
Mutex file:/run/httpd default
ErrorLog "{logs}/error.log"
LogLevel warn
{modules}
User www-data
Group www-data
# One server process with a few threads: enough for the tests, and quick to
# start and stop at every boot.
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
MinSpareThreads 1
MaxSpareThreads 8
TypesConfig /etc/mime.types
LogFormat "%h %l %u %t \\"%r\\" %>s %b" common
CustomLog "{logs}/access.log" common
DocumentRoot "{sandbox.docroot}"
<Directory />
  AllowOverride None
  Require all denied
</Directory>
<Directory "{sandbox.docroot}">
  Require all granted
</Directory>
DirectoryIndex index.html
IncludeOptional conf.d/*.conf
"""
    )


def wait_for_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass
class ServedSite:
    url: str
    served_in_ns: Path
    sandbox: Sandbox
    namespace: Namespace
    mount_source: str


def serve(sandbox: Sandbox, ns: Namespace) -> str:
    """The site's base URL, once the httpd that the boot started through
    systemd listens."""
    try:
        wait_for_port(sandbox.http_port)
    except OSError:
        error_log = sandbox.root / "apache" / "error.log"
        detail = error_log.read_text() if error_log.exists() else ""
        journal = ns.machine.journal("httpd.service")
        pytest.fail(f"httpd did not listen on 127.0.0.1:{sandbox.http_port}: {detail}\n{journal}")
    return f"http://127.0.0.1:{sandbox.http_port}/"


def require_apache() -> None:
    require("apache2")
    if not Path("/usr/lib/apache2/modules/mod_mpm_event.so").exists():
        pytest.skip("apache2 modules not found in /usr/lib/apache2/modules")
