"""Headless Chromium (Debian's `chromium`) for the report tests: run it, read its screenshots."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .png_reader import Image

WIDTH, HEIGHT = 1280, 2000
# Chromium must not reach out anywhere: the report is a local file and needs nothing else.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1",
]  # fmt: skip


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "Debian's chromium is not installed (apt-get install -y chromium)"
    if os.environ.get("TEKTII_REQUIRE_DOCKER") == "1":
        pytest.fail(f"{reason} (required: TEKTII_REQUIRE_DOCKER=1)")
    pytest.skip(reason)


def run_chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    done = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "HOME": str(tmp)},  # keep its caches out of the real home
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def pixels_of(image: Image, colour: str, tolerance: int = 12) -> list[tuple[int, int]]:
    r, g, b = hex_rgb(colour)
    out = []
    step = image.channels
    for y, row in enumerate(image.rows):
        for x in range(image.width):
            i = x * step
            if abs(row[i] - r) <= tolerance and abs(row[i + 1] - g) <= tolerance and abs(row[i + 2] - b) <= tolerance:
                out.append((x, y))
    return out
