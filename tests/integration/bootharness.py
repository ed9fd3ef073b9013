"""Helpers for running the real boot scripts against a loop device.

Every boot runs inside a private mount + PID namespace (``unshare``) driven by
``ns_driver.sh``: whatever the scripts mount, and any process started there
(apache2), vanishes with the namespace. A sparse file on a loop device stands
for the EBS volume; ``aws``, ``dnf`` and ``systemctl`` are small shims that
record their arguments. Re-running the scripts in a fresh namespace against
the same loop device is what a reboot or a replacement instance looks like.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import select
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import ssm_agent
from constructs.site_configuration import PARAMETERS
from deployed_values import INSTANCE_ID, VOLUME_ID

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BOOT_SRC = REPO / "assets" / "boot"
SITE_SRC = REPO / "assets" / "site"
DRIVER = HERE / "ns_driver.sh"
SHIMS = HERE / "shims"

REGION = "eu-west-1"
IMAGE_URL = "https://d111111abcdef8.cloudfront.net/images/site-image.jpg"
# The viewer's host name: the site distribution's domain.
SITE_DOMAIN = "d222222abcdef8.cloudfront.net"
VOLUME_SIZE = "320M"
# What the deployment passes (the association's parameters, by their environment names);
# everything else in Sandbox.env() is the machine itself (its paths, its tools' settings).
DEPLOYMENT_KEYS = tuple(p.env for p in PARAMETERS.values() if p.env)

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
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
COMMAND_TIMEOUT = 90


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


CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _runs_without_snap(path: str) -> bool:
    """False for Ubuntu's chromium-browser, a wrapper that only starts the snap."""
    real = os.path.realpath(path)
    if real.startswith("/snap/"):
        return False
    try:
        with open(real, "rb") as file:
            head = file.read(8192)
    except OSError:
        return False
    return head.startswith(b"\x7fELF") or b"snap" not in head


def find_chromium() -> str | None:
    """The Chromium to drive: $CHROMIUM, then a system one (a Debian package, not a snap),
    then the build that `playwright install chromium` downloaded; None when there is none."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        path = shutil.which(name, path=SYSTEM_PATH)
        if path and _runs_without_snap(path):
            return path
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    try:
        with sync_playwright() as playwright:
            path = playwright.chromium.executable_path
    except Exception:  # no driver, or no browser for this platform
        return None
    return path if path and os.access(path, os.X_OK) else None


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
        for name, parameter in PARAMETERS.items():
            if parameter.env and parameter.env in env:
                values[name] = env[parameter.env]
        return values

    @property
    def asset_url(self) -> str:
        return f"s3://{self.values['AssetBucket']}/{self.values['AssetKey']}"


class LoopVolume:
    """A sparse file on a loop device, standing in for the EBS volume."""

    def __init__(self, workdir: Path) -> None:
        self.image = workdir / "volume.img"
        run("truncate", "-s", VOLUME_SIZE, str(self.image))
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


class Sandbox:
    """The host paths one instance would use, all inside a temp directory.

    A new Sandbox is a new instance: empty fstab, no systemd drop-in, and an
    AWS view where the volume is not attached to it.
    """

    def __init__(
        self, root: Path, *, installed: bool = True, configuration: ConfigurationDocument | None = None
    ) -> None:
        self.root = root
        self.configuration = configuration
        self.install_dir = root / "opt" / "site-boot"
        self.boot_dir = self.install_dir / "boot"
        self.shim_dir = root / "shims"
        self.by_id_dir = root / "dev" / "disk" / "by-id"
        self.dev_dir = root / "dev"
        self.systemd_dir = root / "etc" / "systemd" / "system"
        self.httpd_conf_dir = root / "etc" / "httpd" / "conf.d"
        self.log_file = root / "var" / "log" / "site-boot.log"
        self.aws_dir = root / "aws"
        self.calls_dir = root / "calls"
        self.tmp_dir = root / "tmp"
        self.docroot = root / "var" / "www" / "html"
        self.fstab = root / "etc" / "fstab"
        for d in (
            self.boot_dir,
            self.by_id_dir,
            self.systemd_dir,
            self.log_file.parent,
            self.aws_dir,
            self.calls_dir,
            self.tmp_dir,
            self.docroot,
        ):
            d.mkdir(parents=True, exist_ok=True)
        self.fstab.write_text("")
        # The deployed layout: a mirror of assets/boot and assets/site.
        if installed:
            shutil.copytree(BOOT_SRC, self.boot_dir, dirs_exist_ok=True)
            shutil.copytree(SITE_SRC, self.install_dir / "site")
        else:
            self.boot_dir.rmdir()
            self.install_dir.rmdir()
        shutil.copytree(SHIMS, self.shim_dir)
        # Amazon Linux's sh is bash: the agent's "sh -c <script>" runs it with bash.
        (self.shim_dir / "sh").symlink_to(shutil.which("bash", path=SYSTEM_PATH))
        self.set_aws(volume_id=VOLUME_ID)
        self.drop_in = self.systemd_dir / "httpd.service.d" / "10-document-root.conf"
        self.site_conf = self.httpd_conf_dir / "site.conf"
        self.env_file = root / "etc" / "site-boot" / "site.env"
        self.run_dir = root / "run" / "site-boot"
        self._runs = 0

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
            "RUN_DIR": str(self.run_dir),
            "INSTALL_DIR": str(self.install_dir),
            "ENV_FILE": str(self.env_file),
            "LOG_FILE": str(self.log_file),
            "LOCK_FILE": str(self.root / "site-boot.lock"),
            "DEVICE_CANDIDATES": f"{self.dev_dir}/sdf {self.dev_dir}/xvdf",
            "DEVICE_WAIT_SECONDS": "10",
            "DEVICE_POLL_SECONDS": "0.1",
            "ATTACH_WAIT_SECONDS": "10",
            "ATTACH_POLL_SECONDS": "0.1",
            "DNF_RETRY_SECONDS": "0",
            "BLKID_FILE": str(self.root / "blkid.tab"),
            "AWS_SIM_DIR": str(self.aws_dir),
            "SHIM_LOG_DIR": str(self.calls_dir),
            # The systemctl stand-in runs units inside this root, with the
            # machine's settings from this file, RestartSec divided by 30.
            "SHIM_ROOT": str(self.root),
            "SHIM_MACHINE_ENV": str(self.root / "machine.env"),
            "SHIM_RESTART_SEC_DIVISOR": "30",
            "SHIM_RESTART_BOUND_SECONDS": "30",
        }
        env.update({k: str(v) for k, v in overrides.items()})
        return env

    def staging(self, name: str = "staging") -> Path:
        """The site asset unpacked, as the association's document does it."""
        staging = self.root / name
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(BOOT_SRC, staging / "boot")
        shutil.copytree(SITE_SRC, staging / "site")
        return staging

    def publish_asset(self, staging: Path, url: str) -> None:
        """Zip ``staging`` as the CDK CLI publishes a directory asset; the aws stand-in serves it."""
        with zipfile.ZipFile(self.aws_dir / "asset.zip", "w") as archive:
            for path in sorted(staging.rglob("*")):
                archive.write(path, path.relative_to(staging))
        self.set_aws(asset_object=url)

    def journal(self, unit: str = "site-boot.service") -> str:
        path = self.calls_dir / "journal" / unit
        return path.read_text() if path.exists() else ""

    def next_run_files(self) -> tuple[Path, Path]:
        self._runs += 1
        return (
            self.tmp_dir / f"run-{self._runs}.sh",
            self.tmp_dir / f"run-{self._runs}.out",
        )


class Namespace:
    """One boot of one instance: a private mount + PID namespace."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._stderr = open(sandbox.root / "driver.err", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--pid",
                "--fork",
                "--kill-child",
                "--mount-proc",
                "bash",
                str(DRIVER),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=sandbox.env(),
            cwd="/",
        )
        self._buffer = b""
        assert self._read_line(15) == "READY"

    def _read_line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("namespace driver did not answer in time")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise RuntimeError("namespace driver exited unexpectedly")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def _command(self, line: str, timeout: float = COMMAND_TIMEOUT) -> str:
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        answer = self._read_line(timeout)
        assert answer.startswith("DONE "), answer
        return answer.split(" ", 1)[1]

    def boot(self, **env: str | int) -> BootResult:
        """Run boot.sh from the deployed copy, as the user data would."""
        script, out = self.sandbox.next_run_files()
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.sandbox.env(**env).items())
        script.write_text("cd /\n" + exports + f"exec {self.sandbox.boot_dir}/boot.sh\n")
        start = time.monotonic()
        rc = int(self._command(f"run {script} {out}"))
        elapsed = time.monotonic() - start
        return BootResult(rc, out.read_text(), elapsed)

    def apply(self, staging: Path, **env: str | int) -> BootResult:
        """Run the synthesized configuration document as the SSM agent does.

        ``staging`` is published as the boot-file object the document downloads. The values
        are the association's, with the test environment's deployment values instead where
        it names them; the agent's checks and text substitution give the script, which runs
        with ``sh -c``. The machine's own settings go to the file the systemctl stand-in
        gives to the unit.
        """
        configuration = self.sandbox.configuration
        assert configuration is not None, "this sandbox has no configuration document"
        full = self.sandbox.env(**env)
        machine = {k: v for k, v in full.items() if k not in DEPLOYMENT_KEYS}
        Path(full["SHIM_MACHINE_ENV"]).write_text("".join(f"{k}={v}\n" for k, v in machine.items()))
        self.sandbox.publish_asset(staging, configuration.asset_url)
        script, out = self.sandbox.next_run_files()
        script.write_text(ssm_agent.script(configuration.content, configuration.values_for(full)))
        script.chmod(0o755)
        runner = script.with_suffix(".agent.sh")
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in machine.items())
        runner.write_text("cd /\n" + exports + f"exec sh -c {script}\n")
        start = time.monotonic()
        rc = int(self._command(f"run {runner} {out}"))
        elapsed = time.monotonic() - start
        return BootResult(rc, out.read_text(), elapsed)

    def apply_by_hand(self, staging: Path, **env: str | int) -> BootResult:
        """Run apply.sh from ``staging`` directly, with the test environment and nothing else."""
        script, out = self.sandbox.next_run_files()
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.sandbox.env(**env).items())
        script.write_text("cd /\n" + exports + f"exec bash {staging}/boot/apply.sh {staging}\n")
        rc = int(self._command(f"run {script} {out}"))
        return BootResult(rc, out.read_text(), 0.0)

    def start_apache(self, config: Path) -> int:
        return int(self._command(f"apache {config}"))

    def reload_apache(self) -> None:
        assert self._command("reload") == "0"

    def path(self, host_path: Path | str) -> Path:
        """A path as the namespace sees it (with its mounts)."""
        return Path(f"/proc/{self.proc.pid}/root") / Path(host_path).relative_to("/")

    def mount_at(self, target: Path | str) -> dict[str, str] | None:
        """Source and type of what is mounted at target inside the namespace."""
        found = None
        for line in Path(f"/proc/{self.proc.pid}/mountinfo").read_text().splitlines():
            fields = line.split()
            sep = fields.index("-")
            if fields[4] == str(target):
                found = {"source": fields[sep + 2], "fstype": fields[sep + 1]}
        return found

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # --kill-child takes the namespace down too
                self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self._stderr.close()


class Harness:
    """Creates volumes, sandboxes and namespaces; tears all of them down."""

    def __init__(
        self, stack: contextlib.ExitStack, configuration: ConfigurationDocument | None = None
    ) -> None:
        self._stack = stack
        self.configuration = configuration
        self.workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="site-boot-it-")))
        self.workdir.chmod(0o755)  # apache's worker user walks down to the docroot
        self._count = 0

    def _subdir(self, name: str) -> Path:
        self._count += 1
        path = self.workdir / f"{self._count:02d}-{name}"
        path.mkdir()
        return path

    def volume(self) -> LoopVolume:
        vol = LoopVolume(self._subdir("volume"))
        self._stack.callback(vol.detach)
        return vol

    def sandbox(self, *, installed: bool = True) -> Sandbox:
        return Sandbox(self._subdir("instance"), installed=installed, configuration=self.configuration)

    def namespace(self, sandbox: Sandbox) -> Namespace:
        ns = Namespace(sandbox)
        self._stack.callback(ns.close)
        return ns

    def empty_loop_node(self) -> str:
        """A loop device node with nothing attached: a block node of size 0."""
        return run("losetup", "--find").stdout.strip()

    def instance(self, volume: LoopVolume | None) -> tuple[Sandbox, Namespace]:
        """A new instance whose volume device is already visible."""
        sandbox = self.sandbox()
        if volume is not None:
            sandbox.link_device(volume)
        return sandbox, self.namespace(sandbox)


APACHE_MODULES = ("mpm_event", "authz_core", "dir", "mime", "log_config", "unixd", "headers")


def apache_config(sandbox: Sandbox, port: int) -> Path:
    """Debian's apache2 set up like Amazon Linux's httpd for this site: the
    document root on the volume and, as conf.d/*.conf would, the site's settings
    the scripts wrote (Include, not IncludeOptional: no file, no server)."""
    run_dir = sandbox.root / "apache"
    run_dir.mkdir(exist_ok=True)
    modules = "\n".join(
        f"<IfModule !{m}_module>\n  LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n</IfModule>"
        for m in APACHE_MODULES
    )
    config = run_dir / "httpd.conf"
    config.write_text(
        f"""ServerRoot "{run_dir}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{run_dir}/httpd.pid"
DefaultRuntimeDir "{run_dir}"
Mutex file:{run_dir} default
ErrorLog "{run_dir}/error.log"
LogLevel warn
{modules}
User www-data
Group www-data
TypesConfig /etc/mime.types
LogFormat "%h %l %u %t \\"%r\\" %>s %b" common
CustomLog "{run_dir}/access.log" common
DocumentRoot "{sandbox.docroot}"
<Directory />
  AllowOverride None
  Require all denied
</Directory>
<Directory "{sandbox.docroot}">
  Require all granted
</Directory>
DirectoryIndex index.html
Include "{sandbox.site_conf}"
"""
    )
    return config


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
    docroot_in_ns: Path
    sandbox: Sandbox
    namespace: Namespace
    mount_source: str


def serve(sandbox: Sandbox, ns: Namespace) -> str:
    """Start Debian's apache2 on the booted sandbox; the site's base URL."""
    port = free_port()
    ns.start_apache(apache_config(sandbox, port))
    try:
        wait_for_port(port)
    except OSError:
        error_log = sandbox.root / "apache" / "error.log"
        detail = error_log.read_text() if error_log.exists() else ""
        pytest.fail(f"apache2 did not listen on 127.0.0.1:{port}: {detail}")
    return f"http://127.0.0.1:{port}/"


def require_apache() -> None:
    require("apache2")
    if not Path("/usr/lib/apache2/modules/mod_mpm_event.so").exists():
        pytest.skip("apache2 modules not found in /usr/lib/apache2/modules")
