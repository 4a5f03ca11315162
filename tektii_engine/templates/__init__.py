"""The built-in strategy templates and the project writer behind `tektii strategy init`.

Each built-in template is a directory of package data next to this file: a `tektii` SDK
strategy (`main.py` plus a pure logic module), its unit test, `requirements.txt`, a
Dockerfile in the spec's style and a README. The built-in plugin `templates.builtin` registers
them; plugins may register more (hookspecs.register_templates), so the set of templates is
`Plugins.templates`, which the platform lists at `GET /v1/templates`. A template version runs
the template's directory (process runtime) or its image (tektii_engine.worker);
`write_project` copies one into a user's directory.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
from pathlib import Path

from tektii_core.contracts import TektiiError, Template

_ROOT = Path(__file__).resolve().parent
_SKIP = {"__pycache__", ".pytest_cache"}

_COMMON = {
    "ORDER_EQUITY_FRACTION": "0.10",
    "STOP_LOSS_PCT": "",
    "TAKE_PROFIT_PCT": "",
    "QUANTITY_DECIMALS": "8",
}

BUILTIN_TEMPLATES: tuple[Template, ...] = (
    Template(
        "ma-crossover",
        _ROOT / "ma-crossover",
        "Simple moving-average crossover: long when the fast SMA crosses above the slow SMA, flat when it crosses below",
        {"FAST_PERIOD": "10", "SLOW_PERIOD": "20", **_COMMON},
    ),
    Template(
        "rsi-momentum",
        _ROOT / "rsi-momentum",
        "RSI momentum (Wilder): long when RSI climbs out of the oversold zone, flat when it falls out of the overbought zone",
        {"RSI_PERIOD": "14", "RSI_OVERSOLD": "30", "RSI_OVERBOUGHT": "70", **_COMMON},
    ),
)


@functools.cache
def _plugins():
    from tektii_core.plugins import Plugins

    return Plugins(hooks=["register_templates"])


def template_dir(name: str) -> Path:
    """The directory holding the files of template `name` (a built-in or a plugin's)."""
    return _plugins().template(name).directory


def template_files(name: str) -> list[Path]:
    """The template's files, relative to its directory, in a stable order."""
    root = template_dir(name)
    return sorted(
        path.relative_to(root)
        for path in root.rglob("*")
        if path.is_file() and not _SKIP.intersection(path.relative_to(root).parts) and path.suffix != ".pyc"
    )


def template_hash(name: str) -> str:
    """sha256 over a template's files (names and contents): its image tag and its reproducibility record."""
    root = template_dir(name)
    digest = hashlib.sha256()
    for relative in template_files(name):
        digest.update(str(relative).encode() + b"\0")
        digest.update((root / relative).read_bytes() + b"\0")
    return digest.hexdigest()


def write_project(name: str, dest: Path, *, force: bool = False) -> list[Path]:
    """Write template `name` into `dest` (created if needed); return the written paths.

    Refuses, listing every file that would be overwritten, unless `force`.
    """
    source = template_dir(name)
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise TektiiError(f"{dest} exists and is not a directory")
    files = template_files(name)
    blocked = [str(dest / f) for f in files if (dest / f).is_dir()]
    if blocked:
        raise TektiiError(f"Cannot write files where directories exist: {', '.join(blocked)}")
    if not force:
        existing = [str(dest / f) for f in files if (dest / f).exists()]
        if existing:
            raise TektiiError(
                f"Refusing to overwrite existing files: {', '.join(existing)}",
                hint="Use --force to overwrite them, or choose another directory",
            )
    written = []
    for relative in files:
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / relative, target)
        written.append(target)
    return written
