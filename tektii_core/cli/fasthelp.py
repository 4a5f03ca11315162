"""`tektii --help` (and `tektii NOUN --help`) from a cache of the rendered help texts.

Building the full parser means loading pluggy and every plugin (~10x Python's own start-up);
help texts only change when plugins or the installed distributions change, so each full run
refreshes this cache when the environment fingerprint has moved.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from tektii_core import cache

_NAME = "help.json"
_HELP_FLAGS = ("-h", "--help")


def _key(argv: list[str]) -> str | None:
    if not argv:
        return ""
    if argv[-1] in _HELP_FLAGS and len(argv) <= 3 and not any(a.startswith("-") for a in argv[:-1]):
        return " ".join(argv[:-1])
    return None


def _fingerprint() -> list[Any]:
    return [*cache.environment_fingerprint(), os.environ.get("COLUMNS", ""), sys.stdout.isatty()]


def try_print(argv: list[str]) -> bool:
    key = _key(argv)
    if key is None:
        return False
    texts = cache.read(_NAME, _fingerprint())
    if not texts or key not in texts:
        return False
    sys.stdout.write(texts[key])
    return True


def save(parser: Any) -> None:
    """Render and cache the help of every noun and verb, unless the cache is current."""
    fingerprint = _fingerprint()
    if cache.read(_NAME, fingerprint) is not None:
        return
    texts = {"": parser.format_help()}
    for noun, noun_parser in _subparsers(parser):
        texts[noun] = noun_parser.format_help()
        for verb, verb_parser in _subparsers(noun_parser):
            texts[f"{noun} {verb}"] = verb_parser.format_help()
    cache.write(_NAME, fingerprint, texts)


def _subparsers(parser: Any) -> list[tuple[str, Any]]:
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices.items())
    return []
