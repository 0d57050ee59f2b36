"""Headless Chromium for the report: a screenshot a person can look at, and the DOM a test can read.

Debian's ``chromium`` package; everything that would reach the network is switched off, and each
call gets its own throw-away profile directory.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from base.errors import GamedayError

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
         "--hide-scrollbars", "--mute-audio")


class BrowserError(GamedayError):
    """Headless Chromium failed."""


def chromium() -> str | None:
    """The Chromium executable, or None when it is not installed (``apt-get install chromium``)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(page: Path, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    executable = chromium()
    if executable is None:
        raise BrowserError("chromium is not installed; install Debian's package: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="gameday-chromium-") as profile:
        command = [executable, *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=profile)
        except subprocess.TimeoutExpired:
            raise BrowserError(f"chromium did not finish rendering {page} within {timeout_s:.0f} s") from None
    if result.returncode != 0:
        raise BrowserError(f"chromium exited {result.returncode} rendering {page}: {result.stderr.strip()[-500:]}")
    return result


def screenshot(page: Path, png: Path, width_px: int = 1280, height_px: int = 2000) -> Path:
    """Render ``page`` and save its first ``width_px`` x ``height_px`` pixels. Raises BrowserError."""
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(page, f"--screenshot={png.resolve()}", f"--window-size={width_px},{height_px}")
    if not png.is_file() or png.stat().st_size == 0:
        raise BrowserError(f"chromium ran but wrote no screenshot at {png}")
    return png


def dump_dom(page: Path) -> str:
    """The DOM after Chromium parsed and laid out ``page``. Raises BrowserError."""
    return _run(page, "--dump-dom", "--virtual-time-budget=2000").stdout
