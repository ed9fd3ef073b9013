"""Which Chromium the browser test drives; light enough for scripts/bootstrap.sh to import."""

from __future__ import annotations

import os
import shutil

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
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
