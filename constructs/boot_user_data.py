"""User data that installs the boot scripts from assets/ and runs them on first boot."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_ec2 as ec2

ASSETS = Path(__file__).resolve().parent.parent / "assets"
BOOT_DIR_ON_HOST = "/opt/site-boot"
_HEREDOC_END = "SITE_BOOT_FILE_END"
# CloudFormation rejects EC2 user data above 16 KiB (before base64).
USER_DATA_LIMIT = 16 * 1024


def boot_files() -> list[Path]:
    """The files copied to the instance: every boot script plus the page template."""
    return [*sorted((ASSETS / "boot").glob("*.sh")), ASSETS / "site" / "index.html.tmpl"]


def boot_user_data(*, volume_id: str, image_url: str, device_name: str) -> ec2.UserData:
    """Write the boot files to the instance, then run boot.sh with the deployment's values.

    The scripts stay real files in assets/ (tested as they are); here they are only copied
    verbatim through quoted here-documents, so no shell expansion touches them.
    """
    user_data = ec2.UserData.for_linux()
    user_data.add_commands("set -euo pipefail", f"install -d -m 0755 {BOOT_DIR_ON_HOST}")
    for path in boot_files():
        text = path.read_text()
        if _HEREDOC_END in text:
            raise ValueError(f"{path} contains the here-document delimiter {_HEREDOC_END}")
        target = f"{BOOT_DIR_ON_HOST}/{path.name}"
        mode = "0755" if path.suffix == ".sh" else "0644"
        user_data.add_commands(
            f"cat > {target} <<'{_HEREDOC_END}'\n{text.rstrip()}\n{_HEREDOC_END}",
            f"chmod {mode} {target}",
        )
    user_data.add_commands(
        f"export VOLUME_ID='{volume_id}' IMAGE_URL='{image_url}' DEVICE_NAME='{device_name}'",
        f"{BOOT_DIR_ON_HOST}/boot.sh",
    )
    return user_data
