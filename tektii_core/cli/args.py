"""Arguments shared by commands: argparse `type=` callables with clear messages, and the paging
flags of the list commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def positive_int(maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < 1 or (maximum is not None and value > maximum):
            bound = f"1 to {maximum}" if maximum else "at least 1"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    return parse


def add_page_arguments(parser: argparse.ArgumentParser) -> None:
    """--limit and --cursor of a command that lists one page at a time."""
    parser.add_argument("--limit", type=positive_int(100), help="items per page (1-100, default 20)")
    parser.add_argument("--cursor", help="continue after the page that returned this nextCursor")
