"""User data that unpacks the boot scripts from assets/ and runs them on first boot."""

from __future__ import annotations

import base64
import gzip
import io
import tarfile
from pathlib import Path

from aws_cdk import aws_ec2 as ec2

ASSETS = Path(__file__).resolve().parent.parent / "assets"
BOOT_DIR_ON_HOST = "/opt/site-boot"
_HEREDOC_END = "SITE_BOOT_ARCHIVE_END"
# CloudFormation rejects EC2 user data above 16 KiB (before base64).
USER_DATA_LIMIT = 16 * 1024


def boot_files() -> list[Path]:
    """The files copied to the instance: every boot script plus the page template."""
    return [*sorted((ASSETS / "boot").glob("*.sh")), ASSETS / "site" / "index.html.tmpl"]


def boot_archive(files: list[Path]) -> bytes:
    """A reproducible .tar.gz of ``files`` (fixed order, owner and times).

    The scripts are shipped compressed because, as plain text, they would not fit in the
    16 KiB that EC2 allows for user data; the same bytes always give the same archive, so
    the instance is replaced only when a script really changes.
    """
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=9) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for path in files:
            data = path.read_bytes()
            info = tarfile.TarInfo(path.name)
            info.size = len(data)
            info.mode = 0o755 if path.suffix == ".sh" else 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def boot_user_data(
    *, volume_id: str, image_url: str, device_name: str, origin_verify_token: str
) -> ec2.UserData:
    """Unpack the boot files into BOOT_DIR_ON_HOST, then run boot.sh with the deployment's values."""
    encoded = base64.b64encode(boot_archive(boot_files())).decode()
    user_data = ec2.UserData.for_linux()
    user_data.add_commands(
        "set -euo pipefail",
        f"install -d -m 0755 {BOOT_DIR_ON_HOST}",
        # One unwrapped line: every byte counts against the 16 KiB.
        f"base64 -d <<'{_HEREDOC_END}' | tar -xz --no-same-owner -C {BOOT_DIR_ON_HOST}\n"
        f"{encoded}\n{_HEREDOC_END}",
        f"export VOLUME_ID='{volume_id}' IMAGE_URL='{image_url}' DEVICE_NAME='{device_name}'",
        f"export ORIGIN_VERIFY_TOKEN='{origin_verify_token}'",
        f"{BOOT_DIR_ON_HOST}/boot.sh",
    )
    return user_data
