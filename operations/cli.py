"""Operating the deployed site (docs/operations.md): python -m operations COMMAND [CDK ARGS]

deploy      synthesize; stop before a volume change EBS would hold for hours; deploy that assembly; verify
verify      wait for the configuration's current version on the instance, then fetch the page and image
os-update   --release R: run the stack's OS-update document on the instance, and wait for it

Each command synthesizes with CDK ARGS (make's ARGS) and takes the stacks from that assembly;
--profile, --region and --output are read here as the CDK CLI reads them, and passed on to it.
"""

from __future__ import annotations

import argparse
import html
import http.client
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from operations import aws
from operations.assembly import Stack, read_site_stacks
from operations.waiting import OpsError, Poll, seconds_from_env

AL2023_RELEASES = "https://docs.aws.amazon.com/linux/al2023/release-notes/relnotes.html"
# The configuration can wait half an hour for the volume during an instance roll; an OS update
# runs for up to an hour, with a reboot and a second run on top.
WAIT_SECONDS = {"deploy": 1800, "verify": 1800, "os-update": 5400}
# Often enough that a verdict follows a finished run within seconds, far below SSM's API limits.
POLL_SECONDS = 5.0

NPX_CDK = f"{Path(sys.executable).parent / 'npx'} cdk"  # the CDK CLI pinned in package-lock.json
RunCdk = Callable[[list[str]], int]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]  # one line, not usage and a line
        raise OpsError(
            f"{message}; usage: python -m operations {{deploy,verify,os-update}} [CDK ARGS]", code=2
        )


def _arguments(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """The tool's options, and the arguments for the CDK CLI (the profile and Region included)."""
    parser = _Parser(prog="python -m operations", allow_abbrev=False)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in WAIT_SECONDS:
        command = commands.add_parser(name, allow_abbrev=False)
        command.add_argument("--cdk", default=NPX_CDK, help="the CDK CLI's command line")
        command.add_argument("--profile")
        command.add_argument("--region")
        command.add_argument("--output", "-o", default="cdk.out", help="cloud assembly directory")
        if name == "os-update":
            command.add_argument("--release", default="")
    options, cdk_args = parser.parse_known_args(argv)
    for name in ("profile", "region"):
        cdk_args += [f"--{name}", getattr(options, name)] if getattr(options, name) else []
    return options, cdk_args


class Operator:
    """One command: its options, its AWS clients and its CDK CLI."""

    def __init__(self, argv: Sequence[str], *, connect: Callable[..., aws.Aws], run_cdk: RunCdk) -> None:
        self.options, self.cdk_args = _arguments(argv)
        if self.options.command == "os-update" and not self.options.release:
            raise OpsError(
                "RELEASE is not set: name the AL2023 release to update to, e.g. make os-update RELEASE="
                f"2023.9.20251110 ({AL2023_RELEASES}), or RELEASE=latest to take the newest on purpose",
                code=2,
            )
        self.timing = {
            "wait_seconds": seconds_from_env(
                "WAIT_SECONDS", WAIT_SECONDS[self.options.command], zero_allowed=True
            ),
            "poll_seconds": seconds_from_env("POLL_SECONDS", POLL_SECONDS, zero_allowed=False),
        }
        self.aws = connect(profile=self.options.profile, region=self.options.region)
        self.run_cdk = run_cdk

    def poll(self) -> Poll:
        """The deadline starts with the first wait: a deploy's own minutes do not count against it."""
        return Poll(**self.timing)

    def cdk(self, *args: str) -> None:
        code = self.run_cdk([*shlex.split(self.options.cdk), *args])
        if code != 0:
            raise OpsError(f"cdk {args[0]} failed (exit status {code})", code=code)

    def synthesize(self) -> tuple[Stack, Stack]:
        print(f"synthesizing into {self.options.output}/ to read the stacks from", flush=True)
        self.cdk("synth", "--quiet", "--no-notices", "--output", self.options.output, *self.cdk_args)
        return read_site_stacks(Path(self.options.output))

    def deploy(self) -> None:
        stacks = self.synthesize()
        aws.check_volume(self.aws, stacks[0])
        # The assembly just checked, not a new synthesis: what was checked is what is deployed.
        self.cdk("deploy", "--app", self.options.output, "--all", *self.cdk_args)
        self.verify(stacks)

    def verify(self, stacks: tuple[Stack, Stack] | None = None) -> None:
        web_server, content = stacks or self.synthesize()
        web = aws.stack_outputs(
            self.aws, web_server.name, "InstanceId", "ConfigurationAssociationId", "SiteUrl"
        )
        images = aws.stack_outputs(self.aws, content.name, "ImageUrl")
        instance, site_url, image_url = web["InstanceId"], web["SiteUrl"], images["ImageUrl"]
        if web.get("ImageUrl", image_url) != image_url:
            raise OpsError(
                f"{web_server.name} still points the page at {web['ImageUrl']}, but {content.name} serves "
                f"the image at {image_url}: deploy a change to the web server stack (docs/operations.md, "
                "'image distribution replaced')"
            )
        print(f"verifying {web_server.name}: {site_url}", flush=True)
        poll = self.poll()
        association = web["ConfigurationAssociationId"]
        version = aws.configuration_run(self.aws, poll, instance=instance, association=association)

        def page_problem(_: str, body: bytes) -> str | None:
            # An edge may serve the previous page until the server's mirror has invalidated it.
            shown = image_url.encode() in body or html.escape(image_url).encode() in body
            return None if shown else "the page does not show the image URL yet"

        def image_problem(media_type: str, _: bytes) -> str | None:
            return None if media_type.startswith("image/") else "not an image"

        hint = f"CloudFront distribution {web.get('SiteDistributionId')}; {aws.WHERE_TO_LOOK}"
        poll.until(f"page {site_url}", lambda: _http_state(site_url, page_problem), hint=hint)
        hint = f"CloudFront distribution {images.get('ImageDistributionId')}; {aws.WHERE_TO_LOOK}"
        media_type = poll.until(
            f"image {image_url}", lambda: _http_state(image_url, image_problem), hint=hint
        )
        print(
            f"site works: {site_url} shows {image_url} ({media_type}); configuration version {version} "
            f"succeeded on {instance}",
            flush=True,
        )

    def os_update(self) -> None:
        web_server, _ = self.synthesize()
        outputs = aws.stack_outputs(self.aws, web_server.name, "InstanceId", "OsUpdateDocument")
        instance, document, release = outputs["InstanceId"], outputs["OsUpdateDocument"], self.options.release
        aws.os_update(self.aws, self.poll(), instance=instance, document=document, release=release)


def _http_state(url: str, problem: Callable[[str, bytes], str | None]) -> tuple[str, str | None]:
    """A look for Poll.until: the answer's status and media type, and the media type once all is right."""
    request = urllib.request.Request(url, headers={"User-Agent": "site-verify"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            status, headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, body = error.code, error.headers, error.read()
    except (OSError, http.client.HTTPException) as error:  # no connection, a timeout, a cut answer
        return f"no answer ({getattr(error, 'reason', error)})", None
    media_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    found = "waiting for 200" if status != 200 else problem(media_type, body)
    state = f"HTTP {status} {media_type or '(no content type)'}"
    return (f"{state}, {found}", None) if found else (state, media_type)


def main(
    argv: Sequence[str] | None = None,
    *,
    connect: Callable[..., aws.Aws] = aws.connect,
    run_cdk: RunCdk = lambda command: subprocess.run(command, check=False).returncode,
) -> int:
    try:
        operator = Operator(sys.argv[1:] if argv is None else argv, connect=connect, run_cdk=run_cdk)
        getattr(operator, operator.options.command.replace("-", "_"))()
    except OpsError as error:
        for line in error.details:
            print(line, file=sys.stderr)
        print(f"error: {error}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # AWS, credentials, the network, the files: one line, never a traceback
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0
