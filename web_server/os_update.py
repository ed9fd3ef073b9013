"""In-place operating-system updates of the running web server, on request."""

from __future__ import annotations

from aws_cdk import aws_ssm as ssm
from constructs import Construct

from web_server.configuration import shell_script_document

# What an operator names; no default, so SSM refuses a command that names no release: AWS
# advises a pinned release over `latest`, which stays an explicit choice.
RELEASE_PATTERN = r"^(latest|20[0-9]{2}\.[0-9]+\.[0-9]+)$"
RELEASE_DESCRIPTION = "An AL2023 release such as 2023.9.20251110, or latest on purpose"
# Installed on the server by the site's configuration (runtime/boot/os-update.sh); its exit
# status 194 asks the SSM agent to reboot and run the step again.
OS_UPDATE_COMMAND = "bash /opt/site-boot/boot/os-update.sh '{{ ReleaseVersion }}'"


class OsUpdateDocument(Construct):
    """``dnf upgrade --releasever=<version>``, then a reboot if needed (``make os-update``): the
    instance keeps its id, volume and address; viewers get the fallback copy while it reboots.
    Rolling the instance onto a fresh AMI instead is ``server_generation``."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        content = shell_script_document(
            description="Update Amazon Linux 2023 in place to a release; reboot if needed.",
            parameters={"ReleaseVersion": (RELEASE_PATTERN, RELEASE_DESCRIPTION)},
            step="updateOperatingSystem",
            commands=[OS_UPDATE_COMMAND],
        )
        self.document = ssm.CfnDocument(
            self, "Document", document_type="Command", document_format="JSON", content=content
        )
