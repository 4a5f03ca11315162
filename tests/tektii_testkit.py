"""Helpers shared by test modules (importable as `tektii_testkit`: tests/ is on sys.path through
the root conftest). Kept out of conftest.py, whose module name is not unique across folders."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def require(ok: bool, reason: str) -> None:
    """Skip a test whose real component is missing, but fail it where CI requires every component
    (TEKTII_REQUIRE_DOCKER=1 after scripts/provision)."""
    if ok:
        return
    if os.environ.get("TEKTII_REQUIRE_DOCKER") == "1":
        pytest.fail(f"{reason} (required: TEKTII_REQUIRE_DOCKER=1)")
    pytest.skip(reason)


def docker_running() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
