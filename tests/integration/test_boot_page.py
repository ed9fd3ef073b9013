"""index.html: seeded once, follows a changed image URL while untouched, and
is never overwritten once edited."""

from __future__ import annotations

import hashlib
import os
import re
from html.parser import HTMLParser

from tests.integration.bootharness import IMAGE_URL, PAGE_TITLE

NEW_URL = 'https://d222222abcdef8.cloudfront.net/images/site-image.jpg?v=2&size="l"'
NEW_URL_IN_HTML = "https://d222222abcdef8.cloudfront.net/images/site-image.jpg?v=2&amp;size=&quot;l&quot;"
MARKER = re.compile(r"^<!-- site-boot generated page; sha256:([0-9a-f]{64}) -->$")


class ImageFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.texts: dict[str, str] = {"title": "", "h1": ""}
        self._in = ""

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        self._in = tag if tag in self.texts else ""

    def handle_data(self, data):
        if self._in:
            self.texts[self._in] += data

    def handle_endtag(self, tag):
        self._in = ""

    @property
    def title(self) -> str:
        return self.texts["title"]


def parse(page: str) -> ImageFinder:
    finder = ImageFinder()
    finder.feed(page)
    return finder


def assert_generated(page: str) -> None:
    body, _, last = page.rstrip("\n").rpartition("\n")
    match = MARKER.match(last)
    assert match, last
    assert hashlib.sha256((body + "\n").encode()).hexdigest() == match.group(1)


def test_seeded_page_shows_the_image(harness, volume):
    sandbox, ns = harness.instance(volume)
    assert ns.boot().returncode == 0

    page = ns.path(sandbox.served / "index.html")
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "{{" not in text
    finder = parse(text)
    assert finder.texts == {"title": PAGE_TITLE, "h1": PAGE_TITLE}
    [img] = finder.images
    assert img["src"] == IMAGE_URL
    assert img["alt"]
    assert_generated(text)
    assert oct(os.stat(page).st_mode & 0o777) == "0o644"
    # Nothing else was written to the volume: the served tree and the link to it.
    assert sorted(p.name for p in ns.path(sandbox.served).iterdir()) == ["index.html"]
    assert sorted(p.name for p in ns.path(sandbox.docroot).iterdir()) == [".releases", "current"]


def test_untouched_page_follows_a_changed_image_url(harness, volume):
    sandbox, ns = harness.instance(volume)
    assert ns.boot().returncode == 0
    other = ns.path(sandbox.served / "other.html")
    other.write_text("<p>other</p>\n")
    other_before = os.stat(other)

    result = ns.boot(IMAGE_URL=NEW_URL)

    assert result.returncode == 0, result.output
    text = ns.path(sandbox.served / "index.html").read_text()
    assert IMAGE_URL not in text
    assert f'src="{NEW_URL_IN_HTML}"' in text
    assert parse(text).images[0]["src"] == NEW_URL
    assert_generated(text)
    assert "re-rendered" in result.output
    assert not ns.path(sandbox.docroot / "index.html.sample-new").exists()
    other_now = os.stat(other)
    assert (other_now.st_ino, other_now.st_mtime_ns) == (
        other_before.st_ino,
        other_before.st_mtime_ns,
    )

    # The same URL again: nothing is rewritten.
    before = os.stat(ns.path(sandbox.served / "index.html"))
    again = ns.boot(IMAGE_URL=NEW_URL)
    assert again.returncode == 0
    now = os.stat(ns.path(sandbox.served / "index.html"))
    assert (now.st_ino, now.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert "up to date" in again.output


def test_edited_page_survives_reruns_and_url_changes(harness, volume):
    sandbox, ns = harness.instance(volume)
    assert ns.boot().returncode == 0
    page = ns.path(sandbox.served / "index.html")
    edited = page.read_text().replace("Hello from the web server", "My own heading")
    page.write_text(edited)

    same_url = ns.boot()
    assert same_url.returncode == 0
    assert page.read_text() == edited
    assert "leaving it untouched" in same_url.output

    ns.reboot()
    result = ns.boot(IMAGE_URL=NEW_URL)

    assert result.returncode == 0, result.output
    page = ns.path(sandbox.served / "index.html")
    assert page.read_text() == edited
    sample = ns.path(sandbox.docroot / "index.html.sample-new").read_text()
    assert f'src="{NEW_URL_IN_HTML}"' in sample
    assert "index.html.sample-new" in result.output
    assert sandbox.httpd_state() == ("active", "enabled")


def test_the_title_and_heading_follow_the_page_title_while_untouched(harness, volume):
    sandbox, ns = harness.instance(volume)
    assert ns.boot().returncode == 0
    title = "Café & friends: 100% off (日本語)"

    result = ns.boot(PAGE_TITLE=title)

    assert result.returncode == 0, result.output
    text = ns.path(sandbox.served / "index.html").read_text()
    assert parse(text).texts == {"title": title, "h1": title}
    assert "Café &amp; friends" in text
    assert parse(text).images[0]["src"] == IMAGE_URL
    assert_generated(text)
    assert "re-rendered" in result.output


def test_a_placeholder_the_deployment_does_not_set_stops_the_step(harness, volume):
    sandbox, ns = harness.instance(volume)

    result = ns.boot(PAGE_TITLE="")

    assert result.returncode != 0
    assert "the page template names {{PAGE_TITLE}}, which the deployment does not set" in result.output
    assert not ns.path(sandbox.served / "index.html").exists()
