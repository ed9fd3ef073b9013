"""What a deploy does to the running server: only its own definition may replace it.

A variant of the dev app changes everything that changes on day 2 without touching the
server's definition (boot scripts, image, cache time, volume size) and must
leave the instance and its launch template exactly as they were.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import pytest

import web_server.configuration as site_configuration
from tests.synthesis import SynthesizedApp, synthesize
from tests.unit.template_queries import only_resource, resources_of


def _png(path: Path, width: int, height: int) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + b"\x80\x40\x20" * width for _ in range(height))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="module")
def day2_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    work = tmp_path_factory.mktemp("day2")
    assets = work / "assets"
    shutil.copytree(site_configuration.RUNTIME, assets)
    boot = assets / "boot" / "boot.sh"
    boot.write_text(boot.read_text() + "\n# a changed boot script\n")
    image = _png(work / "other-image.png", 4, 3)
    # What else may sit next to an image: none of it may be published.
    (work / ".env").write_text("SECRET=1\n")
    (work / "notes.txt").write_text("private\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(site_configuration, "RUNTIME", assets)
        return synthesize(
            {
                "image_file": str(image),
                "page_cache_seconds": "120",
                "volume_size_gib": "9",
            },
            work / "cdk.out",
        )


def _vpc_origin(app: SynthesizedApp) -> str:
    (logical_id,) = resources_of(app.raw(app.stacks.web_server), "AWS::CloudFront::VpcOrigin")
    return logical_id


def _server(app: SynthesizedApp) -> tuple[dict, dict, dict]:
    raw = app.raw(app.stacks.web_server)
    return (
        {k: v for k, v in raw["Resources"].items() if v["Type"] == "AWS::EC2::Instance"},
        {k: v for k, v in raw["Resources"].items() if v["Type"] == "AWS::EC2::LaunchTemplate"},
        only_resource(raw, "AWS::SSM::Association")["Properties"]["Parameters"],
    )


def test_day2_changes_leave_the_server_untouched(dev_app, day2_app):
    instance, template, parameters = _server(dev_app)
    day2_instance, day2_template, day2_parameters = _server(day2_app)
    # Same logical ids, same properties: CloudFormation has nothing to update on the server,
    # nor on the VPC origin in front of it (which CloudFront refuses to update while in use).
    assert day2_instance == instance
    assert day2_template == template
    assert _vpc_origin(day2_app) == _vpc_origin(dev_app)
    # ...while the new values do reach it, through the association.
    assert day2_parameters["AssetKey"] != parameters["AssetKey"]
    assert "/images/other-image.png" in str(day2_parameters["ImageUrl"])
    assert day2_parameters["VolumeSizeGib"] == ["9"]
    volume = only_resource(day2_app.raw(day2_app.stacks.web_server), "AWS::EC2::Volume")
    assert volume["Properties"]["Size"] == 9


def test_server_generation_rolls_the_server_on_purpose(dev_app, prod_app):
    # prod sets server_generation=3: the template's user data differs, so its version does.
    (dev_template,) = _server(dev_app)[1].values()
    (prod_template,) = _server(prod_app)[1].values()
    dev_data = dev_template["Properties"]["LaunchTemplateData"]["UserData"]
    prod_data = prod_template["Properties"]["LaunchTemplateData"]["UserData"]
    assert dev_data != prod_data


@pytest.fixture(scope="module")
def retagged_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    return synthesize(
        {"tags": '{"team": "web"}', "instance_type": "t4g.small"}, tmp_path_factory.mktemp("tags")
    )


def test_a_new_server_or_new_tags_get_a_new_vpc_origin(dev_app, prod_app, retagged_app):
    """CloudFront answers HTTP 409 to an update of a VPC origin in use: every change that would
    update it creates a new one instead, and CloudFormation deletes the old one in cleanup."""
    # A new instance (prod: server_generation 3, another architecture).
    assert _vpc_origin(prod_app) != _vpc_origin(dev_app)
    # New tags, which CloudFormation would otherwise write to the origin in place; a new
    # instance type (a stop and start) leaves the instance, so its origin stays.
    assert _vpc_origin(retagged_app) != _vpc_origin(dev_app)
    instance, template, _ = _server(retagged_app)
    assert template == _server(dev_app)[1]
    assert list(instance) == list(_server(dev_app)[0])


def test_only_the_image_is_uploaded_whatever_sits_next_to_it(day2_app):
    assets = [p for p in day2_app.outdir.glob("asset.*") if p.is_dir()]
    with_image = [a for a in assets if (a / "other-image.png").exists()]
    assert len(with_image) == 1
    assert sorted(p.name for p in with_image[0].iterdir()) == ["other-image.png"]
    assert not any((a / ".env").exists() or (a / "notes.txt").exists() for a in assets)
