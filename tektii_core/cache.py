"""Small JSON caches keyed by a fingerprint of the installed environment.

Kept import-light (stdlib only): `tektii --help` reads these before anything else loads.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from tektii_core import __version__


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tektii"


def environment_fingerprint() -> list[Any]:
    """Changes whenever a distribution is installed or removed (its dist-info lands in a
    sys.path directory, changing that directory's mtime) or a built-in command module changes."""
    stamp: list[Any] = [__version__, sys.version, os.environ.get("TEKTII_DISABLE_PLUGINS", ""),
                        os.environ.get("TEKTII_NO_ENTRY_POINTS", "")]
    for entry in sys.path:
        try:
            stamp.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            continue
    here = Path(__file__).resolve().parent.parent
    for folder in ("plugins/commands", "tektii_plugins/commands", "tektii_core/cli"):
        try:
            stamp.append([folder, max((e.stat().st_mtime_ns for e in os.scandir(here / folder)), default=0)])
        except OSError:
            continue
    return stamp


def read(name: str, fingerprint: list[Any]) -> Any:
    try:
        cached = json.loads((cache_dir() / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(cached, dict) and cached.get("fingerprint") == fingerprint:
        return cached.get("value")
    return None


def write(name: str, fingerprint: list[Any], value: Any) -> None:
    path = cache_dir() / name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"fingerprint": fingerprint, "value": value}), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache directory only costs speed
