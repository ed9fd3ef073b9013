"""The page on the volume, served by a real Apache and rendered by a real
(headless) Chromium. Nothing leaves 127.0.0.1: the CloudFront URL is answered
by a Playwright route with the image bytes, every other request is aborted.
Apache loads the server name the scripts wrote, as on the instance."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright

from tests.integration.bootharness import (
    IMAGE_URL,
    REPO,
    SITE_DOMAIN,
    find_chromium,
    require,
)

IMAGE_FILE = REPO / "content" / "images" / "site-image.jpg"
SCREENSHOT = REPO / "build" / "screenshots" / "site-page.png"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    # Defence in depth besides the route: no name resolution except loopback,
    # and any request that escapes the route goes to a closed local port.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
]


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Status, content type and body; an error status is returned, not raised."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers=headers or {})
    try:
        response = opener.open(request, timeout=10)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        return (
            response.status,
            response.headers.get("Content-Type", ""),
            response.read().decode(errors="replace"),
        )


def test_apache_serves_the_seeded_page_from_the_volume(served_site):
    status, content_type, body = fetch(served_site.url)

    assert status == 200
    assert content_type.startswith("text/html")
    on_volume = (served_site.served_in_ns / "index.html").read_text()
    assert body == on_volume
    assert f'src="{IMAGE_URL}"' in body
    # The file exists only on the mounted volume, not in the directory below.
    assert not (served_site.sandbox.docroot / "index.html").exists()
    assert served_site.mount_source.startswith("/dev/loop")


def test_the_volume_is_what_apache_serves(served_site):
    on_volume = (served_site.served_in_ns / "index.html").read_text()
    assert fetch(served_site.url)[::2] == (200, on_volume)
    assert fetch(served_site.url + "index.html")[::2] == (200, on_volume)
    assert fetch(served_site.url + "missing.html")[0] == 404


def test_cloudfront_may_serve_cached_pages_through_an_outage(served_site):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(served_site.url, timeout=10) as response:
        assert response.headers["Cache-Control"] == "stale-if-error=86400"
    conf = served_site.sandbox.site_conf.read_text()
    assert f"ServerName https://{SITE_DOMAIN}\n" in conf


def fetch_raw(url: str, headers: dict[str, str]) -> tuple[int, str | None]:
    """Status and Location of one GET, redirects not followed."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", parts.path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Location")
    finally:
        conn.close()


def test_apache_redirects_to_the_viewers_domain(served_site):
    """CloudFront connects to the origin's own host name; Apache's redirect
    must send the viewer back through CloudFront, over HTTPS."""
    (served_site.served_in_ns / "somedir").mkdir(exist_ok=True)
    (served_site.served_in_ns / "somedir" / "index.html").write_text("<p>somedir</p>\n")
    headers = {"Host": "ip-10-0-2-10.eu-west-1.compute.internal"}

    status, location = fetch_raw(served_site.url + "somedir", headers)

    assert status == 301
    assert location == f"https://{SITE_DOMAIN}/somedir/"
    assert fetch(served_site.url + "somedir/")[::2] == (200, "<p>somedir</p>\n")


@pytest.fixture(scope="session")
def browser():
    require()
    chromium = find_chromium()
    if chromium is None:
        # make test installs it as root; without root, or without a package or download for
        # this system, the machine has none.
        pytest.skip("no Chromium on this machine: apt-get install chromium, or set CHROMIUM")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def image_bytes(browser) -> tuple[bytes, str]:
    """The real site image; a JPEG drawn by the browser if it is not there."""
    if IMAGE_FILE.exists():
        return IMAGE_FILE.read_bytes(), "content/images/site-image.jpg"
    page = browser.new_page()
    try:
        page.set_content(
            '<div style="width:320px;height:168px;background:linear-gradient(135deg,#ff9900,#232f3e)"></div>'
        )
        data = page.screenshot(type="jpeg", clip={"x": 0, "y": 0, "width": 320, "height": 168})
    finally:
        page.close()
    return data, "generated test JPEG"


def test_chromium_renders_the_page_with_the_cloudfront_image(served_site, browser, image_bytes):
    data, _origin = image_bytes
    site = urlsplit(served_site.url)
    seen: dict[str, list[str]] = {"image": [], "site": [], "blocked": []}

    def route(route, request):
        url = request.url
        if url == IMAGE_URL:
            seen["image"].append(url)
            route.fulfill(
                status=200,
                body=data,
                headers={"Content-Type": "image/jpeg", "Cache-Control": "no-store"},
            )
        elif urlsplit(url).netloc == site.netloc and url.startswith("http://"):
            seen["site"].append(url)
            route.continue_()
        else:
            seen["blocked"].append(url)
            route.abort()

    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    try:
        context.route("**/*", route)
        page = context.new_page()
        response = page.goto(served_site.url, wait_until="load", timeout=15000)
        assert response is not None
        assert response.status == 200
        page.wait_for_function(
            "() => { const i = document.querySelector('img'); return i && i.complete; }",
            timeout=10000,
        )
        img = page.locator("img")
        assert img.get_attribute("src") == IMAGE_URL
        assert img.get_attribute("alt")
        natural_width = img.evaluate("i => i.naturalWidth")
        assert natural_width > 0
        assert page.title()
        assert page.locator("h1").inner_text()
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    finally:
        context.close()

    assert seen["image"] == [IMAGE_URL]
    assert seen["site"]
    assert all(u.startswith(served_site.url) for u in seen["site"])
    assert SCREENSHOT.stat().st_size > 0
